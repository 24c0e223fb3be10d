/*
 * faultlib -- fault injection for tests (LD_PRELOAD=libepfault.so).
 *
 * Counts the calls of one kind made by the process and makes the Nth fail:
 *   EPFAULT_KIND=write   write, pwrite, pwrite64, copy_file_range (EIO; ENOSPC
 *                        when EPFAULT_ERRNO=ENOSPC)
 *   EPFAULT_KIND=fsync   fsync, fdatasync (EIO)
 *   EPFAULT_KIND=rename  rename, renameat (EIO)
 *   EPFAULT_KIND=alloc   malloc, calloc, realloc (NULL)
 *   EPFAULT_KIND=open    openat and mkdirat of the writer's own files: the
 *                        .epindex directory, its lock, index.db* and
 *                        lookup.tbl (EIO; metadata files are left alone, or
 *                        the fault would change the answer, not the writing)
 *   EPFAULT_KIND=unlink  unlink, unlinkat (EIO)
 *   EPFAULT_KIND=perm    fchmod, fchown (EIO)
 *   EPFAULT_KIND=read    read (EIO): the reads of metadata files
 *   EPFAULT_KIND=stat    stat, fstatat by name (EIO; fstat() of a descriptor
 *                        is not counted)
 *   EPFAULT_KIND=xattr   fgetxattr, getxattr (EIO): the ACL checks (not
 *                        getxattrat, made through syscall())
 *   EPFAULT_AT=N         which call fails (1-based); 0 = none
 * At exit, prints "epfault: KIND calls=C" to stderr so a driver knows how
 * many fault points a run has. Test-only: never linked into the library.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/xattr.h>
#include <unistd.h>

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);

static int kind = -1; /* an index into kinds[] */
static const char *const kinds[] = {"write", "fsync",  "rename", "alloc",
                                    "open",  "unlink", "perm",   "read",
                                    "stat",  "xattr"};
#define NKINDS (int)(sizeof(kinds) / sizeof(kinds[0]))
static long at, calls;
static int fail_errno = EIO;

__attribute__((constructor)) static void init(void) {
  const char *k = getenv("EPFAULT_KIND"), *n = getenv("EPFAULT_AT");
  for (int i = 0; k && i < NKINDS; i++)
    if (strcmp(k, kinds[i]) == 0)
      kind = i;
  at = n ? atol(n) : 0;
  const char *e = getenv("EPFAULT_ERRNO");
  if (e && strcmp(e, "ENOSPC") == 0)
    fail_errno = ENOSPC;
}

__attribute__((destructor)) static void report(void) {
  if (kind >= 0) {
    char line[64];
    int n = snprintf(line, sizeof(line), "epfault: %s calls=%ld\n", kinds[kind],
                     calls);
    (void)!write(2, line, (size_t)n);
  }
}

/* 1 if this call of kind k must fail. */
static int hit(int k) {
  if (k != kind)
    return 0;
  calls++;
  return at > 0 && calls == at;
}

#define REAL(ret, name, ...)                                                   \
  static ret (*real)(__VA_ARGS__);                                             \
  if (!real)                                                                   \
    *(void **)&real = dlsym(RTLD_NEXT, name);

ssize_t write(int fd, const void *b, size_t n) {
  REAL(ssize_t, "write", int, const void *, size_t)
  if (fd > 2 && hit(0))
    return errno = fail_errno, -1;
  return real(fd, b, n);
}
ssize_t pwrite(int fd, const void *b, size_t n, off_t o) {
  REAL(ssize_t, "pwrite", int, const void *, size_t, off_t)
  if (hit(0))
    return errno = fail_errno, -1;
  return real(fd, b, n, o);
}
ssize_t pwrite64(int fd, const void *b, size_t n, off_t o) {
  REAL(ssize_t, "pwrite64", int, const void *, size_t, off_t)
  if (hit(0))
    return errno = fail_errno, -1;
  return real(fd, b, n, o);
}
ssize_t copy_file_range(int i, off_t *io, int o, off_t *oo, size_t n,
                        unsigned f) {
  REAL(ssize_t, "copy_file_range", int, off_t *, int, off_t *, size_t, unsigned)
  if (hit(0))
    return errno = fail_errno, -1;
  return real(i, io, o, oo, n, f);
}
int fsync(int fd) {
  REAL(int, "fsync", int)
  if (hit(1))
    return errno = EIO, -1;
  return real(fd);
}
int fdatasync(int fd) {
  REAL(int, "fdatasync", int)
  if (hit(1))
    return errno = EIO, -1;
  return real(fd);
}
int rename(const char *a, const char *b) {
  REAL(int, "rename", const char *, const char *)
  if (hit(2))
    return errno = EIO, -1;
  return real(a, b);
}
int renameat(int fa, const char *a, int fb, const char *b) {
  REAL(int, "renameat", int, const char *, int, const char *)
  if (hit(2))
    return errno = EIO, -1;
  return real(fa, a, fb, b);
}
void *malloc(size_t n) {
  if (hit(3))
    return errno = ENOMEM, NULL; /* as malloc does */
  return __libc_malloc(n);
}
void *calloc(size_t a, size_t b) {
  if (hit(3))
    return errno = ENOMEM, NULL; /* as malloc does */
  return __libc_calloc(a, b);
}
void *realloc(void *p, size_t n) {
  if (hit(3))
    return errno = ENOMEM, NULL; /* as malloc does */
  return __libc_realloc(p, n);
}

