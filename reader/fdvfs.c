/*
 * fdvfs.c -- an SQLite VFS over a file descriptor we already hold.
 *
 * Why: the reader validates the index through its own descriptor (opened
 * with O_NOFOLLOW, owner and mode checked, header checked). Opening the file
 * again by name through SQLite's unix VFS would (a) resolve every path
 * component with lstat/readlink, a third of an open's cost, and (b) read
 * whatever file the name points to by then. This VFS reads the very inode we
 * checked, with pread(), takes no locks (index files are never modified in
 * place, only replaced by rename) and never writes.
 *
 * The writer uses it too, over the temporary file it created with O_EXCL in
 * the .epindex directory it validated (ep_sqlite_open_fd_rw): SQLite then
 * never opens, creates or deletes a file by name. A writer that runs as root
 * over a directory other users may write must not: between two opens by
 * name, a user could swap a path component for a symlink and make root write
 * a database elsewhere. Journals and temporary files are refused (xOpen of
 * anything but the main database fails): the writer runs with
 * journal_mode=OFF and temp_store=MEMORY, so SQLite asks for none.
 *
 * The database "name" is "fd:<address of an ep_fdsrc>" (read-only) or
 * "fdw:<address>" (read-write). The VFS is registered once per process
 * under the name "epindex-fd" (SQLite's VFS list is process-wide; the object
 * registered is constant, so the registration is not mutable state that
 * callers can observe).
 */
#include "fdvfs.h"
#include "sqlapi.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct fd_file {
  sqlite3_file base;
  const ep_fdsrc *src;
} fd_file;

static int fd_close(sqlite3_file *f) {
  (void)f; /* the descriptor belongs to the caller */
  return SQLITE_OK;
}

static int fd_read(sqlite3_file *f, void *buf, int amt, sqlite3_int64 off) {
  const ep_fdsrc *src = ((fd_file *)f)->src;
  int fd = src->fd;
  size_t done = 0;
  /* the first page was read when the file was validated: serve it again */
  if (off >= 0 && (uint64_t)off + (uint64_t)amt <= src->head_len) {
    memcpy(buf, src->head + off, (size_t)amt);
    return SQLITE_OK;
  }
  while (done < (size_t)amt) {
    ssize_t got = pread(fd, (char *)buf + done, (size_t)amt - done,
                        (off_t)off + (off_t)done);
    if (got < 0 && errno == EINTR)
      continue;
    if (got < 0)
      return SQLITE_IOERR_READ;
    if (got == 0)
      break;
    done += (size_t)got;
  }
  if (done < (size_t)amt) {
    memset((char *)buf + done, 0, (size_t)amt - done);
    return SQLITE_IOERR_SHORT_READ;
  }
  return SQLITE_OK;
}

static int fd_write(sqlite3_file *f, const void *b, int n, sqlite3_int64 o) {
  const ep_fdsrc *src = ((fd_file *)f)->src;
  if (!src->writable)
    return SQLITE_READONLY;
  size_t done = 0;
  while (done < (size_t)n) {
    ssize_t put = pwrite(src->fd, (const char *)b + done, (size_t)n - done,
                         (off_t)o + (off_t)done);
    if (put < 0 && errno == EINTR)
      continue;
    if (put < 0)
      return errno == ENOSPC ? SQLITE_FULL : SQLITE_IOERR_WRITE;
    done += (size_t)put;
  }
  return SQLITE_OK;
}

static int fd_truncate(sqlite3_file *f, sqlite3_int64 size) {
  const ep_fdsrc *src = ((fd_file *)f)->src;
  if (!src->writable)
    return SQLITE_READONLY;
  return ftruncate(src->fd, (off_t)size) == 0 ? SQLITE_OK
                                              : SQLITE_IOERR_TRUNCATE;
}

static int fd_sync(sqlite3_file *f, int flags) {
  (void)f, (void)flags;
  return SQLITE_OK;
}

static int fd_size(sqlite3_file *f, sqlite3_int64 *size) {
  const ep_fdsrc *src = ((fd_file *)f)->src;
  struct stat st;
  if (!src->writable) {
    *size = src->size; /* immutable: measured at validation */
    return SQLITE_OK;
  }
  if (fstat(src->fd, &st) != 0)
    return SQLITE_IOERR_FSTAT;
  *size = (sqlite3_int64)st.st_size;
  return SQLITE_OK;
}

static int fd_lock(sqlite3_file *f, int level) {
  (void)f, (void)level;
  return SQLITE_OK;
}

static int fd_check_reserved(sqlite3_file *f, int *out) {
  (void)f;
  *out = 0;
  return SQLITE_OK;
}

static int fd_file_control(sqlite3_file *f, int op, void *arg) {
  (void)f, (void)op, (void)arg;
  return SQLITE_NOTFOUND;
}

static int fd_sector_size(sqlite3_file *f) {
  (void)f;
  return 4096;
}

static int fd_device(sqlite3_file *f) {
  return ((fd_file *)f)->src->writable ? 0 : SQLITE_IOCAP_IMMUTABLE;
}

