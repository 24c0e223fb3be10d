/*
 * update.c -- epindex_update_dir(): build an index and put it in place.
 *
 * Protocol (docs/freshness.md):
 *   1. create <dir>/.epindex (before anything is stamped: creating it
 *      changes <dir>'s mtime) and take an exclusive flock on .epindex/lock,
 *      which serialises updates of one directory;
 *   2. delete temporary files left by killed updates;
 *   3. create the temporary file and read its mtime: that is stamp_ns, a
 *      filesystem-clock time taken *before* the directory is read;
 *   4. stat the directory, list and read it, stat it again; retry if it
 *      changed meanwhile;
 *   5. if the directory's or any stamped file's mtime is >= stamp_ns, a later
 *      change in the same clock tick would be invisible (git's "racy clean"
 *      problem): wait for the clock to pass it and take the snapshot again;
 *   6. write the SQLite file and the lookup table made from it (lookup.c),
 *      fsync both, rename them over lookup.tbl and index.db, fsync the
 *      directory. Readers see old or new files, never a partial one; each
 *      file carries its own stamps, so a reader judges each on its own.
 */
#define _GNU_SOURCE
#include "update.h"

#include "access.h"
#include "index.h"
#include "scan.h"
#include "text.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#define TMP_PREFIX EPINDEX_INDEX_FILE ".tmp-"
#define MAX_SNAPSHOTS 8

typedef struct update_ctx {
  const char *dir;
  const char *idxdir; /* where the index goes: NULL for <dir>/.epindex */
  uid_t owner;        /* who must own it for it to be trusted */
  ep_audience aud;    /* who may list dir, and so read its index */
  int dirfd, idxfd, lockfd, tmpfd, lktmpfd; /* lk: the lookup table */
  char tmpname[64], lktmpname[72];
  ep_buf err;
  ep_catalog old;        /* parse cache: the previous index or snapshot */
  int64_t old_stamp_ns;  /* stamps of old at or after this are not reusable */
  ep_strmap old_by_name; /* metadir -> index in old */
} update_ctx;

static int fail(update_ctx *u, int code, const char *what, const char *name) {
  u->err.len = 0;
  ep_buf_appendf(&u->err, "%s %s%s%s: %s", what, u->dir, name ? "/" : "",
                 name ? name : "", epindex_strerror(code));
  return code;
}

/* name is relative to the directory, or absolute (the user cache's). */
static int sys_fail(update_ctx *u, const char *what, const char *name) {
  int e = errno;
  bool absolute = name && name[0] == '/';
  u->err.len = 0;
  ep_buf_appendf(&u->err, "%s %s%s%s: %s", what, absolute ? "" : u->dir,
                 name && !absolute ? "/" : "", name ? name : "", strerror(e));
  return ep_errno_code(e);
}

/* ---- locking and cleanup
 * ----------------------------------------------------- */

/* mkdir -p for a cache directory: private to the user (0700). */
static int make_private_dirs(update_ctx *u, const char *path) {
  char buf[PATH_MAX];
  if ((size_t)snprintf(buf, sizeof(buf), "%s", path) >= sizeof(buf))
    return fail(u, EPINDEX_ETOOLONG, "path too long:", NULL);
  for (char *s = buf + 1;; s++) {
    if (*s && *s != '/')
      continue;
    char c = *s;
    *s = '\0';
    if (mkdir(buf, 0700) != 0 && errno != EEXIST)
      return sys_fail(u, "cannot create", buf);
    if (!c)
      return EPINDEX_OK;
    *s = c;
  }
}

static int untrusted(update_ctx *u, const char *name, const char *why) {
  u->err.len = 0;
  ep_buf_appendf(&u->err, "refusing %s/%s: %s (remove it, or run as its owner)",
                 u->dir, name, why);
  return EPINDEX_EUNTRUSTED;
}

/* The index directory and the lock file must be this process's own and
 * writable by nobody else: whoever else could write them could swap the
 * files a root writer is about to rename, or hold the lock forever. */
static int check_ours(update_ctx *u, int fd, const char *name, bool is_dir) {
  struct stat st;
  char why[96];
  if (fstat(fd, &st) != 0)
    return sys_fail(u, "cannot stat", name);
  if (st.st_uid != geteuid()) {
    snprintf(why, sizeof(why), "owned by uid %lu, not by this process's %lu",
             (unsigned long)st.st_uid, (unsigned long)geteuid());
    return untrusted(u, name, why);
  }
  if (st.st_mode & (S_IWGRP | S_IWOTH))
    return untrusted(u, name, "writable by group or others");
  if (!is_dir && (!S_ISREG(st.st_mode) || st.st_nlink != 1))
    return untrusted(u, name, "not a regular file with a single link");
  /* a lock readable by others (written by epindex 0.1.0) could be opened,
   * and so flocked, by any user: take that away */
  if (!is_dir && (st.st_mode & 077) && fchmod(fd, 0600) != 0)
    return sys_fail(u, "cannot chmod", name);
  return EPINDEX_OK;
}

static int64_t monotonic_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* flock, waiting at most wait_s seconds (0: not at all). A package manager
 * must never hang on a lock, whoever holds it. */
static int lock_bounded(update_ctx *u, unsigned wait_s) {
  int64_t deadline = monotonic_ms() + (int64_t)wait_s * 1000;
  for (unsigned i = 0;; i++) {
    if (flock(u->lockfd, LOCK_EX | LOCK_NB) == 0)
      return EPINDEX_OK;
    if (errno == EINTR)
      continue;
    if (errno != EWOULDBLOCK)
      return sys_fail(u, "cannot lock", EPINDEX_INDEX_DIR "/lock");
    if (wait_s == 0)
      return fail(u, EPINDEX_EBUSY, "another update holds",
                  EPINDEX_INDEX_DIR "/lock");
    if (monotonic_ms() >= deadline) {
      u->err.len = 0;
      ep_buf_appendf(&u->err,
                     "another update has held %s/" EPINDEX_INDEX_DIR
                     "/lock for %u s: giving up",
                     u->dir, wait_s);
      return EPINDEX_ETIMEDOUT;
    }
    struct timespec ts = {0, (i < 20 ? 5 : 50) * 1000000L};
    nanosleep(&ts, NULL);
  }
}

/* A new .epindex gets a .gitignore that ignores everything, as pytest's
 * and mypy's caches do: a source checkout on sys.path (an editable
 * install's src/, with its egg-info) is a site directory too, and its index
 * is no file of the project's. Best effort: without it nothing else
 * changes. */
