/*
 * scan.c -- read one sys.path entry the way importlib.metadata does.
 *
 * Discovery (importlib.metadata.Lookup): children of the path entry whose
 * lowered name ends in ".dist-info"/".egg-info" are grouped by
 *   normalize(lower(name).rpartition(".")[0].partition("-")[0])
 * in order of each group's first appearance in os.listdir() order; then, if
 * the entry's basename ends in ".egg", its "EGG-INFO" child. Uniqueness
 * (_unique / PathDistribution._normalized_name) uses another key: the
 * case-sensitive stem before ".dist-info"/".egg-info" up to its first '-',
 * normalised, or, when that is empty or absent, normalize(METADATA Name).
 */
#define _GNU_SOURCE /* getdents64 */
#include "scan.h"
#include "zipapi.h"

#include <archive.h> /* constants and types only: calls go through ep_zip_api() */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- catalog ----------------------------------------------------------- */

void ep_catalog_free(ep_catalog *c) {
  if (!c)
    return;
  ep_arena_free(&c->arena);
  free(c->dists);
  free(c->entries);
  free(c->by_group);
  memset(c, 0, sizeof(*c));
}

ep_dist *ep_catalog_add_dist(ep_catalog *c) {
  if (ep_grow(&c->dists, &c->cap_dists, c->ndists, sizeof(*c->dists), 64))
    return NULL;
  ep_dist *d = &c->dists[c->ndists++];
  memset(d, 0, sizeof(*d));
  d->first = c->nentries;
  return d;
}

int ep_catalog_append(ep_catalog *c, ep_catalog *from) {
  /* ep_grow() doubles once; each pass of these loops doubles again */
  while (c->cap_dists < c->ndists + from->ndists)
    if (ep_grow(&c->dists, &c->cap_dists, c->cap_dists, sizeof(*c->dists), 64))
      return EPINDEX_ENOMEM;
  while (c->cap_entries < c->nentries + from->nentries)
    if (ep_grow(&c->entries, &c->cap_entries, c->cap_entries,
                sizeof(*c->entries), 256))
      return EPINDEX_ENOMEM;
  int64_t ord_shift = (int64_t)c->ndists * EP_ORD_GAP;
  for (size_t i = 0; i < from->ndists; i++) {
    ep_dist *d = &c->dists[c->ndists + i];
    *d = from->dists[i];
    d->first += c->nentries;
    d->ord += ord_shift;
  }
  for (size_t i = 0; i < from->nentries; i++) {
    ep_entry *e = &c->entries[c->nentries + i];
    *e = from->entries[i];
    e->dist += (uint32_t)c->ndists;
  }
  c->ndists += from->ndists;
  c->nentries += from->nentries;
  ep_arena_adopt(&c->arena, &from->arena);
  ep_catalog_free(from);
  return EPINDEX_OK;
}

int ep_catalog_add_entry(ep_catalog *c, size_t dist, const char *group,
                         size_t glen, const char *name, size_t nlen,
                         const char *value, size_t vlen, uint32_t line) {
  if (glen > UINT32_MAX || nlen > UINT32_MAX || vlen > UINT32_MAX)
    return EPINDEX_EINVAL;
  if (ep_grow(&c->entries, &c->cap_entries, c->nentries, sizeof(*c->entries),
              256))
    return EPINDEX_ENOMEM;
  ep_entry *e = &c->entries[c->nentries];
  e->group = ep_arena_strndup(&c->arena, group, glen);
  e->name = ep_arena_strndup(&c->arena, name, nlen);
  e->value = ep_arena_strndup(&c->arena, value, vlen);
  if (!e->group || !e->name || !e->value)
    return EPINDEX_ENOMEM;
  e->group_len = (uint32_t)glen;
  e->name_len = (uint32_t)nlen;
  e->value_len = (uint32_t)vlen;
  e->dist = (uint32_t)dist;
  e->line = line;
  c->nentries++;
  c->dists[dist].count++;
  return EPINDEX_OK;
}

/* qsort has no context argument; the entries live in a thread-local. */
static _Thread_local const ep_entry *sort_entries;

static int cmp_by_group(const void *pa, const void *pb) {
  const ep_entry *a = &sort_entries[*(const uint32_t *)pa];
  const ep_entry *b = &sort_entries[*(const uint32_t *)pb];
  int r = ep_bytes_cmp(a->group, a->group_len, b->group, b->group_len);
  if (r)
    return r;
  if (a->dist != b->dist)
    return a->dist < b->dist ? -1 : 1;
  return (a->line > b->line) - (a->line < b->line);
}

int ep_catalog_finish(ep_catalog *c) {
  free(c->by_group);
  c->by_group = malloc((c->nentries + 1) * sizeof(*c->by_group));
  if (!c->by_group)
    return EPINDEX_ENOMEM;
  for (size_t i = 0; i < c->nentries; i++)
    c->by_group[i] = (uint32_t)i;
  sort_entries = c->entries;
  qsort(c->by_group, c->nentries, sizeof(*c->by_group), cmp_by_group);
  sort_entries = NULL;
  return EPINDEX_OK;
}

