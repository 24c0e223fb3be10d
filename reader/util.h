/*
 * util.h -- arena, growable buffers, string vectors and maps, counted keys,
 * errno mapping, timestamps, write-back: what every other module uses.
 * Layer 1 (docs/architecture.md).
 */
#ifndef EPINDEX_UTIL_H
#define EPINDEX_UTIL_H

#include "epindex.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

/* Files larger than this are not read (reported as broken metadata). */
#define EP_MAX_FILE_SIZE (64u * 1024u * 1024u)

/* A chunked bump allocator: strings of one catalog live and die together. */
typedef struct ep_arena {
  struct ep_arena_chunk *head;
} ep_arena;

void *ep_arena_alloc(ep_arena *a, size_t n);
/* Copy n bytes and add a NUL; NULL on ENOMEM. */
char *ep_arena_strndup(ep_arena *a, const char *s, size_t n);
void ep_arena_free(ep_arena *a);
/* Move every allocation of from into a (from is left empty): what points
 * into from now lives as long as a. */
void ep_arena_adopt(ep_arena *a, ep_arena *from);

/* A growable byte buffer, always NUL-terminated when data is not NULL. */
typedef struct ep_buf {
  char *data;
  size_t len, cap;
} ep_buf;

int ep_buf_reserve(ep_buf *b, size_t extra);
int ep_buf_append(ep_buf *b, const void *p, size_t n);
int ep_buf_appendf(ep_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void ep_buf_free(ep_buf *b);

/* Make room for one more item in a growable array: *itemsp (a pointer to
 * the array pointer) holds len items of size bytes in *cap slots; it doubles,
 * starting at first. EPINDEX_ENOMEM leaves the array as it was. */
int ep_grow(void *itemsp, size_t *cap, size_t len, size_t size, size_t first);

/* A vector of owned, NUL-terminated strings (diagnostics). */
typedef struct ep_strvec {
  char **items;
  size_t len, cap;
} ep_strvec;

int ep_strvec_addf(ep_strvec *v, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void ep_strvec_free(ep_strvec *v);

/* A map from strings (borrowed, not copied) to size_t, open addressing.
 * Callers keep the keys alive while the map is used. */
typedef struct ep_strmap {
  const char **keys;
  size_t *values;
  size_t cap, len;
} ep_strmap;

/* Find key; insert it with `value` if absent. *found tells which; *out gets
 * the stored value. EPINDEX_ENOMEM on failure. */
int ep_strmap_put(ep_strmap *m, const char *key, size_t value, size_t *out,
                  bool *found);
/* The value of key, or SIZE_MAX when absent. */
size_t ep_strmap_get(const ep_strmap *m, const char *key);
/* Make room for n keys without rehashing. */
int ep_strmap_reserve(ep_strmap *m, size_t n);
void ep_strmap_free(ep_strmap *m);

/* SQLite's BINARY order of counted strings: bytes, then length. The one
 * order of keys, groups and table names. */
int ep_bytes_cmp(const char *a, size_t an, const char *b, size_t bn);

/* A counted string (a uniqueness key may hold a NUL), and its order
 * (ep_bytes_cmp) for qsort() and bsearch(). */
typedef struct ep_key {
  const char *s;
  size_t n;
} ep_key;
int ep_key_cmp(const void *a, const void *b);

/* Map the errno of a failed call to an EPINDEX_E* code (0 gives EIO). */
int ep_errno_code(int err);

/* Nanosecond timestamps out of a struct stat. */
int64_t ep_mtime_ns(const struct stat *st);
int64_t ep_ctime_ns(const struct stat *st);

/* "" (a sys.path entry for the current directory) as a path to open. */
const char *ep_path_or_dot(const char *path);

/* Start writing a file's dirty pages back without waiting (Linux; a no-op
 * elsewhere): the fsync that follows later then waits less, because the
 * disk worked while the caller went on. */
void ep_start_writeback(int fd);

#endif /* EPINDEX_UTIL_H */