static void ignore_in_version_control(int idxfd) {
  static const char text[] =
      "# Created by epindex: an index of the directory above.\n*\n";
  int fd = openat(idxfd, ".gitignore",
                  O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (fd < 0)
    return;
  bool whole = write(fd, text, sizeof(text) - 1) == (ssize_t)sizeof(text) - 1;
  close(fd);
  if (!whole)
    unlinkat(idxfd, ".gitignore", 0);
}

static int open_index_dir(update_ctx *u, unsigned flags) {
  bool created = false;
  if (u->idxdir) {
    int rc = make_private_dirs(u, u->idxdir);
    if (rc)
      return rc;
    u->idxfd = open(u->idxdir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  } else {
    created = mkdirat(u->dirfd, EPINDEX_INDEX_DIR, 0755) == 0;
    if (!created && errno != EEXIST)
      return sys_fail(u, "cannot create", EPINDEX_INDEX_DIR);
    u->idxfd = openat(u->dirfd, EPINDEX_INDEX_DIR,
                      O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  }
  if (u->idxfd < 0 && (errno == ELOOP || errno == ENOTDIR))
    return untrusted(u, EPINDEX_INDEX_DIR, "a symlink or not a directory");
  if (u->idxfd < 0)
    return sys_fail(u, "cannot open", EPINDEX_INDEX_DIR);
  int rc = check_ours(u, u->idxfd, EPINDEX_INDEX_DIR, true);
  if (rc)
    return rc;
  if (created)
    ignore_in_version_control(u->idxfd);
  u->lockfd =
      openat(u->idxfd, "lock",
             O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0600);
  if (u->lockfd < 0 && errno == ELOOP)
    return untrusted(u, EPINDEX_INDEX_DIR "/lock", "a symlink");
  if (u->lockfd < 0)
    return sys_fail(u, "cannot open", EPINDEX_INDEX_DIR "/lock");
  if ((rc = check_ours(u, u->lockfd, EPINDEX_INDEX_DIR "/lock", false)))
    return rc;
  unsigned wait_s = flags >> 16;
  if (!wait_s)
    wait_s = EPINDEX_UPDATE_LOCK_WAIT_DEFAULT;
  return lock_bounded(u, flags & EPINDEX_UPDATE_NOWAIT ? 0 : wait_s);
}

/* Under the lock no other update is running: any temporary file is litter. */
static void remove_litter(update_ctx *u) {
  int fd = openat(u->idxfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
  if (!d) {
    if (fd >= 0)
      close(fd);
    return;
  }
  struct dirent *de;
  while ((de = readdir(d)) != NULL)
    if (strncmp(de->d_name, TMP_PREFIX, strlen(TMP_PREFIX)) == 0)
      unlinkat(u->idxfd, de->d_name, 0);
  closedir(d);
}

/* ---- the filesystem clock
 * ---------------------------------------------------- */

/* mtime of the temporary file after touching it: "now" on the clock and at
 * the granularity of the file system the index lives on. */
static int fs_now(update_ctx *u, int64_t *now) {
  struct stat st;
  if (futimens(u->tmpfd, NULL) != 0 || fstat(u->tmpfd, &st) != 0)
    return sys_fail(u, "cannot stamp", EPINDEX_INDEX_DIR);
  *now = ep_mtime_ns(&st);
  return EPINDEX_OK;
}

/* Wait until the filesystem clock is past `t` (at most ~3 s: FAT has 2 s
 * granularity). */
static int wait_past(update_ctx *u, int64_t t) {
  int64_t now = t;
  for (int i = 0; i < 400; i++) {
    int rc = fs_now(u, &now);
    if (rc || now > t)
      return rc;
    struct timespec ts = {0, (i < 50 ? 1 : 10) * 1000000L};
    nanosleep(&ts, NULL);
  }
  return fail(u, EPINDEX_EBUSY, "clock does not advance on", EPINDEX_INDEX_DIR);
}

/* ---- the parse cache
 * ------------------------------------------------------------ */

static int index_old(update_ctx *u) {
  ep_strmap_free(&u->old_by_name);
  if (ep_strmap_reserve(&u->old_by_name, u->old.ndists))
    return EPINDEX_ENOMEM;
  for (size_t i = 0; i < u->old.ndists; i++) {
    size_t v;
    bool found;
    if (ep_strmap_put(&u->old_by_name, u->old.dists[i].metadir, i, &v, &found))
      return EPINDEX_ENOMEM;
  }
  return EPINDEX_OK;
}

static const ep_dist *find_old(const update_ctx *u, const char *metadir) {
  size_t i = ep_strmap_get(&u->old_by_name, metadir);
  return i == SIZE_MAX ? NULL : &u->old.dists[i];
}

static const char *arena_dup(ep_catalog *c, const char *s, size_t n) {
  return s ? ep_arena_strndup(&c->arena, s, n) : NULL;
}

/* ep_reuse_fn: copy an unchanged distribution from the parse cache. Hidden
 * ones are not reused: their entries were never stored. */
static bool reuse_old(void *ctx, ep_catalog *cat, size_t di,
                      const ep_listed *item, const ep_stamp *stamp) {
  update_ctx *u = ctx;
  const ep_dist *o = find_old(u, item->metadir);
  if (!o || o->hidden || o->kind != item->kind ||
      !ep_stamp_same(&o->stamp, stamp))
    return false;
  if (ep_stamp_newest_change(stamp) >= u->old_stamp_ns)
    return false; /* racy in the old snapshot: its content is not proven */
  ep_dist *d = &cat->dists[di];
  d->restricted = o->restricted || stamp->denied;
  d->key = arena_dup(cat, o->key, d->key_len = o->key_len);
  d->name = arena_dup(cat, o->name, d->name_len = o->name_len);
  d->version = arena_dup(cat, o->version, d->version_len = o->version_len);
  d->problem = arena_dup(cat, o->problem, o->problem ? strlen(o->problem) : 0);
  if ((o->key && !d->key) || (o->name && !d->name) ||
      (o->version && !d->version) || (o->problem && !d->problem))
    return false;
  d->first = cat->nentries;
  for (size_t k = 0; k < o->count; k++) {
    const ep_entry *e = &u->old.entries[o->first + k];
    if (ep_catalog_add_entry(cat, di, e->group, e->group_len, e->name,
                             e->name_len, e->value, e->value_len, e->line)) {
      cat->nentries = d->first;
      d->count = 0;
      return false;
    }
    if (!d->bad_value && !ep_value_is_object_ref(e->value, e->value_len))
      d->bad_value = (uint32_t)k + 1;
  }
  return true;
}

static void load_old_index(update_ctx *u) {
  ep_index *ix = NULL;
  epindex_reason why;
  ep_dirstamp ds;
  if (ep_index_open_raw(u->idxfd, u->owner, &ix, &why) != EPINDEX_OK || !ix)
    return;
  /* content judged for another audience is not reused: read it again */
  if (!ep_audience_same(ep_index_audience(ix), u->aud)) {
    ep_index_close(ix);
    return;
  }
  if (ep_index_load(ix, &u->old, &ds) == EPINDEX_OK &&
      index_old(u) == EPINDEX_OK)
    u->old_stamp_ns = ds.stamp_ns;
  else
    ep_catalog_free(&u->old);
  ep_index_close(ix);
}

/* ---- snapshot
 * ---------------------------------------------------------------------- */

static bool same_dir_state(const struct stat *a, const struct stat *b) {
  return a->st_dev == b->st_dev && a->st_ino == b->st_ino &&
         ep_mtime_ns(a) == ep_mtime_ns(b) && ep_ctime_ns(a) == ep_ctime_ns(b);
}

/* The latest change (ctime) of the directory and of what was read: at or
 * after the stamp, a later change in the same tick would be invisible. */
static int64_t newest_change(const ep_catalog *c, int64_t dir_ctime) {
  int64_t m = dir_ctime;
  for (size_t i = 0; i < c->ndists; i++) {
    int64_t t = ep_stamp_newest_change(&c->dists[i].stamp);
    if (t > m)
      m = t;
  }
  return m;
}

static ep_dirstamp dirstamp_of(const struct stat *dir, int64_t stamp) {
  return (ep_dirstamp){(int64_t)dir->st_dev, (int64_t)dir->st_ino,
                       ep_mtime_ns(dir), ep_ctime_ns(dir), stamp};
}

/* Directories with at least this many entries are read by two threads
 * (the machines that run hooks have two cores or more; below this the
 * thread costs more than it saves). */
enum { SPLIT_AT = 2048 };

/* The second half of a large directory's entries, read in a thread. */
typedef struct scan_job {
  update_ctx *u;
  ep_listing part; /* a view into the listing: not freed */
  ep_catalog cat;
  size_t reread;
  int rc;
} scan_job;

static int scan_part(update_ctx *u, const ep_listing *part, ep_catalog *cat,
                     size_t *reread) {
  return ep_scan_listed(u->dirfd, part, cat, u->old.ndists ? reuse_old : NULL,
                        u, reread);
}

static void *run_scan_job(void *arg) {
  scan_job *j = arg;
  j->rc = scan_part(j->u, &j->part, &j->cat, &j->reread);
  return NULL;
}

/* Read every listed entry into cat. The reads are the bulk of a full
 * update, a few system calls and a parse per entry, each independent of
 * the others: a large directory's second half is read in a thread, into a
 * catalog of its own appended afterwards (who hides whom is judged over
 * the whole by ep_catalog_seal()). */
static int scan_listing(update_ctx *u, const ep_listing *l, ep_catalog *cat,
                        size_t *reread) {
  size_t half = l->len >= SPLIT_AT ? l->len / 2 : l->len;
  scan_job j = {.u = u, .part = *l, .cat = {.aud = cat->aud}};
  j.part.items += half;
  j.part.len -= half;
  pthread_t t;
  bool threaded =
      half < l->len && pthread_create(&t, NULL, run_scan_job, &j) == 0;
  ep_listing first = *l;
  first.len = threaded ? half : l->len;
  int rc = scan_part(u, &first, cat, reread);
  if (threaded) {
    pthread_join(t, NULL);
    *reread += j.reread;
    if (!rc && j.rc && j.cat.failed) { /* its name outlives j.cat's arena */
      cat->failed =
          ep_arena_strndup(&cat->arena, j.cat.failed, strlen(j.cat.failed));
      cat->failed_errno = j.cat.failed_errno;
    }
    rc = rc ? rc : j.rc;
    rc = rc ? rc : ep_catalog_append(cat, &j.cat);
    ep_catalog_free(&j.cat);
  }
  return rc;
}

/* A scan's failure; one for an error of the moment names the entry. */
static int scan_fail(update_ctx *u, const ep_catalog *cat, int rc) {
  if (rc != EPINDEX_EIO || !cat->failed)
    return fail(u, rc, "cannot read", NULL);
  errno = cat->failed_errno;
  return sys_fail(u, "cannot read", cat->failed);
}

/* One attempt: returns OK with *settled = true when the snapshot in cat is
 * consistent and not racy. */
static int snapshot_once(update_ctx *u, bool egg, ep_catalog *cat,
                         ep_dirstamp *ds, size_t *reread, bool *settled) {
  struct stat before, after;
  int64_t stamp = 0; /* set by fs_now(); gcc 12 -O2 cannot see it */
  int rc = fs_now(u, &stamp);
  if (rc)
    return rc;
  if (fstat(u->dirfd, &before) != 0)
    return sys_fail(u, "cannot stat", NULL);
  ep_listing l = {0};
  rc = ep_list_dir(u->dirfd, egg, &l);
  if (rc) {
    ep_listing_free(&l);
    return fail(u, rc, "cannot list", NULL);
  }
  *reread = 0;
  cat->aud = &u->aud;
  cat->egg_infos = l.egg_infos;
  rc = scan_listing(u, &l, cat, reread);
  ep_listing_free(&l);
  if (!rc)
    rc = ep_catalog_seal(cat);
  if (rc)
    return scan_fail(u, cat, rc);
  if (fstat(u->dirfd, &after) != 0)
    return sys_fail(u, "cannot stat", NULL);
  *ds = dirstamp_of(&before, stamp);
  int64_t newest = newest_change(cat, ds->ctime_ns);
  *settled = same_dir_state(&before, &after) && newest < stamp;
  if (!*settled && newest >= stamp)
    rc = wait_past(u, newest);
  return rc;
}

/* The one retry loop of reads that must settle (a snapshot, a patch's
 * delta): once() reads and tells whether what it read is consistent and not
 * racy; it is tried at most MAX_SNAPSHOTS times. */
typedef int (*attempt_fn)(update_ctx *u, void *arg, int attempt, bool *settled);

static int until_settled(update_ctx *u, attempt_fn once, void *arg,
                         int unsettled_rc) {
  for (int attempt = 0; attempt < MAX_SNAPSHOTS; attempt++) {
    bool settled = false;
    int rc = once(u, arg, attempt, &settled);
    if (rc || settled)
      return rc;
  }
  return unsettled_rc == EPINDEX_EBUSY
             ? fail(u, EPINDEX_EBUSY, "gave up on", NULL)
             : unsettled_rc;
}

typedef struct snapshot_job {
  bool egg;
  ep_catalog *cat;
  ep_dirstamp *ds;
  size_t *reread;
} snapshot_job;

/* One snapshot; a failed one becomes the parse cache of the next, so only
 * what changed is read again. */
static int snapshot_attempt(update_ctx *u, void *arg, int attempt,
                            bool *settled) {
  snapshot_job *j = arg;
  (void)attempt;
  int rc = snapshot_once(u, j->egg, j->cat, j->ds, j->reread, settled);
  if (rc || *settled)
    return rc;
  ep_catalog_free(&u->old);
  u->old = *j->cat;
  memset(j->cat, 0, sizeof(*j->cat));
  u->old_stamp_ns = j->ds->stamp_ns;
  return index_old(u);
}

/* Take snapshots until one is consistent (EBUSY after MAX_SNAPSHOTS). */
static int snapshot(update_ctx *u, bool egg, ep_catalog *cat, ep_dirstamp *ds,
                    size_t *reread) {
  snapshot_job j = {egg, cat, ds, reread};
  return until_settled(u, snapshot_attempt, &j, EPINDEX_EBUSY);
}

/* ---- writing
 * ----------------------------------------------------------------------------
 */

/* The lookup table's temporary file: the index's name plus ".lookup", so
 * that remove_litter() finds it too. */
static int create_lookup_tmp(update_ctx *u) {
  snprintf(u->lktmpname, sizeof(u->lktmpname), "%s.lookup", u->tmpname);
  u->lktmpfd = openat(u->idxfd, u->lktmpname,
                      O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (u->lktmpfd >= 0)
    return EPINDEX_OK;
  u->lktmpname[0] = '\0';
  return sys_fail(u, "cannot create a file in", EPINDEX_INDEX_DIR);
}

static int create_tmp(update_ctx *u) {
  static const char hex[] = "0123456789abcdef";
  for (int attempt = 0; attempt < 16; attempt++) {
    unsigned long r = (unsigned long)getpid() * 2654435761u ^
                      (unsigned long)time(NULL) ^
                      ((unsigned long)attempt << 20);
    snprintf(u->tmpname, sizeof(u->tmpname), TMP_PREFIX "%ld-%c%c%c%c",
             (long)getpid(), hex[r & 15], hex[(r >> 4) & 15],
             hex[(r >> 8) & 15], hex[(r >> 12) & 15]);
    u->tmpfd = openat(u->idxfd, u->tmpname,
                      O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (u->tmpfd >= 0)
      return create_lookup_tmp(u);
    if (errno != EEXIST)
      break;
  }
  u->tmpname[0] = '\0';
  return sys_fail(u, "cannot create a file in", EPINDEX_INDEX_DIR);
}

static int fsync_retry(int fd) {
  int rc;
  do
    rc = fsync(fd);
  while (rc != 0 && errno == EINTR);
  return rc;
}

static int replace_with_tmp(update_ctx *u, size_t restricted);

static size_t count_restricted(const ep_catalog *c) {
  size_t n = 0;
  for (size_t i = 0; i < c->ndists; i++)
    n += c->dists[i].restricted;
  return n;
}

/* The directory's real path, which the index records (meta dir). */
static void real_dir(const update_ctx *u, char real[PATH_MAX]) {
  if (!realpath(ep_path_or_dot(u->dir), real))
    snprintf(real, PATH_MAX, "%s", u->dir);
}

static int write_and_replace(update_ctx *u, const ep_catalog *cat,
                             const ep_dirstamp *ds, bool is_egg) {
  char real[PATH_MAX];
  real_dir(u, real);
  int rc = ep_index_write(u->tmpfd, cat, ds, real, is_egg, u->lktmpfd, &u->err);
  return rc ? rc : replace_with_tmp(u, count_restricted(cat));
}

/* Give both files the read permissions of their audience: the directory's
 * own (created 0600, nobody could read them before), or only the writer's
 * when a distribution holds what not all of them may read. */
static int publish_to(update_ctx *u, size_t restricted) {
  ep_audience a = restricted ? (ep_audience){EP_AUD_OWNER, 0} : u->aud;
  int fds[] = {u->tmpfd, u->lktmpfd};
  for (int i = 0; i < 2; i++)
    if (a.kind == EP_AUD_GROUP && fchown(fds[i], (uid_t)-1, a.gid) != 0)
      a.kind = EP_AUD_OWNER; /* not a member of that group: keep it 0600 */
  for (int i = 0; i < 2; i++)
    if (fchmod(fds[i], ep_audience_mode(a)) != 0)
      return sys_fail(u, "cannot chmod a file in", EPINDEX_INDEX_DIR);
  return EPINDEX_OK;
}

/* Make the temporary files durable and rename them over the index. */
static int replace_with_tmp(update_ctx *u, size_t restricted) {
  int rc = publish_to(u, restricted);
  if (rc)
    return rc;
  if (fsync_retry(u->lktmpfd) != 0 || fsync_retry(u->tmpfd) != 0)
    return sys_fail(u, "cannot sync", EPINDEX_INDEX_DIR);
  if (renameat(u->idxfd, u->lktmpname, u->idxfd, EPINDEX_LOOKUP_FILE) != 0)
    return sys_fail(u, "cannot replace",
                    EPINDEX_INDEX_DIR "/" EPINDEX_LOOKUP_FILE);
  u->lktmpname[0] = '\0';
  if (renameat(u->idxfd, u->tmpname, u->idxfd, EPINDEX_INDEX_FILE) != 0)
    return sys_fail(u, "cannot replace",
                    EPINDEX_INDEX_DIR "/" EPINDEX_INDEX_FILE);
  u->tmpname[0] = '\0';
  if (fsync_retry(u->idxfd) != 0)
    return sys_fail(u, "cannot sync", EPINDEX_INDEX_DIR);
  return EPINDEX_OK;
}

/* How the current index relates to the directory. */
typedef enum index_state {
  INDEX_FRESH,        /* passes STAT and VERIFY: nothing to write */
  INDEX_FILES_EDITED, /* passes STAT, fails VERIFY: files changed in place */
  INDEX_DIR_CHANGED   /* fails STAT (or is missing): entries came or went */
} index_state;

/* STAT keeps readers on their O(1) path; VERIFY catches an in-place edit of
 * a file, which STAT cannot see. VERIFY is only paid for when STAT passed,
 * the usual case of a trigger that runs after every package. */
static index_state current_state(update_ctx *u) {
  epindex_reason r;
  ep_index *ix = NULL;
  struct stat dir;
  if (fstat(u->dirfd, &dir) != 0 ||
      ep_index_open_raw(u->idxfd, u->owner, &ix, &r) || !ix)
    return INDEX_DIR_CHANGED;
  index_state state = INDEX_DIR_CHANGED;
  /* written for other readers than the directory has now, or for its
   * writer alone because of one distribution (which may be gone): a
   * snapshot decides again */
  if (!ep_audience_same(ep_index_audience(ix), u->aud) ||
      !ep_index_egg_rule_agrees(ix, u->dir)) {
    ep_index_close(ix);
    return INDEX_FILES_EDITED;
  }
  /* an index without its lookup table (written by an older epindex, or the
   * table was lost) is rewritten whole, as after an in-place edit */
  if (ep_index_stat_fresh(ix, u->dirfd, ".", &dir))
    state = ep_index_matches_listing(ix, u->dirfd, false, NULL) == 1 &&
                    ep_index_lookup_matches(ix, u->idxfd, u->owner)
                ? INDEX_FRESH
                : INDEX_FILES_EDITED;
  ep_index_close(ix);
  return state;
}

/* ---- the incremental patch
 * ------------------------------------------------------ */

/* Copy the current index into the (empty) temporary file. */
static int copy_index(update_ctx *u) {
  int in =
      openat(u->idxfd, EPINDEX_INDEX_FILE, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (in < 0)
    return sys_fail(u, "cannot open", EPINDEX_INDEX_DIR "/" EPINDEX_INDEX_FILE);
  int rc = EPINDEX_OK;
  char buf[1 << 16];
  for (;;) {
    ssize_t got = copy_file_range(in, NULL, u->tmpfd, NULL, 1 << 30, 0);
    if (got < 0 && (errno == EXDEV || errno == ENOSYS || errno == EINVAL)) {
      got = read(in, buf, sizeof(buf)); /* no copy_file_range here */
      if (got > 0 && write(u->tmpfd, buf, (size_t)got) != got)
        got = -1;
    }
    if (got < 0 && errno == EINTR)
      continue;
    if (got < 0)
      rc = sys_fail(u, "cannot copy", EPINDEX_INDEX_DIR "/" EPINDEX_INDEX_FILE);
    if (got <= 0)
      break;
  }
  close(in);
  return rc;
}

/* What the patch changes, worked out before anything is written. */
typedef struct patch_plan {
  ep_listing listing;  /* the directory now, in discovery order */
  ep_listing toread;   /* the entries to read (new or changed) */
  int64_t *toread_ord; /* the ord each of them gets */
  int64_t *removed;    /* ords of the old rows to delete */
  size_t nremoved;
  ep_key *kept_keys; /* keys of the distributions kept */
  size_t nkept;
  bool kept_sorted;     /* sorted only when many keys will be looked up */
  ep_index_counts gone; /* rows the deletions take away */
} patch_plan;

/* Is key among the kept distributions' keys? */
static bool kept(const patch_plan *p, const char *key, size_t klen) {
  if (!key || !p->nkept)
    return false;
  ep_key k = {key, klen};
  if (p->kept_sorted)
    return bsearch(&k, p->kept_keys, p->nkept, sizeof(*p->kept_keys),
                   ep_key_cmp) != NULL;
  for (size_t i = 0; i < p->nkept; i++)
    if (ep_key_cmp(&p->kept_keys[i], &k) == 0)
      return true;
  return false;
}

static void plan_free(patch_plan *p) {
  ep_listing_free(&p->listing);
  for (size_t i = 0; i < p->toread.len; i++)
    p->toread.items[i].metadir = NULL; /* borrowed from listing */
  free(p->toread.items);
  free(p->toread_ord);
  free(p->removed);
  free(p->kept_keys);
}

typedef struct stamp_job {
  int dirfd;
  const ep_listing *l;
  ep_stamp *out;
  size_t from, to;
} stamp_job;

static void *stamp_range(void *arg) {
  stamp_job *j = arg;
  for (size_t i = j->from; i < j->to; i++)
    ep_stamp_item(j->dirfd, &j->l->items[i], true, NULL, &j->out[i]);
  return NULL;
}

/* Two or three fstatat()s per entry (the entry, its entry_points.txt and,
 * when it matters, its metadata file), the bulk of an incremental update's
 * time: the kernel's lookups are CPU-bound, so large directories are split
 * between two threads. */
static void stamp_all(int dirfd, const ep_listing *l, ep_stamp *out) {
  stamp_job a = {dirfd, l, out, 0, l->len}, b = a;
  pthread_t t;
  bool threaded = l->len >= SPLIT_AT;
  if (threaded) {
    a.to = b.from = l->len / 2;
    threaded = pthread_create(&t, NULL, stamp_range, &b) == 0;
    if (!threaded)
      a.to = l->len;
  }
  stamp_range(&a);
  if (threaded)
    pthread_join(t, NULL);
}

/* Does the change touch most of a large directory (entries to read plus
 * entries gone: over 512, and over three quarters of the entries listed)?
 * Then a snapshot, which writes every row in order and reuses what did not
 * change, costs less than a patch, which deletes and inserts rows all over
 * index.db. Measured at 10,000 distributions, patch against snapshot:
 * 2,500 replaced (5,000 changes) 0.27-0.29 s against 0.40-0.44 s; 5,000
 * replaced 0.58-0.74 s against 0.45-0.47 s; all replaced 0.9-1.2 s against
 * 0.5-0.6 s. Below 512 changes either takes milliseconds. */
static bool patch_costs_more(const patch_plan *p) {
  size_t changes = p->toread.len + p->nremoved;
  return changes > 512 && changes * 4 > p->listing.len * 3;
}

/* Match the listing against the old dist rows by their whole stamps: an
 * entry is kept only when it, its entry_points.txt and its metadata file
 * have the inodes, sizes and times they had, none of them changed in the
 * old index's clock tick. So the patch writes what --full would. false: a
 * full snapshot is needed (an entry moved in the order, no room between
 * ords, a key collision) or cheaper (most entries changed). */
static bool plan_patch(update_ctx *u, int64_t old_stamp, patch_plan *p,
                       const ep_stamp *stamps) {
  size_t n = p->listing.len;
  const ep_dist **match = calloc(n + 1, sizeof(*match));
  bool *used = calloc(u->old.ndists + 1, sizeof(*used));
  p->toread.items = calloc(n + 1, sizeof(*p->toread.items));
  p->toread_ord = calloc(n + 1, sizeof(*p->toread_ord));
  p->removed = calloc(u->old.ndists + 1, sizeof(*p->removed));
  p->kept_keys = calloc(u->old.ndists + 1, sizeof(*p->kept_keys));
  bool ok = match && used && p->toread.items && p->toread_ord && p->removed &&
            p->kept_keys;
  ok = ok && stamps;
  for (size_t i = 0; ok && i < n; i++) {
    const ep_listed *item = &p->listing.items[i];
    const ep_stamp *st = &stamps[i];
    const ep_dist *o = find_old(u, item->metadir);
    if (o && o->kind == item->kind && ep_stamp_same(&o->stamp, st) &&
        ep_stamp_newest_change(st) < old_stamp) {
      match[i] = o;
      used[o - u->old.dists] = true;
    }
  }
  /* kept entries must keep their relative order; new ones go in the gaps */
  int64_t prev = 0;
  for (size_t i = 0; ok && i < n;) {
    if (match[i]) {
      ok = match[i]->ord > prev;
      prev = match[i]->ord;
      i++;
      continue;
    }
    size_t j = i;
    while (j < n && !match[j])
      j++;
    int64_t hi =
        j < n ? match[j]->ord : prev + (int64_t)(j - i + 1) * EP_ORD_GAP;
    int64_t step = (hi - prev) / (int64_t)(j - i + 1);
    ok = step > 0;
    for (size_t k = i; ok && k < j; k++) {
      p->toread.items[p->toread.len] = p->listing.items[k];
      p->toread_ord[p->toread.len++] = prev + step * (int64_t)(k - i + 1);
    }
    i = j;
  }
  for (size_t i = 0; ok && i < u->old.ndists; i++) {
    const ep_dist *o = &u->old.dists[i];
    if (used[i]) {
      if (o->key)
        p->kept_keys[p->nkept++] = (ep_key){o->key, o->key_len};
      continue;
    }
    p->removed[p->nremoved++] = o->ord;
    p->gone.entries += o->stored;
    p->gone.problems += o->problem && !o->hidden;
    p->gone.links += o->link;
    p->gone.badvalues += o->bad_value && ep_dist_answers(o);
  }
  /* the usual install or upgrade asks about one or two keys: scanning is
   * cheaper than sorting tens of thousands */
  p->kept_sorted = p->nremoved + p->toread.len > 4;
  if (p->kept_sorted)
    qsort(p->kept_keys, p->nkept, sizeof(*p->kept_keys), ep_key_cmp);
  /* a removed distribution that shared its key with a kept one changes who
   * hides whom: only a full snapshot recomputes that */
  for (size_t i = 0; ok && i < u->old.ndists; i++)
    if (!used[i] && kept(p, u->old.dists[i].key, u->old.dists[i].key_len))
      ok = false;
  free(match);
  free(used);
  return ok && !patch_costs_more(p);
}

/* The new or changed distributions must not share a key with any other. */
static bool delta_keys_unique(const patch_plan *p, const ep_catalog *delta) {
  for (size_t i = 0; i < delta->ndists; i++) {
    const ep_dist *d = &delta->dists[i];
    if (!d->key)
      continue;
    if (kept(p, d->key, d->key_len))
      return false;
    ep_key k = {d->key, d->key_len};
    for (size_t j = 0; j < i; j++) {
      ep_key o = {delta->dists[j].key, delta->dists[j].key_len};
      if (o.s && ep_key_cmp(&o, &k) == 0)
        return false;
    }
  }
  return true;
}

typedef struct delta_job {
  const patch_plan *p;
  ep_catalog *delta;
  int64_t *stamp;
  size_t *reread;
} delta_job;

static int delta_attempt(update_ctx *u, void *arg, int attempt, bool *settled) {
  delta_job *j = arg;
  ep_catalog_free(j->delta);
  *j->reread = 0;
  int rc = attempt ? fs_now(u, j->stamp) : EPINDEX_OK;
  j->delta->aud = &u->aud;
  if (!rc && (rc = ep_scan_listed(u->dirfd, &j->p->toread, j->delta, NULL, NULL,
                                  j->reread)) != EPINDEX_OK)
    return scan_fail(u, j->delta, rc);
  for (size_t i = 0; !rc && i < j->delta->ndists; i++)
    j->delta->dists[i].ord = j->p->toread_ord[i];
  if (!rc)
    rc = ep_catalog_finish(j->delta);
  int64_t newest = newest_change(j->delta, 0);
  *settled = !rc && newest < *j->stamp;
  return rc || *settled ? rc : wait_past(u, newest);
}

/* Read the new and changed entries. Files written in the clock tick of the
 * stamp could change again unseen: wait for the tick to pass, stamp again
 * and read them again (they are few), as the full snapshot does. Still
 * racy after that: the caller's check sends it to a snapshot. */
static int read_delta(update_ctx *u, const patch_plan *p, ep_catalog *delta,
                      int64_t *stamp, size_t *reread) {
  delta_job j = {p, delta, stamp, reread};
  return until_settled(u, delta_attempt, &j, EPINDEX_OK);
}

/* table: the old lookup table, if it is the old index's (the new one is
 * then that table patched), or NULL. */
static int write_patch(update_ctx *u, const patch_plan *p,
                       const ep_catalog *delta, const ep_index *table,
                       const ep_index_counts *old_totals, const ep_dirstamp *ds,
                       bool is_egg, size_t *entries) {
  char real[PATH_MAX];
  real_dir(u, real);
  int rc = copy_index(u);
  ep_writer *w = NULL;
  if (!rc)
    rc = ep_writer_open(u->tmpfd, false, &w, &u->err);
  if (!rc)
    ep_writer_patch_table(w, table);
  ep_index_counts added = {0};
  if (!rc)
    rc = ep_writer_delete_ords(w, p->removed, p->nremoved);
  if (!rc)
    rc = ep_writer_add(w, delta, NULL, &added);
  if (rc) {
    ep_writer_abort(w);
    return rc ? rc : fail(u, EPINDEX_EIO, "cannot patch", EPINDEX_INDEX_DIR);
  }
  ep_index_counts totals = {
      .dists = p->listing.len,
      .entries = old_totals->entries - p->gone.entries + added.entries,
      .problems = old_totals->problems - p->gone.problems + added.problems,
      .links = old_totals->links - p->gone.links + added.links,
      .badvalues = old_totals->badvalues - p->gone.badvalues + added.badvalues,
      .egg_infos = p->listing.egg_infos};
  *entries = totals.entries;
  rc = ep_writer_commit(w, &totals, ds, real, is_egg, u->lktmpfd, &u->err);
  return rc ? rc : replace_with_tmp(u, count_restricted(delta));
}

/* The stamp, and the directory's stat before it is read (waiting out the
 * clock tick when the directory changed in this one). */
static int stamp_before_reading(update_ctx *u, int64_t *stamp,
                                struct stat *before) {
  int rc;
  if ((rc = fs_now(u, stamp)) != EPINDEX_OK)
    return rc;
  if (fstat(u->dirfd, before) != 0)
    return sys_fail(u, "cannot stat", NULL);
  if (ep_ctime_ns(before) >= *stamp) {
    /* an installer that runs the hook right away changed the directory in
     * this clock tick: let the tick pass rather than stamp racily */
    if ((rc = wait_past(u, ep_ctime_ns(before))) != EPINDEX_OK ||
        (rc = fs_now(u, stamp)) != EPINDEX_OK)
      return rc;
    if (fstat(u->dirfd, before) != 0)
      return sys_fail(u, "cannot stat", NULL);
  }
  return EPINDEX_OK;
}

/* The directory's listing and each entry's stamp, taken in
 * threads while the old index loads: they wait on the kernel, the loading
 * on SQLite. */
typedef struct list_job {
  int dirfd;
  bool egg;
  ep_listing *out;
  ep_stamp *stamps; /* out->len of them, owned by the caller */
  int rc;
} list_job;

static void *run_list_job(void *arg) {
  list_job *j = arg;
  j->rc = ep_list_dir(j->dirfd, j->egg, j->out);
  if (j->rc == EPINDEX_OK &&
      !(j->stamps = malloc((j->out->len + 1) * sizeof(*j->stamps))))
    j->rc = EPINDEX_ENOMEM;
  if (j->rc == EPINDEX_OK)
    stamp_all(j->dirfd, j->out, j->stamps);
  return NULL;
}

static int load_old_dists(update_ctx *u, ep_index *ix) {
  int rc = ep_index_load_dists(ix, &u->old);
  return rc ? rc : index_old(u);
}

/*
 * The incremental update: re-read only the metadata entries that are new or
 * whose stamp changed (the entry's, its entry_points.txt's or its metadata
 * file's inode, size, mtime or ctime), and patch a copy of the old index.
 * *done is false when a full snapshot must be taken instead.
 */
static int try_patch(update_ctx *u, bool is_egg, epindex_update_stats *stats,
                     bool *done) {
  ep_index *ix = NULL;
  epindex_reason why;
  *done = false;
  if (ep_index_open_raw(u->idxfd, u->owner, &ix, &why) != EPINDEX_OK || !ix)
    return EPINDEX_OK;
  if (!ep_audience_same(ep_index_audience(ix), u->aud)) {
    ep_index_close(ix); /* kept rows were judged for other readers */
    return EPINDEX_OK;
  }
  ep_index_counts old_totals;
  ep_index_counts_of(ix, &old_totals);
  int64_t old_stamp = ep_index_stamp_ns(ix), stamp;
  struct stat before, after;
  int rc = create_tmp(u);
  if (!rc)
    rc = stamp_before_reading(u, &stamp, &before);
  if (rc) {
    ep_index_close(ix);
    return rc;
  }
  patch_plan p = {0};
  ep_catalog delta = {0};
  list_job job = {u->dirfd, is_egg, &p.listing, NULL, EPINDEX_OK};
  pthread_t t;
  bool threaded = pthread_create(&t, NULL, run_list_job, &job) == 0;
  int load = load_old_dists(u, ix);
  ep_index *table = ep_index_open_matching_table(ix, u->idxfd, u->owner);
  ep_index_close(ix);
  if (threaded)
    pthread_join(t, NULL);
  else
    run_list_job(&job);
  rc = job.rc;
  bool ok = rc == EPINDEX_OK && load == EPINDEX_OK &&
            plan_patch(u, old_stamp, &p, job.stamps);
  free(job.stamps);
  if (ok)
    rc = read_delta(u, &p, &delta, &stamp, &stats->reread);
  ok = ok && !rc && delta_keys_unique(&p, &delta) &&
       fstat(u->dirfd, &after) == 0 && same_dir_state(&before, &after) &&
       newest_change(&delta, ep_ctime_ns(&after)) < stamp;
  if (ok) {
    ep_dirstamp ds = dirstamp_of(&before, stamp);
    rc = write_patch(u, &p, &delta, table, &old_totals, &ds, is_egg,
                     &stats->entries);
    stats->dists = p.listing.len;
    *done = rc == EPINDEX_OK;
    stats->patched = *done;
    stats->restricted = count_restricted(&delta);
  } else if (rc == EPINDEX_OK && ftruncate(u->tmpfd, 0) != 0) {
    rc = sys_fail(u, "cannot truncate a file in", EPINDEX_INDEX_DIR);
  }
  ep_index_close(table);
  ep_catalog_free(&delta);
  plan_free(&p);
  ep_catalog_free(&u->old);
  ep_strmap_free(&u->old_by_name);
  if (load == EPINDEX_ENOMEM)
    rc = load;
  return rc == EPINDEX_ENOMEM || ok ? rc : EPINDEX_OK;
}

static int update_locked(update_ctx *u, unsigned flags,
                         epindex_update_stats *stats) {
  remove_litter(u);
  bool incremental = !(flags & EPINDEX_UPDATE_FULL);
  index_state state = incremental ? current_state(u) : INDEX_DIR_CHANGED;
  if (state == INDEX_FRESH) {
    stats->unchanged = 1;
    return EPINDEX_OK;
  }
  /* judged from the path string, as readers judge theirs (the heal of a
   * reader passes its own) */
  bool egg = ep_path_is_egg(u->dir);
  bool done = false;
  /* the patch pays off when entries came or went; when only files changed
   * in place the directory passes stat and a snapshot reuses the rest */
  int rc = incremental && state == INDEX_DIR_CHANGED
               ? try_patch(u, egg, stats, &done)
               : EPINDEX_OK;
  if (rc || done)
    return rc;
  stats->reread = 0;
  if (incremental)
    load_old_index(u);
  if (u->tmpfd < 0 && (rc = create_tmp(u)) != EPINDEX_OK)
    return rc;
  ep_catalog cat = {0};
  ep_dirstamp ds = {0}; /* set by the snapshot that settles */
  rc = snapshot(u, egg, &cat, &ds, &stats->reread);
  if (!rc)
    rc = write_and_replace(u, &cat, &ds, egg);
  if (!rc) {
    stats->dists = cat.ndists;
    stats->restricted = count_restricted(&cat);
    stats->entries = 0;
    for (size_t i = 0; i < cat.ndists; i++)
      if (ep_dist_answers(&cat.dists[i]))
        stats->entries += cat.dists[i].count;
  }
  ep_catalog_free(&cat);
  return rc;
}

static int not_site(update_ctx *u, const char *why) {
  u->err.len = 0;
  ep_buf_appendf(&u->err, "%s: skipped: %s", *u->dir ? u->dir : "''", why);
  return EPINDEX_ENOTSITE;
}

/* The last component of a path ("x" of "a/x/" too), into out. */
static void last_component(const char *path, char *out, size_t n) {
  size_t end = strlen(path);
  while (end > 1 && path[end - 1] == '/')
    end--;
  size_t start = end;
  while (start > 0 && path[start - 1] != '/')
    start--;
  snprintf(out, n, "%.*s", (int)(end - start), path + start);
}

/* EPINDEX_UPDATE_SITE_ONLY: is this a directory a process may index
 * without being told its name? Cheapest checks first: a healing reader asks
 * this of every unindexed entry of sys.path. */
static int check_site_dir(update_ctx *u, const struct stat *st,
                          unsigned flags) {
  struct stat cwd, os_py;
  char base[NAME_MAX + 1];
  if (st->st_uid != geteuid())
    return not_site(u, "owned by another user");
  if (!*u->dir || (stat(".", &cwd) == 0 && cwd.st_dev == st->st_dev &&
                   cwd.st_ino == st->st_ino))
    return not_site(u, "the current directory");
  last_component(u->dir, base, sizeof(base));
  bool stdlib = strcmp(base, "lib-dynload") == 0 ||
                fstatat(u->dirfd, "os.py", &os_py, 0) == 0;
  if (stdlib)
    return flags & EPINDEX_UPDATE_STDLIB
               ? EPINDEX_OK
               : not_site(u, "the standard library (--include-stdlib)");
  ep_listing l = {0};
  int rc = ep_list_dir(u->dirfd, ep_path_is_egg(u->dir), &l);
  size_t n = l.len;
  ep_listing_free(&l);
  if (rc)
    return fail(u, rc, "cannot list", NULL);
  return n ? EPINDEX_OK : not_site(u, "holds no distributions");
}

int epindex_update_dir(const char *dir, unsigned flags,
                       epindex_update_stats *stats, char *errbuf,
                       size_t errlen) {
  return ep_update_into(dir, NULL, flags, stats, errbuf, errlen);
}

int ep_update_into(const char *dir, const char *idxdir, unsigned flags,
                   epindex_update_stats *stats, char *errbuf, size_t errlen) {
  epindex_update_stats scratch;
  if (!stats)
    stats = &scratch;
  memset(stats, 0, sizeof(*stats));
  if (errbuf && errlen)
    errbuf[0] = '\0';
  const unsigned known = EPINDEX_UPDATE_FULL | EPINDEX_UPDATE_NOWAIT |
                         EPINDEX_UPDATE_SITE_ONLY | EPINDEX_UPDATE_STDLIB |
                         EPINDEX_UPDATE_LOCK_WAIT(0xFFFFu);
  if (!dir || (flags & ~known))
    return EPINDEX_EINVAL;
  update_ctx u = {.dir = dir,
                  .idxdir = idxdir,
                  .dirfd = -1,
                  .idxfd = -1,
                  .lockfd = -1,
                  .tmpfd = -1,
                  .lktmpfd = -1};
  int rc;
  struct stat st;
  u.dirfd = open(ep_path_or_dot(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (u.dirfd < 0 || fstat(u.dirfd, &st) != 0)
    rc = sys_fail(&u, "cannot open", NULL);
  else if ((flags & EPINDEX_UPDATE_SITE_ONLY) &&
           (rc = check_site_dir(&u, &st, flags)) != EPINDEX_OK)
    ; /* not ours to index unasked: nothing is created */
  else if ((rc = open_index_dir(&u, flags)) == EPINDEX_OK) {
    u.owner = idxdir ? geteuid() : st.st_uid;
    /* a user's cache is read by that user alone */
    u.aud = idxdir ? (ep_audience){EP_AUD_OWNER, 0}
                   : ep_audience_of_dir(u.dirfd, &st);
    rc = update_locked(&u, flags, stats);
  }
  if (u.tmpfd >= 0)
    close(u.tmpfd);
  if (u.tmpname[0])
    unlinkat(u.idxfd, u.tmpname, 0); /* nothing half-written is left */
  if (u.lktmpfd >= 0)
    close(u.lktmpfd);
  if (u.lktmpname[0])
    unlinkat(u.idxfd, u.lktmpname, 0);
  if (u.lockfd >= 0)
    close(u.lockfd); /* releases the flock */
  if (u.idxfd >= 0)
    close(u.idxfd);
  if (u.dirfd >= 0)
    close(u.dirfd);
  if (rc && errbuf && errlen)
    snprintf(errbuf, errlen, "%s",
             u.err.data ? u.err.data : epindex_strerror(rc));
  ep_buf_free(&u.err);
  ep_catalog_free(&u.old);
  ep_strmap_free(&u.old_by_name);
  return rc;
}
