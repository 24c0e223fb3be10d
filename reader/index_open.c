/*
 * index_open.c -- opening an index file and judging it: the trust checks
 * made before SQLite sees a byte, the meta facts, and the freshness
 * verdicts of each policy (stat, with its symlink and .egg checks; verify,
 * entry by entry). docs/index-format.md and docs/freshness.md give the
 * rules.
 *
 * An index file is never modified after it is renamed into place, so it is
 * opened with SQLite's immutable=1 (no locks, no journal checks), which also
 * works on NFS and read-only media; read-only, in defensive mode, with
 * triggers, views and untrusted schema functions disabled, so a hostile file
 * cannot run anything.
 */
#include "index_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int64_t be32(const unsigned char *p) {
  return ((int64_t)p[0] << 24) | (p[1] << 16) | (p[2] << 8) | p[3];
}

void ep_index_close(ep_index *ix) {
  if (!ix)
    return;
  if (ix->db) { /* a lookup table's has none, and SQLite may not be loaded */
    sqlite3_finalize(ix->by_grp);
    sqlite3_finalize(ix->by_grp_full);
    sqlite3_finalize(ix->all);
    sqlite3_close_v2(ix->db);
  }
  ep_lookup_close(&ix->lk);
  if (ix->file && ix->file->src.fd >= 0)
    close(ix->file->src.fd);
  free(ix->file);
  free(ix);
}

int64_t ep_index_ndists(const ep_index *ix) { return ix->ndists; }
bool ep_index_has_table(const ep_index *ix) { return ix->lk.rd != NULL; }
ep_mapping *ep_index_share_table(const ep_index *ix) {
  return ep_lookup_share(&ix->lk);
}
int64_t ep_index_stamp_ns(const ep_index *ix) { return ix->ds.stamp_ns; }
ep_audience ep_index_audience(const ep_index *ix) { return ix->aud; }

void ep_index_counts_of(const ep_index *ix, ep_index_counts *n) {
  n->dists = (size_t)ix->ndists;
  n->entries = (size_t)ix->nentries;
  n->problems = (size_t)ix->nproblems;
  n->links = (size_t)ix->nlinks;
  n->egg_infos = (size_t)ix->egg_infos;
  n->badvalues = (size_t)ix->nbadvalues;
}

/* Owned by owner (the directory's owner; the user, for a cache index) or
 * root, and writable by nobody else. */
static bool trusted_mode(const struct stat *st, uid_t owner) {
  if (st->st_mode & (S_IWGRP | S_IWOTH))
    return false;
  return st->st_uid == owner || st->st_uid == 0;
}

/* Check the file behind fd before SQLite sees it: type, owner, mode and the
 * 100-byte SQLite header (magic, our application id and schema version, and
 * that the file is as long as the header says). */
static epindex_reason check_file(ep_fdsrc *src, uid_t owner, ep_audience *aud,
                                 ep_buf *detail) {
  struct stat st;
  int fd = src->fd;
  const unsigned char *h = src->head;
  if (fstat(fd, &st) != 0)
    return EPINDEX_REASON_UNREADABLE;
  if (!S_ISREG(st.st_mode)) {
    ep_buf_appendf(detail, "index is not a regular file");
    return EPINDEX_REASON_UNTRUSTED;
  }
  if (!trusted_mode(&st, owner)) {
    ep_buf_appendf(detail, "index file is owned by uid %u with mode %04o",
                   (unsigned)st.st_uid, (unsigned)(st.st_mode & 07777));
    return EPINDEX_REASON_UNTRUSTED;
  }
  ssize_t got;
  do
    got = pread(fd, src->head, sizeof(src->head), 0);
  while (got < 0 && errno == EINTR);
  if (got < 0)
    return EPINDEX_REASON_UNREADABLE;
  src->head_len = (size_t)got;
  src->size = (int64_t)st.st_size;
  *aud = ep_audience_of_file(&st);
  if (got < 100 || memcmp(h, "SQLite format 3", 16) != 0) {
    ep_buf_appendf(detail, "not an SQLite database (%lld bytes)",
                   (long long)st.st_size);
    return EPINDEX_REASON_DAMAGED;
  }
  if (be32(h + 68) != EPINDEX_APPLICATION_ID) {
    ep_buf_appendf(detail, "application id 0x%08llx",
                   (unsigned long long)be32(h + 68));
    return EPINDEX_REASON_FOREIGN;
  }
  if (be32(h + 60) != EPINDEX_SCHEMA_VERSION) {
    ep_buf_appendf(detail, "schema version %lld, this reader knows %d",
                   (long long)be32(h + 60), EPINDEX_SCHEMA_VERSION);
    /* an older one is what an upgrade leaves until the next update: no
     * warning, and a healing reader may rewrite it; a newer one is not
     * this reader's to judge */
    return be32(h + 60) < EPINDEX_SCHEMA_VERSION ? EPINDEX_REASON_OUTDATED
                                                 : EPINDEX_REASON_SCHEMA;
  }
  int64_t page = (h[16] << 8) | h[17];
  if (page == 1)
    page = 65536;
  int64_t pages = be32(h + 28);
  if (be32(h + 24) == be32(h + 92) && pages * page != (int64_t)st.st_size) {
    ep_buf_appendf(detail, "file is %lld bytes, header says %lld",
                   (long long)st.st_size, (long long)(pages * page));
    return EPINDEX_REASON_DAMAGED;
  }
  return EPINDEX_REASON_FRESH;
}

