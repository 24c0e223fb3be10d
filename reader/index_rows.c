/*
 * index_rows.c -- the one row source, and what is read through it: entry
 * point lookups, keys (precedence), problems, meta facts, loading an index
 * back into a catalog. Each consumer is written once, for index.db and for
 * the lookup table alike (ep_row, lookup.h).
 *
 * Readers never lock: an index file is never modified after it is renamed
 * into place (index_open.c opens it immutable, read-only, defensive).
 */
#include "index_impl.h"

#include <stdlib.h>
#include <string.h>

/* ---- the row source -------------------------------------------------- */

/* A row of a statement whose first EP_COL_FIELDS columns are COLS (and,
 * when full, grp, ord, line). A BLOB or REAL anywhere is a hostile or
 * damaged file: no writer stores one. */
static int row_of_stmt(sqlite3_stmt *st, bool full, const char *grp,
                       size_t glen, ep_row *r) {
  r->at = NULL;
  r->ints = 0;
  for (int i = 0; i < EP_COL_FIELDS; i++) {
    int t = sqlite3_column_type(st, i);
    if (t == SQLITE_BLOB || t == SQLITE_FLOAT)
      return EPINDEX_EIO;
    r->ints |= t == SQLITE_INTEGER ? 1u << i : 0;
    r->f[i] =
        t == SQLITE_NULL ? NULL : (const char *)sqlite3_column_text(st, i);
    if (t != SQLITE_NULL && !r->f[i])
      return EPINDEX_ENOMEM;
    r->n[i] = r->f[i] ? (size_t)sqlite3_column_bytes(st, i) : 0;
  }
  r->grp = grp;
  r->glen = glen;
  r->ord = r->line = 0;
  if (full) {
    if (sqlite3_column_type(st, EP_COL_FIELDS) != SQLITE_TEXT)
      return EPINDEX_EIO;
    r->grp = (const char *)sqlite3_column_text(st, EP_COL_FIELDS);
    r->glen = (size_t)sqlite3_column_bytes(st, EP_COL_FIELDS);
    r->ord = sqlite3_column_int64(st, EP_COL_FIELDS + 1);
    r->line = sqlite3_column_int64(st, EP_COL_FIELDS + 2);
  }
  return r->grp ? EPINDEX_OK : EPINDEX_ENOMEM;
}

static int step_rows(sqlite3_stmt *st, bool full, const char *grp, size_t glen,
                     ep_row_fn fn, void *ctx) {
  int rc = SQLITE_DONE, out = EPINDEX_OK;
  ep_row r;
  while (out == EPINDEX_OK && (rc = sqlite3_step(st)) == SQLITE_ROW)
    if ((out = row_of_stmt(st, full, grp, glen, &r)) == EPINDEX_OK)
      out = fn(ctx, &r);
  if (out == EPINDEX_OK && rc != SQLITE_DONE)
    out = EPINDEX_EIO;
  sqlite3_reset(st);
  return out;
}

static int table_rows(ep_lookup_rows *it, ep_row_fn fn, void *ctx) {
  ep_row r;
  int rc;
  while ((rc = ep_lookup_next(it, &r)) == 1)
    if ((rc = fn(ctx, &r)) != EPINDEX_OK)
      return rc;
  return rc; /* 0 at the end, or EPINDEX_EIO */
}

int ep_ix_each_in_grp(ep_index *ix, const char *grp, size_t glen, ep_row_fn fn,
                      void *ctx) {
  if (ix->lk.rd) {
    ep_lookup_rows it;
    return ep_lookup_find(&ix->lk, grp, glen, &it) ? table_rows(&it, fn, ctx)
                                                   : EPINDEX_OK;
  }
  if (!ix->db)
    return EPINDEX_EIO;
  sqlite3_bind_text(ix->by_grp, 1, grp, (int)glen, SQLITE_STATIC);
  return step_rows(ix->by_grp, false, grp, glen, fn, ctx);
}

int ep_ix_each_in_grp_full(ep_index *ix, const char *grp, size_t glen,
                           ep_row_fn fn, void *ctx) {
  if (!ix->db) /* a lookup table has no dist rows */
    return EPINDEX_EIO;
  if (!ix->by_grp_full &&
      sqlite3_prepare_v2(ix->db,
                         "SELECT " COLS_FULL " FROM ep WHERE grp = ?1 "
                         "ORDER BY grp, ord, line",
                         -1, &ix->by_grp_full, NULL) != SQLITE_OK)
    return EPINDEX_EIO;
  sqlite3_bind_text(ix->by_grp_full, 1, grp, (int)glen, SQLITE_STATIC);
  return step_rows(ix->by_grp_full, true, NULL, 0, fn, ctx);
}

