/*
 * index_verify.c -- the VERIFY check: the directory listed again, in
 * discovery order, entry by entry against the index's dist rows and their
 * stamps (docs/freshness.md: what it sees and what it cannot). And the
 * stamps' text form in those rows (docs/index-format.md).
 */
#include "index_impl.h"

#include <string.h>

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

/* v in decimal at out, which has room for 20 digits and a sign; returns
 * the length. */
static size_t format_int(char *out, int64_t v) {
  char digits[20];
  size_t n = 0, at = 0;
  uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
  do
    digits[n++] = (char)('0' + u % 10);
  while ((u /= 10) != 0);
  if (v < 0)
    out[at++] = '-';
  while (n)
    out[at++] = digits[--n];
  return at;
}

/* Not snprintf: every write of an index formats one stamp per
 * distribution, thirteen integers each (130,000 calls of printf's general
 * machinery at 10,000 distributions, for digits). */
void ep_stamp_format(const ep_stamp *s, char *out, size_t n) {
  char text[STAMP_FIELDS * 22];
  size_t at = 0;
  ep_stamp c = *s;
  for (int i = 0; i < STAMP_FIELDS; i++) {
    if (i)
      text[at++] = ' ';
    at += format_int(text + at, *stamp_field(&c, i));
  }
  if (n == 0)
    return;
  if (at >= n)
    at = n - 1;
  memcpy(out, text, at);
  out[at] = '\0';
}

/* Not strtoll: update loads one stamp per distribution (tens of thousands),
 * and the locale-aware parse was a fifth of loading them. */
bool ep_stamp_parse(const char *t, ep_stamp *s) {
  if (!t)
    return false;
  *s = EP_STAMP_NONE;
  for (int i = 0; i < STAMP_FIELDS; i++)
    if ((i > 0 && *t++ != ' ') || !ep_ix_take_int(&t, stamp_field(s, i)))
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

static int verify_row(void *ctx, const ep_row *r) {
  verify_ctx *v = ctx;
  const char *name = r->f[EP_COL_METADIR];
  const ep_listed *item = v->i < v->l->len ? &v->l->items[v->i] : NULL;
  ep_stamp was, now;
  if (!item || !name || strcmp(name, item->metadir) != 0 ||
      (r->line & 3) != (int64_t)item->kind) {
    ep_buf_appendf(v->detail, "metadata entry %zu is %s, index has %s", v->i,
                   item ? item->metadir : "(none)", name ? name : "(none)");
    v->result = 0;
    return 1;
  }
  if (!ep_stamp_parse(r->f[EP_COL_VALUE], &was))
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
    rc = ep_ix_each_in_grp_full(ix, EP_GRP_DIST, strlen(EP_GRP_DIST),
                                verify_row, &v);
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
