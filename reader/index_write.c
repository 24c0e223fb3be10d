/*
 * index_write.c -- writing an index file: all at once, or as a patch of a
 * copy of the old one (docs/index-format.md describes every row). The file
 * is the writer's temporary one, written through its descriptor only
 * (fdvfs.c): nothing is opened, created or deleted by name.
 */
#include "index_impl.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

/* One INSERT statement for every row kind. A writer that makes the lookup
 * table from its own rows keeps a copy of each (kept): a patch whose old
 * table is merged, and a whole index, whose rows are also inserted from
 * those copies, sorted (deferred): in primary-key order each insert
 * appends to the b-tree instead of landing on a random page, and the
 * table needs no second pass over index.db. */
typedef struct row_writer {
  sqlite3 *db;
  sqlite3_stmt *st;
  int rc;
  ep_arena *kept; /* NULL: rows are not kept */
  bool deferred;  /* rows are kept, not inserted, until flush_rows() */
  bool sorted;    /* rows[] is in (grp, ord, line) order */
  ep_row *rows;
  size_t nrows, cap;
} row_writer;

static void put_text(sqlite3_stmt *st, int col, const char *s, int len) {
  if (s)
    sqlite3_bind_text(st, col, s, len, SQLITE_STATIC);
  else
    sqlite3_bind_null(st, col);
}

/* A copy of text s (len < 0: a C string), as index.db will return it. */
static const char *kept_text(row_writer *w, const char *s, int len, size_t *n) {
  *n = 0;
  if (!s)
    return NULL;
  *n = len < 0 ? strlen(s) : (size_t)len;
  const char *c = ep_arena_strndup(w->kept, s, *n);
  if (!c)
    w->rc = SQLITE_NOMEM;
  return c;
}

/* Keep the row put_row() inserted (same arguments), integers as the
 * decimal text SQLite makes of them. Its own texts are copied; those of
 * its distribution d point into d's catalog, which every caller keeps
 * until ep_writer_commit() has returned. */
static void keep_row(row_writer *w, const char *grp, int glen, int64_t ord,
                     int64_t line, const char *name, int nlen,
                     const char *value, int vlen, const int64_t *ivalue,
                     const ep_dist *d) {
  if (ep_grow(&w->rows, &w->cap, w->nrows, sizeof(*w->rows), 64)) {
    w->rc = SQLITE_NOMEM;
    return;
  }
  ep_row *r = &w->rows[w->nrows++];
  *r = (ep_row){
      .ord = ord, .line = line, .ints = ivalue ? 1u << EP_COL_VALUE : 0};
  w->sorted = false;
  char num[24];
  if (ivalue) {
    vlen = snprintf(num, sizeof(num), "%lld", (long long)*ivalue);
    value = num;
  }
  r->grp = kept_text(w, grp, glen, &r->glen);
  r->f[EP_COL_NAME] = kept_text(w, name, nlen, &r->n[EP_COL_NAME]);
  r->f[EP_COL_VALUE] = kept_text(w, value, vlen, &r->n[EP_COL_VALUE]);
  if (!d)
    return;
  /* borrowed, not copied: a distribution's three or so rows share them,
   * and the catalog outlives the commit */
  r->f[EP_COL_METADIR] = d->metadir;
  r->n[EP_COL_METADIR] = d->metadir ? strlen(d->metadir) : 0;
  r->f[EP_COL_DNAME] = d->name;
  r->n[EP_COL_DNAME] = d->name ? d->name_len : 0;
  r->f[EP_COL_DVERSION] = d->version;
  r->n[EP_COL_DVERSION] = d->version ? d->version_len : 0;
  r->f[EP_COL_KEY] = d->key;
  r->n[EP_COL_KEY] = d->key ? d->key_len : 0;
}

static void step_row(row_writer *w) {
  w->rc =
      sqlite3_step(w->st) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(w->db);
  sqlite3_reset(w->st);
}

