/*
 * access.c -- who may read what an index publishes (docs/security.md).
 *
 * An index is read by an audience: every user, the members of one group, or
 * only the user who wrote it. The writer takes it from the site directory's
 * own permissions: whoever may list the directory may read its index, and
 * nobody else. The writer reads the directory with its own privileges -- as
 * root, everything, through any symlink -- so before an index may be shown
 * to an audience, every file it was made from must be one each member of
 * the audience could have read itself. Otherwise the index is written for
 * its writer alone (0600) and everyone else scans the directory with their
 * own rights, as importlib.metadata would.
 *
 * Only mode bits decide, except that an ACL (which may deny one user what
 * the bits grant) makes an object count as unreadable by the audience.
 */
#include "access.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <unistd.h>

/* want is 4 (read) or 1 (search) */
static bool class_may(mode_t mode, int shift, unsigned want) {
  return ((mode >> shift) & want) == want;
}

/* Every user: whichever class (owner, group, other) access is judged by. */
static bool all_may(const struct stat *st, unsigned want) {
  return class_may(st->st_mode, 0, want) && class_may(st->st_mode, 3, want) &&
         class_may(st->st_mode, 6, want);
}

bool ep_audience_may(const ep_audience *a, const struct stat *st,
                     unsigned want) {
  switch (a->kind) {
  case EP_AUD_OWNER:
    return true; /* the writer itself read it */
  case EP_AUD_GROUP:
    /* a member is judged as owner, as the file's group, or as other */
    return all_may(st, want) ||
           (st->st_gid == a->gid && class_may(st->st_mode, 3, want) &&
            class_may(st->st_mode, 6, want));
  case EP_AUD_ALL:
  default:
    return all_may(st, want);
  }
}

#define ACL_XATTR "system.posix_acl_access"

/* What a getxattr() of ACL_XATTR that returned rc says: 0 no ACL (none,
 * or none on that file system), 1 an ACL, or an error that cannot tell
 * (which counts as one: not published). */
static int acl_answer(long rc) {
  if (rc >= 0)
    return 1;
  return errno == ENODATA || errno == ENOTSUP ? 0 : 1;
}

static bool has_acl_fd(int fd) {
  return acl_answer(fgetxattr(fd, ACL_XATTR, NULL, 0)) != 0;
}

ep_audience ep_audience_of_dir(int dirfd, const struct stat *dir) {
  ep_audience a = {EP_AUD_OWNER, dir->st_gid};
  return has_acl_fd(dirfd) ? a : ep_audience_of_mode(dir);
}

ep_audience ep_audience_of_mode(const struct stat *dir) {
  ep_audience a = {EP_AUD_OWNER, dir->st_gid};
  if (all_may(dir, 4) && all_may(dir, 1))
    a.kind = EP_AUD_ALL;
  else if (class_may(dir->st_mode, 3, 5) && class_may(dir->st_mode, 6, 5))
    a.kind = EP_AUD_GROUP;
  return a;
}

ep_audience ep_audience_of_file(const struct stat *st) {
  ep_audience a = {EP_AUD_OWNER, st->st_gid};
  if (st->st_mode & S_IROTH)
    a.kind = EP_AUD_ALL;
  else if (st->st_mode & S_IRGRP)
    a.kind = EP_AUD_GROUP;
  return a;
}

bool ep_audience_within(ep_audience inner, ep_audience outer) {
  if (inner.kind == EP_AUD_OWNER || outer.kind == EP_AUD_ALL)
    return true;
  return inner.kind == EP_AUD_GROUP && outer.kind == EP_AUD_GROUP &&
         inner.gid == outer.gid;
}

mode_t ep_audience_mode(ep_audience a) {
  return a.kind == EP_AUD_ALL ? 0644 : a.kind == EP_AUD_GROUP ? 0640 : 0600;
}

bool ep_audience_same(ep_audience a, ep_audience b) {
  return a.kind == b.kind && (a.kind != EP_AUD_GROUP || a.gid == b.gid);
}

/* A file reached through a symlink: every directory on the way to where it
 * really is must be searchable by the audience. */
static bool real_path_may(const ep_audience *a, int fd) {
  char link[64], real[PATH_MAX];
  snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
  ssize_t n = readlink(link, real, sizeof(real) - 1);
  if (n <= 0 || real[0] != '/')
    return false; /* cannot tell: do not publish */
  real[n] = '\0';
  for (char *s = real + 1; (s = strchr(s, '/')) != NULL; s++) {
    struct stat st;
    *s = '\0';
    bool ok = stat(real, &st) == 0 && ep_audience_may(a, &st, 1);
    *s = '/';
    if (!ok)
      return false;
  }
  struct stat root;
  return stat("/", &root) == 0 && ep_audience_may(a, &root, 1);
}

bool ep_audience_may_file(const ep_audience *a, int fd, const struct stat *st,
                          bool via_link) {
  if (a->kind == EP_AUD_OWNER)
    return true;
  return ep_audience_may(a, st, 4) && !has_acl_fd(fd) &&
         (!via_link || real_path_may(a, fd));
}

/* getxattrat(2), Linux 6.13, asks about a name relative to a descriptor.
 * Before it, the only way there was through /proc/self/fd, whose lookup
 * costs three times as much (10,000 directories: 33 against 11 ms here).
 * Its number is the one every architecture of the common table shares;
 * elsewhere, and where the kernel lacks it, /proc is asked. */
#if defined(__NR_getxattrat)
#define EP_NR_GETXATTRAT __NR_getxattrat
#elif defined(__x86_64__) || defined(__aarch64__) || defined(__riscv) ||       \
    defined(__i386__) || defined(__arm__) || defined(__powerpc__) ||           \
    defined(__s390__)
#define EP_NR_GETXATTRAT 464
#endif

/* valgrind (3.19, Debian 12's) does not know getxattrat: it answers ENOSYS,
 * which the fallback takes, but warns on stderr at every call. Under it,
 * /proc is asked from the start. */
#if defined(EP_NR_GETXATTRAT) && defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define EP_UNDER_VALGRIND() RUNNING_ON_VALGRIND
#endif
#endif
#ifndef EP_UNDER_VALGRIND
#define EP_UNDER_VALGRIND() 0
#endif

static int acl_via_proc(int dirfd, const char *rel) {
  char path[PATH_MAX];
  int n = snprintf(path, sizeof(path), "/proc/self/fd/%d/%s", dirfd, rel);
  if (n < 0 || (size_t)n >= sizeof(path))
    return 1;
  return acl_answer(getxattr(path, ACL_XATTR, NULL, 0));
}

int ep_acl_at(int dirfd, const char *rel, bool via_proc) {
#ifdef EP_NR_GETXATTRAT
  if (!via_proc && !EP_UNDER_VALGRIND()) {
    struct {
      uint64_t value;
      uint32_t size, flags;
    } args = {0, 0, 0}; /* no value: only its size, or ENODATA */
    long rc = syscall(EP_NR_GETXATTRAT, dirfd, rel, 0, ACL_XATTR, &args,
                      sizeof(args));
    /* ENOSYS: an older kernel; EPERM: a seccomp filter that does not know
     * it; EINVAL: a struct it does not take */
    if (rc >= 0 || (errno != ENOSYS && errno != EPERM && errno != EINVAL))
      return acl_answer(rc);
  }
#else
  (void)via_proc;
#endif
  return acl_via_proc(dirfd, rel);
}

bool ep_audience_acl_free_at(const ep_audience *a, int dirfd, const char *rel) {
  return a->kind == EP_AUD_OWNER || ep_acl_at(dirfd, rel, false) == 0;
}
