/*
 * lookup.c -- the lookup table: a flat, read-only copy of an index's lookup
 * rows that a reader maps instead of opening SQLite.
 *
 * Why: a process's first SQLite open costs some 250 us on its own
 * (initialisation, the schema parse, the first page faults of the library),
 * five times a warm lookup. Python programs pay it in every process. The
 * table answers the same questions from one mmap: the meta facts, the keys
 * that decide precedence, problems, the entry points of a group, every
 * distribution, the distributions of a name, and (the entry order
 * directory) one distribution's entry points.
 *
 * It is written by the same update as index.db, from index.db's rows (all
 * of them, the dist rows without their stamps), and carries the same
 * stamps in its meta rows, so a reader judges it on its own. index.db stays
 * the index of record: VERIFY, relocation checks, status and update read
 * only index.db, and a table that is missing, damaged or of another format
 * version is passed over for it. docs/index-format.md describes the layout.
 *
 * The file may be hostile: every offset and length is checked against the
 * mapping before it is used, on every access.
 */
#include "lookup.h"
#include "sqlapi.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define LK_MAGIC "EPIXLKT\0"
#define LK_HEADER 80
#define LK_DIRENT 24
#define LK_NULL 0xFFFFFFFFu
/* largest table mapped whole at once (bench: 294 and 419 KiB tables gain
 * 10%, a 3.6 MiB one loses 40%) */
#define EP_LOOKUP_POPULATE_MAX (512u * 1024u)

static uint32_t get32(const unsigned char *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
         (uint32_t)p[3] << 24;
}

