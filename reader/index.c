/*
 * index.c -- the SQLite index file: validation, freshness verdicts, lookups
 * and writing. docs/index-format.md and docs/freshness.md describe the rules.
 *
 * Readers never lock: an index file is never modified after it is renamed
 * into place, so it is opened with SQLite's immutable=1 (no locks, no
 * journal checks), which also works on NFS and read-only media. It is
 * opened read-only, in defensive mode, with triggers, views and untrusted
 * schema functions disabled, so a hostile file cannot run anything.
 */
#include "index.h"

#include "fdvfs.h"
#include "lookup.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Lookaside slots for the connection, inside the handle's own allocation:
 * the schema and statement objects an open creates come from here instead
 * of a quarter of the open's time going to malloc and free. */
#define LOOKASIDE_SLOT 256
#define LOOKASIDE_SLOTS 128

struct ep_index {
  ep_fdsrc src; /* the validated file; SQLite reads it through fdvfs.c */
  ep_lookup lk; /* or the lookup table (lookup.c): then db is NULL */
  sqlite3 *db;
  sqlite3_stmt *by_grp;      /* the rows of one grp: meta, keys, lookups */
  sqlite3_stmt *by_grp_full; /* the same with grp, ord and line (slow paths) */
  sqlite3_stmt *all;         /* all entry points, discovery order (lazily) */
  ep_dirstamp ds;
  ep_audience aud; /* who the file is readable by (docs/security.md) */
  int64_t ndists, nproblems, nentries, nlinks;
  int64_t egg, egg_infos; /* built as an .egg path entry; EGG-INFO children */
  _Alignas(16) unsigned char lookaside[LOOKASIDE_SLOT * LOOKASIDE_SLOTS];
};

#define INDEX_PATH EPINDEX_INDEX_DIR "/" EPINDEX_INDEX_FILE
/* The hot statement returns only what lookups use: SQLite builds a name for
 * every result column of every statement it prepares. */
#define COLS "name, value, metadir, dname, dversion, key"
#define COLS_FULL COLS ", grp, ord, line"
enum {
  C_NAME,
  C_VALUE,
  C_METADIR,
  C_DNAME,
  C_DVERSION,
  C_KEY,
  C_GRP,
  C_ORD,
  C_LINE
};

static int64_t be32(const unsigned char *p) {
  return ((int64_t)p[0] << 24) | (p[1] << 16) | (p[2] << 8) | p[3];
}

void ep_index_close(ep_index *ix) {
  if (!ix)
    return;
  sqlite3_finalize(ix->by_grp);
  sqlite3_finalize(ix->by_grp_full);
  sqlite3_finalize(ix->all);
  sqlite3_close_v2(ix->db);
  ep_lookup_unmap(&ix->lk);
  if (ix->src.fd >= 0)
    close(ix->src.fd);
  free(ix);
}

int64_t ep_index_ndists(const ep_index *ix) { return ix->ndists; }
int64_t ep_index_stamp_ns(const ep_index *ix) { return ix->ds.stamp_ns; }
ep_audience ep_index_audience(const ep_index *ix) { return ix->aud; }

void ep_index_counts_of(const ep_index *ix, ep_index_counts *n) {
  n->dists = (size_t)ix->ndists;
  n->entries = (size_t)ix->nentries;
  n->problems = (size_t)ix->nproblems;
  n->links = (size_t)ix->nlinks;
  n->egg_infos = (size_t)ix->egg_infos;
}

/* Step through the rows of one grp value. cb returns non-zero to stop. */
typedef int (*grp_cb)(void *ctx, sqlite3_stmt *st);

static int step_all(sqlite3_stmt *st, grp_cb cb, void *ctx) {
  int rc, out = EPINDEX_OK;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW && out == EPINDEX_OK)
    out = cb(ctx, st);
  if (out == EPINDEX_OK && rc != SQLITE_DONE)
    out = EPINDEX_EIO;
  sqlite3_reset(st);
  return out;
}

static int each_in_grp(ep_index *ix, const char *grp, size_t len, grp_cb cb,
                       void *ctx) {
  if (!ix->db)
    return EPINDEX_EIO;
  sqlite3_bind_text(ix->by_grp, 1, grp, (int)len, SQLITE_STATIC);
  return step_all(ix->by_grp, cb, ctx);
}

/* The same with the columns grp, ord and line, for dist rows. */
static int each_in_grp_full(ep_index *ix, const char *grp, grp_cb cb,
                            void *ctx) {
  if (!ix->db) /* a lookup table has no dist rows */
    return EPINDEX_EIO;
  if (!ix->by_grp_full &&
      sqlite3_prepare_v2(ix->db,
                         "SELECT " COLS_FULL " FROM ep WHERE grp = ?1 "
                         "ORDER BY grp, ord, line",
                         -1, &ix->by_grp_full, NULL) != SQLITE_OK)
    return EPINDEX_EIO;
  sqlite3_bind_text(ix->by_grp_full, 1, grp, -1, SQLITE_STATIC);
  return step_all(ix->by_grp_full, cb, ctx);
}

/* ---- opening ------------------------------------------------------------ */

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
    "dev",      "ino",     "mtime_ns", "ctime_ns", "stamp_ns", "dists",
    "problems", "entries", "links",    "egg",      "egg_infos"};
#define META_N (sizeof(meta_keys) / sizeof(meta_keys[0]))
#define META_ALL ((1u << META_N) - 1)

static int64_t *meta_field(ep_index *ix, unsigned i) {
  int64_t *dst[] = {&ix->ds.dev,      &ix->ds.ino,      &ix->ds.mtime_ns,
                    &ix->ds.ctime_ns, &ix->ds.stamp_ns, &ix->ndists,
                    &ix->nproblems,   &ix->nentries,    &ix->nlinks,
                    &ix->egg,         &ix->egg_infos};
  _Static_assert(sizeof(dst) / sizeof(dst[0]) == META_N, "one per meta key");
  return dst[i];
}

