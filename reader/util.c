/* util.c -- arena, buffers, string vectors and maps, small helpers. */
#define _GNU_SOURCE /* sync_file_range */
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- arena ----------------------------------------------------------- */

struct ep_arena_chunk {
  struct ep_arena_chunk *next;
  size_t used, size;
  max_align_t data[];
};

/* Chunks start small and double up to 1 MiB. The first, with its header,
 * is under 1000 bytes: glibc serves that size from its per-thread cache, while
 * a larger request first consolidates every small block freed since, which
 * was a tenth of a plugin host's pass over every distribution (one small
 * result each: 1-2 entry points, a few hundred bytes). */
#define EP_ARENA_FIRST (1024u - 4u * sizeof(max_align_t))
#define EP_ARENA_MAX (1024u * 1024u)

/* n bytes at an offset of the chunk that is a multiple of align (a power
 * of two up to max_align_t's). */
static void *arena_take(ep_arena *a, size_t n, size_t align) {
  struct ep_arena_chunk *c = a->head;
  if (n > SIZE_MAX / 2)
    return NULL;
  size_t at = c ? (c->used + align - 1) & ~(align - 1) : 0;
  if (!c || at > c->size || c->size - at < n) {
    size_t size =
        c ? (c->size < EP_ARENA_MAX ? c->size * 2 : c->size) : EP_ARENA_FIRST;
    if (size < n)
      size = n;
    c = malloc(sizeof(*c) + size);
    if (!c)
      return NULL;
    c->used = 0;
    c->size = size;
    c->next = a->head;
    a->head = c;
    at = 0;
  }
  c->used = at + n;
  return (char *)c->data + at;
}

void *ep_arena_alloc(ep_arena *a, size_t n) {
  return arena_take(a, n, sizeof(max_align_t));
}

/* Strings need no alignment: packed, those of a result of hundreds of
 * entry points take a third less memory. */
char *ep_arena_strndup(ep_arena *a, const char *s, size_t n) {
  char *p = arena_take(a, n + 1, 1);
  if (!p)
    return NULL;
  if (n)
    memcpy(p, s, n);
  p[n] = '\0';
  return p;
}

void ep_arena_free(ep_arena *a) {
  struct ep_arena_chunk *c = a->head;
  while (c) {
    struct ep_arena_chunk *next = c->next;
    free(c);
    c = next;
  }
  a->head = NULL;
}

void ep_arena_adopt(ep_arena *a, ep_arena *from) {
  struct ep_arena_chunk *tail = from->head;
  if (!tail)
    return;
  while (tail->next)
    tail = tail->next;
  tail->next = a->head; /* from's newest chunk takes the next allocations */
  a->head = from->head;
  from->head = NULL;
}

/* ---- buffers --------------------------------------------------------- */

int ep_buf_reserve(ep_buf *b, size_t extra) {
  if (extra > SIZE_MAX - b->len - 1)
    return EPINDEX_ENOMEM;
  size_t need = b->len + extra + 1;
  if (need <= b->cap)
    return EPINDEX_OK;
  size_t cap = b->cap ? b->cap : 64;
  while (cap < need)
    cap = cap > SIZE_MAX / 2 ? need : cap * 2;
  char *p = realloc(b->data, cap);
  if (!p)
    return EPINDEX_ENOMEM;
  b->data = p;
  b->cap = cap;
  return EPINDEX_OK;
}

int ep_buf_append(ep_buf *b, const void *p, size_t n) {
  if (ep_buf_reserve(b, n))
    return EPINDEX_ENOMEM;
  if (n)
    memcpy(b->data + b->len, p, n);
  b->len += n;
  b->data[b->len] = '\0';
  return EPINDEX_OK;
}