void ep_catalog_group_range(const ep_catalog *c, const char *group, size_t glen,
                            size_t *lo_out, size_t *hi_out) {
  size_t lo = 0, hi = c->nentries;
  while (lo < hi) { /* first >= group */
    size_t mid = lo + (hi - lo) / 2;
    const ep_entry *e = &c->entries[c->by_group[mid]];
    if (ep_bytes_cmp(e->group, e->group_len, group, glen) < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  size_t first = lo;
  hi = c->nentries;
  while (lo < hi) { /* first > group */
    size_t mid = lo + (hi - lo) / 2;
    const ep_entry *e = &c->entries[c->by_group[mid]];
    if (ep_bytes_cmp(e->group, e->group_len, group, glen) <= 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  *lo_out = first;
  *hi_out = lo;
}

int ep_catalog_seal(ep_catalog *c) {
  int rc = ep_catalog_mark_hidden(c);
  return rc ? rc : ep_catalog_finish(c);
}

int ep_catalog_mark_hidden(ep_catalog *c) {
  /* Sorting positions by key keeps this near O(n log n) for 50,000 dists. */
  for (size_t i = 0; i < c->ndists; i++)
    c->dists[i].hidden = false;
  size_t *idx = malloc((c->ndists + 1) * sizeof(*idx));
  if (!idx)
    return EPINDEX_ENOMEM;
  size_t n = 0;
  for (size_t i = 0; i < c->ndists; i++)
    if (c->dists[i].key)
      idx[n++] = i;
  /* Shell sort by (key, position): needs no context pointer, unlike qsort */
  for (size_t gap = n / 2; gap > 0; gap /= 2) {
    for (size_t i = gap; i < n; i++) {
      size_t t = idx[i], j = i;
      while (j >= gap) {
        const ep_dist *a = &c->dists[idx[j - gap]], *b = &c->dists[t];
        int r = ep_bytes_cmp(a->key, a->key_len, b->key, b->key_len);
        if (r < 0 || (r == 0 && idx[j - gap] < t))
          break;
        idx[j] = idx[j - gap];
        j -= gap;
      }
      idx[j] = t;
    }
  }
  for (size_t i = 1; i < n; i++)
    if (ep_bytes_cmp(c->dists[idx[i - 1]].key, c->dists[idx[i - 1]].key_len,
                     c->dists[idx[i]].key, c->dists[idx[i]].key_len) == 0)
      c->dists[idx[i]].hidden = true;
  free(idx);
  return EPINDEX_OK;
}

/* ---- listing ----------------------------------------------------------- */

void ep_listing_free(ep_listing *l) {
  for (size_t i = 0; i < l->len; i++)
    free(l->items[i].metadir);
  free(l->items);
  memset(l, 0, sizeof(*l));
}

static bool ends_with_ci(const char *s, size_t n, const char *suffix) {
  size_t k = strlen(suffix);
  if (n < k)
    return false;
  for (size_t i = 0; i < k; i++) {
    char c = s[n - k + i];
    if (c >= 'A' && c <= 'Z')
      c = (char)(c + 32);
    if (c != suffix[i])
      return false;
  }
  return true;
}

/* Lowered ASCII-only suffix tests are exact: no non-ASCII character lowers
 * to the letters of ".dist-info", ".egg-info" or "egg-info". */
static bool is_info_name(const char *name) {
  size_t n = strlen(name);
  return ends_with_ci(name, n, ".dist-info") ||
         ends_with_ci(name, n, ".egg-info");
}

bool ep_path_is_egg(const char *path) {
  const char *slash = strrchr(path, '/');
  const char *base = slash ? slash + 1 : path;
  return ends_with_ci(base, strlen(base), ".egg");
}

static bool is_egg_info_child(const char *name) {
  return strlen(name) == 8 && ends_with_ci(name, 8, "egg-info");
}

typedef struct pending {
  char *name;
  char *lkey; /* Lookup's grouping key */
  size_t pos, first;
  ep_kind kind;
  bool link;
} pending;

static int cmp_pending_order(const void *pa, const void *pb) {
  const pending *a = pa, *b = pb;
  if (a->first != b->first)
    return a->first < b->first ? -1 : 1;
  return (a->pos > b->pos) - (a->pos < b->pos);
}

/* normalize(lower(name).rpartition(".")[0].partition("-")[0]). For ASCII
 * names lowering first changes nothing: normalize the prefix directly. */
char *ep_lookup_key(const char *name) {
  size_t len = strlen(name);
  bool ascii = true;
  for (size_t i = 0; i < len && ascii; i++)
    ascii = (unsigned char)name[i] < 0x80;
  ep_buf low = {0}, key = {0};
  char *out = NULL;
  const char *src = name;
  if (!ascii && ep_lower(&low, name, len) == 0)
    src = low.data;
  if (ascii || low.data) {
    const char *dot = strrchr(src, '.');
    size_t n = dot ? (size_t)(dot - src) : 0;
    const char *dash = memchr(src, '-', n);
    if (dash)
      n = (size_t)(dash - src);
    if (ep_normalize(&key, src, n) == 0) {
      out = key.data;
      key.data = NULL;
    }
  }
  ep_buf_free(&low);
  ep_buf_free(&key);
  return out;
}

int ep_legacy_normalize(ep_buf *out, const char *s, size_t n) {
  out->len = 0;
  int rc = ep_lower(out, s, n);
  for (size_t i = 0; !rc && i < out->len; i++)
    if (out->data[i] == '-')
      out->data[i] = '_';
  return rc;
}

int ep_egg_lookup_key(const char *path, ep_buf *out) {
  const char *base = strrchr(path, '/');
  base = base ? base + 1 : path;
  ep_buf low = {0};
  int rc = ep_lower(&low, base, strlen(base));
  if (!rc) {
    const char *dot = NULL;
    for (size_t i = 0; i < low.len; i++)
      if (low.data[i] == '.')
        dot = low.data + i;
    size_t n = dot ? (size_t)(dot - low.data) : 0;
    const char *dash = memchr(low.data, '-', n);
    rc = ep_legacy_normalize(out, low.data,
                             dash ? (size_t)(dash - low.data) : n);
  }
  ep_buf_free(&low);
  return rc;
}

static int listing_push(ep_listing *l, char *name, ep_kind kind, bool link) {
  if (ep_grow(&l->items, &l->cap, l->len, sizeof(*l->items), 64))
    return EPINDEX_ENOMEM;
  l->items[l->len++] = (ep_listed){name, kind, link};
  return EPINDEX_OK;
}

/* Is the entry a symlink? d_type says so on most file systems. */
static bool link_at(int dirfd, const char *name, unsigned char d_type) {
  struct stat st;
  if (d_type != DT_UNKNOWN)
    return d_type == DT_LNK;
  return fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
         S_ISLNK(st.st_mode);
}

static ep_kind kind_at(int dirfd, const char *name, unsigned char d_type) {
  if (d_type == DT_DIR)
    return EP_KIND_DIR;
  if (d_type == DT_REG)
    return EP_KIND_FILE;
  struct stat st; /* symlinks are followed, as pathlib does */
  if (fstatat(dirfd, name, &st, 0) == 0 && !S_ISDIR(st.st_mode))
    return EP_KIND_FILE;
  return EP_KIND_DIR; /* dangling links and loops fail later, per file */
}

/* Order pending infos by their group's first appearance (Lookup's dict of
 * lists), then move them into the listing; eggs follow. Consumes the names.
 * Usually every key is distinct and readdir order is the answer. */
static int order_into(ep_listing *out, pending *p, size_t n, pending *eggs,
                      size_t neggs) {
  ep_strmap first = {0};
  bool any_dup = false;
  int rc = ep_strmap_reserve(&first, n);
  for (size_t i = 0; i < n && !rc; i++) {
    bool found;
    rc = ep_strmap_put(&first, p[i].lkey, p[i].pos, &p[i].first, &found);
    any_dup = any_dup || found;
  }
  ep_strmap_free(&first);
  if (!rc && any_dup)
    qsort(p, n, sizeof(*p), cmp_pending_order);
  for (size_t i = 0; i < n; i++) {
    free(p[i].lkey);
    if (!rc && (rc = listing_push(out, p[i].name, p[i].kind, p[i].link)) == 0)
      continue;
    free(p[i].name);
  }
  for (size_t i = 0; i < neggs; i++) {
    if (!rc &&
        (rc = listing_push(out, eggs[i].name, eggs[i].kind, eggs[i].link)) == 0)
      continue;
    free(eggs[i].name);
  }
  return rc;
}

static int pending_push(pending **v, size_t *n, size_t *cap, pending item) {
  if (ep_grow(v, cap, *n, sizeof(**v), 64))
    return EPINDEX_ENOMEM;
  (*v)[(*n)++] = item;
  return EPINDEX_OK;
}

static void pending_free(pending *v, size_t n) {
  for (size_t i = 0; i < n; i++) {
    free(v[i].name);
    free(v[i].lkey);
  }
  free(v);
}

/* Metadata entries of one listing, before ordering. */
typedef struct pending_set {
  pending *infos, *eggs;
  size_t ninfo, capinfo, negg, capegg;
} pending_set;

/* Queue a metadata entry: a .dist-info or .egg-info entry (info) or an .egg's
 * EGG-INFO, which reads as EP_KIND_EGG when it is a directory and as an
 * egg-info file otherwise. pos is its position in the listing. */
static int pending_add(pending_set *ps, const char *name, size_t pos,
                       ep_kind kind, bool link, bool info) {
  if (!info && kind == EP_KIND_DIR)
    kind = EP_KIND_EGG;
  pending item = {strdup(name), NULL, pos, 0, kind, link};
  int rc = EPINDEX_OK;
  if (!item.name || (info && !(item.lkey = ep_lookup_key(name))))
    rc = EPINDEX_ENOMEM;
  else if (info)
    rc = pending_push(&ps->infos, &ps->ninfo, &ps->capinfo, item);
  else
    rc = pending_push(&ps->eggs, &ps->negg, &ps->capegg, item);
  if (rc) {
    free(item.name);
    free(item.lkey);
  }
  return rc;
}

/* Move the queued entries into out in discovery order (rc: the listing's
 * outcome so far; on failure they are only freed). */
static int pending_finish(pending_set *ps, int rc, ep_listing *out) {
  if (rc == EPINDEX_OK) {
    rc = order_into(out, ps->infos, ps->ninfo, ps->eggs, ps->negg);
    free(ps->infos);
    free(ps->eggs);
  } else {
    pending_free(ps->infos, ps->ninfo);
    pending_free(ps->eggs, ps->negg);
  }
  return rc;
}

/* One entry of a directory listing: kept when it is a metadata entry. */
typedef struct list_ctx {
  int dirfd;
  bool egg;
  bool rewind; /* the descriptor may have been read: list from its start */
  size_t pos, egg_infos;
  pending_set ps;
} list_ctx;

static int list_one(list_ctx *lc, const char *name, unsigned char type) {
  if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
    return EPINDEX_OK;
  lc->pos++;
  bool info = is_info_name(name);
  bool egg_info = !info && is_egg_info_child(name);
  lc->egg_infos += egg_info;
  if (!info && !(lc->egg && egg_info))
    return EPINDEX_OK;
  return pending_add(&lc->ps, name, lc->pos, kind_at(lc->dirfd, name, type),
                     link_at(lc->dirfd, name, type), info);
}

#ifdef __linux__
/* getdents64() on the descriptor itself: fdopendir() on a duplicate costs
 * five more system calls per directory, a tenth of listing a small one.
 * 8 KiB of buffer: the standard library's directory fits (7 KiB), and a
 * larger one reached stack pages a process's first call had never touched
 * (a page fault each, 15-20 us on virtual machines, where a call more per
 * 8 KiB of a large directory's listing costs 2). */
static int list_entries(list_ctx *lc) {
  _Alignas(struct dirent64) char buf[8192];
  if (lc->rewind && lseek(lc->dirfd, 0, SEEK_SET) < 0)
    return ep_errno_code(errno);
  for (;;) {
    ssize_t n = getdents64(lc->dirfd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return n < 0 ? ep_errno_code(errno) : EPINDEX_OK;
    for (ssize_t off = 0; off < n;) {
      const struct dirent64 *de = (const struct dirent64 *)(buf + off);
      int rc = list_one(lc, de->d_name, de->d_type);
      if (rc)
        return rc;
      off += de->d_reclen;
    }
  }
}
#else
static int list_entries(list_ctx *lc) {
  int fd = fcntl(lc->dirfd, F_DUPFD_CLOEXEC, 0);
  DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
  if (!d) {
    int rc = ep_errno_code(errno);
    if (fd >= 0)
      close(fd);
    return rc;
  }
  if (lc->rewind)
    rewinddir(d);
  int rc = EPINDEX_OK;
  for (;;) {
    errno = 0;
    struct dirent *de = readdir(d);
    if (!de) {
      if (errno)
        rc = ep_errno_code(errno);
      break;
    }
    if ((rc = list_one(lc, de->d_name, de->d_type)) != EPINDEX_OK)
      break;
  }
  closedir(d);
  return rc;
}
#endif

static int list_dir(int dirfd, bool egg, bool rewind, ep_listing *out) {
  list_ctx lc = {dirfd, egg, rewind, 0, 0, {0}};
  int rc = list_entries(&lc);
  rc = pending_finish(&lc.ps, rc, out);
  out->egg_infos = lc.egg_infos;
  return rc;
}

int ep_list_dir(int dirfd, bool egg, ep_listing *out) {
  return list_dir(dirfd, egg, true, out);
}

/* ---- reading one distribution ----------------------------------------------
 */

/* PathDistribution._name_from_stem(): os.path.splitext() keeps leading dots
 * in the root, and the extension test is case-sensitive. Returns the length
 * of the name part (0 when there is none). */
static size_t stem_name_len(const char *stem) {
  const char *dot = strrchr(stem, '.');
  if (!dot)
    return 0;
  const char *p = stem;
  while (p < dot && *p == '.')
    p++;
  if (p == dot) /* only dots before the extension: no extension */
    return 0;
  if (strcmp(dot, ".dist-info") != 0 && strcmp(dot, ".egg-info") != 0)
    return 0;
  const char *dash = memchr(stem, '-', (size_t)(dot - stem));
  return dash ? (size_t)(dash - stem) : (size_t)(dot - stem);
}

typedef struct add_ctx {
  ep_catalog *cat;
  size_t dist;
} add_ctx;

static int add_parsed(void *ctx, const ep_parsed_entry *e) {
  add_ctx *a = ctx;
  return ep_catalog_add_entry(a->cat, a->dist, e->group, e->group_len, e->name,
                              e->name_len, e->value, e->value_len, e->line);
}

static int set_problem(ep_catalog *cat, size_t di, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int set_problem(ep_catalog *cat, size_t di, const char *fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  cat->dists[di].problem = ep_arena_strndup(&cat->arena, msg, strlen(msg));
  return cat->dists[di].problem ? EPINDEX_OK : EPINDEX_ENOMEM;
}

static int dist_key(ep_catalog *cat, size_t di, bool name_from_stem,
                    bool md_valid) {
  ep_dist *d = &cat->dists[di];
  ep_buf key = {0};
  int rc = EPINDEX_OK;
  size_t n = name_from_stem ? stem_name_len(d->metadir) : 0;
  if (n && (rc = ep_normalize(&key, d->metadir, n)) == 0 && key.len == 0)
    n = 0; /* an empty normalised stem falls back to METADATA's Name */
  if (!rc && n == 0 && d->name)
    rc = ep_normalize(&key, d->name, d->name_len);
  if (!rc && key.data && (n || d->name)) {
    d->key = ep_arena_strndup(&cat->arena, key.data, key.len);
    d->key_len = key.len;
    if (!d->key)
      rc = EPINDEX_ENOMEM;
  } else if (!rc) { /* Prepared.normalize(None) raises TypeError */
    rc = set_problem(cat, di, "%s",
                     md_valid ? "no Name in its metadata to tell which "
                                "distribution it is"
                              : "its metadata is unreadable or not UTF-8, so "
                                "its name is unknown");
  }
  ep_buf_free(&key);
  return rc;
}

static int read_header(ep_catalog *cat, const char *md, size_t mdn,
                       const char *field, const char **out, size_t *len) {
  ep_buf v = {0};
  int found = ep_header_value(md, mdn, field, &v);
  *len = found == 1 ? v.len : 0;
  if (found == 1 && !(*out = ep_arena_strndup(&cat->arena, v.data, v.len)))
    found = EPINDEX_ENOMEM;
  ep_buf_free(&v);
  return found < 0 ? found : EPINDEX_OK;
}

int ep_finish_dist(ep_catalog *cat, size_t di, bool name_from_stem,
                   const char *md, size_t mdn, bool md_valid, const char *ept,
                   size_t epn, ep_read_status ep_st, int ep_err) {
  int rc = EPINDEX_OK;
  if (md_valid && md) {
    ep_dist *d = &cat->dists[di];
    rc = read_header(cat, md, mdn, "Name", &d->name, &d->name_len);
    if (!rc)
      rc = read_header(cat, md, mdn, "Version", &d->version, &d->version_len);
  }
  if (!rc)
    rc = dist_key(cat, di, name_from_stem, md_valid);
  if (rc || !cat->dists[di].key)
    return rc; /* importlib raises before it reads entry points */
  if (ep_st == EP_READ_ERROR)
    return set_problem(cat, di, "entry_points.txt: %s", strerror(ep_err));
  if (ep_st != EP_READ_OK)
    return EPINDEX_OK;
  size_t bad = 0;
  if (!ep_utf8_valid(ept, epn, &bad))
    return set_problem(cat, di, "entry_points.txt: invalid UTF-8 at byte %zu",
                       bad);
  size_t first = cat->nentries;
  uint32_t bad_line = 0;
  add_ctx a = {cat, di};
  rc = ep_parse_entry_points(ept, epn, add_parsed, &a, &bad_line);
  if (rc == 1) { /* drop what was added: the whole file is rejected */
    cat->nentries = first;
    cat->dists[di].count = 0;
    rc = set_problem(cat, di, "entry_points.txt: line %lu has no '='",
                     (unsigned long)bad_line);
  }
  /* valid for 3.11-3.14, raises on construction in 3.15+: remembered, and
   * judged by each reader's rules */
  for (size_t k = first; !rc && k < cat->nentries; k++) {
    const ep_entry *e = &cat->entries[k];
    if (e->dist == di && !ep_value_is_object_ref(e->value, e->value_len)) {
      cat->dists[di].bad_value = (uint32_t)(k - first) + 1;
      break;
    }
  }
  return rc;
}

/* ---- directories -----------------------------------------------------------
 */

/* A file's part of a stamp: what changes when it is rewritten or replaced. */
static void fstamp_of(const struct stat *st, ep_fstamp *out) {
  *out = (ep_fstamp){(int64_t)st->st_size, ep_mtime_ns(st), ep_ctime_ns(st),
                     (int64_t)st->st_ino};
}

bool ep_stamp_same(const ep_stamp *a, const ep_stamp *b) {
  const ep_fstamp *fa[] = {&a->dir, &a->ep, &a->md};
  const ep_fstamp *fb[] = {&b->dir, &b->ep, &b->md};
  if (a->dir_dev != b->dir_dev)
    return false;
  for (int i = 0; i < 3; i++)
    if (memcmp(fa[i], fb[i], sizeof(*fa[i])) != 0)
      return false;
  return true;
}

int64_t ep_stamp_newest_change(const ep_stamp *s) {
  int64_t m = s->dir.ctime;
  if (s->ep.ctime > m)
    m = s->ep.ctime;
  return s->md.ctime > m ? s->md.ctime : m;
}

/* One stat'ed file of a stamp; with aud, out->denied when a member may not
 * do `want` (4 read, 1 search) to it. */
static void stamp_file(const struct stat *st, const ep_audience *aud,
                       unsigned want, ep_fstamp *f, ep_stamp *out) {
  fstamp_of(st, f);
  if (aud && !ep_audience_may(aud, st, want))
    out->denied = true;
}

static void stamp_dir(int dirfd, const ep_listed *item, const ep_audience *aud,
                      ep_stamp *out) {
  struct stat st;
  *out = EP_STAMP_NONE;
  if (fstatat(dirfd, item->metadir, &st, 0) == 0) {
    out->dir_dev = (int64_t)st.st_dev;
    stamp_file(&st, aud, item->kind == EP_KIND_FILE ? 4 : 1, &out->dir, out);
    if (item->kind == EP_KIND_FILE)
      out->md = out->dir;
  }
}

static void stamp_ep(int dirfd, const ep_listed *item, const ep_audience *aud,
                     ep_stamp *out) {
  char path[PATH_MAX];
  struct stat st;
  snprintf(path, sizeof(path), "%s/entry_points.txt", item->metadir);
  if (fstatat(dirfd, path, &st, 0) == 0)
    stamp_file(&st, aud, 4, &out->ep, out);
}

/* Which file a dist's metadata comes from, in importlib's order: METADATA,
 * else PKG-INFO, else ("") the entry itself (read_text('') of an egg-info
 * file). Empty files fall through, as `read_text(...) or ...` does. */
static const char *const md_names[] = {"METADATA", "PKG-INFO", ""};
enum { MD_FILES = 2 }; /* md_names[] that name a file inside the entry */

static void stamp_md(int dirfd, const ep_listed *item, const ep_audience *aud,
                     ep_stamp *out) {
  char path[PATH_MAX];
  struct stat st;
  for (size_t i = 0; i < MD_FILES; i++) {
    snprintf(path, sizeof(path), "%s/%s", item->metadir, md_names[i]);
    if (fstatat(dirfd, path, &st, 0) == 0 && S_ISREG(st.st_mode) &&
        st.st_size > 0) {
      stamp_file(&st, aud, 4, &out->md, out);
      return;
    }
  }
}

void ep_stamp_item(int dirfd, const ep_listed *item, bool files,
                   const ep_audience *aud, ep_stamp *out) {
  stamp_dir(dirfd, item, aud, out);
  if (!files || item->kind == EP_KIND_FILE)
    return;
  stamp_ep(dirfd, item, aud, out);
  stamp_md(dirfd, item, aud, out);
}

/* What a file's read tells of its stamp. The reads of a scan that need no
 * stamp beforehand (nothing to reuse) take it from the descriptor they
 * read, saving a stat per file: the same inode, so the same stamp as
 * ep_stamp_item()'s -- except after an error other than ENOENT, when that
 * stat may still find what the read could not open. */
typedef enum seen_as {
  SEEN_FILE,   /* the stamp is the read file's */
  SEEN_ABSENT, /* nothing there: no stamp */
  SEEN_UNSURE  /* ask fstatat(), as ep_stamp_item() does */
} seen_as;

static seen_as seen_of(ep_read_status rs, int err, const struct stat *st) {
  if (st->st_mode != 0)
    return SEEN_FILE;
  return rs == EP_READ_ABSENT && err == ENOENT ? SEEN_ABSENT : SEEN_UNSURE;
}

/* Read a dist's metadata text following read_text('METADATA') or
 * read_text('PKG-INFO') or read_text(''). Returns false when importlib
 * would raise (unreadable, not UTF-8). An absent text leaves buf empty.
 * *md_seen: whether the reads alone give the md stamp (the first regular,
 * non-empty METADATA or PKG-INFO), in *md_st when SEEN_FILE. */
static bool read_metadata(int dirfd, const ep_listed *item, ep_buf *buf,
                          int *err, ep_read_check *chk, seen_as *md_seen,
                          struct stat *md_st) {
  char path[PATH_MAX];
  *md_seen = SEEN_ABSENT;
  for (size_t i = 0; i < sizeof(md_names) / sizeof(*md_names); i++) {
    if (item->kind == EP_KIND_FILE && i < MD_FILES)
      continue; /* NotADirectoryError: suppressed */
    if (*md_names[i])
      snprintf(path, sizeof(path), "%s/%s", item->metadir, md_names[i]);
    else
      snprintf(path, sizeof(path), "%s", item->metadir);
    ep_read_status st = ep_read_file_at(dirfd, path, buf, err, chk, md_st);
    seen_as seen = seen_of(st, *err, md_st);
    bool text = st == EP_READ_OK && buf->len > 0;
    if (i < MD_FILES && *md_seen == SEEN_ABSENT && seen != SEEN_ABSENT)
      /* the stamp's file is this one only when it is the text's */
      *md_seen = text && md_st->st_size > 0 ? SEEN_FILE : SEEN_UNSURE;
    if (st == EP_READ_ERROR)
      return false;
    if (text) {
      if (!ep_utf8_valid(buf->data, buf->len, NULL))
        return false;
      buf->len = ep_universal_newlines(buf->data, buf->len);
      return true;
    }
  }
  buf->len = 0;
  return true;
}

/* What ep_scan_listed() reads of one distribution. */
typedef struct dist_read {
  ep_read_status ep_st;
  int ep_err, md_err;
  bool md_valid;
  seen_as ep_seen, md_seen;
  struct stat ep_stat, md_stat;
} dist_read;

static void read_dist(int dirfd, const ep_listed *item, ep_buf *ept, ep_buf *md,
                      ep_read_check *chk, dist_read *r) {
  char path[PATH_MAX];
  r->ep_st = EP_READ_ABSENT;
  r->ep_err = 0;
  r->ep_seen = SEEN_ABSENT;
  if (item->kind != EP_KIND_FILE) {
    if ((size_t)snprintf(path, sizeof(path), "%s/entry_points.txt",
                         item->metadir) >= sizeof(path)) {
      r->ep_st = EP_READ_ERROR, r->ep_err = ENAMETOOLONG;
      r->ep_seen = SEEN_UNSURE;
    } else {
      r->ep_st =
          ep_read_file_at(dirfd, path, ept, &r->ep_err, chk, &r->ep_stat);
      r->ep_seen = seen_of(r->ep_st, r->ep_err, &r->ep_stat);
    }
  }
  /* METADATA of every distribution: the index answers version() and
   * distribution() too, not only entry points */
  md->len = 0;
  r->md_err = 0;
  r->md_valid =
      read_metadata(dirfd, item, md, &r->md_err, chk, &r->md_seen, &r->md_stat);
  if (item->kind == EP_KIND_FILE)
    r->md_seen = SEEN_ABSENT; /* its md stamp is the entry's own */
}

/* The stamps of a distribution's files from its reads, when they tell
 * (false: stat them, then read again -- a stat after the read could stamp
 * a newer file than the one read). */
static bool stamp_from_reads(const dist_read *r, const ep_audience *aud,
                             ep_stamp *stamp) {
  if (r->ep_seen == SEEN_UNSURE || r->md_seen == SEEN_UNSURE)
    return false;
  if (r->ep_seen == SEEN_FILE)
    stamp_file(&r->ep_stat, aud, 4, &stamp->ep, stamp);
  if (r->md_seen == SEEN_FILE)
    stamp_file(&r->md_stat, aud, 4, &stamp->md, stamp);
  return true;
}

/* Running out of memory is the reader's failure, not broken metadata: it
 * fails the scan (and an update), never skips a distribution. So does any
 * error of the moment (EIO, EMFILE) in a writer's scan: published as the
 * distribution's, it would outlive the moment, since the files' stamps
 * would keep every later update from reading them again. A reader's scan
 * answers for the moment, as importlib.metadata does: the distribution is
 * skipped and said so. */
static int fleeting_failure(ep_catalog *cat, const ep_listed *item,
                            const dist_read *r) {
  int err = 0;
  if (r->ep_st == EP_READ_ERROR && ep_read_error_fleeting(r->ep_err))
    err = r->ep_err;
  else if (ep_read_error_fleeting(r->md_err))
    err = r->md_err;
  if (err == ENOMEM)
    return EPINDEX_ENOMEM;
  if (!err || !cat->aud)
    return EPINDEX_OK;
  cat->failed_errno = err;
  cat->failed =
      ep_arena_strndup(&cat->arena, item->metadir, strlen(item->metadir));
  return EPINDEX_EIO;
}

int ep_scan_listed(int dirfd, const ep_listing *listing, ep_catalog *cat,
                   ep_reuse_fn reuse, void *reuse_ctx, size_t *reread) {
  ep_buf ept = {0}, md = {0};
  int rc = EPINDEX_OK;
  for (size_t i = 0; i < listing->len && !rc; i++) {
    const ep_listed *item = &listing->items[i];
    ep_stamp stamp;
    /* the writer's audience check rides on the stats taken anyway */
    const ep_audience *aud =
        cat->aud && cat->aud->kind != EP_AUD_OWNER ? cat->aud : NULL;
    /* reuse judges by the files' stamps before reading; without it the
     * reads themselves stamp the files (stamp_from_reads). Only a writer
     * keeps stamps: a reader's scan (no audience) takes none. */
    bool stamping = cat->aud != NULL;
    if (reuse)
      ep_stamp_item(dirfd, item, true, aud, &stamp);
    else if (stamping)
      stamp_dir(dirfd, item, aud, &stamp);
    else
      stamp = EP_STAMP_NONE;
    size_t di = cat->ndists;
    ep_dist *d = ep_catalog_add_dist(cat);
    if (!d || !(d->metadir = ep_arena_strndup(&cat->arena, item->metadir,
                                              strlen(item->metadir)))) {
      rc = EPINDEX_ENOMEM;
      break;
    }
    d->kind = item->kind;
    d->link = item->link;
    d->stamp = stamp;
    d->ord = (int64_t)(di + 1) * EP_ORD_GAP;
    if (reuse && reuse(reuse_ctx, cat, di, item, &stamp))
      continue;
    if (reread)
      (*reread)++;
    ep_read_check chk = {aud, item->link, stamp.denied},
                  *pchk = aud ? &chk : NULL;
    dist_read r;
    read_dist(dirfd, item, &ept, &md, pchk, &r);
    if (stamping && !reuse && !stamp_from_reads(&r, aud, &stamp)) {
      ep_stamp_item(dirfd, item, true, aud, &stamp);
      chk = (ep_read_check){aud, item->link, stamp.denied};
      read_dist(dirfd, item, &ept, &md, pchk, &r);
    }
    d->stamp = stamp;
    if (stamp.denied)
      chk.denied = true;
    if (aud && item->kind != EP_KIND_FILE &&
        !ep_audience_acl_free_at(aud, dirfd, item->metadir))
      chk.denied = true;
    d->restricted = chk.denied;
    if ((rc = fleeting_failure(cat, item, &r)) != EPINDEX_OK)
      break;
    rc = ep_finish_dist(cat, di, item->kind != EP_KIND_EGG,
                        md.len ? md.data : NULL, md.len, r.md_valid, ept.data,
                        r.ep_st == EP_READ_OK ? ept.len : 0, r.ep_st, r.ep_err);
  }
  ep_buf_free(&ept);
  ep_buf_free(&md);
  return rc;
}

/* ---- zip path entries ------------------------------------------------------
 */

typedef struct zip_member {
  char *name;
  ep_buf data;
  bool ok; /* data fully read */
} zip_member;

typedef struct zip_state {
  char **children; /* first path components, first-appearance order */
  size_t nchildren, capchildren;
  zip_member *members;
  size_t nmembers, capmembers;
} zip_state;

static void zip_state_free(zip_state *z) {
  for (size_t i = 0; i < z->nchildren; i++)
    free(z->children[i]);
  for (size_t i = 0; i < z->nmembers; i++) {
    free(z->members[i].name);
    ep_buf_free(&z->members[i].data);
  }
  free(z->children);
  free(z->members);
}

static zip_member *zip_find(zip_state *z, const char *name) {
  for (size_t i = z->nmembers; i-- > 0;) /* later duplicates win */
    if (strcmp(z->members[i].name, name) == 0)
      return &z->members[i];
  return NULL;
}

static bool zip_has_child(const zip_state *z, const char *c, size_t n) {
  for (size_t i = 0; i < z->nchildren; i++)
    if (strlen(z->children[i]) == n && memcmp(z->children[i], c, n) == 0)
      return true;
  return false;
}

/* Is `member` one whose bytes we need: a metadata child itself or one of its
 * entry_points.txt / METADATA / PKG-INFO? */
static bool zip_wanted(const char *member, bool egg) {
  const char *slash = strchr(member, '/');
  char first[PATH_MAX];
  size_t n = slash ? (size_t)(slash - member) : strlen(member);
  if (n >= sizeof(first))
    return false;
  memcpy(first, member, n);
  first[n] = '\0';
  if (!is_info_name(first) && !(egg && is_egg_info_child(first)))
    return false;
  if (!slash)
    return true;
  const char *rest = slash + 1;
  return strcmp(rest, "entry_points.txt") == 0 ||
         strcmp(rest, "METADATA") == 0 || strcmp(rest, "PKG-INFO") == 0;
}

static int zip_collect(const ep_zipapi *za, struct archive *a, zip_state *z,
                       bool egg) {
  struct archive_entry *ae;
  int r;
  while ((r = za->next_header(a, &ae)) == ARCHIVE_OK || r == ARCHIVE_WARN) {
    const char *name = za->pathname(ae);
    if (!name)
      continue;
    const char *slash = strchr(name, '/');
    size_t n = slash ? (size_t)(slash - name) : strlen(name);
    if (!zip_has_child(z, name, n)) {
      if (ep_grow(&z->children, &z->capchildren, z->nchildren,
                  sizeof(*z->children), 32) ||
          !(z->children[z->nchildren] = strndup(name, n)))
        return EPINDEX_ENOMEM;
      z->nchildren++;
    }
    if (!zip_wanted(name, egg) || (slash && slash[1] == '\0'))
      continue;
    if (ep_grow(&z->members, &z->capmembers, z->nmembers, sizeof(*z->members),
                32))
      return EPINDEX_ENOMEM;
    zip_member *m = &z->members[z->nmembers];
    memset(m, 0, sizeof(*m));
    if (!(m->name = strdup(name)))
      return EPINDEX_ENOMEM;
    z->nmembers++;
    m->ok = true;
    char chunk[16384];
    ptrdiff_t got;
    while ((got = za->read_data(a, chunk, sizeof(chunk))) > 0) {
      if (m->data.len + (size_t)got > EP_MAX_FILE_SIZE) {
        m->ok = false; /* too large: reported as the dist's problem */
        break;
      }
      if (ep_buf_append(&m->data, chunk, (size_t)got))
        return EPINDEX_ENOMEM; /* ours, not the metadata's, failure */
    }
    if (got < 0)
      m->ok = false;
    if (!m->data.data && ep_buf_append(&m->data, "", 0))
      return EPINDEX_ENOMEM;
  }
  return r == ARCHIVE_EOF ? EPINDEX_OK : EPINDEX_EIO;
}

/* zipfile.Path.read_text(): absent -> None; unreadable -> raises */
static ep_read_status zip_read(zip_state *z, const char *child,
                               const char *file, const char **data,
                               size_t *len) {
  char name[PATH_MAX];
  snprintf(name, sizeof(name), "%s/%s", child, file);
  zip_member *m = zip_find(z, name);
  if (!m)
    return EP_READ_ABSENT;
  if (!m->ok)
    return EP_READ_ERROR;
  *data = m->data.data;
  *len = m->data.len;
  return EP_READ_OK;
}

static int zip_finish_child(ep_catalog *cat, zip_state *z, const char *child,
                            ep_kind kind) {
  size_t di = cat->ndists;
  ep_dist *d = ep_catalog_add_dist(cat);
  if (!d || !(d->metadir = ep_arena_strndup(&cat->arena, child, strlen(child))))
    return EPINDEX_ENOMEM;
  d->kind = kind;
  d->stamp = EP_STAMP_NONE;
  d->ord = (int64_t)(di + 1) * EP_ORD_GAP;
  const char *ept = NULL, *mdt = NULL;
  size_t epn = 0, mdn = 0;
  ep_read_status st = EP_READ_ABSENT;
  bool md_valid = true;
  ep_buf md = {0};
  if (kind != EP_KIND_FILE) { /* an egg-info *file* in a zip has neither */
    st = zip_read(z, child, "entry_points.txt", &ept, &epn);
    ep_read_status ms = zip_read(z, child, "METADATA", &mdt, &mdn);
    if (ms == EP_READ_ABSENT || (ms == EP_READ_OK && mdn == 0))
      ms = zip_read(z, child, "PKG-INFO", &mdt, &mdn);
    md_valid = ms != EP_READ_ERROR;
    if (ms == EP_READ_OK && mdn > 0) {
      md_valid =
          ep_utf8_valid(mdt, mdn, NULL) && ep_buf_append(&md, mdt, mdn) == 0;
      if (md_valid)
        md.len = ep_universal_newlines(md.data, md.len);
    }
  }
  /* str(zipfile.Path) of a directory ends in '/', so its basename is empty
   * and the name always comes from METADATA; files keep their stem. */
  int rc =
      ep_finish_dist(cat, di, kind == EP_KIND_FILE, md.len ? md.data : NULL,
                     md.len, md_valid, ept, epn, st, EIO);
  ep_buf_free(&md);
  return rc;
}

static int scan_zip(const char *path, ep_catalog *cat, bool *is_zip) {
  const ep_zipapi *za = ep_zip_api();
  *is_zip = false;
  if (!za)
    return EPINDEX_OK;
  struct archive *a = za->read_new();
  if (!a)
    return EPINDEX_ENOMEM;
  za->support_zip(a);
  if (za->open_filename(a, path, 65536) != ARCHIVE_OK) {
    za->read_free(a);
    return EPINDEX_OK; /* not a zip: zipfile raises, importlib suppresses */
  }
  bool egg = ep_path_is_egg(path);
  zip_state z = {0};
  int rc = zip_collect(za, a, &z, egg);
  za->read_free(a);
  if (rc == EPINDEX_EIO) { /* a damaged central directory: BadZipFile */
    zip_state_free(&z);
    return EPINDEX_OK;
  }
  *is_zip = rc == EPINDEX_OK;
  /* Reuse the directory ordering rules on the zip's children. */
  pending_set ps = {0};
  for (size_t i = 0; i < z.nchildren && !rc; i++) {
    const char *c = z.children[i];
    bool info = is_info_name(c);
    if (!info && !(egg && is_egg_info_child(c)))
      continue;
    /* zipfile resolve_dir(): a member named exactly c is a file */
    ep_kind kind = EP_KIND_DIR;
    for (size_t m = 0; m < z.nmembers; m++)
      if (strcmp(z.members[m].name, c) == 0)
        kind = EP_KIND_FILE;
    rc = pending_add(&ps, c, i + 1, kind, false, info);
  }
  ep_listing listing = {0};
  rc = pending_finish(&ps, rc, &listing);
  for (size_t i = 0; i < listing.len && !rc; i++)
    rc = zip_finish_child(cat, &z, listing.items[i].metadir,
                          listing.items[i].kind);
  ep_listing_free(&listing);
  zip_state_free(&z);
  return rc;
}

/* ---- any path entry --------------------------------------------------------
 */

/* Open and list a directory path entry: *fd open and *l filled, or *fd -1
 * when it is no directory (errno ENOTDIR: perhaps a zip file) or cannot be
 * listed (os.listdir() fails: importlib sees nothing). Only ENOMEM fails. */
static int list_path_dir(const char *p, int *fd, ep_listing *l) {
  *fd = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (*fd < 0)
    return EPINDEX_OK;
  /* a descriptor just opened is at its start: no lseek() (a syscall per
   * path entry of every first call) */
  int rc = list_dir(*fd, ep_path_is_egg(p), false, l);
  if (rc == EPINDEX_OK)
    return rc;
  ep_listing_free(l);
  close(*fd);
  *fd = -1;
  errno = 0; /* listed nothing: no zip file to try either */
  return rc == EPINDEX_ENOMEM ? rc : EPINDEX_OK;
}

int ep_count_dir_entry(const char *path, size_t *count, epindex_source *what) {
  int fd;
  ep_listing listing = {0};
  int rc = list_path_dir(ep_path_or_dot(path), &fd, &listing);
  *count = fd >= 0 ? listing.len : 0;
  *what = fd >= 0 ? EPINDEX_SOURCE_SCAN : EPINDEX_SOURCE_NONE;
  if (fd >= 0) {
    ep_listing_free(&listing);
    close(fd);
  }
  return rc;
}

int ep_scan_path_entry(const char *path, ep_catalog *cat,
                       epindex_source *what) {
  const char *p = ep_path_or_dot(path);
  *what = EPINDEX_SOURCE_NONE;
  int fd;
  ep_listing listing = {0};
  int rc = list_path_dir(p, &fd, &listing);
  if (fd >= 0) {
    *what = EPINDEX_SOURCE_SCAN;
    rc = ep_scan_listed(fd, &listing, cat, NULL, NULL, NULL);
    ep_listing_free(&listing);
    close(fd);
  } else if (rc == EPINDEX_OK && errno == ENOTDIR) {
    bool is_zip = false;
    rc = scan_zip(p, cat, &is_zip);
    if (is_zip)
      *what = EPINDEX_SOURCE_SCAN;
  }
  return rc ? rc : ep_catalog_seal(cat);
}