/* The row of an entry order record (ord, it: ep_lookup_entry()'s), read
 * and checked to come after prev (the row before it, if any): a record
 * that points at an internal row, at another distribution's or out of
 * order is a damaged table. */
static int row_in_order(int64_t ord, ep_lookup_rows *it, const ep_row *prev,
                        ep_row *r) {
  if ((it->glen > 0 && it->grp[0] == '\n') || ep_lookup_next(it, r) != 1 ||
      r->ord != ord)
    return EPINDEX_EIO;
  if (prev &&
      (r->ord < prev->ord || (r->ord == prev->ord && r->line <= prev->line)))
    return EPINDEX_EIO;
  return EPINDEX_OK;
}

/* The rows [lo, hi) of the entry order directory, in that order; those of
 * one distribution (ord) alone when only (the next distribution's record
 * ends them, none of its rows read). */
static int rows_at(const ep_index *ix, size_t lo, size_t hi,
                   const int64_t *only, ep_row_fn fn, void *ctx) {
  int rc = EPINDEX_OK;
  ep_row r, prev;
  for (size_t k = lo; k < hi && rc == EPINDEX_OK; k++) {
    int64_t ord;
    ep_lookup_rows it;
    if ((rc = ep_lookup_entry(&ix->lk, k, &ord, &it)) || (only && ord != *only))
      break;
    rc = row_in_order(ord, &it, k > lo ? &prev : NULL, &r);
    rc = rc ? rc : fn(ctx, &r);
    prev = r;
  }
  return rc;
}

/* The first record of the entry order directory whose ord is ord or
 * after; *err is set when a record cannot be read. */