static int meta_row(void *ctx, sqlite3_stmt *st) {
  meta_ctx *m = ctx;
  const char *k = (const char *)sqlite3_column_text(st, C_NAME);
  for (unsigned i = 0; k && i < META_N; i++) {
    if (strcmp(k, meta_keys[i]) == 0 &&
        sqlite3_column_type(st, C_VALUE) == SQLITE_INTEGER) {
      *meta_field(m->ix, i) = sqlite3_column_int64(st, C_VALUE);
      m->seen |= 1u << i;
    }
  }
  return EPINDEX_OK;
}

static int read_meta(ep_index *ix) {
  if (sqlite3_prepare_v3(ix->db,
                         "SELECT " COLS " FROM ep WHERE grp = ?1 "
                         "ORDER BY grp, ord, line",
                         -1, 0, &ix->by_grp, NULL) != SQLITE_OK)
    return SQLITE_CORRUPT;
  meta_ctx m = {ix, 0};
  if (each_in_grp(ix, EP_GRP_META, strlen(EP_GRP_META), meta_row, &m))
    return SQLITE_CORRUPT;
  return m.seen == META_ALL && ix->ndists >= 0 && ix->nlinks >= 0
             ? SQLITE_OK
             : SQLITE_CORRUPT;
}

static epindex_reason open_error_reason(int err) {
  return err == ENOENT   ? EPINDEX_REASON_MISSING
         : err == ELOOP  ? EPINDEX_REASON_UNTRUSTED
         : err == EACCES ? EPINDEX_REASON_PRIVATE
                         : EPINDEX_REASON_UNREADABLE;
}