static int buf_vappendf(ep_buf *b, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

static int buf_vappendf(ep_buf *b, const char *fmt, va_list ap) {
  va_list ap2;
  va_copy(ap2, ap);
  int n = vsnprintf(NULL, 0, fmt, ap2);
  va_end(ap2);
  if (n < 0 || ep_buf_reserve(b, (size_t)n))
    return EPINDEX_ENOMEM;
  vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
  b->len += (size_t)n;
  return EPINDEX_OK;
}

int ep_buf_appendf(ep_buf *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int rc = buf_vappendf(b, fmt, ap);
  va_end(ap);
  return rc;
}

void ep_buf_free(ep_buf *b) {
  free(b->data);
  b->data = NULL;
  b->len = b->cap = 0;
}

/* ---- growable arrays ---------------------------------------------------- */

int ep_grow(void *itemsp, size_t *cap, size_t len, size_t size, size_t first) {
  if (len < *cap)
    return EPINDEX_OK;
  size_t n = *cap ? *cap * 2 : first;
  void *items;
  memcpy(&items, itemsp, sizeof(items)); /* itemsp is a T ** of any T */
  if (n > SIZE_MAX / size)
    return EPINDEX_ENOMEM;
  void *p = realloc(items, n * size);
  if (!p)
    return EPINDEX_ENOMEM;
  memcpy(itemsp, &p, sizeof(p)); /* the caller's array now owns p */
  *cap = n;
  // cppcheck-suppress memleak ; p is stored through itemsp just above
  return EPINDEX_OK;
}

/* ---- string vectors -------------------------------------------------- */

int ep_strvec_addf(ep_strvec *v, const char *fmt, ...) {
  if (ep_grow(&v->items, &v->cap, v->len, sizeof(*v->items), 8))
    return EPINDEX_ENOMEM;
  ep_buf b = {0};
  va_list ap;
  va_start(ap, fmt);
  int rc = buf_vappendf(&b, fmt, ap);
  va_end(ap);
  if (rc)
    return rc;
  v->items[v->len++] = b.data;
  return EPINDEX_OK;
}

void ep_strvec_free(ep_strvec *v) {
  for (size_t i = 0; i < v->len; i++)
    free(v->items[i]);
  free(v->items);
  v->items = NULL;
  v->len = v->cap = 0;
}

/* ---- string map -------------------------------------------------------- */

static uint64_t hash_str(const char *s) {
  uint64_t h = 1469598103934665603u; /* FNV-1a */
  for (; *s; s++)
    h = (h ^ (unsigned char)*s) * 1099511628211u;
  return h;
}

static size_t slot_of(const ep_strmap *m, const char *key) {
  size_t i = (size_t)hash_str(key) & (m->cap - 1);
  while (m->keys[i] && strcmp(m->keys[i], key) != 0)
    i = (i + 1) & (m->cap - 1);
  return i;
}

static int strmap_resize(ep_strmap *m, size_t cap) {
  ep_strmap g = {calloc(cap, sizeof(*g.keys)), malloc(cap * sizeof(*g.values)),
                 cap, m->len};
  if (!g.keys || !g.values) {
    free(g.keys);
    free(g.values);
    return EPINDEX_ENOMEM;
  }
  for (size_t i = 0; i < m->cap; i++) {
    if (m->keys[i]) {
      size_t j = slot_of(&g, m->keys[i]);
      g.keys[j] = m->keys[i];
      g.values[j] = m->values[i];
    }
  }
  ep_strmap_free(m);
  *m = g;
  return EPINDEX_OK;
}

int ep_strmap_reserve(ep_strmap *m, size_t n) {
  size_t cap = m->cap ? m->cap : 64;
  while (cap < n * 2)
    cap *= 2;
  return cap > m->cap ? strmap_resize(m, cap) : EPINDEX_OK;
}

int ep_strmap_put(ep_strmap *m, const char *key, size_t value, size_t *out,
                  bool *found) {
  if ((m->len + 1) * 2 > m->cap && strmap_resize(m, m->cap ? m->cap * 2 : 64))
    return EPINDEX_ENOMEM;
  size_t i = slot_of(m, key);
  *found = m->keys[i] != NULL;
  if (!*found) {
    m->keys[i] = key;
    m->values[i] = value;
    m->len++;
  }
  *out = m->values[i];
  return EPINDEX_OK;
}

size_t ep_strmap_get(const ep_strmap *m, const char *key) {
  if (!m->cap)
    return SIZE_MAX;
  size_t i = slot_of(m, key);
  return m->keys[i] ? m->values[i] : SIZE_MAX;
}

void ep_strmap_free(ep_strmap *m) {
  free(m->keys);
  free(m->values);
  memset(m, 0, sizeof(*m));
}

/* ---- errors and files -------------------------------------------------- */

int ep_errno_code(int err) {
  switch (err) {
  case 0: /* a call failed without saying why: never take it for success */
    return EPINDEX_EIO;
  case ENOMEM:
    return EPINDEX_ENOMEM;
  case ENOENT:
    return EPINDEX_ENOENT;
  case ENOTDIR:
    return EPINDEX_ENOTDIR;
  case EACCES:
  case EPERM:
    return EPINDEX_EACCES;
  case EROFS:
    return EPINDEX_EROFS;
  case ENOSPC:
  case EDQUOT:
    return EPINDEX_ENOSPC;
  case ENAMETOOLONG:
    return EPINDEX_ETOOLONG;
  case EINVAL:
    return EPINDEX_EINVAL;
  default:
    return EPINDEX_EIO;
  }
}

int64_t ep_mtime_ns(const struct stat *st) {
  return (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
}

int ep_bytes_cmp(const char *a, size_t an, const char *b, size_t bn) {
  int r = memcmp(a, b, an < bn ? an : bn);
  return r ? r : (an > bn) - (an < bn);
}

int ep_key_cmp(const void *a, const void *b) {
  const ep_key *x = a, *y = b;
  return ep_bytes_cmp(x->s, x->n, y->s, y->n);
}

int64_t ep_ctime_ns(const struct stat *st) {
  return (int64_t)st->st_ctim.tv_sec * 1000000000 + st->st_ctim.tv_nsec;
}

const char *ep_path_or_dot(const char *path) { return *path ? path : "."; }

void ep_start_writeback(int fd) {
#ifdef SYNC_FILE_RANGE_WRITE
  (void)sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE);
#else
  (void)fd;
#endif
}