static size_t first_in_order(const ep_index *ix, int64_t ord, int *err) {
  size_t lo = 0, hi = ix->lk.nentries;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int64_t at;
    ep_lookup_rows it; /* the records alone: no row is read */
    if ((*err = ep_lookup_entry(&ix->lk, mid, &at, &it)) != EPINDEX_OK)
      return 0;
    if (at < ord)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

int ep_index_entries_at(ep_index *ix, int64_t ord, ep_row_fn fn, void *ctx) {
  if (!ix->lk.rd)
    return EPINDEX_ENOENT;
  int rc = EPINDEX_OK;
  size_t k = first_in_order(ix, ord, &rc);
  return rc ? rc : rows_at(ix, k, ix->lk.nentries, &ord, fn, ctx);
}

int ep_ix_each_entry(ep_index *ix, ep_row_fn fn, void *ctx) {
  if (ix->lk.rd)
    return rows_at(ix, 0, ix->lk.nentries, NULL, fn, ctx);
  if (!ix->db)
    return EPINDEX_EIO;
  /* all rows but the internal ones, whose grp starts with a line feed */
  if (!ix->all &&
      sqlite3_prepare_v2(ix->db,
                         "SELECT " COLS_FULL " FROM ep WHERE grp < char(10) OR "
                         "grp >= char(11) ORDER BY ord, line",
                         -1, &ix->all, NULL) != SQLITE_OK)
    return EPINDEX_EIO;
  return step_rows(ix->all, true, NULL, 0, fn, ctx);
}

bool ep_ix_field_is(const ep_row *r, int f, const char *s) {
  size_t n = strlen(s);
  return r->f[f] && r->n[f] == n && memcmp(r->f[f], s, n) == 0;
}

bool ep_ix_take_int(const char **t, int64_t *out) {
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

bool ep_ix_parse_int(const char *t, size_t n, int64_t *out) {
  const char *end = t;
  return t && ep_ix_take_int(&end, out) && end == t + n;
}

/* ---- entry points ------------------------------------------------------ */

typedef struct lookup_ctx {
  const char *name;
  size_t nlen;
  ep_row_fn cb;
  void *ctx;
} lookup_ctx;

/* An entry point row, if it has the name asked for (by length: a name may
 * hold a NUL), to the caller; EIO if it is not one (a hostile or damaged
 * index: entry rows hold text only). */
static int entry_row(void *ctx, const ep_row *r) {
  lookup_ctx *lc = ctx;
  if (!r->f[EP_COL_NAME] || !r->f[EP_COL_VALUE] || !r->f[EP_COL_METADIR] ||
      !r->f[EP_COL_KEY] || r->ints)
    return EPINDEX_EIO;
  if (lc->name && (r->n[EP_COL_NAME] != lc->nlen ||
                   memcmp(r->f[EP_COL_NAME], lc->name, lc->nlen) != 0))
    return EPINDEX_OK;
  return lc->cb(lc->ctx, r);
}

int ep_index_lookup(ep_index *ix, const char *group, size_t glen,
                    const char *name, size_t nlen, ep_row_fn cb, void *ctx) {
  lookup_ctx lc = {name, nlen, cb, ctx};
  if (!group)
    return ep_ix_each_entry(ix, entry_row, &lc);
  if (glen > 0 && *group == '\n') /* internal rows: no entry point group */
    return EPINDEX_OK;
  return ep_ix_each_in_grp(ix, group, glen, entry_row, &lc);
}

/* ---- keys, problems, meta ---------------------------------------------- */

static int found_row(void *ctx, const ep_row *r) {
  (void)r;
  *(int *)ctx = 1;
  return 1; /* stop */
}

int ep_index_has_key(ep_index *ix, const char *key, size_t klen) {
  if (ix->lk.rd) /* the table keeps keys in a directory of their own */
    return ep_lookup_has_key(&ix->lk, key, klen);
  ep_buf g = {0};
  int found = 0;
  if (ep_buf_append(&g, EP_GRP_KEY, strlen(EP_GRP_KEY)) ||
      ep_buf_append(&g, key, klen)) {
    ep_buf_free(&g);
    return EPINDEX_ENOMEM;
  }
  int rc = ep_ix_each_in_grp(ix, g.data, g.len, found_row, &found);
  ep_buf_free(&g);
  return rc == 1 || rc == EPINDEX_OK ? found : rc;
}

typedef struct problem_ctx {
  ep_problem_fn fn;
  void *ctx;
} problem_ctx;

static int problem_row(void *ctx, const ep_row *r) {
  problem_ctx *p = ctx;
  return p->fn(p->ctx, r->f[EP_COL_METADIR], r->n[EP_COL_METADIR],
               r->f[EP_COL_NAME], r->n[EP_COL_NAME]);
}

int ep_index_problems(ep_index *ix, ep_problem_fn fn, void *ctx) {
  if (ix->nproblems <= 0)
    return EPINDEX_OK;
  problem_ctx p = {fn, ctx};
  return ep_ix_each_in_grp(ix, EP_GRP_PROBLEM, strlen(EP_GRP_PROBLEM),
                           problem_row, &p);
}

typedef struct badvalue_ctx {
  ep_badvalue_fn fn;
  void *ctx;
} badvalue_ctx;

static int badvalue_row(void *ctx, const ep_row *r) {
  badvalue_ctx *b = ctx;
  int64_t line;
  if (!r->f[EP_COL_KEY] || !r->f[EP_COL_NAME] || !r->f[EP_COL_METADIR] ||
      !ep_ix_parse_int(r->f[EP_COL_VALUE], r->n[EP_COL_VALUE], &line))
    return EPINDEX_EIO;
  return b->fn(b->ctx, r->f[EP_COL_METADIR], r->n[EP_COL_METADIR],
               r->f[EP_COL_KEY], r->n[EP_COL_KEY], line, r->f[EP_COL_NAME],
               r->n[EP_COL_NAME]);
}

int ep_index_bad_values(ep_index *ix, ep_badvalue_fn fn, void *ctx) {
  if (ix->nbadvalues <= 0)
    return EPINDEX_OK;
  badvalue_ctx b = {fn, ctx};
  return ep_ix_each_in_grp(ix, EP_GRP_BADVALUE, strlen(EP_GRP_BADVALUE),
                           badvalue_row, &b);
}

typedef struct kv_ctx {
  ep_strvec *keys, *values;
} kv_ctx;

static int kv_row(void *ctx, const ep_row *r) {
  kv_ctx *kv = ctx;
  int rc = ep_strvec_addf(kv->keys, "%.*s", (int)r->n[EP_COL_NAME],
                          r->f[EP_COL_NAME] ? r->f[EP_COL_NAME] : "");
  return rc ? rc
            : ep_strvec_addf(kv->values, "%.*s", (int)r->n[EP_COL_VALUE],
                             r->f[EP_COL_VALUE] ? r->f[EP_COL_VALUE] : "");
}

int ep_index_meta(ep_index *ix, ep_strvec *keys, ep_strvec *values) {
  kv_ctx kv = {keys, values};
  return ep_ix_each_in_grp(ix, EP_GRP_META, strlen(EP_GRP_META), kv_row, &kv);
}

typedef struct dir_ctx {
  const char *want;
  int same;
} dir_ctx;

static int dir_row(void *ctx, const ep_row *r) {
  dir_ctx *d = ctx;
  if (ep_ix_field_is(r, EP_COL_NAME, "dir"))
    d->same = ep_ix_field_is(r, EP_COL_VALUE, d->want);
  return EPINDEX_OK;
}

int ep_index_built_for(ep_index *ix, const char *realdir) {
  dir_ctx d = {realdir, 0};
  if (ep_ix_each_in_grp(ix, EP_GRP_META, strlen(EP_GRP_META), dir_row, &d))
    return 0;
  return d.same;
}

/* ---- loading (update's parse cache) ------------------------------------ */

static const char *dup_field(ep_catalog *c, const ep_row *r, int f,
                             size_t *len) {
  if (len)
    *len = r->n[f];
  return r->f[f] ? ep_arena_strndup(&c->arena, r->f[f], r->n[f]) : NULL;
}

/* A dist row into cat; with_stamps: index.db's (the table has none). */
static int load_dist(ep_catalog *cat, const ep_row *r, bool with_stamps) {
  ep_dist *d = ep_catalog_add_dist(cat);
  if (!d)
    return EPINDEX_ENOMEM;
  int64_t flags = r->line;
  d->metadir = dup_field(cat, r, EP_COL_METADIR, NULL);
  d->kind = (ep_kind)(flags & 3);
  d->hidden = (flags & 4) != 0;
  d->link = (flags & 8) != 0;
  d->bad_value = (flags & 16) != 0; /* its entries are not loaded here */
  d->stored = (uint32_t)(flags >> 8);
  d->ord = r->ord;
  d->key = dup_field(cat, r, EP_COL_KEY, &d->key_len);
  d->name = dup_field(cat, r, EP_COL_DNAME, &d->name_len);
  d->version = dup_field(cat, r, EP_COL_DVERSION, &d->version_len);
  d->problem = dup_field(cat, r, EP_COL_NAME, NULL);
  if (!d->metadir || d->kind > EP_KIND_EGG ||
      (cat->ndists > 1 && d->ord <= cat->dists[cat->ndists - 2].ord) ||
      (with_stamps && !ep_stamp_parse(r->f[EP_COL_VALUE], &d->stamp)))
    return EPINDEX_EIO;
  return EPINDEX_OK;
}

static int load_dist_row(void *ctx, const ep_row *r) {
  return load_dist(ctx, r, true);
}

static int view_dist_row(void *ctx, const ep_row *r) {
  return load_dist(ctx, r, false);
}

/* Entries arrive in (ord, line) order; dists are sorted by ord. */
static int load_entry_row(void *ctx, const ep_row *r) {
  ep_catalog *cat = ctx;
  size_t lo = 0, hi = cat->ndists;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (cat->dists[mid].ord < r->ord)
      lo = mid + 1;
    else
      hi = mid;
  }
  if (lo == cat->ndists || cat->dists[lo].ord != r->ord || !r->f[EP_COL_NAME] ||
      !r->f[EP_COL_VALUE] || r->ints)
    return EPINDEX_EIO;
  ep_dist *d = &cat->dists[lo];
  if (d->count == 0)
    d->first = cat->nentries;
  return ep_catalog_add_entry(cat, lo, r->grp, r->glen, r->f[EP_COL_NAME],
                              r->n[EP_COL_NAME], r->f[EP_COL_VALUE],
                              r->n[EP_COL_VALUE], (uint32_t)r->line);
}

int ep_index_load_dists(ep_index *ix, ep_catalog *cat) {
  return ep_ix_each_in_grp_full(ix, EP_GRP_DIST, strlen(EP_GRP_DIST),
                                load_dist_row, cat);
}

int ep_index_load(ep_index *ix, ep_catalog *cat, ep_dirstamp *ds) {
  *ds = ix->ds;
  int rc = ep_ix_each_in_grp_full(ix, EP_GRP_DIST, strlen(EP_GRP_DIST),
                                  load_dist_row, cat);
  return rc ? rc : ep_ix_each_entry(ix, load_entry_row, cat);
}

/* ---- distributions (distributions(), distribution(name)) --------------- */

int ep_index_dist_rows(ep_index *ix, const char *grp, size_t glen, ep_row_fn fn,
                       void *ctx) {
  if (!ix->lk.rd)
    return ep_ix_each_in_grp_full(ix, grp, glen, fn, ctx);
  ep_lookup_rows it;
  size_t plen = strlen(EP_GRP_NAME);
  bool found = glen > plen && memcmp(grp, EP_GRP_NAME, plen) == 0
                   ? ep_lookup_find_name(&ix->lk, grp + plen, glen - plen, &it)
                   : ep_lookup_find(&ix->lk, grp, glen, &it);
  return found ? table_rows(&it, fn, ctx) : EPINDEX_OK;
}

int ep_index_load_view(ep_index *ix, ep_catalog *cat) {
  int rc = ep_index_dist_rows(ix, EP_GRP_DIST, strlen(EP_GRP_DIST),
                              view_dist_row, cat);
  return rc ? rc : ep_ix_each_entry(ix, load_entry_row, cat);
}
