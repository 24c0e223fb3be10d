/*
 * index_impl.h -- what the index module's files share: the handle, and the
 * one row source through which every reader of an index gets its rows,
 * from index.db and from the lookup table alike. Included by index_*.c
 * only.
 *
 *   index_open.c   trust checks, opening, freshness verdicts, VERIFY
 *   index_rows.c   the row source; lookups, keys, problems, meta, loading
 *   index_write.c  the writer: a new index, or a patch of a copy
 */
#ifndef EPINDEX_INDEX_IMPL_H
#define EPINDEX_INDEX_IMPL_H

#include "index.h"

#include "fdvfs.h"
#include "lookup.h"
#include "sqlapi.h"

/* Lookaside slots for the connection, inside its ep_index_file:
 * the schema and statement objects an open creates come from here instead
 * of a quarter of the open's time going to malloc and free. */
#define LOOKASIDE_SLOT 256
#define LOOKASIDE_SLOTS 128

/* What only a handle on index.db needs, allocated apart: the validated file
 * SQLite reads through fdvfs.c (with its first pages) and the connection's
 * lookaside slots, 48 KiB in all. A lookup table's handle has none, so a
 * lookup the table serves allocates a few hundred bytes, which malloc
 * keeps between lookups instead of giving back and faulting in again. */
typedef struct ep_index_file {
  ep_fdsrc src;
  _Alignas(16) unsigned char lookaside[LOOKASIDE_SLOT * LOOKASIDE_SLOTS];
} ep_index_file;

struct ep_index {
  ep_index_file *file; /* index.db's; NULL for a lookup table's handle */
  ep_lookup lk;        /* or the lookup table (lookup.c): then db is NULL */
  sqlite3 *db;
  sqlite3_stmt *by_grp;      /* the rows of one grp: meta, keys, lookups */
  sqlite3_stmt *by_grp_full; /* the same with grp, ord and line (slow paths) */
  sqlite3_stmt *all;         /* all entry points, discovery order (lazily) */
  ep_dirstamp ds;
  ep_audience aud; /* who the file is readable by (docs/security.md) */
  int64_t ndists, nproblems, nentries, nlinks, nbadvalues;
  int64_t egg, egg_infos; /* built as an .egg path entry; EGG-INFO children */
};

/* The columns every statement selects first, in the lookup table's field
 * order (EP_COL_*): one numbering for both back ends. The hot statement
 * returns only these: SQLite builds a name for every result column of
 * every statement it prepares. */
#define COLS "name, value, metadir, dname, dversion, key"
#define COLS_FULL COLS ", grp, ord, line"

/* The rows of one grp, in (ord, line) order, from whichever back end the
 * handle has. EPINDEX_EIO when a row is malformed or a read fails. */
int ep_ix_each_in_grp(ep_index *ix, const char *grp, size_t glen, ep_row_fn fn,
                      void *ctx);
/* The same with ord and line filled in (index.db only: dist rows). */
int ep_ix_each_in_grp_full(ep_index *ix, const char *grp, size_t glen,
                           ep_row_fn fn, void *ctx);
/* Every entry point row, in discovery order (ord, line). */
int ep_ix_each_entry(ep_index *ix, ep_row_fn fn, void *ctx);

/* Is field f present and equal to the C string s? */
bool ep_ix_field_is(const ep_row *r, int f, const char *s);
/* One decimal int64 at *t, strictly (no '+', no other whitespace);
 * advances *t. */
bool ep_ix_take_int(const char **t, int64_t *out);
/* A decimal integer, the whole of t[0..n). */
bool ep_ix_parse_int(const char *t, size_t n, int64_t *out);

#endif /* EPINDEX_INDEX_IMPL_H */