/* The writer's own files, by the last component of the name. */
static int writer_file(const char *path) {
  const char *base = strrchr(path, '/');
  base = base ? base + 1 : path;
  return strcmp(base, ".epindex") == 0 || strcmp(base, "lock") == 0 ||
         strncmp(base, "index.db", 8) == 0 || strcmp(base, "lookup.tbl") == 0;
}
int openat(int dfd, const char *path, int flags, ...) {
  REAL(int, "openat", int, const char *, int, ...)
  va_list ap;
  va_start(ap, flags);
  mode_t mode = (flags & O_CREAT) ? (mode_t)va_arg(ap, int) : 0;
  va_end(ap);
  if (writer_file(path) && hit(4))
    return errno = EIO, -1;
  return real(dfd, path, flags, mode);
}
int mkdirat(int dfd, const char *path, mode_t mode) {
  REAL(int, "mkdirat", int, const char *, mode_t)
  if (writer_file(path) && hit(4))
    return errno = EIO, -1;
  return real(dfd, path, mode);
}
int unlink(const char *path) {
  REAL(int, "unlink", const char *)
  if (hit(5))
    return errno = EIO, -1;
  return real(path);
}
int unlinkat(int dfd, const char *path, int flags) {
  REAL(int, "unlinkat", int, const char *, int)
  if (hit(5))
    return errno = EIO, -1;
  return real(dfd, path, flags);
}
int fchmod(int fd, mode_t mode) {
  REAL(int, "fchmod", int, mode_t)
  if (hit(6))
    return errno = EIO, -1;
  return real(fd, mode);
}
int fchown(int fd, uid_t u, gid_t g) {
  REAL(int, "fchown", int, uid_t, gid_t)
  if (hit(6))
    return errno = EIO, -1;
  return real(fd, u, g);
}
ssize_t fgetxattr(int fd, const char *name, void *v, size_t n) {
  REAL(ssize_t, "fgetxattr", int, const char *, void *, size_t)
  if (hit(9))
    return errno = EIO, -1;
  return real(fd, name, v, n);
}
ssize_t getxattr(const char *path, const char *name, void *v, size_t n) {
  REAL(ssize_t, "getxattr", const char *, const char *, void *, size_t)
  if (hit(9))
    return errno = EIO, -1;
  return real(path, name, v, n);
}
ssize_t read(int fd, void *b, size_t n) {
  REAL(ssize_t, "read", int, void *, size_t)
  if (fd > 2 && hit(7))
    return errno = EIO, -1;
  return real(fd, b, n);
}
ssize_t __read_chk(int fd, void *b, size_t n, size_t size);
ssize_t __read_chk(int fd, void *b, size_t n, size_t size) {
  (void)size; /* the fortified read of -D_FORTIFY_SOURCE builds */
  return read(fd, b, n);
}
int stat(const char *path, struct stat *st) {
  REAL(int, "stat", const char *, struct stat *)
  if (hit(8))
    return errno = EIO, -1;
  return real(path, st);
}
int fstatat(int dfd, const char *path, struct stat *st, int flags) {
  REAL(int, "fstatat", int, const char *, struct stat *, int)
  if (!(flags & AT_EMPTY_PATH && !*path) && hit(8))
    return errno = EIO, -1;
  return real(dfd, path, st, flags);
}
