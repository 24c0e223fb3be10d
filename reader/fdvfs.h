/*
 * fdvfs.h -- an SQLite VFS that reads (or, for the writer, writes) one
 * validated descriptor and opens nothing by name. Layer 2.
 */
#ifndef EPINDEX_FDVFS_H
#define EPINDEX_FDVFS_H

#include "util.h"

typedef struct sqlite3 sqlite3;

/* A validated, immutable index file: its descriptor, size, and the first
 * bytes already read (served again to SQLite without a system call). */
typedef struct ep_fdsrc {
  int fd;
  bool writable; /* the writer's own temporary file (ep_sqlite_open_fd_rw) */
  int64_t size;
  size_t head_len;
  unsigned char head[16384]; /* pages 1-4 at the writer's 4 KiB page size */
} ep_fdsrc;

/* Open the SQLite database in src read-only, without locks, reading that
 * descriptor only. src must outlive the connection. SQLITE_* result. */
int ep_sqlite_open_fd(const ep_fdsrc *src, sqlite3 **db);
/* Open the SQLite database in src (writable set, head_len 0) read-write
 * through that descriptor only: no file is ever opened, created or deleted
 * by name. SQLITE_* result. */
int ep_sqlite_open_fd_rw(const ep_fdsrc *src, sqlite3 **db);

#endif /* EPINDEX_FDVFS_H */