/* An empty handle owning fd (closed on failure). */
static ep_index *new_index(int fd) {
  /* malloc, not calloc: the two buffers (64 KiB) need no zeroing */
  ep_index *ix = malloc(sizeof(*ix));
  if (!ix) {
    if (fd >= 0)
      close(fd);
    return NULL;
  }
  ix->src.fd = fd;
  ix->src.writable = false;
  ix->src.size = 0;
  ix->src.head_len = 0;
  ix->lk = (ep_lookup){0};
  ix->db = NULL;
  ix->by_grp = ix->by_grp_full = ix->all = NULL;
  ix->ds = (ep_dirstamp){0, 0, 0, 0, 0};
  ix->aud = (ep_audience){EP_AUD_OWNER, 0};
  ix->ndists = ix->nproblems = ix->nentries = ix->nlinks = 0;
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
  *reason = check_file(&ix->src, owner, &ix->aud, detail);
  int rc = SQLITE_ERROR;
  if (*reason == EPINDEX_REASON_FRESH &&
      (rc = ep_sqlite_open_fd(&ix->src, &ix->db)) == SQLITE_OK)
    harden(ix->db, ix->lookaside);
  if (*reason == EPINDEX_REASON_FRESH &&
      (rc != SQLITE_OK || read_meta(ix) != SQLITE_OK))
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

static bool take_int(const char **t, int64_t *out);

static void check_link(link_ctx *c, const char *metadir, size_t mlen,
                       const char *value) {
  char path[PATH_MAX];
  struct stat st;
  int64_t dev, ino, ctime;
  const char *t = value;
  c->seen++;
  if (!metadir || !t || !take_int(&t, &dev) || *t++ != ' ' ||
      !take_int(&t, &ino) || *t++ != ' ' || !take_int(&t, &ctime) || *t ||
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

static int link_row(void *ctx, sqlite3_stmt *st) {
  check_link(ctx, (const char *)sqlite3_column_text(st, C_METADIR),
             (size_t)sqlite3_column_bytes(st, C_METADIR),
             (const char *)sqlite3_column_text(st, C_VALUE));
  return ((link_ctx *)ctx)->same ? EPINDEX_OK : 1;
}

static int link_table_row(void *ctx, const ep_lookup_row *r) {
  check_link(ctx, r->f[EP_LK_METADIR], r->n[EP_LK_METADIR], r->f[EP_LK_VALUE]);
  return ((link_ctx *)ctx)->same ? EPINDEX_OK : 1;
}

typedef int (*table_cb)(void *ctx, const ep_lookup_row *r);
static int each_in_table_grp(ep_index *ix, const char *grp, table_cb fn,
                             void *ctx);

static bool links_unchanged(ep_index *ix, int atfd, const char *dir_path) {
  link_ctx c = {atfd, dir_path, 0, true};
  int rc = ix->lk.base ? each_in_table_grp(ix, EP_GRP_LINK, link_table_row, &c)
                       : each_in_grp(ix, EP_GRP_LINK, strlen(EP_GRP_LINK),
                                     link_row, &c);
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
  if (policy == EPINDEX_POLICY_STAT &&
      ep_index_stat_fresh(ix, AT_FDCWD, path, dir))
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
  const char *p = *dir_path ? dir_path : ".";
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

/* One decimal int64 at *t, strictly (no '+', no other whitespace). */
static bool take_int(const char **t, int64_t *out) {
  const char *p = *t;
  bool neg = *p == '-';
  p += neg;
  if (*p < '0' || *p > '9')
    return false;
  uint64_t v = 0;
  for (; *p >= '0' && *p <= '9'; p++) {
    if (v > (UINT64_MAX - 9) / 10)
      return false;
    v = v * 10 + (uint64_t)(*p - '0');
  }
  if (v > (uint64_t)INT64_MAX + neg)
    return false;
  *out = neg ? (int64_t)(0 - v) : (int64_t)v;
  *t = p;
  return true;
}

/* A decimal integer, the whole of t[0..n) (table text ends in a NUL). */
static bool parse_int(const char *t, size_t n, int64_t *out) {
  const char *end = t;
  return t && take_int(&end, out) && end == t + n;
}

static bool field_is(const ep_lookup_row *r, int f, const char *s) {
  size_t n = strlen(s);
  return r->f[f] && r->n[f] == n && memcmp(r->f[f], s, n) == 0;
}

/* The meta facts, from the table's meta rows (their values are text). */
static int lookup_meta(ep_index *ix) {
  ep_lookup_rows it;
  ep_lookup_row r;
  unsigned seen = 0;
  int rc;
  if (!ep_lookup_find(&ix->lk, EP_GRP_META, strlen(EP_GRP_META), &it))
    return EPINDEX_EIO;
  while ((rc = ep_lookup_next(&it, &r)) == 1)
    for (unsigned i = 0; i < META_N; i++)
      if (field_is(&r, EP_LK_NAME, meta_keys[i]) &&
          parse_int(r.f[EP_LK_VALUE], r.n[EP_LK_VALUE], meta_field(ix, i)))
        seen |= 1u << i;
  return rc == 0 && seen == META_ALL && ix->ndists >= 0 && ix->nlinks >= 0
             ? EPINDEX_OK
             : EPINDEX_EIO;
}

/* The lookup table at path (relative to atfd), if it is there, trusted, of
 * this version and has its meta facts; NULL otherwise (index.db is asked
 * instead). */
static ep_index *open_lookup(int atfd, const char *path, uid_t owner) {
  int fd = openat(atfd, path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0)
    return NULL;
  struct stat st;
  ep_index *ix = NULL;
  bool ok = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
            trusted_mode(&st, owner) && (ix = new_index(-1)) != NULL &&
            ep_lookup_map(fd, (uint64_t)st.st_size, &ix->lk) == EPINDEX_OK &&
            lookup_meta(ix) == EPINDEX_OK;
  if (ix)
    ix->aud = ep_audience_of_file(&st);
  close(fd);
  if (!ok) {
    ep_index_close(ix);
    return NULL;
  }
  return ix;
}

bool ep_index_lookup_matches(const ep_index *ix, int idxfd, uid_t owner) {
  ep_index *lk = open_lookup(idxfd, EPINDEX_LOOKUP_FILE, owner);
  bool same = lk && memcmp(&lk->ds, &ix->ds, sizeof(ix->ds)) == 0 &&
              lk->ndists == ix->ndists && lk->nentries == ix->nentries &&
              lk->nproblems == ix->nproblems;
  ep_index_close(lk);
  return same;
}

int ep_index_open_in(const char *dir_path, const struct stat *dir,
                     const char *idxdir, uid_t owner, epindex_policy policy,
                     ep_index **out, epindex_reason *reason, ep_buf *detail) {
  *out = NULL;
  ep_buf scratch = {0};
  if (!detail)
    detail = &scratch;
  const char *p = *dir_path ? dir_path : ".";
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
        (policy == EPINDEX_POLICY_TRUST ||
         ep_index_stat_fresh(ix, AT_FDCWD, p, dir))) {
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

/* ---- verification ---------------------------------------------------------
 */

/* dist rows keep their stamps as text: dir_dev, then size, mtime, ctime and
 * inode of the entry, its entry_points.txt and its metadata file. */
static int64_t *stamp_field(ep_stamp *s, int i) {
  ep_fstamp *f[] = {&s->dir, &s->ep, &s->md};
  if (i == 0)
    return &s->dir_dev;
  ep_fstamp *x = f[(i - 1) / 4];
  int64_t *g[] = {&x->size, &x->mtime, &x->ctime, &x->ino};
  return g[(i - 1) % 4];
}

#define STAMP_FIELDS 13

void ep_stamp_format(const ep_stamp *s, char *out, size_t n) {
  size_t at = 0;
  ep_stamp c = *s;
  for (int i = 0; i < STAMP_FIELDS && at < n; i++)
    at += (size_t)snprintf(out + at, n - at, i ? " %lld" : "%lld",
                           (long long)*stamp_field(&c, i));
}

/* Not strtoll: update loads one stamp per distribution (tens of thousands),
 * and the locale-aware parse was a fifth of loading them. */
bool ep_stamp_parse(const char *t, ep_stamp *s) {
  if (!t)
    return false;
  *s = EP_STAMP_NONE;
  for (int i = 0; i < STAMP_FIELDS; i++)
    if ((i > 0 && *t++ != ' ') || !take_int(&t, stamp_field(s, i)))
      return false;
  return *t == '\0';
}

/* What relocation leaves comparable: the listing and the sizes. */
static bool sizes_same(const ep_stamp *a, const ep_stamp *b) {
  return a->ep.size == b->ep.size && a->md.size == b->md.size;
}

typedef struct verify_ctx {
  const ep_listing *l;
  const ep_audience *aud; /* checked: readers of the index, NULL for one */
  int dirfd;
  bool relocated;
  int64_t stamp_ns;
  ep_buf *detail;
  size_t i;
  int result; /* 1 match, 0 mismatch, 2 racy */
} verify_ctx;

static int verify_row(void *ctx, sqlite3_stmt *st) {
  verify_ctx *v = ctx;
  const char *name = (const char *)sqlite3_column_text(st, C_METADIR);
  const ep_listed *item = v->i < v->l->len ? &v->l->items[v->i] : NULL;
  ep_stamp was, now;
  if (!item || !name || strcmp(name, item->metadir) != 0 ||
      (sqlite3_column_int(st, C_LINE) & 3) != (int)item->kind) {
    ep_buf_appendf(v->detail, "metadata entry %zu is %s, index has %s", v->i,
                   item ? item->metadir : "(none)", name ? name : "(none)");
    v->result = 0;
    return 1;
  }
  if (!ep_stamp_parse((const char *)sqlite3_column_text(st, C_VALUE), &was))
    return EPINDEX_EIO;
  ep_stamp_item(v->dirfd, item, true, v->aud, &now);
  if (now.denied) {
    ep_buf_appendf(v->detail,
                   "%s is no longer readable by every reader of "
                   "the index",
                   name);
    v->result = 0;
    return 1;
  }
  /* A moved tree keeps its listing and sizes, not its inodes and times. A
   * symlinked entry must resolve to the very files it did, moved or not:
   * after a move a relative link may lead elsewhere. */
  bool exact = !v->relocated || item->link;
  bool same = exact ? ep_stamp_same(&now, &was) : sizes_same(&now, &was);
  v->i++;
  if (!same) {
    ep_buf_appendf(v->detail, "%s changed", name);
    v->result = 0;
    return 1;
  }
  if (exact && ep_stamp_newest_change(&now) >= v->stamp_ns) {
    ep_buf_appendf(v->detail, "%s changed in the tick the index was stamped",
                   name);
    v->result = 2;
    return 1;
  }
  return EPINDEX_OK;
}

int ep_index_matches_listing(ep_index *ix, int dirfd, bool relocated,
                             ep_buf *detail) {
  ep_buf scratch = {0};
  if (!detail)
    detail = &scratch;
  ep_listing l = {0};
  int rc = ep_list_dir(dirfd, ix->egg != 0, &l);
  verify_ctx v = {.l = &l,
                  .aud = ix->aud.kind != EP_AUD_OWNER ? &ix->aud : NULL,
                  .dirfd = dirfd,
                  .relocated = relocated,
                  .stamp_ns = ix->ds.stamp_ns,
                  .detail = detail,
                  .result = 1};
  if (!rc)
    rc = each_in_grp_full(ix, EP_GRP_DIST, verify_row, &v);
  if (rc == 1)
    rc = EPINDEX_OK;
  if (!rc && v.result == 1 && v.i != l.len) {
    ep_buf_appendf(detail, "directory has %zu metadata entries, index %zu",
                   l.len, v.i);
    v.result = 0;
  }
  ep_listing_free(&l);
  ep_buf_free(&scratch);
  return rc ? -1 : v.result;
}

/* ---- queries ------------------------------------------------------------- */

static bool text_or_null(sqlite3_stmt *st, int col) {
  int t = sqlite3_column_type(st, col);
  return t == SQLITE_TEXT || t == SQLITE_NULL;
}

/* An entry point row as the lookup callback wants it; EIO if the row is not
 * one (a hostile or damaged index). group is the one looked up, or NULL to
 * take it from the row (statements with COLS_FULL). Lengths come from
 * SQLite: text may hold NUL characters. */
static int entry_row(sqlite3_stmt *st, ep_index_row *row, const char *group,
                     size_t glen) {
  if (sqlite3_column_type(st, C_NAME) != SQLITE_TEXT ||
      sqlite3_column_type(st, C_VALUE) != SQLITE_TEXT ||
      sqlite3_column_type(st, C_METADIR) != SQLITE_TEXT ||
      sqlite3_column_type(st, C_KEY) != SQLITE_TEXT ||
      !text_or_null(st, C_DNAME) || !text_or_null(st, C_DVERSION) ||
      (!group && sqlite3_column_type(st, C_GRP) != SQLITE_TEXT))
    return EPINDEX_EIO;
  *row = (ep_index_row){
      .group = group ? group : (const char *)sqlite3_column_text(st, C_GRP),
      .group_len = group ? glen : (size_t)sqlite3_column_bytes(st, C_GRP),
      .name = (const char *)sqlite3_column_text(st, C_NAME),
      .name_len = (size_t)sqlite3_column_bytes(st, C_NAME),
      .value = (const char *)sqlite3_column_text(st, C_VALUE),
      .value_len = (size_t)sqlite3_column_bytes(st, C_VALUE),
      .metadir = (const char *)sqlite3_column_text(st, C_METADIR),
      .metadir_len = (size_t)sqlite3_column_bytes(st, C_METADIR),
      .dist = (const char *)sqlite3_column_text(st, C_DNAME),
      .dist_len = (size_t)sqlite3_column_bytes(st, C_DNAME),
      .version = (const char *)sqlite3_column_text(st, C_DVERSION),
      .version_len = (size_t)sqlite3_column_bytes(st, C_DVERSION),
      .key = (const char *)sqlite3_column_text(st, C_KEY),
      .key_len = (size_t)sqlite3_column_bytes(st, C_KEY),
  };
  if (!row->group || !row->name || !row->value || !row->metadir || !row->key)
    return EPINDEX_ENOMEM;
  return EPINDEX_OK;
}

typedef struct lookup_ctx {
  const char *group, *name;
  size_t glen, nlen;
  ep_row_cb cb;
  void *ctx;
} lookup_ctx;

/* Hand a row to the caller's callback if it has the name asked for (by
 * length: a name may hold a NUL). */
static int emit(lookup_ctx *lc, const ep_index_row *row) {
  if (lc->name &&
      (row->name_len != lc->nlen || memcmp(row->name, lc->name, lc->nlen) != 0))
    return EPINDEX_OK;
  return lc->cb(lc->ctx, row);
}

static int lookup_row(void *ctx, sqlite3_stmt *st) {
  lookup_ctx *lc = ctx;
  ep_index_row row;
  int rc = entry_row(st, &row, lc->group, lc->glen);
  return rc ? rc : emit(lc, &row);
}

/* Every entry point, in discovery order: all rows but the internal ones,
 * whose grp starts with a line feed. */
static int each_entry(ep_index *ix, grp_cb cb, void *ctx) {
  if (!ix->db)
    return EPINDEX_EIO;
  if (!ix->all &&
      sqlite3_prepare_v2(ix->db,
                         "SELECT " COLS_FULL " FROM ep WHERE grp < char(10) OR "
                         "grp >= char(11) ORDER BY ord, line",
                         -1, &ix->all, NULL) != SQLITE_OK)
    return EPINDEX_EIO;
  return step_all(ix->all, cb, ctx);
}

/* An entry point row of the lookup table, as lookup_row makes them. */
static int lookup_table_row(lookup_ctx *lc, const char *grp, size_t glen,
                            const ep_lookup_row *r) {
  if (!r->f[EP_LK_NAME] || !r->f[EP_LK_VALUE] || !r->f[EP_LK_METADIR] ||
      !r->f[EP_LK_KEY])
    return EPINDEX_EIO;
  ep_index_row row = {
      .group = grp,
      .group_len = glen,
      .name = r->f[EP_LK_NAME],
      .name_len = r->n[EP_LK_NAME],
      .value = r->f[EP_LK_VALUE],
      .value_len = r->n[EP_LK_VALUE],
      .metadir = r->f[EP_LK_METADIR],
      .metadir_len = r->n[EP_LK_METADIR],
      .dist = r->f[EP_LK_DNAME],
      .dist_len = r->n[EP_LK_DNAME],
      .version = r->f[EP_LK_DVERSION],
      .version_len = r->n[EP_LK_DVERSION],
      .key = r->f[EP_LK_KEY],
      .key_len = r->n[EP_LK_KEY],
  };
  return emit(lc, &row);
}

static int lookup_table_group(ep_index *ix, lookup_ctx *lc) {
  ep_lookup_rows it;
  ep_lookup_row r;
  int rc;
  if (!ep_lookup_find(&ix->lk, lc->group, lc->glen, &it))
    return EPINDEX_OK;
  while ((rc = ep_lookup_next(&it, &r)) == 1)
    if ((rc = lookup_table_row(lc, lc->group, lc->glen, &r)) != EPINDEX_OK)
      return rc;
  return rc;
}

/* Where an entry point row is, and its place in discovery order. */
typedef struct row_pos {
  int64_t ord, line;
  size_t grp, off;
} row_pos;

static int cmp_row_pos(const void *a, const void *b) {
  const row_pos *x = a, *y = b;
  if (x->ord != y->ord)
    return (x->ord > y->ord) - (x->ord < y->ord);
  return (x->line > y->line) - (x->line < y->line);
}

/* Every entry point of the table in discovery order (ord, line), as
 * index.db's ORDER BY gives them: collect the rows of every group, sort. */
static int lookup_table_all(ep_index *ix, lookup_ctx *lc) {
  row_pos *pos = NULL;
  size_t n = 0, cap = 0;
  int rc = EPINDEX_OK;
  for (size_t g = 0; g < ix->lk.ngroups && rc == EPINDEX_OK; g++) {
    const char *grp;
    size_t glen, off;
    ep_lookup_rows it;
    ep_lookup_row r;
    if ((rc = ep_lookup_group(&ix->lk, g, &grp, &glen, &it)) != EPINDEX_OK)
      break;
    if (glen > 0 && grp[0] == '\n') /* internal rows */
      continue;
    for (off = it.off; (rc = ep_lookup_next(&it, &r)) == 1; off = it.off) {
      if (n == cap) {
        cap = cap ? cap * 2 : 64;
        row_pos *p = realloc(pos, cap * sizeof(*pos));
        if (!p) {
          free(pos);
          return EPINDEX_ENOMEM;
        }
        pos = p;
      }
      pos[n++] = (row_pos){r.ord, r.line, g, off};
    }
  }
  if (rc == EPINDEX_OK && n > 1)
    qsort(pos, n, sizeof(*pos), cmp_row_pos);
  for (size_t i = 0; i < n && rc == EPINDEX_OK; i++) {
    const char *grp;
    size_t glen;
    ep_lookup_rows it;
    ep_lookup_row r;
    ep_lookup_group(&ix->lk, pos[i].grp, &grp, &glen, &it);
    it.off = pos[i].off;
    rc = ep_lookup_next(&it, &r) == 1 ? lookup_table_row(lc, grp, glen, &r)
                                      : EPINDEX_EIO;
  }
  free(pos);
  return rc;
}

int ep_index_lookup(ep_index *ix, const char *group, size_t glen,
                    const char *name, size_t nlen, ep_row_cb cb, void *ctx) {
  lookup_ctx lc = {group, name, glen, nlen, cb, ctx};
  /* no entry point group starts with a line feed: those are internal */
  bool internal = group && glen > 0 && *group == '\n';
  if (ix->lk.base && !group)
    return lookup_table_all(ix, &lc);
  if (ix->lk.base)
    return internal ? EPINDEX_OK : lookup_table_group(ix, &lc);
  if (!group)
    return each_entry(ix, lookup_row, &lc);
  if (internal)
    return EPINDEX_OK;
  return each_in_grp(ix, group, lc.glen, lookup_row, &lc);
}

static int found_row(void *ctx, sqlite3_stmt *st) {
  (void)st;
  *(int *)ctx = 1;
  return 1; /* stop */
}

int ep_index_has_key(ep_index *ix, const char *key, size_t klen) {
  if (ix->lk.base)
    return ep_lookup_has_key(&ix->lk, key, klen);
  ep_buf g = {0};
  int found = 0;
  if (ep_buf_append(&g, EP_GRP_KEY, strlen(EP_GRP_KEY)) ||
      ep_buf_append(&g, key, klen)) {
    ep_buf_free(&g);
    return EPINDEX_ENOMEM;
  }
  int rc = each_in_grp(ix, g.data, g.len, found_row, &found);
  ep_buf_free(&g);
  return rc == 1 || rc == EPINDEX_OK ? found : rc;
}

typedef struct problem_ctx {
  const char *path;
  ep_strvec *diags;
} problem_ctx;

static int problem_row(void *ctx, sqlite3_stmt *st) {
  problem_ctx *p = ctx;
  const char *m = (const char *)sqlite3_column_text(st, C_METADIR);
  const char *why = (const char *)sqlite3_column_text(st, C_NAME);
  return ep_strvec_addf(p->diags, "%s/%s: skipped: %s",
                        *p->path ? p->path : ".", m ? m : "?", why ? why : "?");
}

/* Call fn on each row of grp in the lookup table. */
static int each_in_table_grp(ep_index *ix, const char *grp, table_cb fn,
                             void *ctx) {
  ep_lookup_rows it;
  ep_lookup_row r;
  int rc = EPINDEX_OK;
  if (!ep_lookup_find(&ix->lk, grp, strlen(grp), &it))
    return EPINDEX_OK;
  while (rc == EPINDEX_OK && (rc = ep_lookup_next(&it, &r)) == 1)
    rc = fn(ctx, &r);
  return rc;
}

static int problem_table_row(void *ctx, const ep_lookup_row *r) {
  problem_ctx *p = ctx;
  return ep_strvec_addf(
      p->diags, "%s/%.*s: skipped: %.*s", *p->path ? p->path : ".",
      (int)r->n[EP_LK_METADIR], r->f[EP_LK_METADIR] ? r->f[EP_LK_METADIR] : "?",
      (int)r->n[EP_LK_NAME], r->f[EP_LK_NAME] ? r->f[EP_LK_NAME] : "?");
}

int ep_index_problems(ep_index *ix, const char *path, ep_strvec *diags) {
  if (ix->nproblems <= 0)
    return EPINDEX_OK;
  problem_ctx p = {path, diags};
  if (ix->lk.base)
    return each_in_table_grp(ix, EP_GRP_PROBLEM, problem_table_row, &p);
  return each_in_grp(ix, EP_GRP_PROBLEM, strlen(EP_GRP_PROBLEM), problem_row,
                     &p);
}

typedef struct kv_ctx {
  ep_strvec *keys, *values;
} kv_ctx;

static int kv_row(void *ctx, sqlite3_stmt *st) {
  kv_ctx *kv = ctx;
  const char *k = (const char *)sqlite3_column_text(st, C_NAME);
  const char *v = (const char *)sqlite3_column_text(st, C_VALUE);
  int rc = ep_strvec_addf(kv->keys, "%s", k ? k : "");
  return rc ? rc : ep_strvec_addf(kv->values, "%s", v ? v : "");
}

typedef struct dir_ctx {
  const char *want;
  int same;
} dir_ctx;

static int dir_row(void *ctx, sqlite3_stmt *st) {
  dir_ctx *d = ctx;
  const char *k = (const char *)sqlite3_column_text(st, C_NAME);
  const char *v = (const char *)sqlite3_column_text(st, C_VALUE);
  if (k && strcmp(k, "dir") == 0)
    d->same = v && strcmp(v, d->want) == 0;
  return EPINDEX_OK;
}

static int dir_table_row(void *ctx, const ep_lookup_row *r) {
  dir_ctx *d = ctx;
  if (field_is(r, EP_LK_NAME, "dir"))
    d->same = field_is(r, EP_LK_VALUE, d->want);
  return EPINDEX_OK;
}

static int kv_table_row(void *ctx, const ep_lookup_row *r) {
  kv_ctx *kv = ctx;
  int rc = ep_strvec_addf(kv->keys, "%.*s", (int)r->n[EP_LK_NAME],
                          r->f[EP_LK_NAME] ? r->f[EP_LK_NAME] : "");
  return rc ? rc
            : ep_strvec_addf(kv->values, "%.*s", (int)r->n[EP_LK_VALUE],
                             r->f[EP_LK_VALUE] ? r->f[EP_LK_VALUE] : "");
}

int ep_index_built_for(ep_index *ix, const char *realdir) {
  dir_ctx d = {realdir, 0};
  if (ix->lk.base)
    return each_in_table_grp(ix, EP_GRP_META, dir_table_row, &d) ? 0 : d.same;
  if (each_in_grp(ix, EP_GRP_META, strlen(EP_GRP_META), dir_row, &d))
    return 0;
  return d.same;
}

int ep_index_meta(ep_index *ix, ep_strvec *keys, ep_strvec *values) {
  kv_ctx kv = {keys, values};
  if (ix->lk.base)
    return each_in_table_grp(ix, EP_GRP_META, kv_table_row, &kv);
  return each_in_grp(ix, EP_GRP_META, strlen(EP_GRP_META), kv_row, &kv);
}

/* ---- loading (update's parse cache) ----------------------------------------
 */

static const char *dup_col(ep_catalog *c, sqlite3_stmt *st, int col,
                           size_t *len) {
  const char *t = (const char *)sqlite3_column_text(st, col);
  size_t n = t ? (size_t)sqlite3_column_bytes(st, col) : 0;
  if (len)
    *len = n;
  return t ? ep_arena_strndup(&c->arena, t, n) : NULL;
}

static int load_dist_row(void *ctx, sqlite3_stmt *st) {
  ep_catalog *cat = ctx;
  ep_dist *d = ep_catalog_add_dist(cat);
  if (!d)
    return EPINDEX_ENOMEM;
  int64_t flags = sqlite3_column_int64(st, C_LINE);
  d->metadir = dup_col(cat, st, C_METADIR, NULL);
  d->kind = (ep_kind)(flags & 3);
  d->hidden = (flags & 4) != 0;
  d->link = (flags & 8) != 0;
  d->stored = (uint32_t)(flags >> 8);
  d->ord = sqlite3_column_int64(st, C_ORD);
  d->key = dup_col(cat, st, C_KEY, &d->key_len);
  d->name = dup_col(cat, st, C_DNAME, &d->name_len);
  d->version = dup_col(cat, st, C_DVERSION, &d->version_len);
  d->problem = dup_col(cat, st, C_NAME, NULL);
  if (!d->metadir || d->kind > EP_KIND_EGG ||
      (cat->ndists > 1 && d->ord <= cat->dists[cat->ndists - 2].ord) ||
      !ep_stamp_parse((const char *)sqlite3_column_text(st, C_VALUE),
                      &d->stamp))
    return EPINDEX_EIO;
  return EPINDEX_OK;
}

/* Entries arrive in (ord, line) order; dists are sorted by ord. */
static int load_entry_row(void *ctx, sqlite3_stmt *st) {
  ep_catalog *cat = ctx;
  int64_t ord = sqlite3_column_int64(st, C_ORD);
  size_t lo = 0, hi = cat->ndists;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (cat->dists[mid].ord < ord)
      lo = mid + 1;
    else
      hi = mid;
  }
  ep_index_row row;
  if (lo == cat->ndists || cat->dists[lo].ord != ord ||
      entry_row(st, &row, NULL, 0))
    return EPINDEX_EIO;
  ep_dist *d = &cat->dists[lo];
  if (d->count == 0)
    d->first = cat->nentries;
  return ep_catalog_add_entry(cat, lo, row.group, row.group_len, row.name,
                              row.name_len, row.value, row.value_len,
                              (uint32_t)sqlite3_column_int64(st, C_LINE));
}

int ep_index_load_dists(ep_index *ix, ep_catalog *cat) {
  return each_in_grp_full(ix, EP_GRP_DIST, load_dist_row, cat);
}

int ep_index_load(ep_index *ix, ep_catalog *cat, ep_dirstamp *ds) {
  *ds = ix->ds;
  int rc = each_in_grp_full(ix, EP_GRP_DIST, load_dist_row, cat);
  return rc ? rc : each_entry(ix, load_entry_row, cat);
}

/* ---- writing
 * ----------------------------------------------------------------- */

static int sqlite_code(int rc) {
  switch (rc & 0xFF) {
  case SQLITE_FULL:
    return EPINDEX_ENOSPC;
  case SQLITE_NOMEM:
    return EPINDEX_ENOMEM;
  case SQLITE_READONLY:
    return EPINDEX_EROFS;
  case SQLITE_PERM:
  case SQLITE_AUTH:
    return EPINDEX_EACCES;
  case SQLITE_IOERR:
  case SQLITE_CANTOPEN:
    return EPINDEX_EIO;
  default:
    return EPINDEX_ESQLITE;
  }
}

/* One INSERT statement for every row kind. */
typedef struct row_writer {
  sqlite3 *db;
  sqlite3_stmt *st;
  int rc;
} row_writer;

static void put_text(sqlite3_stmt *st, int col, const char *s, int len) {
  if (s)
    sqlite3_bind_text(st, col, s, len, SQLITE_STATIC);
  else
    sqlite3_bind_null(st, col);
}

/* Insert one row. value is text, or the integer *ivalue when not NULL. */
static void put_row(row_writer *w, const char *grp, int glen, int64_t ord,
                    int64_t line, const char *name, int nlen, const char *value,
                    int vlen, const int64_t *ivalue, const ep_dist *d) {
  if (w->rc != SQLITE_OK)
    return;
  sqlite3_stmt *st = w->st;
  sqlite3_bind_text(st, 1, grp, glen, SQLITE_STATIC);
  sqlite3_bind_int64(st, 2, ord);
  sqlite3_bind_int64(st, 3, line);
  put_text(st, 4, name, nlen);
  if (ivalue)
    sqlite3_bind_int64(st, 5, *ivalue);
  else
    put_text(st, 5, value, vlen);
  put_text(st, 6, d ? d->metadir : NULL, -1);
  put_text(st, 7, d ? d->name : NULL, d ? (int)d->name_len : 0);
  put_text(st, 8, d ? d->version : NULL, d ? (int)d->version_len : 0);
  put_text(st, 9, d ? d->key : NULL, d ? (int)d->key_len : 0);
  w->rc = sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(w->db);
  sqlite3_reset(st);
}

static void write_meta(row_writer *w, const ep_index_counts *n,
                       const ep_dirstamp *ds, const char *realdir,
                       bool is_egg) {
  const struct {
    const char *k;
    int64_t v;
  } ints[] = {{"dev", ds->dev},
              {"ino", ds->ino},
              {"mtime_ns", ds->mtime_ns},
              {"ctime_ns", ds->ctime_ns},
              {"stamp_ns", ds->stamp_ns},
              {"dists", (int64_t)n->dists},
              {"entries", (int64_t)n->entries},
              {"problems", (int64_t)n->problems},
              {"links", (int64_t)n->links},
              {"egg", is_egg},
              {"egg_infos", (int64_t)n->egg_infos},
              {"uid", (int64_t)geteuid()}};
  const char *texts[][2] = {{"dir", realdir},
                            {"generator", "epindex " EPINDEX_VERSION_STRING},
                            {"sqlite", sqlite3_libversion()}};
  int64_t line = 0;
  for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++)
    put_row(w, EP_GRP_META, -1, 0, line++, ints[i].k, -1, NULL, 0, &ints[i].v,
            NULL);
  for (size_t i = 0; i < 3; i++)
    put_row(w, EP_GRP_META, -1, 0, line++, texts[i][0], -1, texts[i][1], -1,
            NULL, NULL);
}

/* The dist, key and problem rows of one distribution. */
/* line of a dist row: kind | hidden << 2 | link << 3 | (entry rows
 * stored) << 8 */
static int64_t dist_flags(const ep_dist *d) {
  int64_t stored = d->hidden || d->problem || !d->key ? 0 : (int64_t)d->count;
  return (int64_t)d->kind | (d->hidden ? 4 : 0) | (d->link ? 8 : 0) |
         stored << 8;
}

static void write_dist_rows(row_writer *w, const ep_dist *d,
                            ep_index_counts *added) {
  char stamp[EP_STAMP_TEXT_MAX];
  ep_stamp_format(&d->stamp, stamp, sizeof(stamp));
  put_row(w, EP_GRP_DIST, -1, d->ord, dist_flags(d), d->problem, -1, stamp, -1,
          NULL, d);
  if (d->link) { /* even when hidden: a retargeted link may unhide it */
    char to[96];
    snprintf(to, sizeof(to), "%lld %lld %lld", (long long)d->stamp.dir_dev,
             (long long)d->stamp.dir.ino, (long long)d->stamp.dir.ctime);
    put_row(w, EP_GRP_LINK, -1, d->ord, 0, NULL, 0, to, -1, NULL, d);
    added->links++;
  }
  if (d->hidden)
    return;
  if (d->key) {
    ep_buf g = {0};
    if (ep_buf_append(&g, EP_GRP_KEY, strlen(EP_GRP_KEY)) ||
        ep_buf_append(&g, d->key, d->key_len))
      w->rc = SQLITE_NOMEM;
    put_row(w, g.data, (int)g.len, d->ord, 0, NULL, 0, NULL, 0, NULL, d);
    ep_buf_free(&g);
  }
  if (d->problem) {
    put_row(w, EP_GRP_PROBLEM, -1, d->ord, 0, d->problem, -1, NULL, 0, NULL, d);
    added->problems++;
  }
}

struct ep_writer {
  row_writer w;
  ep_fdsrc *src; /* the temporary file, written through fdvfs.c only */
};

static int writer_fail(ep_writer *wr, ep_buf *err) {
  int rc = wr->w.rc;
  ep_buf_appendf(err, "cannot write the index: %s",
                 wr->w.db ? sqlite3_errmsg(wr->w.db) : sqlite3_errstr(rc));
  return sqlite_code(rc);
}

int ep_writer_open(int fd, bool create, ep_writer **out, ep_buf *err) {
  ep_writer *wr = calloc(1, sizeof(*wr));
  ep_fdsrc *src = malloc(sizeof(*src));
  *out = NULL;
  if (!wr || !src) {
    free(wr);
    free(src);
    return EPINDEX_ENOMEM;
  }
  src->fd = fd;
  src->writable = true;
  src->size = 0;
  src->head_len = 0;
  wr->src = src;
  row_writer *w = &wr->w;
  w->rc = ep_sqlite_open_fd_rw(src, &w->db);
  char pragmas[360];
  /* No journal: the file is private until renamed; a crash leaves only a
   * temporary file that the next update deletes. Temporary tables in
   * memory: the VFS opens no file but this one. */
  snprintf(pragmas, sizeof(pragmas),
           "PRAGMA page_size=4096; PRAGMA journal_mode=OFF; "
           "PRAGMA temp_store=MEMORY; "
           "PRAGMA synchronous=OFF; PRAGMA locking_mode=EXCLUSIVE; "
           "PRAGMA cache_size=-65536; PRAGMA application_id=%d; "
           "PRAGMA user_version=%d; BEGIN;",
           EPINDEX_APPLICATION_ID, EPINDEX_SCHEMA_VERSION);
  if (w->rc == SQLITE_OK)
    w->rc = sqlite3_exec(w->db, pragmas, NULL, NULL, NULL);
  if (w->rc == SQLITE_OK && create)
    w->rc = sqlite3_exec(w->db, ep_schema_sql, NULL, NULL, NULL);
  if (w->rc == SQLITE_OK)
    w->rc = sqlite3_prepare_v2(w->db,
                               "INSERT INTO ep(grp, ord, line, name, value, "
                               "metadir, dname, dversion, key) "
                               "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                               -1, &w->st, NULL);
  if (w->rc != SQLITE_OK) {
    int rc = writer_fail(wr, err);
    ep_writer_abort(wr);
    return rc;
  }
  *out = wr;
  return EPINDEX_OK;
}

int ep_writer_delete_ords(ep_writer *wr, const int64_t *ords, size_t n) {
  row_writer *w = &wr->w;
  /* Rows are clustered by group, not by ord: one scan deletes them all. */
  ep_buf sql = {0};
  if (n == 0 || w->rc != SQLITE_OK)
    return w->rc == SQLITE_OK ? EPINDEX_OK : EPINDEX_EIO;
  ep_buf_appendf(&sql, "DELETE FROM ep WHERE ord IN (");
  for (size_t i = 0; i < n; i++)
    ep_buf_appendf(&sql, "%s%lld", i ? "," : "", (long long)ords[i]);
  if (ep_buf_appendf(&sql, ")"))
    w->rc = SQLITE_NOMEM;
  if (w->rc == SQLITE_OK)
    w->rc = sqlite3_exec(w->db, sql.data, NULL, NULL, NULL);
  ep_buf_free(&sql);
  return w->rc == SQLITE_OK ? EPINDEX_OK : EPINDEX_EIO;
}

int ep_writer_add(ep_writer *wr, const ep_catalog *cat, const bool *only,
                  ep_index_counts *added) {
  row_writer *w = &wr->w;
  for (size_t i = 0; i < cat->ndists && w->rc == SQLITE_OK; i++)
    if (!only || only[i])
      write_dist_rows(w, &cat->dists[i], added);
  for (size_t i = 0; i < cat->nentries && w->rc == SQLITE_OK; i++) {
    const ep_entry *e = &cat->entries[cat->by_group[i]];
    const ep_dist *d = &cat->dists[e->dist];
    if (d->hidden || d->problem || !d->key || (only && !only[e->dist]))
      continue;
    put_row(w, e->group, (int)e->group_len, d->ord, e->line, e->name,
            (int)e->name_len, e->value, (int)e->value_len, NULL, d);
    added->entries++;
  }
  return w->rc == SQLITE_OK ? EPINDEX_OK : EPINDEX_EIO;
}

int ep_writer_commit(ep_writer *wr, const ep_index_counts *totals,
                     const ep_dirstamp *ds, const char *realdir, bool is_egg,
                     int lookup_fd, ep_buf *err) {
  row_writer *w = &wr->w;
  if (w->rc == SQLITE_OK)
    w->rc = sqlite3_exec(w->db, "DELETE FROM ep WHERE grp = char(10) || 'meta'",
                         NULL, NULL, NULL);
  write_meta(w, totals, ds, realdir, is_egg);
  sqlite3_finalize(w->st);
  w->st = NULL;
  if (w->rc == SQLITE_OK)
    w->rc = sqlite3_exec(w->db, "COMMIT", NULL, NULL, NULL);
  int out = w->rc == SQLITE_OK ? EPINDEX_OK : writer_fail(wr, err);
  if (out == EPINDEX_OK && lookup_fd >= 0)
    ep_start_writeback(wr->src->fd);
  if (out == EPINDEX_OK && lookup_fd >= 0 &&
      (out = ep_lookup_write(w->db, lookup_fd)) != EPINDEX_OK)
    ep_buf_appendf(err, "cannot write the lookup table: %s",
                   epindex_strerror(out));
  if (sqlite3_close(w->db) != SQLITE_OK && out == EPINDEX_OK) {
    out = EPINDEX_EIO;
    ep_buf_appendf(err, "cannot close the index");
  }
  w->db = NULL;
  free(wr->src);
  free(wr);
  return out;
}

void ep_writer_abort(ep_writer *wr) {
  if (!wr)
    return;
  sqlite3_finalize(wr->w.st);
  sqlite3_close(wr->w.db);
  free(wr->src);
  free(wr);
}

int ep_index_write(int fd, const ep_catalog *cat, const ep_dirstamp *ds,
                   const char *realdir, bool is_egg, int lookup_fd,
                   ep_buf *err) {
  ep_writer *wr;
  int rc = ep_writer_open(fd, true, &wr, err);
  if (rc)
    return rc;
  ep_index_counts totals = {cat->ndists, 0, 0, 0, cat->egg_infos};
  if ((rc = ep_writer_add(wr, cat, NULL, &totals)) != EPINDEX_OK) {
    rc = writer_fail(wr, err);
    ep_writer_abort(wr);
    return rc;
  }
  return ep_writer_commit(wr, &totals, ds, realdir, is_egg, lookup_fd, err);
}