static void harden(sqlite3 *db, void *lookaside) {
  int off = 0, on = 1;
  sqlite3_db_config(db, SQLITE_DBCONFIG_LOOKASIDE, lookaside, LOOKASIDE_SLOT,
                    LOOKASIDE_SLOTS);
  sqlite3_db_config(db, SQLITE_DBCONFIG_DEFENSIVE, on, NULL);
  sqlite3_db_config(db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, off, NULL);
  sqlite3_db_config(db, SQLITE_DBCONFIG_ENABLE_TRIGGER, off, NULL);
  sqlite3_db_config(db, SQLITE_DBCONFIG_ENABLE_VIEW, off, NULL);
  sqlite3_db_config(db, SQLITE_DBCONFIG_ENABLE_LOAD_EXTENSION, off, NULL);
  sqlite3_limit(db, SQLITE_LIMIT_LENGTH, (int)EP_MAX_FILE_SIZE);
  sqlite3_limit(db, SQLITE_LIMIT_ATTACHED, 0);
}

typedef struct meta_ctx {
  ep_index *ix;
  unsigned seen;
} meta_ctx;

/* The meta facts a reader needs, all of which an index must have. */
static const char *const meta_keys[] = {
    "dev",      "ino",     "mtime_ns", "ctime_ns", "stamp_ns",  "dists",
    "problems", "entries", "links",    "egg",      "egg_infos", "badvalues"};
#define META_N (sizeof(meta_keys) / sizeof(meta_keys[0]))
#define META_ALL ((1u << META_N) - 1)

static int64_t *meta_field(ep_index *ix, unsigned i) {
  int64_t *dst[] = {&ix->ds.dev,      &ix->ds.ino,      &ix->ds.mtime_ns,
                    &ix->ds.ctime_ns, &ix->ds.stamp_ns, &ix->ndists,
                    &ix->nproblems,   &ix->nentries,    &ix->nlinks,
                    &ix->egg,         &ix->egg_infos,   &ix->nbadvalues};
  _Static_assert(sizeof(dst) / sizeof(dst[0]) == META_N, "one per meta key");
  return dst[i];
}

/* A meta fact: its value is an integer in index.db and decimal text in
 * the lookup table; both read as text here. */
static int meta_row(void *ctx, const ep_row *r) {
  meta_ctx *m = ctx;
  for (unsigned i = 0; i < META_N; i++)
    if (ep_ix_field_is(r, EP_COL_NAME, meta_keys[i]) &&
        ep_ix_parse_int(r->f[EP_COL_VALUE], r->n[EP_COL_VALUE],
                        meta_field(m->ix, i)))
      m->seen |= 1u << i;
  return EPINDEX_OK;
}

/* The facts a reader needs, from either back end: EPINDEX_EIO unless all
 * are there and sane. */
static int read_meta(ep_index *ix) {
  meta_ctx m = {ix, 0};
  if (ep_ix_each_in_grp(ix, EP_GRP_META, strlen(EP_GRP_META), meta_row, &m))
    return EPINDEX_EIO;
  return m.seen == META_ALL && ix->ndists >= 0 && ix->nlinks >= 0 ? EPINDEX_OK
                                                                  : EPINDEX_EIO;
}

