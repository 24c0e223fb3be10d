/*
 * sqlapi.h -- SQLite, loaded when the first index database is opened.
 * Layer 1: what every module that calls SQLite includes instead of
 * <sqlite3.h>.
 *
 * Why: linking libsqlite3 costs every process that loads libepindex about
 * 0.8 ms of dynamic linking (3,000 relocations, 1.4 MB mapped) -- more than
 * a whole lookup -- although a reader served by lookup tables (lookup.tbl)
 * never calls SQLite. So SQLite is loaded with dlopen() when a database is
 * first opened (ep_sqlite_load(), called by fdvfs.c, through which every
 * connection is opened), and its functions are called through a table.
 *
 * The table is the one SQLite defines for loadable extensions
 * (<sqlite3ext.h>): its macros turn each sqlite3_step(), sqlite3_bind_text()
 * ... of ours into a call through the table, so the code reads as SQLite's
 * documentation does. Only the functions listed in EP_SQLITE_FUNCTIONS are
 * filled in: a new call needs its name added there (tests/sqlite_calls.sh
 * checks). The table is process-wide, written once (pthread_once) before any
 * connection exists, never changed after.
 */
#ifndef EPINDEX_SQLAPI_H
#define EPINDEX_SQLAPI_H

#include <sqlite3ext.h>
#include <stdbool.h>

/* Every SQLite function libepindex calls, by its name without "sqlite3_". */
/* clang-format off */
#define EP_SQLITE_FUNCTIONS(X)                                                 \
  X(bind_int64) X(bind_null) X(bind_text) X(close) X(close_v2)                 \
  X(column_bytes) X(column_int64) X(column_text) X(column_type) X(db_config)   \
  X(errcode) X(errmsg) X(errstr) X(exec) X(finalize) X(libversion) X(limit)    \
  X(open_v2) X(prepare_v2) X(prepare_v3) X(reset) X(step) X(vfs_find)          \
  X(vfs_register)
/* clang-format on */

/* The table <sqlite3ext.h>'s macros call through; filled by ep_sqlite_load()
 * (all NULL before, and all NULL if SQLite could not be loaded). */
extern sqlite3_api_routines ep_sqlite_routines;
#define sqlite3_api (&ep_sqlite_routines)

/* Load SQLite (once per process; later calls only check). False when it
 * cannot be loaded, or lacks a function: then no connection can be opened,
 * and ep_sqlite_load_error() says why. */
bool ep_sqlite_load(void);
const char *ep_sqlite_load_error(void);

#endif /* EPINDEX_SQLAPI_H */
