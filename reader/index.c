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
#include "epindex_private.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct ep_index {
  ep_fdsrc src; /* the validated file; SQLite reads it through fdvfs.c */
  sqlite3 *db;
  sqlite3_stmt *lookup[4]; /* [group given][name given] */
  sqlite3_stmt *has_key;
  ep_dirstamp ds;
  int64_t ndists, nproblems;
};

#define INDEX_PATH EPINDEX_INDEX_DIR "/" EPINDEX_INDEX_FILE

static int64_t be32(const unsigned char *p) {
  return ((int64_t)p[0] << 24) | (p[1] << 16) | (p[2] << 8) | p[3];
}

void ep_index_close(ep_index *ix) {
  if (!ix)
    return;
  for (size_t i = 0; i < 4; i++)
    sqlite3_finalize(ix->lookup[i]);
  sqlite3_finalize(ix->has_key);
  sqlite3_close_v2(ix->db);
  if (ix->src.fd >= 0)
    close(ix->src.fd);
  free(ix);
}

int64_t ep_index_ndists(const ep_index *ix) { return ix->ndists; }
int64_t ep_index_stamp_ns(const ep_index *ix) { return ix->ds.stamp_ns; }

/* ---- opening ------------------------------------------------------------ */

/* Owned by the directory's owner (or root) and writable by nobody else. */
static bool trusted_mode(const struct stat *st, const struct stat *dir) {
  if (st->st_mode & (S_IWGRP | S_IWOTH))
    return false;
  return st->st_uid == dir->st_uid || st->st_uid == 0;
}

/* Check the file behind fd before SQLite sees it: type, owner, mode and the
 * 100-byte SQLite header (magic, our application id and schema version, and
 * that the file is as long as the header says). */