/* index.db's hot statement: the rows of one grp. */
static int prepare_by_grp(ep_index *ix) {
  return sqlite3_prepare_v3(ix->db,
                            "SELECT " COLS " FROM ep WHERE grp = ?1 "
                            "ORDER BY grp, ord, line",
                            -1, 0, &ix->by_grp, NULL);
}

static epindex_reason open_error_reason(int err) {
  return err == ENOENT   ? EPINDEX_REASON_MISSING
         : err == ELOOP  ? EPINDEX_REASON_UNTRUSTED
         : err == EACCES ? EPINDEX_REASON_PRIVATE
                         : EPINDEX_REASON_UNREADABLE;
}

/* An empty handle on index.db open on fd (which it owns, closed on
 * failure too), or (fd < 0) on a lookup table, which needs no
 * ep_index_file. */
static ep_index *new_index(int fd) {
  ep_index *ix = malloc(sizeof(*ix));
  /* malloc, not calloc: the file's two buffers need no zeroing */
  ep_index_file *file = fd >= 0 ? malloc(sizeof(*file)) : NULL;
  if (!ix || (fd >= 0 && !file)) {
    if (fd >= 0)
      close(fd);
    free(ix);
    free(file);
    return NULL;
  }
  ix->file = file;
  if (file) {
    file->src.fd = fd;
    file->src.writable = false;
    file->src.size = 0;
    file->src.head_len = 0;
  }
  ix->lk = (ep_lookup){0};
  ix->db = NULL;
  ix->by_grp = ix->by_grp_full = ix->all = NULL;
  ix->ds = (ep_dirstamp){0, 0, 0, 0, 0};
  ix->aud = (ep_audience){EP_AUD_OWNER, 0};
  ix->ndists = ix->nproblems = ix->nentries = ix->nlinks = ix->nbadvalues = 0;
  ix->egg = ix->egg_infos = 0;
  return ix;
}

/* Validate the index file open on fd (consumed) and open it with SQLite. */
static int open_checked(int fd, uid_t owner, ep_index **out,
                        epindex_reason *reason, ep_buf *detail) {
  *out = NULL;
  ep_index *ix = new_index(fd);
  if (!ix)
    return EPINDEX_ENOMEM;
  *reason = check_file(&ix->file->src, owner, &ix->aud, detail);
  int rc = SQLITE_ERROR;
  if (*reason == EPINDEX_REASON_FRESH &&
      (rc = ep_sqlite_open_fd(&ix->file->src, &ix->db)) == SQLITE_OK)
    harden(ix->db, ix->file->lookaside);
  if (*reason == EPINDEX_REASON_FRESH && rc != SQLITE_OK &&
      ep_sqlite_load_error())
    ep_buf_appendf(detail, "%s", ep_sqlite_load_error());
  if (*reason == EPINDEX_REASON_FRESH &&
      (rc != SQLITE_OK || prepare_by_grp(ix) != SQLITE_OK ||
       read_meta(ix) != EPINDEX_OK))
    *reason = EPINDEX_REASON_DAMAGED;
  if (*reason == EPINDEX_REASON_FRESH)
    *out = ix;
  else
    ep_index_close(ix);
  return EPINDEX_OK;
}

int ep_index_open_raw(int idxfd, uid_t owner, ep_index **out,
                      epindex_reason *reason) {
  *out = NULL;
  int fd = openat(idxfd, EPINDEX_INDEX_FILE, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    *reason = open_error_reason(errno);
    return EPINDEX_OK;
  }
  ep_buf detail = {0};
  int rc = open_checked(fd, owner, out, reason, &detail);
  ep_buf_free(&detail);
  return rc;
}

/* The .epindex directory must not let another user swap the file. */
static epindex_reason check_index_dir(const char *idxdir, uid_t owner,
                                      ep_buf *detail) {
  struct stat st;
  if (lstat(idxdir, &st) != 0)
    return errno == ENOENT ? EPINDEX_REASON_MISSING : EPINDEX_REASON_UNREADABLE;
  if (!S_ISDIR(st.st_mode)) {
    ep_buf_appendf(detail, EPINDEX_INDEX_DIR " is not a directory");
    return EPINDEX_REASON_UNTRUSTED;
  }
  if (!trusted_mode(&st, owner)) {
    ep_buf_appendf(detail, "%s is owned by uid %u, mode %04o", idxdir,
                   (unsigned)st.st_uid, (unsigned)(st.st_mode & 07777));
    return EPINDEX_REASON_UNTRUSTED;
  }
  return EPINDEX_REASON_FRESH;
}