static uint64_t get64(const unsigned char *p) {
  return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

/* Does a directory of n entries at off fit in a file of size bytes? */
static bool dir_fits(uint64_t off, uint64_t n, uint64_t size) {
  return off >= LK_HEADER && off <= size && n <= (size - off) / LK_DIRENT;
}

struct ep_mapping {
  void *base;
  size_t size;
  atomic_size_t holds;
};

ep_mapping *ep_lookup_share(const ep_lookup *lk) {
  if (lk->map)
    atomic_fetch_add_explicit(&lk->map->holds, 1, memory_order_relaxed);
  return lk->map;
}

void ep_mapping_release(ep_mapping *m) {
  if (!m || atomic_fetch_sub_explicit(&m->holds, 1, memory_order_acq_rel) != 1)
    return;
  munmap(m->base, m->size);
  free(m);
}

int ep_lookup_map(int fd, uint64_t size, ep_lookup *lk) {
  *lk = (ep_lookup){0};
  if (size < LK_HEADER || size > SIZE_MAX)
    return EPINDEX_EIO;
  ep_mapping *m = malloc(sizeof(*m));
  if (!m)
    return EPINDEX_ENOMEM;
  /* A fault costs as much as mapping a few dozen pages at once (~10 us on
   * virtual machines): a small table is mapped whole up front, a large one
   * page by page as a lookup touches it (a few pages of megabytes). */
  int populate = size <= EP_LOOKUP_POPULATE_MAX ? MAP_POPULATE : 0;
  void *p = mmap(NULL, (size_t)size, PROT_READ, MAP_PRIVATE | populate, fd, 0);
  if (p == MAP_FAILED) {
    free(m);
    return EPINDEX_EIO;
  }
  m->base = p;
  m->size = (size_t)size;
  atomic_init(&m->holds, 1);
  const unsigned char *h = p;
  uint64_t ngroups = get32(h + 12), dir = get64(h + 24);
  uint64_t nkeys = get32(h + 32), kdir = get64(h + 40);
  uint64_t nnames = get32(h + 48), ndir = get64(h + 56);
  uint64_t nentries = get32(h + 64), edir = get64(h + 72);
  if (memcmp(h, LK_MAGIC, 8) != 0 || get32(h + 8) != EP_LOOKUP_VERSION ||
      get64(h + 16) != size || !dir_fits(dir, ngroups, size) ||
      !dir_fits(kdir, nkeys, size) || !dir_fits(ndir, nnames, size) ||
      !dir_fits(edir, nentries, size)) {
    ep_mapping_release(m);
    return EPINDEX_EIO;
  }
  *lk = (ep_lookup){h,
                    (size_t)size,
                    m,
                    (size_t)ngroups,
                    (size_t)dir,
                    (size_t)nkeys,
                    (size_t)kdir,
                    (size_t)nnames,
                    (size_t)ndir,
                    (size_t)nentries,
                    (size_t)edir};
  return EPINDEX_OK;
}

void ep_lookup_unmap(ep_lookup *lk) {
  ep_mapping_release(lk->map);
  *lk = (ep_lookup){0};
}

/* Entry i of the directory at dir: its name and rows. */
static int dir_entry(const ep_lookup *lk, size_t dir, size_t n, size_t i,
                     const char **grp, size_t *glen, ep_lookup_rows *it) {
  if (i >= n)
    return EPINDEX_EIO;
  const unsigned char *e = lk->base + dir + i * LK_DIRENT;
  uint64_t off = get64(e), rows = get64(e + 8), len = get32(e + 16);
  if (off >= lk->size || len >= lk->size - off || lk->base[off + len] != '\0' ||
      rows > lk->size)
    return EPINDEX_EIO;
  *grp = (const char *)lk->base + off;
  *glen = (size_t)len;
  *it = (ep_lookup_rows){lk, (size_t)rows, get32(e + 20), *grp, *glen};
  return EPINDEX_OK;
}

int ep_lookup_group(const ep_lookup *lk, size_t i, const char **grp,
                    size_t *glen, ep_lookup_rows *it) {
  return dir_entry(lk, lk->dir, lk->ngroups, i, grp, glen, it);
}

int ep_lookup_entry(const ep_lookup *lk, size_t k, int64_t *ord,
                    ep_lookup_rows *it) {
  if (k >= lk->nentries)
    return EPINDEX_EIO;
  const unsigned char *e = lk->base + lk->edir + k * LK_DIRENT;
  uint64_t off = get64(e + 8), end = lk->size;
  size_t g = get32(e + 16), glen;
  const char *grp;
  ep_lookup_rows next;
  int rc = ep_lookup_group(lk, g, &grp, &glen, it);
  if (!rc && g + 1 < lk->ngroups) /* groups' rows follow each other */
    rc = ep_lookup_group(lk, g + 1, &grp, &glen, &next);
  if (rc)
    return rc;
  if (g + 1 < lk->ngroups)
    end = next.off;
  if (off < it->off || off >= end) /* not a row of its group */
    return EPINDEX_EIO;
  *ord = (int64_t)get64(e);
  it->off = (size_t)off;
  it->left = 1;
  return EPINDEX_OK;
}

/* Binary search of the directory at dir (n entries) for the name prefix +
 * s, without building that name. */
static bool search(const ep_lookup *lk, size_t dir, size_t n,
                   const char *prefix, const char *s, size_t slen,
                   ep_lookup_rows *it) {
  size_t plen = strlen(prefix), lo = 0, hi = n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2, len;
    const char *g;
    if (dir_entry(lk, dir, n, mid, &g, &len, it) != EPINDEX_OK)
      return false;
    int c = ep_bytes_cmp(g, len < plen ? len : plen, prefix, plen);
    if (c == 0)
      c = ep_bytes_cmp(g + plen, len - plen, s, slen);
    if (c == 0)
      return true;
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return false;
}

bool ep_lookup_find(const ep_lookup *lk, const char *grp, size_t glen,
                    ep_lookup_rows *it) {
  return search(lk, lk->dir, lk->ngroups, "", grp, glen, it);
}

bool ep_lookup_has_key(const ep_lookup *lk, const char *key, size_t klen) {
  ep_lookup_rows it;
  return search(lk, lk->kdir, lk->nkeys, EP_GRP_KEY, key, klen, &it);
}

bool ep_lookup_find_name(const ep_lookup *lk, const char *key, size_t klen,
                         ep_lookup_rows *it) {
  return search(lk, lk->ndir, lk->nnames, EP_GRP_NAME, key, klen, it);
}

/* The row at p, of which avail bytes are in the table: its length, or 0
 * when it runs out of them. */
static size_t decode_row(const unsigned char *p, size_t avail, ep_row *row) {
  if (avail < 16)
    return 0;
  row->at = p;
  row->ints = 0;
  row->ord = (int64_t)get64(p);
  row->line = (int64_t)get64(p + 8);
  size_t off = 16;
  for (int f = 0; f < EP_COL_FIELDS; f++) {
    if (avail - off < 4)
      return 0;
    uint32_t len = get32(p + off);
    off += 4;
    row->f[f] = NULL;
    row->n[f] = 0;
    if (len == LK_NULL)
      continue;
    if (len >= avail - off || p[off + len] != '\0')
      return 0;
    row->f[f] = (const char *)p + off;
    row->n[f] = len;
    off += len + 1;
  }
  return off;
}

int ep_lookup_next(ep_lookup_rows *it, ep_row *row) {
  if (it->left == 0)
    return 0;
  const ep_lookup *lk = it->lk;
  size_t used = it->off <= lk->size
                    ? decode_row(lk->base + it->off, lk->size - it->off, row)
                    : 0;
  if (!used)
    return EPINDEX_EIO;
  row->grp = it->grp;
  row->glen = it->glen;
  it->off += used;
  it->left--;
  return 1;
}

int ep_lookup_row_at(const unsigned char *at, const ep_mapping *m,
                     ep_row *row) {
  const unsigned char *base = m->base;
  if (at < base || at >= base + m->size)
    return EPINDEX_EIO;
  row->grp = NULL;
  row->glen = 0;
  return decode_row(at, m->size - (size_t)(at - base), row) ? 1 : EPINDEX_EIO;
}

/* ---- writing ------------------------------------------------------------ */

static void put32(unsigned char *p, uint32_t v) {
  for (int i = 0; i < 4; i++)
    p[i] = (unsigned char)(v >> (8 * i));
}

static void put64(unsigned char *p, uint64_t v) {
  put32(p, (uint32_t)v);
  put32(p + 4, (uint32_t)(v >> 32));
}

/* The table is streamed to its file through one small buffer: a table is
 * megabytes at 10,000 distributions, and fresh memory for all of it costs
 * a page fault every 4 KiB. */
#define OUT_BUF (64u * 1024u)

typedef struct table_out {
  int fd;
  uint64_t written; /* bytes already in the file */
  size_t fill;      /* bytes in buf after them */
  int err;          /* the first failure: later appends do nothing */
  unsigned char buf[OUT_BUF];
} table_out;

static uint64_t out_len(const table_out *w) { return w->written + w->fill; }

static int pwrite_all(int fd, const unsigned char *p, size_t n, uint64_t at) {
  while (n > 0) {
    ssize_t k = pwrite(fd, p, n, (off_t)at);
    if (k < 0 && errno == EINTR)
      continue;
    if (k <= 0)
      return errno == ENOSPC || errno == EDQUOT ? EPINDEX_ENOSPC : EPINDEX_EIO;
    p += k;
    at += (uint64_t)k;
    n -= (size_t)k;
  }
  return EPINDEX_OK;
}

static int out_flush(table_out *w) {
  if (!w->err && w->fill)
    w->err = pwrite_all(w->fd, w->buf, w->fill, w->written);
  w->written += w->fill;
  w->fill = 0;
  return w->err;
}

static int out_append(table_out *w, const void *p, size_t n) {
  if (w->err || n == 0)
    return w->err;
  if (n > OUT_BUF - w->fill && out_flush(w))
    return w->err;
  if (n > OUT_BUF) { /* larger than the buffer: straight to the file */
    w->err = pwrite_all(w->fd, p, n, w->written);
    w->written += n;
    return w->err;
  }
  memcpy(w->buf + w->fill, p, n);
  w->fill += n;
  return EPINDEX_OK;
}

/* A length-prefixed, NUL-terminated field (len LK_NULL: NULL). */
static int append_field(table_out *w, const void *p, size_t len) {
  unsigned char n[4];
  if (p && len >= LK_NULL)
    return EPINDEX_EINVAL;
  put32(n, p ? (uint32_t)len : LK_NULL);
  int rc = out_append(w, n, 4);
  return rc || !p ? rc : out_append(w, p, len + 1);
}

/* One row: ord, line, then the six columns from col 3 of st. The text
 * SQLite returns ends in a NUL, which goes into the table too. */
static int append_row(table_out *w, sqlite3_stmt *st) {
  unsigned char nums[16];
  put64(nums, (uint64_t)sqlite3_column_int64(st, 1));
  put64(nums + 8, (uint64_t)sqlite3_column_int64(st, 2));
  int rc = out_append(w, nums, 16);
  for (int f = 0; f < EP_COL_FIELDS && !rc; f++) {
    const unsigned char *t = sqlite3_column_text(st, 3 + f);
    if (!t && sqlite3_column_type(st, 3 + f) != SQLITE_NULL)
      return EPINDEX_ENOMEM;
    rc = append_field(w, t, (size_t)sqlite3_column_bytes(st, 3 + f));
  }
  return rc;
}

/* A directory being built: the names of its groups, then its entries. */
typedef struct dir_build {
  ep_buf names, entries;
  size_t n;
} dir_build;

static int add_group(dir_build *d, const char *g, size_t len, uint64_t rows_off,
                     uint32_t rows) {
  unsigned char e[LK_DIRENT];
  if (len >= LK_NULL || d->n >= LK_NULL)
    return EPINDEX_EINVAL;
  put64(e, d->names.len); /* relative to the names; fixed up when placed */
  put64(e + 8, rows_off);
  put32(e + 16, (uint32_t)len);
  put32(e + 20, rows);
  d->n++;
  int rc = ep_buf_append(&d->names, g, len);
  rc = rc ? rc : ep_buf_append(&d->names, "", 1);
  return rc ? rc : ep_buf_append(&d->entries, e, sizeof(e));
}

/* Append the names, then the entries (their name offsets made absolute);
 * *at receives the entries' offset. */
static int place_dir(table_out *w, dir_build *d, uint64_t *at) {
  uint64_t names_at = out_len(w);
  for (size_t i = 0; i < d->n; i++) {
    unsigned char *e = (unsigned char *)d->entries.data + i * LK_DIRENT;
    put64(e, get64(e) + names_at);
  }
  int rc = out_append(w, d->names.data, d->names.len);
  *at = out_len(w);
  return rc ? rc : out_append(w, d->entries.data, d->entries.len);
}

/* Where an entry point row went, for the entry order directory. */
typedef struct entry_pos {
  int64_t ord, line;
  uint64_t off;
  uint32_t grp;
} entry_pos;

static int cmp_entry_pos(const void *a, const void *b) {
  const entry_pos *x = a, *y = b;
  if (x->ord != y->ord)
    return (x->ord > y->ord) - (x->ord < y->ord);
  return (x->line > y->line) - (x->line < y->line);
}

/* Note where the entry point row about to be appended goes (group index
 * grp of the directory being built); internal rows are not entry points. */
static int note_entry(ep_buf *order, sqlite3_stmt *st, const char *g,
                      uint32_t grp, uint64_t off) {
  if (!order || g[0] == '\n')
    return EPINDEX_OK;
  entry_pos p = {sqlite3_column_int64(st, 1), sqlite3_column_int64(st, 2), off,
                 grp};
  return ep_buf_append(order, &p, sizeof(p));
}

/* The entry order directory: every entry point row's place, sorted into
 * discovery order, so that a reader finds one distribution's rows (which
 * the table keeps group by group) without sorting them all first. */
static int place_entry_order(table_out *w, ep_buf *order, uint64_t *at,
                             size_t *n) {
  entry_pos *p = (entry_pos *)order->data;
  *n = order->len / sizeof(*p);
  *at = out_len(w);
  if (*n >= LK_NULL)
    return EPINDEX_EINVAL;
  if (*n > 1)
    qsort(p, *n, sizeof(*p), cmp_entry_pos);
  int rc = EPINDEX_OK;
  for (size_t i = 0; i < *n && !rc; i++) {
    unsigned char e[LK_DIRENT] = {0};
    put64(e, (uint64_t)p[i].ord);
    put64(e + 8, p[i].off);
    put32(e + 16, p[i].grp);
    rc = out_append(w, e, sizeof(e));
  }
  return rc;
}

/* Rows of the groups in one range of grp (SQL bounds), group by group. Key
 * groups get no rows: only their presence is ever asked. Entry point rows
 * are noted in order, when it is given. */
static int add_range(sqlite3 *db, const char *where, table_out *body,
                     dir_build *d, bool keys, ep_buf *order) {
  char sql[400];
  /* a dist row's stamps are for update and verify, which read index.db */
  snprintf(sql, sizeof(sql),
           "SELECT %s FROM ep WHERE %s ORDER BY grp, ord, line",
           keys ? "grp"
                : "grp, ord, line, name, CASE WHEN grp = char(10) || 'dist' "
                  "THEN NULL ELSE value END, metadir, dname, dversion, key",
           where);
  sqlite3_stmt *st;
  if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
    return EPINDEX_ESQLITE;
  int rc = EPINDEX_OK, step;
  const char *last = NULL;
  size_t last_len = 0;
  uint64_t rows_off = 0;
  uint32_t rows = 0;
  ep_buf prev = {0};
  while (!rc && (step = sqlite3_step(st)) == SQLITE_ROW) {
    const char *g = (const char *)sqlite3_column_text(st, 0);
    size_t n = (size_t)sqlite3_column_bytes(st, 0);
    if (!g) {
      rc = EPINDEX_ENOMEM;
      break;
    }
    if (!last || ep_bytes_cmp(last, last_len, g, n) != 0) {
      if (last)
        rc = add_group(d, last, last_len, rows_off, rows);
      prev.len = 0;
      rc = rc ? rc : ep_buf_append(&prev, g, n);
      last = prev.data, last_len = n, rows_off = out_len(body), rows = 0;
    }
    if (!rc && !keys) {
      rc = note_entry(order, st, g, (uint32_t)d->n, out_len(body));
      rc = rc ? rc : append_row(body, st);
      rows++;
    }
  }
  if (!rc && step != SQLITE_DONE)
    rc = EPINDEX_EIO;
  if (!rc && last)
    rc = add_group(d, last, last_len, rows_off, rows);
  sqlite3_finalize(st);
  ep_buf_free(&prev);
  return rc;
}

/* The ranges of grp to copy, in order. Keys and names go into
 * directories of their own (a lookup's binary search then never meets
 * them: there is one of each per distribution); key groups without rows. */
#define KEY_LO "char(10) || 'key' || char(10)"
#define KEY_HI "char(10) || 'key' || char(11)"
#define NAME_LO "char(10) || 'name' || char(10)"
#define NAME_HI "char(10) || 'name' || char(11)"
static const char *const ranges[] = {
    "grp < " KEY_LO,
    "grp >= " KEY_HI " AND grp < " NAME_LO,
    "grp >= " NAME_HI,
};

int ep_lookup_write(sqlite3 *db, int fd) {
  table_out *w = malloc(sizeof(*w));
  if (!w)
    return EPINDEX_ENOMEM;
  w->fd = fd;
  w->written = w->fill = 0;
  w->err = ftruncate(fd, 0) == 0 ? EPINDEX_OK : EPINDEX_EIO;
  dir_build groups = {0}, keys = {0}, names = {0};
  ep_buf order = {0};
  unsigned char h[LK_HEADER] = {0}; /* written last, when it is known */
  int rc = out_append(w, h, sizeof(h));
  for (size_t i = 0; !rc && i < sizeof(ranges) / sizeof(ranges[0]); i++)
    rc = add_range(db, ranges[i], w, &groups, false, &order);
  if (!rc)
    rc = add_range(db, "grp >= " KEY_LO " AND grp < " KEY_HI, w, &keys, true,
                   NULL);
  if (!rc)
    rc = add_range(db, "grp >= " NAME_LO " AND grp < " NAME_HI, w, &names,
                   false, NULL);
  uint64_t dir = 0, kdir = 0, ndir = 0, edir = 0;
  size_t nentries = 0;
  rc = rc ? rc : place_dir(w, &groups, &dir);
  rc = rc ? rc : place_dir(w, &keys, &kdir);
  rc = rc ? rc : place_dir(w, &names, &ndir);
  rc = rc ? rc : place_entry_order(w, &order, &edir, &nentries);
  rc = rc ? rc : out_flush(w);
  if (!rc) {
    memcpy(h, LK_MAGIC, 8);
    put32(h + 8, EP_LOOKUP_VERSION);
    put32(h + 12, (uint32_t)groups.n);
    put64(h + 16, w->written);
    put64(h + 24, dir);
    put32(h + 32, (uint32_t)keys.n);
    put64(h + 40, kdir);
    put32(h + 48, (uint32_t)names.n);
    put64(h + 56, ndir);
    put32(h + 64, (uint32_t)nentries);
    put64(h + 72, edir);
    rc = pwrite_all(fd, h, sizeof(h), 0);
  }
  if (!rc)
    ep_start_writeback(fd);
  free(w);
  ep_buf_free(&groups.names);
  ep_buf_free(&groups.entries);
  ep_buf_free(&keys.names);
  ep_buf_free(&keys.entries);
  ep_buf_free(&names.names);
  ep_buf_free(&names.entries);
  ep_buf_free(&order);
  return rc;
}
