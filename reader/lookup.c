/*
 * lookup.c -- the lookup table: a flat, read-only copy of an index's lookup
 * rows that a reader maps instead of opening SQLite.
 *
 * Why: a process's first SQLite open costs some 250 us on its own
 * (initialisation, the schema parse, the first page faults of the library),
 * five times a warm lookup. Python programs pay it in every process. The
 * table answers the same questions from one mmap: the meta facts, the keys
 * that decide precedence, problems and the entry points of a group.
 *
 * It is written by the same update as index.db, from index.db's rows (every
 * grp but the dist rows, in the table's own order), and carries the same
 * stamps in its meta rows, so a reader judges it on its own. index.db stays
 * the index of record: VERIFY, relocation checks, status and update read
 * only index.db, and a table that is missing, damaged or of another format
 * version is passed over for it. docs/index-format.md describes the layout.
 *
 * The file may be hostile: every offset and length is checked against the
 * mapping before it is used, on every access.
 */
#include "epindex_private.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define LK_MAGIC "EPIXLKT\0"
#define LK_HEADER 32
#define LK_DIRENT 16
#define LK_NULL 0xFFFFFFFFu

static uint32_t get32(const unsigned char *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
         (uint32_t)p[3] << 24;
}

static uint64_t get64(const unsigned char *p) {
  return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

int ep_lookup_map(int fd, uint64_t size, ep_lookup *lk) {
  *lk = (ep_lookup){0};
  if (size < LK_HEADER || size > SIZE_MAX)
    return EPINDEX_EIO;
  void *p = mmap(NULL, (size_t)size, PROT_READ, MAP_PRIVATE, fd, 0);
  if (p == MAP_FAILED)
    return EPINDEX_EIO;
  const unsigned char *h = p;
  uint64_t ngroups = get32(h + 12), dir = get64(h + 24);
  if (memcmp(h, LK_MAGIC, 8) != 0 || get32(h + 8) != EP_LOOKUP_VERSION ||
      get64(h + 16) != size || dir < LK_HEADER || dir > size ||
      ngroups > (size - dir) / LK_DIRENT) {
    munmap(p, (size_t)size);
    return EPINDEX_EIO;
  }
  *lk = (ep_lookup){h, (size_t)size, (size_t)ngroups, (size_t)dir};
  return EPINDEX_OK;
}

void ep_lookup_unmap(ep_lookup *lk) {
  if (lk->base)
    munmap((void *)lk->base, lk->size);
  *lk = (ep_lookup){0};
}

/* Group i's name and rows. EPINDEX_EIO if its entry points outside. */
int ep_lookup_group(const ep_lookup *lk, size_t i, const char **grp,
                    size_t *glen, ep_lookup_rows *it) {
  if (i >= lk->ngroups)
    return EPINDEX_EIO;
  const unsigned char *e = lk->base + lk->dir + i * LK_DIRENT;
  uint64_t off = get64(e), len = get32(e + 8);
  if (off > lk->dir || len >= lk->dir - off || lk->base[off + len] != '\0')
    return EPINDEX_EIO;
  *grp = (const char *)lk->base + off;
  *glen = (size_t)len;
  *it = (ep_lookup_rows){lk, (size_t)(off + len + 1), get32(e + 12)};
  return EPINDEX_OK;
}

/* SQLite's BINARY order: bytes, then length. (Strings in the table are
 * also NUL-terminated, as SQLite's are: callers may use them as C strings.) */
static int cmp_grp(const char *a, size_t alen, const char *b, size_t blen) {
  int c = memcmp(a, b, alen < blen ? alen : blen);
  return c ? c : (alen > blen) - (alen < blen);
}

bool ep_lookup_find(const ep_lookup *lk, const char *grp, size_t glen,
                    ep_lookup_rows *it) {
  size_t lo = 0, hi = lk->ngroups;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2, len;
    const char *g;
    if (ep_lookup_group(lk, mid, &g, &len, it) != EPINDEX_OK)
      return false;
    int c = cmp_grp(g, len, grp, glen);
    if (c == 0)
      return true;
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return false;
}

int ep_lookup_next(ep_lookup_rows *it, ep_lookup_row *row) {
  if (it->left == 0)
    return 0;
  const ep_lookup *lk = it->lk;
  size_t off = it->off, end = lk->dir;
  if (off > end || end - off < 16)
    return EPINDEX_EIO;
  row->ord = (int64_t)get64(lk->base + off);
  row->line = (int64_t)get64(lk->base + off + 8);
  off += 16;
  for (int f = 0; f < EP_LK_FIELDS; f++) {
    if (end - off < 4)
      return EPINDEX_EIO;
    uint32_t len = get32(lk->base + off);
    off += 4;
    row->f[f] = NULL;
    row->n[f] = 0;
    if (len == LK_NULL)
      continue;
    if (len >= end - off || lk->base[off + len] != '\0')
      return EPINDEX_EIO;
    row->f[f] = (const char *)lk->base + off;
    row->n[f] = len;
    off += len + 1;
  }
  it->off = off;
  it->left--;
  return 1;
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

static int append32(ep_buf *b, uint32_t v) {
  unsigned char p[4];
  put32(p, v);
  return ep_buf_append(b, p, 4);
}

static int append64(ep_buf *b, uint64_t v) {
  unsigned char p[8];
  put64(p, v);
  return ep_buf_append(b, p, 8);
}

/* One row: ord, line, then the six columns from col 3 of st. */
static int append_row(ep_buf *b, sqlite3_stmt *st) {
  int rc = append64(b, (uint64_t)sqlite3_column_int64(st, 1));
  rc = rc ? rc : append64(b, (uint64_t)sqlite3_column_int64(st, 2));
  for (int f = 0; f < EP_LK_FIELDS && !rc; f++) {
    const unsigned char *t = sqlite3_column_text(st, 3 + f);
    size_t n = (size_t)sqlite3_column_bytes(st, 3 + f);
    if (!t && sqlite3_column_type(st, 3 + f) != SQLITE_NULL)
      return EPINDEX_ENOMEM;
    rc = !t             ? append32(b, LK_NULL)
         : n >= LK_NULL ? EPINDEX_EINVAL
                        : append32(b, (uint32_t)n);
    if (!rc && t)
      rc = ep_buf_append(b, t, n + 1); /* with SQLite's terminating NUL */
  }
  return rc;
}

/* Write p[0..n) as the whole content of fd. */
static int write_all(int fd, const unsigned char *p, size_t n) {
  off_t at = 0;
  if (ftruncate(fd, 0) != 0)
    return EPINDEX_EIO;
  while (n > 0) {
    ssize_t w = pwrite(fd, p, n, at);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0)
      return errno == ENOSPC || errno == EDQUOT ? EPINDEX_ENOSPC : EPINDEX_EIO;
    p += w;
    at += w;
    n -= (size_t)w;
  }
  return EPINDEX_OK;
}

/* The groups' directory: (name offset, name length, rows) per group. */
static int add_dirent(ep_buf *dir, size_t off, size_t len, uint32_t rows) {
  if (len >= LK_NULL)
    return EPINDEX_EINVAL;
  int rc = append64(dir, off);
  rc = rc ? rc : append32(dir, (uint32_t)len);
  return rc ? rc : append32(dir, rows);
}

int ep_lookup_write(sqlite3 *db, int fd) {
  static const char sql[] =
      "SELECT grp, ord, line, name, value, metadir, dname, dversion, key "
      "FROM ep WHERE grp <> char(10) || 'dist' ORDER BY grp, ord, line";
  sqlite3_stmt *st;
  if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
    return EPINDEX_ESQLITE;
  ep_buf body = {0}, dir = {0};
  static const unsigned char zeros[LK_HEADER - 8];
  int rc = ep_buf_append(&body, LK_MAGIC, 8); /* the rest is filled below */
  rc = rc ? rc : ep_buf_append(&body, zeros, sizeof(zeros));
  size_t ngroups = 0, grp_off = 0, grp_len = 0;
  uint32_t rows = 0;
  int step;
  while (!rc && (step = sqlite3_step(st)) == SQLITE_ROW) {
    const char *g = (const char *)sqlite3_column_text(st, 0);
    size_t n = (size_t)sqlite3_column_bytes(st, 0);
    if (!g)
      rc = EPINDEX_ENOMEM;
    else if (ngroups == 0 || cmp_grp(body.data + grp_off, grp_len, g, n) != 0) {
      if (ngroups > 0)
        rc = add_dirent(&dir, grp_off, grp_len, rows);
      grp_off = body.len, grp_len = n, rows = 0, ngroups++;
      rc = rc ? rc : ep_buf_append(&body, g, n + 1);
    }
    rc = rc ? rc : append_row(&body, st);
    rows++;
  }
  if (!rc && step != SQLITE_DONE)
    rc = EPINDEX_EIO;
  if (!rc && ngroups > 0)
    rc = add_dirent(&dir, grp_off, grp_len, rows);
  sqlite3_finalize(st);
  size_t dir_off = body.len;
  if (!rc && dir.len)
    rc = ep_buf_append(&body, dir.data, dir.len);
  if (!rc && ngroups >= LK_NULL)
    rc = EPINDEX_EINVAL;
  if (!rc) {
    unsigned char *h = (unsigned char *)body.data;
    put32(h + 8, EP_LOOKUP_VERSION);
    put32(h + 12, (uint32_t)ngroups);
    put64(h + 16, body.len);
    put64(h + 24, dir_off);
    rc = write_all(fd, h, body.len);
  }
  ep_buf_free(&body);
  ep_buf_free(&dir);
  return rc;
}