static bool same_dir(const ep_index *ix, const struct stat *dir) {
  return ix->ds.dev == (int64_t)dir->st_dev &&
         ix->ds.ino == (int64_t)dir->st_ino;
}

/* ---- symlinked metadata entries --------------------------------------
 *
 * A *.dist-info that is a symlink can change without its directory
 * changing: its target moved, emptied or replaced, or, after a move of the
 * tree, a relative link that now resolves elsewhere. Link rows record what
 * each resolved to (dev, ino, ctime); the stat check compares them. */

typedef struct link_ctx {
  int atfd;
  const char *dir_path;
  int64_t seen;
  bool same;
} link_ctx;

static void check_link(link_ctx *c, const char *metadir, size_t mlen,
                       const char *value) {
  char path[PATH_MAX];
  struct stat st;
  int64_t dev, ino, ctime;
  const char *t = value;
  c->seen++;
  if (!metadir || !t || !ep_ix_take_int(&t, &dev) || *t++ != ' ' ||
      !ep_ix_take_int(&t, &ino) || *t++ != ' ' || !ep_ix_take_int(&t, &ctime) ||
      *t ||
      (size_t)snprintf(path, sizeof(path), "%s/%.*s", c->dir_path, (int)mlen,
                       metadir) >= sizeof(path)) {
    c->same = false;
    return;
  }
  ep_stamp now = EP_STAMP_NONE; /* -1s: dangling, as it may have been then */
  if (fstatat(c->atfd, path, &st, 0) == 0) {
    now.dir_dev = (int64_t)st.st_dev;
    now.dir.ino = (int64_t)st.st_ino;
    now.dir.ctime = ep_ctime_ns(&st);
  }
  c->same = now.dir_dev == dev && now.dir.ino == ino && now.dir.ctime == ctime;
}

static int link_row(void *ctx, const ep_row *r) {
  check_link(ctx, r->f[EP_COL_METADIR], r->n[EP_COL_METADIR],
             r->f[EP_COL_VALUE]);
  return ((link_ctx *)ctx)->same ? EPINDEX_OK : 1;
}

static bool links_unchanged(ep_index *ix, int atfd, const char *dir_path) {
  link_ctx c = {atfd, dir_path, 0, true};
  int rc =
      ep_ix_each_in_grp(ix, EP_GRP_LINK, strlen(EP_GRP_LINK), link_row, &c);
  return rc != EPINDEX_EIO && c.same && c.seen == ix->nlinks;
}

bool ep_index_stat_fresh(ep_index *ix, int atfd, const char *dir_path,
                         const struct stat *dir) {
  /* ctime, not mtime, proves the recording was not racy: every change
   * sets it to the clock's now, and an mtime may be anything (put back, or
   * in the future on a tree from a machine whose clock was ahead). */
  if (!same_dir(ix, dir) || ix->ds.ctime_ns >= ix->ds.stamp_ns ||
      ix->ds.mtime_ns != ep_mtime_ns(dir) ||
      ix->ds.ctime_ns != ep_ctime_ns(dir))
    return false;
  return ix->nlinks == 0 || links_unchanged(ix, atfd, dir_path);
}

/* ---- small directories ------------------------------------------------
 *
 * A file edited in place inside a metadata directory changes nothing the
 * directory's own stat shows. Where files are edited in place -- a source
 * checkout's foo.egg-info, which `setup.py egg_info` and develop installs
 * rewrite, a test's few distributions -- the directory holds a handful of
 * distributions; installers replace whole metadata directories. So for a
 * directory of at most EP_SMALL_DIR_DISTS (lookup.h) distributions, readers'
 * stat check compares each one's stamps too (those of the entry, its
 * entry_points.txt and its metadata file, as verify does): at most three stats
 * each, a bound that does not grow with what is installed elsewhere. */
typedef struct small_ctx {
  int dirfd;
  int64_t stamp_ns;
  bool same;
} small_ctx;