static epindex_reason check_file(ep_fdsrc *src, const struct stat *dir,
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
  if (!trusted_mode(&st, dir)) {
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
    return EPINDEX_REASON_SCHEMA;
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

static void harden(sqlite3 *db) {
  int off = 0, on = 1;
  sqlite3_db_config(db, SQLITE_DBCONFIG_DEFENSIVE, on, NULL);
  sqlite3_db_config(db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, off, NULL);
  sqlite3_db_config(db, SQLITE_DBCONFIG_ENABLE_TRIGGER, off, NULL);
  sqlite3_db_config(db, SQLITE_DBCONFIG_ENABLE_VIEW, off, NULL);
  sqlite3_db_config(db, SQLITE_DBCONFIG_ENABLE_LOAD_EXTENSION, off, NULL);
  sqlite3_limit(db, SQLITE_LIMIT_LENGTH, (int)EP_MAX_FILE_SIZE);
  sqlite3_limit(db, SQLITE_LIMIT_ATTACHED, 0);
}

static int read_meta(ep_index *ix) {
  sqlite3_stmt *st = NULL;
  int rc = sqlite3_prepare_v2(ix->db, "SELECT key, value FROM meta", -1, &st,
                              NULL);
  unsigned seen = 0;
  while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
    const char *k = (const char *)sqlite3_column_text(st, 0);
    int64_t v = sqlite3_column_int64(st, 1);
    static const char *const keys[] = {"dev", "ino", "mtime_ns", "stamp_ns",
                                       "dists", "problems"};
    int64_t *dst[] = {&ix->ds.dev, &ix->ds.ino, &ix->ds.mtime_ns,
                      &ix->ds.stamp_ns, &ix->ndists, &ix->nproblems};
    for (unsigned i = 0; k && i < 6; i++) {
      if (strcmp(k, keys[i]) == 0 &&
          sqlite3_column_type(st, 1) == SQLITE_INTEGER) {
        *dst[i] = v;
        seen |= 1u << i;
      }
    }
    rc = SQLITE_OK;
  }
  sqlite3_finalize(st);
  if (rc != SQLITE_DONE)
    return rc;
  return seen == 0x3F && ix->ndists >= 0 ? SQLITE_OK : SQLITE_CORRUPT;
}

static epindex_reason open_error_reason(int err) {
  return err == ENOENT   ? EPINDEX_REASON_MISSING
         : err == ELOOP  ? EPINDEX_REASON_UNTRUSTED
                         : EPINDEX_REASON_UNREADABLE;
}

/* Validate the index file open on fd (consumed) and open it with SQLite. */
static int open_checked(int fd, const struct stat *dir, ep_index **out,
                        epindex_reason *reason, ep_buf *detail) {
  *out = NULL;
  ep_index *ix = calloc(1, sizeof(*ix));
  if (!ix) {
    close(fd);
    return EPINDEX_ENOMEM;
  }
  ix->src.fd = fd;
  *reason = check_file(&ix->src, dir, detail);
  int rc = SQLITE_ERROR;
  if (*reason == EPINDEX_REASON_FRESH &&
      (rc = ep_sqlite_open_fd(&ix->src, &ix->db)) == SQLITE_OK)
    harden(ix->db);
  if (*reason == EPINDEX_REASON_FRESH &&
      (rc != SQLITE_OK || read_meta(ix) != SQLITE_OK))
    *reason = EPINDEX_REASON_DAMAGED;
  if (*reason == EPINDEX_REASON_FRESH)
    *out = ix;
  else
    ep_index_close(ix);
  return EPINDEX_OK;
}

int ep_index_open_raw(int dirfd, ep_index **out, epindex_reason *reason) {
  struct stat dir;
  *out = NULL;
  if (fstat(dirfd, &dir) != 0) {
    *reason = EPINDEX_REASON_UNREADABLE;
    return EPINDEX_OK;
  }
  int fd = openat(dirfd, INDEX_PATH, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    *reason = open_error_reason(errno);
    return EPINDEX_OK;
  }
  ep_buf detail = {0};
  int rc = open_checked(fd, &dir, out, reason, &detail);
  ep_buf_free(&detail);
  return rc;
}

/* The .epindex directory must not let another user swap the file. */
static epindex_reason check_index_dir(const char *idxdir, const struct stat *dir,
                                      ep_buf *detail) {
  struct stat st;
  if (lstat(idxdir, &st) != 0)
    return errno == ENOENT ? EPINDEX_REASON_MISSING : EPINDEX_REASON_UNREADABLE;
  if (!S_ISDIR(st.st_mode)) {
    ep_buf_appendf(detail, EPINDEX_INDEX_DIR " is not a directory");
    return EPINDEX_REASON_UNTRUSTED;
  }
  if (!trusted_mode(&st, dir)) {
    ep_buf_appendf(detail, EPINDEX_INDEX_DIR " is owned by uid %u, mode %04o",
                   (unsigned)st.st_uid, (unsigned)(st.st_mode & 07777));
    return EPINDEX_REASON_UNTRUSTED;
  }
  return EPINDEX_REASON_FRESH;
}

static bool same_dir(const ep_index *ix, const struct stat *dir) {
  return ix->ds.dev == (int64_t)dir->st_dev && ix->ds.ino == (int64_t)dir->st_ino;
}

bool ep_index_stat_fresh(const ep_index *ix, const struct stat *dir) {
  return same_dir(ix, dir) && ix->ds.mtime_ns < ix->ds.stamp_ns &&
         ix->ds.mtime_ns == ep_mtime_ns(dir);
}

static epindex_reason judge(ep_index *ix, const char *path,
                            const struct stat *dir, epindex_policy policy,
                            ep_buf *detail) {
  if (policy == EPINDEX_POLICY_TRUST)
    return EPINDEX_REASON_TRUSTED;
  if (policy == EPINDEX_POLICY_STAT && ep_index_stat_fresh(ix, dir))
    return EPINDEX_REASON_FRESH;
  bool here = same_dir(ix, dir);
  int dirfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dirfd < 0)
    return EPINDEX_REASON_UNREADABLE;
  int m = ep_index_matches_listing(ix, dirfd, !here, ix->ds.stamp_ns, detail);
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
  *out = NULL;
  ep_buf scratch = {0};
  if (!detail)
    detail = &scratch;
  /* By path, not through a directory descriptor: when the index is fresh
   * this saves an open and a close, a fifth of the cost of a lookup. */
  const char *p = *dir_path ? dir_path : ".";
  char idxdir[PATH_MAX], idxfile[PATH_MAX];
  if ((size_t)snprintf(idxdir, sizeof(idxdir), "%s/" EPINDEX_INDEX_DIR, p) >=
          sizeof(idxdir) ||
      (size_t)snprintf(idxfile, sizeof(idxfile), "%s/" INDEX_PATH, p) >=
          sizeof(idxfile)) {
    *reason = EPINDEX_REASON_UNREADABLE;
    return EPINDEX_OK;
  }
  *reason = check_index_dir(idxdir, dir, detail);
  ep_index *ix = NULL;
  int rc = EPINDEX_OK;
  if (*reason == EPINDEX_REASON_FRESH) {
    int fd = open(idxfile, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
      *reason = open_error_reason(errno);
    else
      rc = open_checked(fd, dir, &ix, reason, detail);
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

/* ---- verification --------------------------------------------------------- */

static bool stamp_racy(const ep_stamp *s, int64_t stamp_ns) {
  return s->ep_mtime >= stamp_ns || s->md_mtime >= stamp_ns;
}

int ep_index_matches_listing(ep_index *ix, int dirfd, bool relocated,
                             int64_t stamp_ns, ep_buf *detail) {
  ep_buf scratch = {0};
  if (!detail)
    detail = &scratch;
  ep_listing l = {0};
  int rc = ep_list_dir(dirfd, "", &l);
  if (rc) {
    ep_listing_free(&l);
    return rc;
  }
  sqlite3_stmt *st = NULL;
  int result = 1;
  size_t i = 0;
  if (sqlite3_prepare_v2(ix->db,
                         "SELECT metadir, kind, ep_size, ep_mtime, md_size, "
                         "md_mtime FROM dist ORDER BY ord",
                         -1, &st, NULL) != SQLITE_OK)
    result = -1;
  while (result == 1 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
    const char *name = (const char *)sqlite3_column_text(st, 0);
    if (i >= l.len || !name || strcmp(name, l.items[i].metadir) != 0 ||
        sqlite3_column_int(st, 1) != (int)l.items[i].kind) {
      ep_buf_appendf(detail, "metadata entry %zu is %s, index has %s", i,
                     i < l.len ? l.items[i].metadir : "(none)",
                     name ? name : "(none)");
      result = 0;
      break;
    }
    ep_stamp now, was = {sqlite3_column_int64(st, 2), sqlite3_column_int64(st, 3),
                         sqlite3_column_int64(st, 4), sqlite3_column_int64(st, 5)};
    ep_stamp_item(dirfd, &l.items[i], &now);
    bool same = now.ep_size == was.ep_size && now.md_size == was.md_size;
    if (same && !relocated)
      same = now.ep_mtime == was.ep_mtime && now.md_mtime == was.md_mtime;
    if (!same) {
      ep_buf_appendf(detail, "%s changed", name);
      result = 0;
    } else if (!relocated && stamp_racy(&now, stamp_ns)) {
      ep_buf_appendf(detail, "%s changed in the tick the index was stamped",
                     name);
      result = 2;
    }
    i++;
  }
  if (result == 1 && rc != SQLITE_DONE)
    result = -1;
  if (result == 1 && i != l.len) {
    ep_buf_appendf(detail, "directory has %zu metadata entries, index %zu",
                   l.len, i);
    result = 0;
  }
  sqlite3_finalize(st);
  ep_listing_free(&l);
  ep_buf_free(&scratch);
  return result;
}

/* ---- queries ------------------------------------------------------------- */

static const char *const lookup_sql[4] = {
    "SELECT grp, name, value, metadir, dname, dversion, key FROM entry "
    "ORDER BY ord, line",
    "SELECT grp, name, value, metadir, dname, dversion, key FROM entry "
    "WHERE name = ?2 ORDER BY ord, line",
    "SELECT grp, name, value, metadir, dname, dversion, key FROM entry "
    "WHERE grp = ?1 ORDER BY grp, ord, line",
    "SELECT grp, name, value, metadir, dname, dversion, key FROM entry "
    "WHERE grp = ?1 AND name = ?2 ORDER BY grp, ord, line",
};

static bool text_or_null(sqlite3_stmt *st, int col) {
  int t = sqlite3_column_type(st, col);
  return t == SQLITE_TEXT || t == SQLITE_NULL;
}

int ep_index_lookup(ep_index *ix, const char *group, const char *name,
                    ep_row_cb cb, void *ctx) {
  int which = (group ? 2 : 0) + (name ? 1 : 0);
  sqlite3_stmt **st = &ix->lookup[which];
  if (!*st && sqlite3_prepare_v3(ix->db, lookup_sql[which], -1,
                                 SQLITE_PREPARE_PERSISTENT, st,
                                 NULL) != SQLITE_OK)
    return EPINDEX_EIO;
  if (group)
    sqlite3_bind_text(*st, 1, group, -1, SQLITE_STATIC);
  if (name)
    sqlite3_bind_text(*st, 2, name, -1, SQLITE_STATIC);
  int rc, out = EPINDEX_OK;
  while ((rc = sqlite3_step(*st)) == SQLITE_ROW) {
    for (int c = 0; c < 7; c++) {
      bool ok = (c == 4 || c == 5) ? text_or_null(*st, c)
                                   : sqlite3_column_type(*st, c) == SQLITE_TEXT;
      if (!ok) {
        out = EPINDEX_EIO; /* a hostile or damaged row */
        break;
      }
    }
    if (out)
      break;
    ep_index_row row = {
        .group = (const char *)sqlite3_column_text(*st, 0),
        .group_len = (size_t)sqlite3_column_bytes(*st, 0),
        .name = (const char *)sqlite3_column_text(*st, 1),
        .name_len = (size_t)sqlite3_column_bytes(*st, 1),
        .value = (const char *)sqlite3_column_text(*st, 2),
        .value_len = (size_t)sqlite3_column_bytes(*st, 2),
        .metadir = (const char *)sqlite3_column_text(*st, 3),
        .dist = (const char *)sqlite3_column_text(*st, 4),
        .version = (const char *)sqlite3_column_text(*st, 5),
        .key = (const char *)sqlite3_column_text(*st, 6),
        .key_len = (size_t)sqlite3_column_bytes(*st, 6),
    };
    if (!row.group || !row.name || !row.value || !row.metadir || !row.key) {
      out = EPINDEX_ENOMEM;
      break;
    }
    if ((out = cb(ctx, &row)) != EPINDEX_OK)
      break;
  }
  if (out == EPINDEX_OK && rc != SQLITE_DONE && rc != SQLITE_ROW)
    out = EPINDEX_EIO;
  sqlite3_reset(*st);
  sqlite3_clear_bindings(*st);
  return out;
}

int ep_index_has_key(ep_index *ix, const char *key, size_t klen) {
  if (!ix->has_key &&
      sqlite3_prepare_v3(ix->db, "SELECT 1 FROM dist WHERE key = ?1 LIMIT 1",
                         -1, SQLITE_PREPARE_PERSISTENT, &ix->has_key,
                         NULL) != SQLITE_OK)
    return EPINDEX_EIO;
  sqlite3_bind_text(ix->has_key, 1, key, (int)klen, SQLITE_STATIC);
  int rc = sqlite3_step(ix->has_key);
  sqlite3_reset(ix->has_key);
  if (rc == SQLITE_ROW)
    return 1;
  return rc == SQLITE_DONE ? 0 : EPINDEX_EIO;
}

int ep_index_problems(ep_index *ix, const char *path, ep_strvec *diags) {
  if (ix->nproblems <= 0)
    return EPINDEX_OK;
  sqlite3_stmt *st = NULL;
  if (sqlite3_prepare_v2(ix->db,
                         "SELECT metadir, problem FROM dist WHERE problem IS "
                         "NOT NULL AND hidden = 0 ORDER BY ord",
                         -1, &st, NULL) != SQLITE_OK)
    return EPINDEX_EIO;
  int rc = EPINDEX_OK;
  while (!rc && sqlite3_step(st) == SQLITE_ROW) {
    const char *m = (const char *)sqlite3_column_text(st, 0);
    const char *p = (const char *)sqlite3_column_text(st, 1);
    rc = ep_strvec_addf(diags, "%s/%s: skipped: %s", *path ? path : ".",
                        m ? m : "?", p ? p : "?");
  }
  sqlite3_finalize(st);
  return rc;
}

int ep_index_meta(ep_index *ix, ep_strvec *keys, ep_strvec *values) {
  sqlite3_stmt *st = NULL;
  if (sqlite3_prepare_v2(ix->db, "SELECT key, value FROM meta ORDER BY key",
                         -1, &st, NULL) != SQLITE_OK)
    return EPINDEX_EIO;
  int rc = EPINDEX_OK;
  while (!rc && sqlite3_step(st) == SQLITE_ROW) {
    const char *k = (const char *)sqlite3_column_text(st, 0);
    const char *v = (const char *)sqlite3_column_text(st, 1);
    rc = ep_strvec_addf(keys, "%s", k ? k : "");
    if (!rc)
      rc = ep_strvec_addf(values, "%s", v ? v : "");
  }
  sqlite3_finalize(st);
  return rc;
}

/* ---- loading (update's parse cache) ---------------------------------------- */

static const char *dup_col(ep_catalog *c, sqlite3_stmt *st, int col) {
  const char *t = (const char *)sqlite3_column_text(st, col);
  return t ? ep_arena_strndup(&c->arena, t, (size_t)sqlite3_column_bytes(st, col))
           : NULL;
}

int ep_index_load(ep_index *ix, ep_catalog *cat, ep_dirstamp *ds) {
  *ds = ix->ds;
  sqlite3_stmt *st = NULL;
  int rc = EPINDEX_OK;
  if (sqlite3_prepare_v2(ix->db,
                         "SELECT metadir, kind, key, name, version, hidden, "
                         "ep_size, ep_mtime, md_size, md_mtime, problem FROM "
                         "dist ORDER BY ord",
                         -1, &st, NULL) != SQLITE_OK)
    return EPINDEX_EIO;
  int s;
  while (!rc && (s = sqlite3_step(st)) == SQLITE_ROW) {
    ep_dist *d = ep_catalog_add_dist(cat);
    if (!d) {
      rc = EPINDEX_ENOMEM;
      break;
    }
    d->metadir = dup_col(cat, st, 0);
    d->kind = (ep_kind)sqlite3_column_int(st, 1);
    d->key = dup_col(cat, st, 2);
    d->name = dup_col(cat, st, 3);
    d->version = dup_col(cat, st, 4);
    d->hidden = sqlite3_column_int(st, 5) != 0;
    d->stamp = (ep_stamp){sqlite3_column_int64(st, 6), sqlite3_column_int64(st, 7),
                          sqlite3_column_int64(st, 8), sqlite3_column_int64(st, 9)};
    d->problem = dup_col(cat, st, 10);
    if (!d->metadir || d->kind > EP_KIND_EGG)
      rc = EPINDEX_EIO;
  }
  sqlite3_finalize(st);
  if (rc)
    return rc;
  /* Entries come back grouped by distribution; dists are rows in ord order. */
  if (sqlite3_prepare_v2(ix->db,
                         "SELECT ord, line, grp, name, value FROM entry ORDER "
                         "BY ord, line",
                         -1, &st, NULL) != SQLITE_OK)
    return EPINDEX_EIO;
  while (!rc && (s = sqlite3_step(st)) == SQLITE_ROW) {
    int64_t ord = sqlite3_column_int64(st, 0);
    const char *g = (const char *)sqlite3_column_text(st, 2);
    const char *n = (const char *)sqlite3_column_text(st, 3);
    const char *v = (const char *)sqlite3_column_text(st, 4);
    if (ord < 0 || (size_t)ord >= cat->ndists || !g || !n || !v) {
      rc = EPINDEX_EIO;
      break;
    }
    ep_dist *d = &cat->dists[ord];
    if (d->count == 0)
      d->first = cat->nentries;
    rc = ep_catalog_add_entry(cat, (size_t)ord, g, (size_t)sqlite3_column_bytes(st, 2),
                              n, (size_t)sqlite3_column_bytes(st, 3), v,
                              (size_t)sqlite3_column_bytes(st, 4),
                              (uint32_t)sqlite3_column_int64(st, 1));
  }
  sqlite3_finalize(st);
  return rc;
}

/* ---- writing ----------------------------------------------------------------- */

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

static void bind_text_or_null(sqlite3_stmt *st, int i, const char *s) {
  if (s)
    sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
  else
    sqlite3_bind_null(st, i);
}

static int write_meta(sqlite3 *db, const ep_catalog *cat, const ep_dirstamp *ds,
                      const char *realdir, bool is_egg, size_t nentries) {
  sqlite3_stmt *st = NULL;
  int rc = sqlite3_prepare_v2(db, "INSERT INTO meta(key, value) VALUES(?1, ?2)",
                              -1, &st, NULL);
  size_t problems = 0;
  for (size_t i = 0; i < cat->ndists; i++)
    problems += cat->dists[i].problem && !cat->dists[i].hidden;
  const struct {
    const char *k;
    int64_t v;
  } ints[] = {{"dev", ds->dev},         {"ino", ds->ino},
              {"mtime_ns", ds->mtime_ns}, {"stamp_ns", ds->stamp_ns},
              {"dists", (int64_t)cat->ndists}, {"entries", (int64_t)nentries},
              {"problems", (int64_t)problems}, {"egg", is_egg},
              {"uid", (int64_t)geteuid()}};
  for (size_t i = 0; rc == SQLITE_OK && i < sizeof(ints) / sizeof(ints[0]); i++) {
    sqlite3_bind_text(st, 1, ints[i].k, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, ints[i].v);
    rc = sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(db);
    sqlite3_reset(st);
  }
  const char *texts[][2] = {{"dir", realdir},
                            {"generator", "epindex " EPINDEX_VERSION_STRING},
                            {"sqlite", sqlite3_libversion()}};
  for (size_t i = 0; rc == SQLITE_OK && i < 3; i++) {
    sqlite3_bind_text(st, 1, texts[i][0], -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, texts[i][1], -1, SQLITE_STATIC);
    rc = sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(db);
    sqlite3_reset(st);
  }
  sqlite3_finalize(st);
  return rc;
}

static int write_dists(sqlite3 *db, const ep_catalog *cat) {
  sqlite3_stmt *st = NULL;
  int rc = sqlite3_prepare_v2(
      db,
      "INSERT INTO dist(ord, metadir, kind, key, name, version, hidden, "
      "ep_size, ep_mtime, md_size, md_mtime, problem) "
      "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
      -1, &st, NULL);
  for (size_t i = 0; rc == SQLITE_OK && i < cat->ndists; i++) {
    const ep_dist *d = &cat->dists[i];
    sqlite3_bind_int64(st, 1, (int64_t)i);
    sqlite3_bind_text(st, 2, d->metadir, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 3, (int)d->kind);
    bind_text_or_null(st, 4, d->key);
    bind_text_or_null(st, 5, d->name);
    bind_text_or_null(st, 6, d->version);
    sqlite3_bind_int(st, 7, d->hidden);
    sqlite3_bind_int64(st, 8, d->stamp.ep_size);
    sqlite3_bind_int64(st, 9, d->stamp.ep_mtime);
    sqlite3_bind_int64(st, 10, d->stamp.md_size);
    sqlite3_bind_int64(st, 11, d->stamp.md_mtime);
    bind_text_or_null(st, 12, d->problem);
    rc = sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(db);
    sqlite3_reset(st);
  }
  sqlite3_finalize(st);
  return rc;
}

/* Entries of visible, unbroken dists, inserted in primary-key order. */
static int write_entries(sqlite3 *db, const ep_catalog *cat, size_t *written) {
  sqlite3_stmt *st = NULL;
  int rc = sqlite3_prepare_v2(
      db,
      "INSERT INTO entry(grp, ord, line, name, value, metadir, dname, "
      "dversion, key) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
      -1, &st, NULL);
  *written = 0;
  for (size_t i = 0; rc == SQLITE_OK && i < cat->nentries; i++) {
    const ep_entry *e = &cat->entries[cat->by_group[i]];
    const ep_dist *d = &cat->dists[e->dist];
    if (d->hidden || d->problem || !d->key)
      continue;
    sqlite3_bind_text(st, 1, e->group, (int)e->group_len, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, e->dist);
    sqlite3_bind_int64(st, 3, e->line);
    sqlite3_bind_text(st, 4, e->name, (int)e->name_len, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, e->value, (int)e->value_len, SQLITE_STATIC);
    sqlite3_bind_text(st, 6, d->metadir, -1, SQLITE_STATIC);
    bind_text_or_null(st, 7, d->name);
    bind_text_or_null(st, 8, d->version);
    sqlite3_bind_text(st, 9, d->key, -1, SQLITE_STATIC);
    rc = sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(db);
    sqlite3_reset(st);
    (*written)++;
  }
  sqlite3_finalize(st);
  return rc;
}

int ep_index_write(const char *path, const ep_catalog *cat,
                   const ep_dirstamp *ds, const char *realdir, bool is_egg,
                   ep_buf *err) {
  sqlite3 *db = NULL;
  int rc = sqlite3_open_v2(path, &db,
                           SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                               SQLITE_OPEN_NOMUTEX,
                           NULL);
  char pragmas[256];
  /* No journal: the file is private until renamed; a crash leaves only a
   * temporary file that the next update deletes. */
  snprintf(pragmas, sizeof(pragmas),
           "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; "
           "PRAGMA locking_mode=EXCLUSIVE; PRAGMA cache_size=-65536; "
           "PRAGMA page_size=4096; "
           "PRAGMA application_id=%d; PRAGMA user_version=%d;",
           EPINDEX_APPLICATION_ID, EPINDEX_SCHEMA_VERSION);
  if (rc == SQLITE_OK)
    rc = sqlite3_exec(db, pragmas, NULL, NULL, NULL);
  if (rc == SQLITE_OK)
    rc = sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
  if (rc == SQLITE_OK)
    rc = sqlite3_exec(db, ep_schema_sql, NULL, NULL, NULL);
  size_t nentries = 0;
  if (rc == SQLITE_OK)
    rc = write_dists(db, cat);
  if (rc == SQLITE_OK)
    rc = write_entries(db, cat, &nentries);
  if (rc == SQLITE_OK)
    rc = write_meta(db, cat, ds, realdir, is_egg, nentries);
  if (rc == SQLITE_OK)
    rc = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
  int out = EPINDEX_OK;
  if (rc != SQLITE_OK) {
    out = sqlite_code(rc);
    ep_buf_appendf(err, "cannot write %s: %s", path,
                   db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
  }
  if (sqlite3_close(db) != SQLITE_OK && out == EPINDEX_OK) {
    out = EPINDEX_EIO;
    ep_buf_appendf(err, "cannot close %s", path);
  }
  return out;
}