/* Insert one row. value is text, or the integer *ivalue when not NULL. */
static void put_row(row_writer *w, const char *grp, int glen, int64_t ord,
                    int64_t line, const char *name, int nlen, const char *value,
                    int vlen, const int64_t *ivalue, const ep_dist *d) {
  if (w->rc != SQLITE_OK)
    return;
  if (w->deferred) {
    keep_row(w, grp, glen, ord, line, name, nlen, value, vlen, ivalue, d);
    return;
  }
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
  step_row(w);
  if (w->kept && w->rc == SQLITE_OK)
    keep_row(w, grp, glen, ord, line, name, nlen, value, vlen, ivalue, d);
}

static int cmp_kept_row(const void *a, const void *b) {
  const ep_row *x = a, *y = b;
  int c = ep_bytes_cmp(x->grp, x->glen, y->grp, y->glen);
  if (c)
    return c;
  if (x->ord != y->ord)
    return (x->ord > y->ord) - (x->ord < y->ord);
  return (x->line > y->line) - (x->line < y->line);
}

/* The kept rows in (grp, ord, line) order: index.db's primary key, and
 * the order of the lookup table's rows. */
static void sort_rows(row_writer *w) {
  if (!w->sorted)
    qsort(w->rows, w->nrows, sizeof(*w->rows), cmp_kept_row);
  w->sorted = true;
}

/* Insert the deferred rows, sorted; integers (ints) as integers again. */
static void flush_rows(row_writer *w) {
  if (!w->deferred)
    return;
  w->deferred = false;
  sort_rows(w);
  sqlite3_stmt *st = w->st;
  for (size_t i = 0; i < w->nrows && w->rc == SQLITE_OK; i++) {
    const ep_row *r = &w->rows[i];
    sqlite3_bind_text(st, 1, r->grp, (int)r->glen, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, r->ord);
    sqlite3_bind_int64(st, 3, r->line);
    for (int f = 0; f < EP_COL_FIELDS; f++)
      if (r->ints & 1u << f)
        sqlite3_bind_int64(st, 4 + f, strtoll(r->f[f], NULL, 10));
      else
        put_text(st, 4 + f, r->f[f], (int)r->n[f]);
    step_row(w);
  }
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
              {"badvalues", (int64_t)n->badvalues},
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
  int64_t stored = ep_dist_answers(d) ? (int64_t)d->count : 0;
  return (int64_t)d->kind | (d->hidden ? 4 : 0) | (d->link ? 8 : 0) |
         (d->bad_value ? 16 : 0) | stored << 8;
}

/* The row by which distribution(name) finds it (hidden ones too: importlib's
 * discovery yields every match): \nname\n + its Lookup key, or \negg for
 * EGG-INFO, whose key is the reader's path string's (ep_egg_lookup_key). */
static void write_name_row(row_writer *w, const ep_dist *d) {
  ep_buf g = {0};
  char *key = d->kind == EP_KIND_EGG ? NULL : ep_lookup_key(d->metadir);
  if (d->kind == EP_KIND_EGG
          ? ep_buf_append(&g, EP_GRP_EGG, strlen(EP_GRP_EGG))
          : !key || ep_buf_append(&g, EP_GRP_NAME, strlen(EP_GRP_NAME)) ||
                ep_buf_append(&g, key, strlen(key)))
    w->rc = SQLITE_NOMEM;
  put_row(w, g.data, (int)g.len, d->ord, dist_flags(d), d->problem, -1, NULL, 0,
          NULL, d);
  free(key);
  ep_buf_free(&g);
}

static void write_dist_rows(row_writer *w, const ep_catalog *cat,
                            const ep_dist *d, ep_index_counts *added) {
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
  write_name_row(w, d);
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
  if (ep_dist_answers(d) && d->bad_value) { /* judged by the reader's rules */
    const ep_entry *e = &cat->entries[d->first + d->bad_value - 1];
    int64_t line = e->line;
    put_row(w, EP_GRP_BADVALUE, -1, d->ord, line, e->value, (int)e->value_len,
            NULL, 0, &line, d);
    added->badvalues++;
  }
}