static int small_dir_row(void *ctx, const ep_row *r) {
  small_ctx *c = ctx;
  ep_listed item = {(char *)r->f[EP_COL_METADIR], (ep_kind)(r->line & 3),
                    false};
  ep_stamp was, now;
  c->same = item.metadir && ep_stamp_parse(r->f[EP_COL_VALUE], &was);
  if (c->same) {
    ep_stamp_item(c->dirfd, &item, true, NULL, &now);
    /* a change in the tick the index was stamped may not show: verify
     * then judges it racy */
    c->same =
        ep_stamp_same(&now, &was) && ep_stamp_newest_change(&now) < c->stamp_ns;
  }
  return c->same ? EPINDEX_OK : 1;
}

bool ep_index_small_dir_same(ep_index *ix, const char *dir_path) {
  if (ix->ndists > EP_SMALL_DIR_DISTS || ix->ndists == 0)
    return true;
  int dirfd = open(dir_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dirfd < 0)
    return false;
  small_ctx c = {dirfd, ix->ds.stamp_ns, true};
  size_t glen = strlen(EP_GRP_DIST);
  /* table rows carry their line (the entry's kind); index.db's plain
   * statement leaves it out */
  int rc =
      ix->lk.rd
          ? ep_ix_each_in_grp(ix, EP_GRP_DIST, glen, small_dir_row, &c)
          : ep_ix_each_in_grp_full(ix, EP_GRP_DIST, glen, small_dir_row, &c);
  close(dirfd);
  return rc == EPINDEX_OK && c.same;
}

/* The stat check as readers make it: the directory's, and in a small
 * directory each distribution's. */
static bool readers_stat_fresh(ep_index *ix, const char *path,
                               const struct stat *dir) {
  return ep_index_stat_fresh(ix, AT_FDCWD, path, dir) &&
         ep_index_small_dir_same(ix, path);
}

/* An index's read permissions were those of its directory when it was
 * written. If the directory has been closed to some users since (chmod
 * changes no mtime), they must not be served what they can no longer list:
 * the index is stale until an update writes it for the new audience. */
static bool readers_may_list(const ep_index *ix, const struct stat *dir) {
  return ep_audience_within(ix->aud, ep_audience_of_mode(dir));
}

/* importlib counts an EGG-INFO child only when the reader's path string
 * ends in ".egg" (ep_path_is_egg). An index built under the other
 * judgement answers for another listing, when the directory has one. */
bool ep_index_egg_rule_agrees(const ep_index *ix, const char *path) {
  return ix->egg_infos == 0 || (ix->egg != 0) == ep_path_is_egg(path);
}

static epindex_reason judge(ep_index *ix, const char *path,
                            const struct stat *dir, epindex_policy policy,
                            ep_buf *detail) {
  if (!ep_index_egg_rule_agrees(ix, path)) {
    ep_buf_appendf(detail, "indexed as %s, read as %s",
                   ix->egg ? "an .egg path entry" : "a plain directory",
                   ix->egg ? "a plain directory" : "an .egg path entry");
    return EPINDEX_REASON_RELOCATED;
  }
  if (!readers_may_list(ix, dir)) {
    ep_buf_appendf(detail, "the directory's permissions were narrowed since "
                           "it was indexed");
    return EPINDEX_REASON_STALE;
  }
  if (policy == EPINDEX_POLICY_TRUST)
    return EPINDEX_REASON_TRUSTED;
  if (policy == EPINDEX_POLICY_STAT && readers_stat_fresh(ix, path, dir))
    return EPINDEX_REASON_FRESH;
  bool here = same_dir(ix, dir);
  int dirfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dirfd < 0)
    return EPINDEX_REASON_UNREADABLE;
  int m = ep_index_matches_listing(ix, dirfd, !here, detail);
  close(dirfd);
  if (m == 1)
    return EPINDEX_REASON_VERIFIED;
  if (m == 2)
    return EPINDEX_REASON_RACY;
  if (m < 0)
    return EPINDEX_REASON_DAMAGED;
  return here ? EPINDEX_REASON_STALE : EPINDEX_REASON_RELOCATED;
}

int ep_index_open(const char *dir_path, const struct stat *dir,
                  epindex_policy policy, ep_index **out, epindex_reason *reason,
                  ep_buf *detail) {
  /* By path, not through a directory descriptor: when the index is fresh
   * this saves an open and a close, a fifth of the cost of a lookup. */
  const char *p = ep_path_or_dot(dir_path);
  char idxdir[PATH_MAX];
  if ((size_t)snprintf(idxdir, sizeof(idxdir), "%s/" EPINDEX_INDEX_DIR, p) >=
      sizeof(idxdir)) {
    *out = NULL;
    *reason = EPINDEX_REASON_UNREADABLE;
    return EPINDEX_OK;
  }
  return ep_index_open_in(dir_path, dir, idxdir, dir->st_uid, policy, out,
                          reason, detail);
}