static const sqlite3_io_methods fd_methods = {
    .iVersion = 1,
    .xClose = fd_close,
    .xRead = fd_read,
    .xWrite = fd_write,
    .xTruncate = fd_truncate,
    .xSync = fd_sync,
    .xFileSize = fd_size,
    .xLock = fd_lock,
    .xUnlock = fd_lock,
    .xCheckReservedLock = fd_check_reserved,
    .xFileControl = fd_file_control,
    .xSectorSize = fd_sector_size,
    .xDeviceCharacteristics = fd_device,
};

static int fd_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *f,
                   int flags, int *out_flags) {
  (void)vfs;
  f->pMethods = NULL;
  /* only the main database, never a journal or temporary file by name */
  if (!name || !(flags & SQLITE_OPEN_MAIN_DB))
    return SQLITE_CANTOPEN;
  bool rw = strncmp(name, "fdw:", 4) == 0;
  if (!rw && strncmp(name, "fd:", 3) != 0)
    return SQLITE_CANTOPEN;
  char *end;
  unsigned long long p = strtoull(name + (rw ? 4 : 3), &end, 16);
  if (*end || p == 0)
    return SQLITE_CANTOPEN;
  const ep_fdsrc *src = (const ep_fdsrc *)(uintptr_t)p;
  if (rw != src->writable || (!rw && (flags & SQLITE_OPEN_READWRITE)))
    return SQLITE_CANTOPEN;
  ((fd_file *)f)->src = src;
  f->pMethods = &fd_methods;
  if (out_flags)
    *out_flags = rw ? SQLITE_OPEN_READWRITE : SQLITE_OPEN_READONLY;
  return SQLITE_OK;
}

static int fd_delete(sqlite3_vfs *vfs, const char *name, int sync) {
  (void)vfs, (void)name, (void)sync;
  return SQLITE_IOERR_DELETE;
}

static int fd_access(sqlite3_vfs *vfs, const char *name, int flags, int *out) {
  (void)vfs, (void)name, (void)flags;
  *out = 0; /* no journal, no WAL: nothing else exists */
  return SQLITE_OK;
}

static int fd_full_pathname(sqlite3_vfs *vfs, const char *name, int n,
                            char *out) {
  (void)vfs;
  if ((int)strlen(name) >= n)
    return SQLITE_CANTOPEN;
  memcpy(out, name, strlen(name) + 1);
  return SQLITE_OK;
}

/* Randomness, sleep and time come from the default VFS. */
static int fd_randomness(sqlite3_vfs *vfs, int n, char *out) {
  sqlite3_vfs *d = vfs->pAppData;
  return d->xRandomness(d, n, out);
}
static int fd_sleep(sqlite3_vfs *vfs, int us) {
  sqlite3_vfs *d = vfs->pAppData;
  return d->xSleep(d, us);
}
static int fd_current_time(sqlite3_vfs *vfs, double *t) {
  sqlite3_vfs *d = vfs->pAppData;
  return d->xCurrentTime(d, t);
}

static sqlite3_vfs fd_vfs = {
    .iVersion = 1,
    .szOsFile = sizeof(fd_file),
    .mxPathname = 64,
    .zName = "epindex-fd",
    .xOpen = fd_open,
    .xDelete = fd_delete,
    .xAccess = fd_access,
    .xFullPathname = fd_full_pathname,
    .xRandomness = fd_randomness,
    .xSleep = fd_sleep,
    .xCurrentTime = fd_current_time,
};

static pthread_once_t fd_vfs_once = PTHREAD_ONCE_INIT;
static int fd_vfs_rc = SQLITE_ERROR;

static void register_fd_vfs(void) {
  if (!ep_sqlite_load())
    return;
  fd_vfs.pAppData = sqlite3_vfs_find(NULL);
  fd_vfs_rc = fd_vfs.pAppData ? sqlite3_vfs_register(&fd_vfs, 0) : SQLITE_ERROR;
}

static int open_fd(const ep_fdsrc *src, sqlite3 **db) {
  pthread_once(&fd_vfs_once, register_fd_vfs);
  *db = NULL;
  if (fd_vfs_rc != SQLITE_OK)
    return fd_vfs_rc;
  char name[32]; /* the source's address: only this process can name it */
  snprintf(name, sizeof(name), "%s:%llx", src->writable ? "fdw" : "fd",
           (unsigned long long)(uintptr_t)src);
  return sqlite3_open_v2(
      name, db,
      (src->writable ? SQLITE_OPEN_READWRITE : SQLITE_OPEN_READONLY) |
          SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_PRIVATECACHE,
      "epindex-fd");
}

int ep_sqlite_open_fd(const ep_fdsrc *src, sqlite3 **db) {
  return src->writable ? SQLITE_MISUSE : open_fd(src, db);
}

int ep_sqlite_open_fd_rw(const ep_fdsrc *src, sqlite3 **db) {
  return src->writable ? open_fd(src, db) : SQLITE_MISUSE;
}