struct ep_writer {
  row_writer w;
  ep_fdsrc *src;        /* the temporary file, written through fdvfs.c only */
  const ep_index *base; /* a patch's old lookup table, or NULL */
  ep_arena kept;
  int64_t *removed; /* the ords a patch deleted, ascending */
  size_t nremoved;
};

static int writer_fail(ep_writer *wr, ep_buf *err) {
  int rc = wr->w.rc;
  ep_buf_appendf(err, "cannot write the index: %s",
                 wr->w.db ? sqlite3_errmsg(wr->w.db) : sqlite3_errstr(rc));
  return sqlite_code(rc);
}

int ep_writer_open(int fd, bool create, ep_writer **out, ep_buf *err) {
  *out = NULL;
  if (!ep_sqlite_load()) {
    ep_buf_appendf(err, "cannot write the index: %s", ep_sqlite_load_error());
    return EPINDEX_EIO;
  }
  ep_writer *wr = calloc(1, sizeof(*wr));
  ep_fdsrc *src = malloc(sizeof(*src));
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

static int cmp_ord(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return (x > y) - (x < y);
}

/* Add ords to the patch's deleted ones, kept ascending. */
static int keep_removed(ep_writer *wr, const int64_t *ords, size_t n) {
  int64_t *all = realloc(wr->removed, (wr->nremoved + n) * sizeof(*all));
  if (!all)
    return EPINDEX_ENOMEM;
  memcpy(all + wr->nremoved, ords, n * sizeof(*all));
  wr->removed = all;
  wr->nremoved += n;
  qsort(all, wr->nremoved, sizeof(*all), cmp_ord);
  return EPINDEX_OK;
}

void ep_writer_patch_table(ep_writer *wr, const ep_index *table) {
  if (!table || !ep_index_has_table(table) || wr->w.nrows || wr->nremoved)
    return; /* rows already written are not kept: the table comes from db */
  wr->base = table;
  wr->w.kept = &wr->kept;
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
  if (w->rc == SQLITE_OK && wr->base && keep_removed(wr, ords, n))
    w->rc = SQLITE_NOMEM;
  return w->rc == SQLITE_OK ? EPINDEX_OK : EPINDEX_EIO;
}

int ep_writer_add(ep_writer *wr, const ep_catalog *cat, const bool *only,
                  ep_index_counts *added) {
  row_writer *w = &wr->w;
  for (size_t i = 0; i < cat->ndists && w->rc == SQLITE_OK; i++)
    if (!only || only[i])
      write_dist_rows(w, cat, &cat->dists[i], added);
  for (size_t i = 0; i < cat->nentries && w->rc == SQLITE_OK; i++) {
    const ep_entry *e = &cat->entries[cat->by_group[i]];
    const ep_dist *d = &cat->dists[e->dist];
    if (!ep_dist_answers(d) || (only && !only[e->dist]))
      continue;
    put_row(w, e->group, (int)e->group_len, d->ord, e->line, e->name,
            (int)e->name_len, e->value, (int)e->value_len, NULL, d);
    added->entries++;
  }
  return w->rc == SQLITE_OK ? EPINDEX_OK : EPINDEX_EIO;
}

static void writer_free(ep_writer *wr) {
  free(wr->w.rows);
  ep_arena_free(&wr->kept);
  free(wr->removed);
  free(wr->src);
  free(wr);
}

/* The kept rows, sorted, as the patch of the table they make: a patch's
 * deletions too, nothing removed for a whole index. */
static ep_lookup_patch kept_rows(ep_writer *wr, const ep_index_counts *totals) {
  row_writer *w = &wr->w;
  sort_rows(w);
  return (ep_lookup_patch){wr->removed, wr->nremoved,  w->rows,
                           w->nrows,    totals->dists, totals->entries};
}

/* A large whole index's lookup table, written from its kept rows in a
 * thread while SQLite inserts the same rows: neither side changes them. */
typedef struct lookup_job {
  ep_lookup_patch rows;
  int fd;
  int rc;
} lookup_job;

static void *run_lookup_job(void *arg) {
  lookup_job *j = arg;
  j->rc = ep_lookup_write_rows(&j->rows, j->fd);
  return NULL;
}

/* Start the job (the rows sorted here, before flush_rows() reads them). */
static bool start_lookup(ep_writer *wr, const ep_index_counts *totals,
                         lookup_job *j, pthread_t *t) {
  row_writer *w = &wr->w;
  if (w->rc != SQLITE_OK || j->fd < 0 || !w->kept || !w->deferred || wr->base ||
      w->nrows < EP_LOOKUP_PARALLEL_ROWS)
    return false;
  j->rows = kept_rows(wr, totals);
  return pthread_create(t, NULL, run_lookup_job, j) == 0;
}

/* The lookup table of the committed index: the old table patched with the
 * rows kept, or a whole index's kept rows (done: the job that wrote them),
 * or (no old table, or it cannot be read) from all of db. */
static int write_lookup(ep_writer *wr, const ep_index_counts *totals, int fd,
                        const lookup_job *done) {
  row_writer *w = &wr->w;
  if (w->kept) {
    int rc;
    if (done) {
      rc = done->rc;
    } else {
      ep_lookup_patch p = kept_rows(wr, totals);
      rc = wr->base ? ep_lookup_write_patch(w->db, &wr->base->lk, &p, fd)
                    : ep_lookup_write_rows(&p, fd);
    }
    if (rc != EPINDEX_EIO)
      return rc;
  }
  return ep_lookup_write(w->db, fd);
}

int ep_writer_commit(ep_writer *wr, const ep_index_counts *totals,
                     const ep_dirstamp *ds, const char *realdir, bool is_egg,
                     int lookup_fd, ep_buf *err) {
  row_writer *w = &wr->w;
  if (w->rc == SQLITE_OK)
    w->rc = sqlite3_exec(w->db, "DELETE FROM ep WHERE grp = char(10) || 'meta'",
                         NULL, NULL, NULL);
  write_meta(w, totals, ds, realdir, is_egg);
  lookup_job job = {.fd = lookup_fd, .rc = EPINDEX_OK};
  pthread_t t;
  bool threaded = start_lookup(wr, totals, &job, &t);
  flush_rows(w);
  sqlite3_finalize(w->st);
  w->st = NULL;
  if (w->rc == SQLITE_OK)
    w->rc = sqlite3_exec(w->db, "COMMIT", NULL, NULL, NULL);
  if (threaded)
    pthread_join(t, NULL);
  int out = w->rc == SQLITE_OK ? EPINDEX_OK : writer_fail(wr, err);
  if (out == EPINDEX_OK && lookup_fd >= 0)
    ep_start_writeback(wr->src->fd);
  if (out == EPINDEX_OK && lookup_fd >= 0 &&
      (out = write_lookup(wr, totals, lookup_fd, threaded ? &job : NULL)) !=
          EPINDEX_OK)
    ep_buf_appendf(err, "cannot write the lookup table: %s",
                   epindex_strerror(out));
  if (sqlite3_close(w->db) != SQLITE_OK && out == EPINDEX_OK) {
    out = EPINDEX_EIO;
    ep_buf_appendf(err, "cannot close the index");
  }
  w->db = NULL;
  writer_free(wr);
  return out;
}

void ep_writer_abort(ep_writer *wr) {
  if (!wr)
    return;
  sqlite3_finalize(wr->w.st);
  sqlite3_close(wr->w.db);
  writer_free(wr);
}

int ep_index_write(int fd, const ep_catalog *cat, const ep_dirstamp *ds,
                   const char *realdir, bool is_egg, int lookup_fd,
                   ep_buf *err) {
  ep_writer *wr;
  int rc = ep_writer_open(fd, true, &wr, err);
  if (rc)
    return rc;
  wr->w.kept = &wr->kept;
  wr->w.deferred = true;
  ep_index_counts totals = {.dists = cat->ndists, .egg_infos = cat->egg_infos};
  if ((rc = ep_writer_add(wr, cat, NULL, &totals)) != EPINDEX_OK) {
    rc = writer_fail(wr, err);
    ep_writer_abort(wr);
    return rc;
  }
  return ep_writer_commit(wr, &totals, ds, realdir, is_egg, lookup_fd, err);
}