/* ---- the lookup table ------------------------------------------------------
 */

/* The lookup table at path (relative to atfd), if it is there, trusted, of
 * this version and has its meta facts; NULL otherwise (index.db is asked
 * instead). */
static ep_index *open_lookup(int atfd, const char *path, uid_t owner) {
  int fd = openat(atfd, path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0)
    return NULL;
  struct stat st;
  ep_index *ix = NULL;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
      !trusted_mode(&st, owner) || !(ix = new_index(-1))) {
    close(fd);
    return NULL;
  }
  ix->aud = ep_audience_of_file(&st);
  /* ep_lookup_open() takes fd (a table read in pieces keeps it) */
  if (ep_lookup_open(fd, &st, &ix->lk) != EPINDEX_OK ||
      read_meta(ix) != EPINDEX_OK) {
    ep_index_close(ix);
    return NULL;
  }
  return ix;
}

ep_index *ep_index_open_matching_table(const ep_index *ix, int idxfd,
                                       uid_t owner) {
  ep_index *lk = open_lookup(idxfd, EPINDEX_LOOKUP_FILE, owner);
  bool same = lk && memcmp(&lk->ds, &ix->ds, sizeof(ix->ds)) == 0 &&
              lk->ndists == ix->ndists && lk->nentries == ix->nentries &&
              lk->nproblems == ix->nproblems;
  if (!same) {
    ep_index_close(lk);
    return NULL;
  }
  return lk;
}

bool ep_index_lookup_matches(const ep_index *ix, int idxfd, uid_t owner) {
  ep_index *lk = ep_index_open_matching_table(ix, idxfd, owner);
  ep_index_close(lk);
  return lk != NULL;
}

int ep_index_open_in(const char *dir_path, const struct stat *dir,
                     const char *idxdir, uid_t owner, epindex_policy policy,
                     ep_index **out, epindex_reason *reason, ep_buf *detail) {
  *out = NULL;
  ep_buf scratch = {0};
  if (!detail)
    detail = &scratch;
  const char *p = ep_path_or_dot(dir_path);
  char idxfile[PATH_MAX], lkfile[PATH_MAX];
  if ((size_t)snprintf(idxfile, sizeof(idxfile), "%s/" EPINDEX_INDEX_FILE,
                       idxdir) >= sizeof(idxfile) ||
      (size_t)snprintf(lkfile, sizeof(lkfile), "%s/" EPINDEX_LOOKUP_FILE,
                       idxdir) >= sizeof(lkfile)) {
    *reason = EPINDEX_REASON_UNREADABLE;
    return EPINDEX_OK;
  }
  *reason = check_index_dir(idxdir, owner, detail);
  ep_index *ix = NULL;
  int rc = EPINDEX_OK;
  /* The lookup table answers when it needs no listing; otherwise (VERIFY,
   * a stale or relocated directory) index.db decides, and says why. */
  if (*reason == EPINDEX_REASON_FRESH && policy != EPINDEX_POLICY_VERIFY &&
      (ix = open_lookup(AT_FDCWD, lkfile, owner)) != NULL) {
    if (readers_may_list(ix, dir) && ep_index_egg_rule_agrees(ix, p) &&
        (policy == EPINDEX_POLICY_TRUST || readers_stat_fresh(ix, p, dir))) {
      *reason = policy == EPINDEX_POLICY_TRUST ? EPINDEX_REASON_TRUSTED
                                               : EPINDEX_REASON_FRESH;
      *out = ix;
      ep_buf_free(&scratch);
      return EPINDEX_OK;
    }
    ep_index_close(ix);
    ix = NULL;
  }
  if (*reason == EPINDEX_REASON_FRESH) {
    int fd = open(idxfile, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
      *reason = open_error_reason(errno);
    else
      rc = open_checked(fd, owner, &ix, reason, detail);
  }
  if (ix) {
    *reason = judge(ix, p, dir, policy, detail);
    if (epindex_reason_is_served(*reason))
      *out = ix;
    else
      ep_index_close(ix);
  }
  ep_buf_free(&scratch);
  return rc;
}
