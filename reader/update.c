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
 *   6. write the SQLite file, fsync it, rename it over index.db, fsync the
 *      directory. Readers see the old or the new file, never a partial one.
 */
#define _GNU_SOURCE
#include "epindex_private.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
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
  int dirfd, idxfd, lockfd, tmpfd;
  char tmpname[64];
  ep_buf err;
  ep_catalog old;       /* parse cache: the previous index or snapshot */
  int64_t old_stamp_ns; /* stamps of old at or after this are not reusable */
  uint32_t *old_sorted; /* indexes of old dists sorted by metadir */
} update_ctx;

static int fail(update_ctx *u, int code, const char *what, const char *name) {
  u->err.len = 0;
  ep_buf_appendf(&u->err, "%s %s%s%s: %s", what, u->dir, name ? "/" : "",
                 name ? name : "", epindex_strerror(code));
  return code;
}

static int sys_fail(update_ctx *u, const char *what, const char *name) {
  int e = errno;
  u->err.len = 0;
  ep_buf_appendf(&u->err, "%s %s%s%s: %s", what, u->dir, name ? "/" : "",
                 name ? name : "", strerror(e));
  return ep_errno_code(e);
}

/* ---- locking and cleanup ----------------------------------------------------- */

static int open_index_dir(update_ctx *u) {
  if (mkdirat(u->dirfd, EPINDEX_INDEX_DIR, 0755) != 0 && errno != EEXIST)
    return sys_fail(u, "cannot create", EPINDEX_INDEX_DIR);
  u->idxfd = openat(u->dirfd, EPINDEX_INDEX_DIR,
                    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (u->idxfd < 0)
    return sys_fail(u, "cannot open", EPINDEX_INDEX_DIR);
  u->lockfd = openat(u->idxfd, "lock",
                     O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (u->lockfd < 0)
    return sys_fail(u, "cannot open", EPINDEX_INDEX_DIR "/lock");
  int rc;
  do
    rc = flock(u->lockfd, LOCK_EX);
  while (rc != 0 && errno == EINTR);
  if (rc != 0)
    return sys_fail(u, "cannot lock", EPINDEX_INDEX_DIR "/lock");
  return EPINDEX_OK;
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

/* ---- the filesystem clock ---------------------------------------------------- */

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

/* ---- the parse cache ------------------------------------------------------------ */

static _Thread_local const ep_catalog *sort_cat;

static int cmp_old(const void *a, const void *b) {
  return strcmp(sort_cat->dists[*(const uint32_t *)a].metadir,
                sort_cat->dists[*(const uint32_t *)b].metadir);
}

static int index_old(update_ctx *u) {
  free(u->old_sorted);
  u->old_sorted = malloc((u->old.ndists + 1) * sizeof(*u->old_sorted));
  if (!u->old_sorted)
    return EPINDEX_ENOMEM;
  for (size_t i = 0; i < u->old.ndists; i++)
    u->old_sorted[i] = (uint32_t)i;
  sort_cat = &u->old;
  qsort(u->old_sorted, u->old.ndists, sizeof(*u->old_sorted), cmp_old);
  sort_cat = NULL;
  return EPINDEX_OK;
}

static const ep_dist *find_old(const update_ctx *u, const char *metadir) {
  size_t lo = 0, hi = u->old.ndists;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    const ep_dist *d = &u->old.dists[u->old_sorted[mid]];
    int r = strcmp(d->metadir, metadir);
    if (r == 0)
      return d;
    if (r < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return NULL;
}

static bool same_stamp(const ep_stamp *a, const ep_stamp *b) {
  return a->dir_mtime == b->dir_mtime && a->dir_ino == b->dir_ino &&
         a->ep_size == b->ep_size && a->ep_mtime == b->ep_mtime &&
         a->md_size == b->md_size && a->md_mtime == b->md_mtime;
}

static const char *arena_dup(ep_catalog *c, const char *s) {
  return s ? ep_arena_strndup(&c->arena, s, strlen(s)) : NULL;
}

/* ep_reuse_fn: copy an unchanged distribution from the parse cache. Hidden
 * ones are not reused: their entries were never stored. */
static bool reuse_old(void *ctx, ep_catalog *cat, size_t di,
                      const ep_listed *item, const ep_stamp *stamp) {
  update_ctx *u = ctx;
  const ep_dist *o = u->old_sorted ? find_old(u, item->metadir) : NULL;
  if (!o || o->hidden || o->kind != item->kind || !same_stamp(&o->stamp, stamp))
    return false;
  if (stamp->ep_mtime >= u->old_stamp_ns || stamp->md_mtime >= u->old_stamp_ns)
    return false; /* racy in the old snapshot: its content is not proven */
  ep_dist *d = &cat->dists[di];
  d->key = arena_dup(cat, o->key);
  d->name = arena_dup(cat, o->name);
  d->version = arena_dup(cat, o->version);
  d->problem = arena_dup(cat, o->problem);
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
  }
  return true;
}

static void load_old_index(update_ctx *u) {
  ep_index *ix = NULL;
  epindex_reason why;
  ep_dirstamp ds;
  if (ep_index_open_raw(u->dirfd, &ix, &why) != EPINDEX_OK || !ix)
    return;
  if (ep_index_load(ix, &u->old, &ds) == EPINDEX_OK && index_old(u) == EPINDEX_OK)
    u->old_stamp_ns = ds.stamp_ns;
  else
    ep_catalog_free(&u->old);
  ep_index_close(ix);
}

/* ---- snapshot ---------------------------------------------------------------------- */

static bool same_dir_state(const struct stat *a, const struct stat *b) {
  return a->st_dev == b->st_dev && a->st_ino == b->st_ino &&
         ep_mtime_ns(a) == ep_mtime_ns(b);
}

static int64_t newest_mtime(const ep_catalog *c, int64_t dir_mtime) {
  int64_t m = dir_mtime;
  for (size_t i = 0; i < c->ndists; i++) {
    if (c->dists[i].stamp.ep_mtime > m)
      m = c->dists[i].stamp.ep_mtime;
    if (c->dists[i].stamp.md_mtime > m)
      m = c->dists[i].stamp.md_mtime;
  }
  return m;
}

/* One attempt: returns OK with *settled = true when the snapshot in cat is
 * consistent and not racy. */
static int snapshot_once(update_ctx *u, const char *base, ep_catalog *cat,
                         ep_dirstamp *ds, size_t *reread, bool *settled) {
  struct stat before, after;
  int64_t stamp;
  int rc = fs_now(u, &stamp);
  if (rc)
    return rc;
  if (fstat(u->dirfd, &before) != 0)
    return sys_fail(u, "cannot stat", NULL);
  ep_listing l = {0};
  rc = ep_list_dir(u->dirfd, base, &l);
  if (rc) {
    ep_listing_free(&l);
    return fail(u, rc, "cannot list", NULL);
  }
  *reread = 0;
  rc = ep_scan_listed(u->dirfd, &l, cat, NULL, u->dir,
                      u->old_sorted ? reuse_old : NULL, u, reread);
  ep_listing_free(&l);
  if (!rc)
    rc = ep_catalog_mark_hidden(cat);
  if (!rc)
    rc = ep_catalog_finish(cat);
  if (rc)
    return fail(u, rc, "cannot read", NULL);
  if (fstat(u->dirfd, &after) != 0)
    return sys_fail(u, "cannot stat", NULL);
  *ds = (ep_dirstamp){(int64_t)before.st_dev, (int64_t)before.st_ino,
                      ep_mtime_ns(&before), stamp};
  int64_t newest = newest_mtime(cat, ds->mtime_ns);
  *settled = same_dir_state(&before, &after) && newest < stamp;
  if (!*settled && newest >= stamp)
    rc = wait_past(u, newest);
  return rc;
}

/* Take snapshots until one is consistent; each failed one becomes the parse
 * cache of the next, so only what changed is read again. */
static int snapshot(update_ctx *u, const char *base, ep_catalog *cat,
                    ep_dirstamp *ds, size_t *reread) {
  for (int attempt = 0; attempt < MAX_SNAPSHOTS; attempt++) {
    bool settled = false;
    int rc = snapshot_once(u, base, cat, ds, reread, &settled);
    if (rc || settled)
      return rc;
    ep_catalog_free(&u->old);
    u->old = *cat;
    memset(cat, 0, sizeof(*cat));
    u->old_stamp_ns = ds->stamp_ns;
    if ((rc = index_old(u)) != EPINDEX_OK)
      return rc;
  }
  return fail(u, EPINDEX_EBUSY, "gave up on", NULL);
}

/* ---- writing ---------------------------------------------------------------------------- */

static int create_tmp(update_ctx *u) {
  static const char hex[] = "0123456789abcdef";
  for (int attempt = 0; attempt < 16; attempt++) {
    unsigned long r = (unsigned long)getpid() * 2654435761u ^
                      (unsigned long)time(NULL) ^ ((unsigned long)attempt << 20);
    snprintf(u->tmpname, sizeof(u->tmpname), TMP_PREFIX "%ld-%c%c%c%c",
             (long)getpid(), hex[r & 15], hex[(r >> 4) & 15],
             hex[(r >> 8) & 15], hex[(r >> 12) & 15]);
    u->tmpfd = openat(u->idxfd, u->tmpname,
                      O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (u->tmpfd >= 0)
      return EPINDEX_OK;
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

static int write_and_replace(update_ctx *u, const ep_catalog *cat,
                             const ep_dirstamp *ds, bool is_egg) {
  char tmppath[PATH_MAX], real[PATH_MAX];
  if ((size_t)snprintf(tmppath, sizeof(tmppath), "%s/%s/%s",
                       *u->dir ? u->dir : ".", EPINDEX_INDEX_DIR,
                       u->tmpname) >= sizeof(tmppath))
    return fail(u, EPINDEX_ETOOLONG, "path too long:", NULL);
  if (!realpath(*u->dir ? u->dir : ".", real))
    snprintf(real, sizeof(real), "%s", u->dir);
  int rc = ep_index_write(tmppath, cat, ds, real, is_egg, &u->err);
  if (rc)
    return rc;
  if (fsync_retry(u->tmpfd) != 0)
    return sys_fail(u, "cannot sync", EPINDEX_INDEX_DIR);
  if (renameat(u->idxfd, u->tmpname, u->idxfd, EPINDEX_INDEX_FILE) != 0)
    return sys_fail(u, "cannot replace", EPINDEX_INDEX_DIR "/" EPINDEX_INDEX_FILE);
  u->tmpname[0] = '\0';
  if (fsync_retry(u->idxfd) != 0)
    return sys_fail(u, "cannot sync", EPINDEX_INDEX_DIR);
  return EPINDEX_OK;
}

/* Is the current index already exactly what we would write? It must pass
 * the STAT check (so readers keep their O(1) path) and then VERIFY (so an
 * in-place edit of a file is not missed); VERIFY is only paid for when STAT
 * passed, the usual case of a trigger that runs after every package. */
static bool already_fresh(update_ctx *u) {
  epindex_reason r;
  ep_index *ix = NULL;
  struct stat dir;
  if (fstat(u->dirfd, &dir) != 0 || ep_index_open_raw(u->dirfd, &ix, &r) || !ix)
    return false;
  bool fresh = ep_index_stat_fresh(ix, &dir) &&
               ep_index_matches_listing(ix, u->dirfd, false,
                                        ep_index_stamp_ns(ix), NULL) == 1;
  ep_index_close(ix);
  return fresh;
}

static int update_locked(update_ctx *u, unsigned flags,
                         epindex_update_stats *stats) {
  remove_litter(u);
  if (!(flags & EPINDEX_UPDATE_FULL) && already_fresh(u)) {
    stats->unchanged = 1;
    return EPINDEX_OK;
  }
  if (!(flags & EPINDEX_UPDATE_FULL))
    load_old_index(u);
  int rc = create_tmp(u);
  if (rc)
    return rc;
  const char *slash = strrchr(u->dir, '/');
  char base[NAME_MAX + 1];
  snprintf(base, sizeof(base), "%s", slash ? slash + 1 : u->dir);
  if (slash && !slash[1]) { /* "x.egg/": basename of the path proper */
    char real[PATH_MAX];
    const char *r = realpath(u->dir, real);
    const char *s2 = r ? strrchr(r, '/') : NULL;
    snprintf(base, sizeof(base), "%s", s2 ? s2 + 1 : "");
  }
  ep_catalog cat = {0};
  ep_dirstamp ds;
  rc = snapshot(u, base, &cat, &ds, &stats->reread);
  if (!rc) {
    size_t n = strlen(base);
    bool egg = n >= 4 && strcasecmp(base + n - 4, ".egg") == 0;
    rc = write_and_replace(u, &cat, &ds, egg);
  }
  if (!rc) {
    stats->dists = cat.ndists;
    stats->entries = 0;
    for (size_t i = 0; i < cat.ndists; i++)
      if (!cat.dists[i].hidden && !cat.dists[i].problem && cat.dists[i].key)
        stats->entries += cat.dists[i].count;
  }
  ep_catalog_free(&cat);
  return rc;
}

int epindex_update_dir(const char *dir, unsigned flags,
                       epindex_update_stats *stats, char *errbuf,
                       size_t errlen) {
  epindex_update_stats scratch;
  if (!stats)
    stats = &scratch;
  memset(stats, 0, sizeof(*stats));
  if (errbuf && errlen)
    errbuf[0] = '\0';
  if (!dir)
    return EPINDEX_EINVAL;
  update_ctx u = {.dir = dir, .dirfd = -1, .idxfd = -1, .lockfd = -1,
                  .tmpfd = -1};
  int rc;
  u.dirfd = open(*dir ? dir : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (u.dirfd < 0)
    rc = sys_fail(&u, "cannot open", NULL);
  else if ((rc = open_index_dir(&u)) == EPINDEX_OK)
    rc = update_locked(&u, flags, stats);
  if (u.tmpfd >= 0)
    close(u.tmpfd);
  if (u.tmpname[0])
    unlinkat(u.idxfd, u.tmpname, 0); /* nothing half-written is left */
  if (u.lockfd >= 0)
    close(u.lockfd); /* releases the flock */
  if (u.idxfd >= 0)
    close(u.idxfd);
  if (u.dirfd >= 0)
    close(u.dirfd);
  if (rc && errbuf && errlen)
    snprintf(errbuf, errlen, "%s", u.err.data ? u.err.data : epindex_strerror(rc));
  ep_buf_free(&u.err);
  ep_catalog_free(&u.old);
  free(u.old_sorted);
  return rc;
}
