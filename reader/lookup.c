/*
 * lookup.c -- the lookup table: a flat, read-only copy of an index's lookup
 * rows that a reader reads (a few pages) or maps instead of opening SQLite.
 *
 * Why: a process's first SQLite open costs some 250 us on its own
 * (initialisation, the schema parse, the first page faults of the library),
 * five times a warm lookup. Python programs pay it in every process. The
 * table answers the same questions from a few reads: the meta facts, the keys
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
#define LK_HEADER 96
#define LK_DIRENT 24
#define LK_NULL 0xFFFFFFFFu
/* A hash table bucket: the directory entry's index + 1 (0: empty), then
 * the high half of its name's hash, which most other names fail. */
#define LK_BUCKET 8
/* Buckets read at a time: linear probing goes on to the next ones. */
#define LK_BUCKET_RUN 8

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

/* FNV-1a, 64 bits, of s (n bytes) continued from h: the hash of a
 * directory name, prefix then key, without building it. */
static uint64_t name_hash(uint64_t h, const char *s, size_t n) {
  for (size_t i = 0; i < n; i++)
    h = (h ^ (unsigned char)s[i]) * 0x100000001b3u;
  return h;
}

#define NAME_HASH_SEED 0xcbf29ce484222325u

/* The buckets of a directory of n names' hash table: a power of two, at
 * least LK_BUCKET_RUN (a probe reads that many) and more than one and a
 * half times n; 0 for no names. */
static uint64_t buckets_for(uint64_t n) {
  uint64_t b = LK_BUCKET_RUN;
  while (n && b < n + n / 2 + 1)
    b *= 2;
  return n ? b : 0;
}

/* Are the two hash tables at off (kb and nb buckets, for nk and nn names)
 * in a file of size bytes, and sized as buckets_for() sizes them? */
static bool hashes_fit(uint64_t off, uint64_t kb, uint64_t nk, uint64_t nb,
                       uint64_t nn, uint64_t size) {
  return kb == buckets_for(nk) && nb == buckets_for(nn) && off >= LK_HEADER &&
         off <= size && kb + nb <= (size - off) / LK_BUCKET;
}

/* ---- reading ------------------------------------------------------------ */

/* A table is read with pread(), not mapped, until a lookup wants more
 * than a few pages of it: on virtual machines a page fault costs 10-25 us
 * (a mapped file's page, or fresh memory to read into), a pread of a few
 * bytes into memory already touched 1 us, and a lookup is a search of a
 * directory (a binary search of the groups', a hash table's buckets for
 * the keys' and names', which are megabytes), then one group's rows. The
 * search's probes (buckets, a directory entry, a name: bytes each) are
 * read exactly, into the handle's own LK_SMALL bytes, where the first
 * LK_PROBES are kept to be served again; a directory of at most
 * LK_DIR_FETCH bytes (the groups') is read whole. A group's rows are read
 * exactly (they end where the next group's begin), other rows a block at a
 * time, with read-ahead, into up to LK_EXTENTS buffers of LK_READ_MAX bytes in
 * all. A handle that wants more, or that lends its rows to a list, maps the
 * file and reads everything from the mapping from then on, which costs a fault
 * per 64 KiB (the kernel's fault-around) instead of one per 4 KiB. Pointers
 * handed out before stay valid: buffers are freed when the table is closed. */
#define LK_SMALL 2048u
#define LK_SMALL_READ 256u
#define LK_PROBES 48
#define LK_DIR_FETCH 512u
#define LK_BLOCK 4096u
#define LK_READ_AHEAD (8u * 1024u)
#define LK_READ_MAX (32u * 1024u)
#define LK_EXTENTS 8

struct ep_mapping {
  void *base;
  size_t size;
  atomic_size_t holds;
};

/* The bytes [off, off + len) of the table, read once. */
typedef struct lk_extent {
  uint64_t off;
  size_t len;
  unsigned char *buf;
} lk_extent;

/* The bytes [off, off + len) of the table, at small + at. */
typedef struct lk_probe {
  uint64_t off;
  uint32_t len, at;
} lk_probe;

struct ep_lookup_reads {
  int fd;          /* the table, open until ep_lookup_close() */
  dev_t dev;       /* and which file it is: a program that closes descriptors */
  ino_t ino;       /* it does not own must not make us read another file */
  ep_mapping *map; /* once mapped, every read is from it */
  bool checked;    /* fd found to be the table since the operation began */
  size_t n, read;  /* extents, and their bytes in all */
  lk_extent ext[LK_EXTENTS];
  size_t small_used, nprobes;
  lk_probe probe[LK_PROBES];     /* the first probes, served again */
  unsigned char small[LK_SMALL]; /* probes, back to back */
};

/* Is rd's descriptor still the file it was opened on, and size bytes? */
static bool lk_same_file(const ep_lookup_reads *rd, uint64_t size) {
  struct stat st;
  return fstat(rd->fd, &st) == 0 && st.st_dev == rd->dev &&
         st.st_ino == rd->ino && (uint64_t)st.st_size == size;
}

/* Map the whole table, whose descriptor is known to be it. */
static int lk_map_now(const ep_lookup *lk) {
  ep_lookup_reads *rd = lk->rd;
  ep_mapping *m = malloc(sizeof(*m));
  if (!m)
    return EPINDEX_ENOMEM;
  void *p = mmap(NULL, lk->size, PROT_READ, MAP_PRIVATE, rd->fd, 0);
  if (p == MAP_FAILED) {
    free(m);
    return EPINDEX_EIO;
  }
  m->base = p;
  m->size = lk->size;
  atomic_init(&m->holds, 1);
  rd->map = m;
  return EPINDEX_OK;
}

/* Map the whole table, if it is not yet. A table cut short in place
 * (tables are replaced by rename; only their owner could) is not mapped:
 * touching a page past its end would be a SIGBUS. */
static int lk_map_file(const ep_lookup *lk) {
  if (lk->rd->map)
    return EPINDEX_OK;
  return lk_same_file(lk->rd, lk->size) ? lk_map_now(lk) : EPINDEX_EIO;
}

ep_mapping *ep_lookup_share(const ep_lookup *lk) {
  if (!lk->rd || lk_map_file(lk) != EPINDEX_OK)
    return NULL;
  atomic_fetch_add_explicit(&lk->rd->map->holds, 1, memory_order_relaxed);
  return lk->rd->map;
}

void ep_mapping_release(ep_mapping *m) {
  if (!m || atomic_fetch_sub_explicit(&m->holds, 1, memory_order_acq_rel) != 1)
    return;
  munmap(m->base, m->size);
  free(m);
}

/* Each operation on a table (a search, a row) checks its descriptor again
 * before it reads: the program may have closed it and opened another file
 * under its number since the last one. Within an operation no code of the
 * program's runs, so one check serves all of its reads (a search makes a
 * dozen). */
static void lk_begin(const ep_lookup *lk) {
  if (lk->rd)
    lk->rd->checked = false;
}

/* Read [off, off + len) of the table into buf: false on a read error, a
 * file cut short, or a descriptor that is no longer the table's. */
static bool lk_pread(ep_lookup_reads *rd, uint64_t size, unsigned char *buf,
                     uint64_t off, size_t len) {
  if (!rd->checked && !(rd->checked = lk_same_file(rd, size)))
    return false;
  for (size_t got = 0; got < len;) {
    ssize_t k = pread(rd->fd, buf + got, len - got, (off_t)(off + got));
    if (k < 0 && errno == EINTR)
      continue;
    if (k <= 0)
      return false;
    got += (size_t)k;
  }
  return true;
}

/* Read [off, off + len) into a new extent. */
static const lk_extent *lk_read(ep_lookup_reads *rd, uint64_t size,
                                uint64_t off, size_t len) {
  lk_extent *e = &rd->ext[rd->n];
  if (!(e->buf = malloc(len)))
    return NULL;
  if (!lk_pread(rd, size, e->buf, off, len)) {
    free(e->buf);
    return NULL;
  }
  e->off = off;
  e->len = len;
  rd->n++;
  rd->read += len;
  return e;
}

/* The bytes from off in an extent already read, if it holds want of them;
 * *avail: how many it holds. */
static const unsigned char *lk_cached(const ep_lookup_reads *rd, uint64_t off,
                                      size_t want, size_t *avail) {
  for (size_t i = 0; i < rd->n; i++) {
    const lk_extent *e = &rd->ext[i];
    if (off >= e->off && off - e->off <= e->len &&
        want <= e->len - (off - e->off)) {
      *avail = e->len - (size_t)(off - e->off);
      return e->buf + (off - e->off);
    }
  }
  return NULL;
}

/* The bytes from off (< size) in the mapping, and how many follow. */
static const unsigned char *lk_mapped(const ep_lookup *lk, uint64_t off,
                                      size_t *avail) {
  *avail = (size_t)(lk->size - off);
  return (const unsigned char *)lk->rd->map->base + off;
}

/* At least want bytes of the table from off (fewer only where the file
 * ends): where they are, and in *avail how many bytes follow off there.
 * NULL if off is not in the file or they cannot be read. end: where the
 * bytes wanted end, if known (0: not). Then exactly those are read, not
 * whole blocks and a read-ahead: in a first lookup each page of fresh
 * memory read into costs a fault. */
static const unsigned char *lk_span(const ep_lookup *lk, uint64_t off,
                                    size_t want, uint64_t end, size_t *avail) {
  ep_lookup_reads *rd = lk->rd;
  if (off >= lk->size)
    return NULL;
  if (rd->map) /* once mapped, every read is served from the mapping */
    return lk_mapped(lk, off, avail);
  bool exact = end > off && end <= lk->size;
  if (exact && want > end - off)
    want = (size_t)(end - off);
  if (want > lk->size - off)
    want = (size_t)(lk->size - off);
  const unsigned char *p = lk_cached(rd, off, want, avail);
  if (p)
    return p;
  uint64_t from = off, to = end;
  if (!exact) {
    from = off - off % LK_BLOCK;
    to = off + (want > LK_READ_AHEAD ? want : LK_READ_AHEAD);
    to = to - to % LK_BLOCK + (to % LK_BLOCK ? LK_BLOCK : 0);
    if (to > lk->size)
      to = lk->size;
  }
  if (rd->n == LK_EXTENTS || to - from > LK_READ_MAX - rd->read)
    return lk_map_file(lk) == EPINDEX_OK ? lk_mapped(lk, off, avail) : NULL;
  const lk_extent *e = lk_read(rd, lk->size, from, (size_t)(to - from));
  if (!e)
    return NULL;
  *avail = e->len - (size_t)(off - from);
  return e->buf + (off - from);
}

/* The n bytes at off, if a probe read them. */
static const unsigned char *lk_probed(const ep_lookup_reads *rd, uint64_t off,
                                      size_t n) {
  for (size_t i = 0; i < rd->nprobes; i++) {
    const lk_probe *p = &rd->probe[i];
    if (off >= p->off && off - p->off <= p->len && n <= p->len - (off - p->off))
      return rd->small + p->at + (off - p->off);
  }
  return NULL;
}

/* Read the n bytes at off into the probe buffer, if they fit (and have
 * not been read): NULL if they do not, or cannot be read. */
static const unsigned char *lk_probe_read(const ep_lookup *lk, uint64_t off,
                                          size_t n) {
  ep_lookup_reads *rd = lk->rd;
  const unsigned char *p = lk_probed(rd, off, n);
  if (p || rd->map || n > LK_SMALL - rd->small_used)
    return p;
  unsigned char *buf = rd->small + rd->small_used;
  if (!lk_pread(rd, lk->size, buf, off, n))
    return NULL;
  if (rd->nprobes < LK_PROBES)
    rd->probe[rd->nprobes++] =
        (lk_probe){off, (uint32_t)n, (uint32_t)rd->small_used};
  rd->small_used += n;
  return buf;
}

/* Exactly n bytes at off, or NULL: a probe, read exactly if it is small
 * and not already read. */
static const unsigned char *lk_bytes(const ep_lookup *lk, uint64_t off,
                                     size_t n) {
  ep_lookup_reads *rd = lk->rd;
  size_t avail;
  if (off > lk->size || n > lk->size - off)
    return NULL;
  const unsigned char *p;
  if (!rd->map && n <= LK_SMALL_READ && !lk_cached(rd, off, n, &avail) &&
      (p = lk_probe_read(lk, off, n)) != NULL)
    return p;
  p = lk_span(lk, off, n, 0, &avail);
  return p && avail >= n ? p : NULL;
}

int ep_lookup_open(int fd, const struct stat *st, ep_lookup *lk) {
  *lk = (ep_lookup){0};
  uint64_t size = (uint64_t)st->st_size;
  ep_lookup_reads *rd =
      size >= LK_HEADER && size <= SIZE_MAX ? malloc(sizeof(*rd)) : NULL;
  if (!rd) {
    close(fd);
    return size >= LK_HEADER ? EPINDEX_ENOMEM : EPINDEX_EIO;
  }
  /* field by field: the probe buffer is not cleared, only written */
  rd->fd = fd;
  rd->dev = st->st_dev;
  rd->ino = st->st_ino;
  rd->map = NULL;
  rd->n = rd->read = rd->small_used = rd->nprobes = 0;
  rd->checked = true; /* st is the caller's fstat of fd, just taken */
  lk->rd = rd;
  lk->size = (size_t)size;
  /* small tables too are read in pieces, not mapped whole up front: a
   * populated mapping cost more at every size, 6 KiB included (bench/
   * lookup_bench side by side: 44 KiB, 100 distributions, 72 against 25 us
   * an open, lookup and close; 682 against 519 us a first lookup) */
  const unsigned char *h = lk_bytes(lk, 0, LK_HEADER);
  if (!h) {
    ep_lookup_close(lk);
    return EPINDEX_EIO;
  }
  uint64_t ngroups = get32(h + 12), dir = get64(h + 24);
  uint64_t nkeys = get32(h + 32), kdir = get64(h + 40);
  uint64_t nnames = get32(h + 48), ndir = get64(h + 56);
  uint64_t nentries = get32(h + 64), edir = get64(h + 72);
  uint64_t kbuckets = get32(h + 80), nbuckets = get32(h + 84);
  uint64_t hash = get64(h + 88);
  if (memcmp(h, LK_MAGIC, 8) != 0 || get32(h + 8) != EP_LOOKUP_VERSION ||
      get64(h + 16) != size || !dir_fits(dir, ngroups, size) ||
      !dir_fits(kdir, nkeys, size) || !dir_fits(ndir, nnames, size) ||
      !dir_fits(edir, nentries, size) ||
      !hashes_fit(hash, kbuckets, nkeys, nbuckets, nnames, size)) {
    ep_lookup_close(lk);
    return EPINDEX_EIO;
  }
  *lk = (ep_lookup){
      (size_t)size,     rd,           (size_t)ngroups,  (size_t)dir,
      (size_t)nkeys,    (size_t)kdir, (size_t)nnames,   (size_t)ndir,
      (size_t)nentries, (size_t)edir, (size_t)kbuckets, (size_t)nbuckets,
      (size_t)hash};
  return EPINDEX_OK;
}

void ep_lookup_close(ep_lookup *lk) {
  ep_lookup_reads *rd = lk->rd;
  if (rd) {
    for (size_t i = 0; i < rd->n; i++)
      free(rd->ext[i].buf);
    ep_mapping_release(rd->map);
    if (rd->fd >= 0)
      close(rd->fd);
    free(rd);
  }
  *lk = (ep_lookup){0};
}

/* Entry i of the directory at dir: its name and rows. */
static int dir_entry(const ep_lookup *lk, size_t dir, size_t n, size_t i,
                     const char **grp, size_t *glen, ep_lookup_rows *it) {
  const unsigned char *e =
      i < n ? lk_bytes(lk, dir + i * LK_DIRENT, LK_DIRENT) : NULL;
  if (!e)
    return EPINDEX_EIO;
  uint64_t off = get64(e), rows = get64(e + 8), len = get32(e + 16);
  uint32_t nrows = get32(e + 20);
  const unsigned char *name =
      off < lk->size && len < lk->size - off && rows <= lk->size
          ? lk_bytes(lk, off, (size_t)len + 1)
          : NULL;
  if (!name || name[len] != '\0')
    return EPINDEX_EIO;
  *grp = (const char *)name;
  *glen = (size_t)len;
  *it = (ep_lookup_rows){lk, (size_t)rows, nrows, *grp, *glen, 0};
  return EPINDEX_OK;
}

/* Where the rows of group i end: where group i + 1's begin (the writer
 * puts them one after another); 0 (not known) after the last group, or
 * where that cannot be read. */
static size_t rows_end(const ep_lookup *lk, size_t i) {
  const unsigned char *e =
      i + 1 < lk->ngroups
          ? lk_bytes(lk, lk->dir + (i + 1) * LK_DIRENT, LK_DIRENT)
          : NULL;
  uint64_t end = e ? get64(e + 8) : 0;
  return end <= lk->size ? (size_t)end : 0;
}

int ep_lookup_group(const ep_lookup *lk, size_t i, const char **grp,
                    size_t *glen, ep_lookup_rows *it) {
  lk_begin(lk);
  int rc = dir_entry(lk, lk->dir, lk->ngroups, i, grp, glen, it);
  if (rc == EPINDEX_OK)
    it->end = rows_end(lk, i);
  return rc;
}

int ep_lookup_entry(const ep_lookup *lk, size_t k, int64_t *ord,
                    ep_lookup_rows *it) {
  lk_begin(lk);
  const unsigned char *e =
      k < lk->nentries ? lk_bytes(lk, lk->edir + k * LK_DIRENT, LK_DIRENT)
                       : NULL;
  if (!e)
    return EPINDEX_EIO;
  uint64_t off = get64(e + 8), end = lk->size;
  size_t g = get32(e + 16), glen;
  const char *grp;
  /* dir_entry(), not ep_lookup_group(): one row is read, so the hint of
   * where the group's rows end is not kept (it->end stays 0); but the row
   * must be one of the group's, which end where the next group's begin */
  int rc = dir_entry(lk, lk->dir, lk->ngroups, g, &grp, &glen, it);
  if (rc)
    return rc;
  if (g + 1 < lk->ngroups && (end = rows_end(lk, g)) == 0)
    return EPINDEX_EIO;
  if (off < it->off || off >= end) /* not a row of its group */
    return EPINDEX_EIO;
  *ord = (int64_t)get64(e);
  it->off = (size_t)off;
  it->left = 1;
  return EPINDEX_OK;
}

/* Read a small directory (the groups', usually) whole, in two reads: its
 * entries, then its names, which the writer puts just before them. Its
 * probes are then served from those, in this search and the next. Nothing
 * read here is trusted: dir_entry() checks what it uses. */
static void prefetch_dir(const ep_lookup *lk, size_t dir, size_t n) {
  if (n == 0 || n > LK_DIR_FETCH / LK_DIRENT)
    return; /* (a mapped table reads nothing here: lk_probe_read()) */
  const unsigned char *e = lk_probe_read(lk, dir, n * LK_DIRENT);
  uint64_t names = e ? get64(e) : dir;
  if (names < dir && dir - names <= LK_DIR_FETCH)
    lk_probe_read(lk, names, (size_t)(dir - names));
}

/* Binary search of the group directory (a few dozen groups, read whole
 * by prefetch_dir() in most tables) for grp. */
bool ep_lookup_find(const ep_lookup *lk, const char *grp, size_t glen,
                    ep_lookup_rows *it) {
  size_t lo = 0, hi = lk->ngroups;
  lk_begin(lk);
  prefetch_dir(lk, lk->dir, lk->ngroups);
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2, len;
    const char *g;
    if (dir_entry(lk, lk->dir, lk->ngroups, mid, &g, &len, it) != EPINDEX_OK)
      return false;
    int c = ep_bytes_cmp(g, len, grp, glen);
    if (c == 0) {
      it->end = rows_end(lk, mid);
      return true;
    }
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return false;
}

/* Look the name prefix + s up in the hash table of buckets buckets at
 * table, of the directory at dir (n entries): linear probing from the
 * bucket the name's hash picks, LK_BUCKET_RUN buckets a read, until a
 * bucket is empty (or, in a hostile table, all were seen). A bucket whose
 * hash half matches is compared in full. A directory of a million names
 * costs the same few reads as one of ten, where a binary search read
 * twenty entries and twenty names, each a page fault of its own in a
 * mapped table. */
static bool hash_search(const ep_lookup *lk, size_t dir, size_t n, size_t table,
                        size_t buckets, const char *prefix, const char *s,
                        size_t slen, ep_lookup_rows *it) {
  size_t plen = strlen(prefix);
  uint64_t h = name_hash(name_hash(NAME_HASH_SEED, prefix, plen), s, slen);
  size_t mask = buckets - 1, b = (size_t)h & mask;
  uint32_t check = (uint32_t)(h >> 32);
  lk_begin(lk);
  for (size_t seen = 0; seen < buckets;) {
    size_t run = LK_BUCKET_RUN - b % LK_BUCKET_RUN; /* to the run's end */
    const unsigned char *p =
        lk_bytes(lk, table + b * LK_BUCKET, run * LK_BUCKET);
    if (!p)
      return false;
    for (size_t i = 0; i < run; i++, p += LK_BUCKET) {
      uint32_t slot = get32(p);
      if (slot == 0)
        return false;
      size_t len;
      const char *g;
      if (get32(p + 4) == check &&
          dir_entry(lk, dir, n, slot - 1, &g, &len, it) == EPINDEX_OK &&
          len == plen + slen && memcmp(g, prefix, plen) == 0 &&
          memcmp(g + plen, s, slen) == 0)
        return true;
    }
    seen += run;
    b = (b + run) & mask;
  }
  return false;
}

bool ep_lookup_has_key(const ep_lookup *lk, const char *key, size_t klen) {
  ep_lookup_rows it;
  return lk->nkeys && hash_search(lk, lk->kdir, lk->nkeys, lk->hash,
                                  lk->kbuckets, EP_GRP_KEY, key, klen, &it);
}

bool ep_lookup_find_name(const ep_lookup *lk, const char *key, size_t klen,
                         ep_lookup_rows *it) {
  return lk->nnames && hash_search(lk, lk->ndir, lk->nnames,
                                   lk->hash + lk->kbuckets * LK_BUCKET,
                                   lk->nbuckets, EP_GRP_NAME, key, klen, it);
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

/* The row at off: its length, or 0 when it is malformed or runs out of
 * the file. A row's length is known once it is read: what is read first
 * (up to end, where its group's rows end, if that is known) is widened
 * until the row fits or the file ends. */
static size_t read_row(const ep_lookup *lk, size_t off, size_t end,
                       ep_row *row) {
  for (size_t want = 256;; want *= 2, end = 0) {
    size_t avail, used;
    const unsigned char *p = lk_span(lk, off, want, end, &avail);
    if (!p || (used = decode_row(p, avail, row)) != 0)
      return p ? used : 0;
    if (avail >= lk->size - off)
      return 0;
    if (want < avail)
      want = avail;
  }
}

int ep_lookup_next(ep_lookup_rows *it, ep_row *row) {
  if (it->left == 0)
    return 0;
  lk_begin(it->lk);
  size_t used = read_row(it->lk, it->off, it->end, row);
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
  bool dist_stamps; /* keep the \ndist rows' stamps: a small directory's */
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

/* Is g (n bytes) the group of dist rows? */
static bool is_dist_group(const char *g, size_t n) {
  return n == sizeof(EP_GRP_DIST) - 1 && memcmp(g, EP_GRP_DIST, n) == 0;
}

/* One row: ord, line, then its six fields (each followed by a NUL, as
 * SQLite's text is). A dist row's stamps (the value) are kept only in a
 * small directory's table, whose readers compare them; elsewhere only
 * update and verify do, which read index.db (at 10,000 distributions the
 * stamps would more than double the \ndist rows a listing of them maps:
 * 1.4 MB on 1.1). */
static int append_row(table_out *w, const ep_row *row) {
  unsigned char nums[16];
  put64(nums, (uint64_t)row->ord);
  put64(nums + 8, (uint64_t)row->line);
  int rc = out_append(w, nums, 16);
  bool omit = !w->dist_stamps && is_dist_group(row->grp, row->glen);
  for (int f = 0; f < EP_COL_FIELDS && !rc; f++)
    rc = append_field(w, omit && f == EP_COL_VALUE ? NULL : row->f[f],
                      row->n[f]);
  return rc;
}

/* A directory being built: the names of its groups, then its entries,
 * and each name's hash (for the key and name directories' tables). */
typedef struct dir_build {
  ep_buf names, entries, hashes;
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
  uint64_t h = name_hash(NAME_HASH_SEED, g, len);
  int rc = ep_buf_append(&d->names, g, len);
  rc = rc ? rc : ep_buf_append(&d->names, "", 1);
  rc = rc ? rc : ep_buf_append(&d->hashes, &h, sizeof(h));
  return rc ? rc : ep_buf_append(&d->entries, e, sizeof(e));
}

/* Append the hash table of directory d: *buckets of them (buckets_for()),
 * each entry in the first empty one from where its hash points. */
static int place_hash(table_out *w, const dir_build *d, uint64_t *buckets) {
  *buckets = buckets_for(d->n);
  if (*buckets > UINT32_MAX)
    return EPINDEX_EINVAL;
  unsigned char *t = calloc(*buckets ? *buckets : 1, LK_BUCKET);
  if (!t)
    return EPINDEX_ENOMEM;
  const uint64_t *h = (const uint64_t *)d->hashes.data;
  size_t mask = (size_t)*buckets - 1;
  for (size_t i = 0; i < d->n; i++) {
    size_t b = (size_t)h[i] & mask;
    while (get32(t + b * LK_BUCKET) != 0)
      b = (b + 1) & mask;
    put32(t + b * LK_BUCKET, (uint32_t)(i + 1));
    put32(t + b * LK_BUCKET + 4, (uint32_t)(h[i] >> 32));
  }
  int rc = out_append(w, t, (size_t)*buckets * LK_BUCKET);
  free(t);
  return rc;
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
static int note_entry(ep_buf *order, const ep_row *row, uint32_t grp,
                      uint64_t off) {
  if (!order || row->grp[0] == '\n')
    return EPINDEX_OK;
  entry_pos p = {row->ord, row->line, off, grp};
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

/* One directory being written: its rows arrive in (grp, ord, line) order,
 * from index.db or from an old table and a patch alike, and are grouped as
 * they come. Key groups get no rows: only their presence is ever asked.
 * Entry point rows are noted in order, when it is given. */
typedef struct dir_rows {
  table_out *body;
  dir_build *d;
  bool keys;
  ep_buf *order;
  ep_buf last; /* the group being written (last.len: 0 before the first) */
  bool open;
  uint64_t rows_off;
  uint32_t rows;
  int64_t ord, line;     /* of the last row */
  size_t dists, entries; /* dist rows and entry point rows written */
} dir_rows;

static int close_group(dir_rows *r) {
  if (!r->open)
    return EPINDEX_OK;
  r->open = false;
  return add_group(r->d, r->last.data, r->last.len, r->rows_off, r->rows);
}

/* Rows out of order (an old table that is not what its writer wrote)
 * would break lookups' binary searches: EPINDEX_EIO. */
static int add_dir_row(dir_rows *r, const ep_row *row) {
  int rc = EPINDEX_OK;
  int c = r->last.data
              ? ep_bytes_cmp(r->last.data, r->last.len, row->grp, row->glen)
              : -1;
  if (c > 0 || (c == 0 && (r->ord != row->ord ? r->ord > row->ord
                                              : r->line >= row->line)))
    return EPINDEX_EIO;
  r->ord = row->ord;
  r->line = row->line;
  if (c != 0) {
    if ((rc = close_group(r)) != EPINDEX_OK)
      return rc;
    r->last.len = 0;
    if ((rc = ep_buf_append(&r->last, row->grp, row->glen)) != EPINDEX_OK)
      return rc;
    r->open = true;
    r->rows_off = out_len(r->body);
    r->rows = 0;
  }
  if (r->keys)
    return EPINDEX_OK;
  rc = note_entry(r->order, row, (uint32_t)r->d->n, out_len(r->body));
  rc = rc ? rc : append_row(r->body, row);
  r->rows++;
  r->dists += is_dist_group(row->grp, row->glen);
  r->entries += row->grp[0] != '\n';
  return rc;
}

static int end_dir_rows(dir_rows *r) {
  int rc = close_group(r);
  ep_buf_free(&r->last);
  return rc;
}

/* The fields of a row, in the table's order (EP_COL_*). */
#define LK_COLS "name, value, metadir, dname, dversion, key"

/* Rows of the groups in one range of grp (SQL bounds), from index.db. */
static int add_range(sqlite3 *db, const char *where, dir_rows *r) {
  char sql[400];
  snprintf(sql, sizeof(sql),
           "SELECT grp, ord, line%s FROM ep WHERE %s ORDER BY grp, ord, line",
           r->keys ? "" : ", " LK_COLS, where);
  sqlite3_stmt *st;
  if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
    return EPINDEX_ESQLITE;
  int rc = EPINDEX_OK, step;
  while (!rc && (step = sqlite3_step(st)) == SQLITE_ROW) {
    ep_row row = {0};
    row.grp = (const char *)sqlite3_column_text(st, 0);
    row.glen = (size_t)sqlite3_column_bytes(st, 0);
    row.ord = sqlite3_column_int64(st, 1);
    row.line = sqlite3_column_int64(st, 2);
    if (!row.grp)
      rc = EPINDEX_ENOMEM;
    for (int f = 0; !r->keys && f < EP_COL_FIELDS && !rc; f++) {
      row.f[f] = (const char *)sqlite3_column_text(st, 3 + f);
      row.n[f] = (size_t)sqlite3_column_bytes(st, 3 + f);
      if (!row.f[f] && sqlite3_column_type(st, 3 + f) != SQLITE_NULL)
        rc = EPINDEX_ENOMEM;
    }
    rc = rc ? rc : add_dir_row(r, &row);
  }
  if (!rc && step != SQLITE_DONE)
    rc = EPINDEX_EIO;
  sqlite3_finalize(st);
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

/* ---- a patched copy of an old table -------------------------------------
 * An incremental update changes a few distributions of thousands: copying
 * the old table's rows (those of distributions still there) and merging
 * in the new ones costs a fraction of reading every row back out of
 * index.db. The result is byte for byte the table ep_lookup_write() makes
 * of the patched index.db (tests/test_update.c compares them). */

enum { LK_IN_GROUPS, LK_IN_KEYS, LK_IN_NAMES };

static bool has_prefix(const char *g, size_t n, const char *prefix) {
  size_t plen = strlen(prefix);
  return n >= plen && memcmp(g, prefix, plen) == 0;
}

/* Which directory a group's rows are in (the ranges above). */
static int dir_of(const char *g, size_t n) {
  return has_prefix(g, n, EP_GRP_KEY)    ? LK_IN_KEYS
         : has_prefix(g, n, EP_GRP_NAME) ? LK_IN_NAMES
                                         : LK_IN_GROUPS;
}

static bool is_removed(const ep_lookup_patch *p, int64_t ord) {
  size_t lo = 0, hi = p->nremoved;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (p->removed[mid] == ord)
      return true;
    if (p->removed[mid] < ord)
      lo = mid + 1;
    else
      hi = mid;
  }
  return false;
}

/* Does added row a come before old row b of the same group? */
static bool row_before(const ep_row *a, const ep_row *b) {
  return a->ord != b->ord ? a->ord < b->ord : a->line < b->line;
}

/* The added rows from *j on that are of group g (in directory which). */
static int add_rows_of(dir_rows *r, const ep_lookup_patch *p, size_t *j,
                       const char *g, size_t glen, const ep_row *before) {
  int rc = EPINDEX_OK;
  while (!rc && *j < p->nadded) {
    const ep_row *a = &p->added[*j];
    if (ep_bytes_cmp(a->grp, a->glen, g, glen) != 0 ||
        (before && !row_before(a, before)))
      break;
    rc = add_dir_row(r, a);
    (*j)++;
  }
  return rc;
}

/* Old group i's rows that stay (none of \nmeta: a patch writes it anew),
 * with the added rows of that group merged in. */
static int merge_group(dir_rows *r, ep_lookup_rows *it, const char *g,
                       size_t glen, const ep_lookup_patch *p, size_t *j) {
  bool meta = glen == strlen(EP_GRP_META) && memcmp(g, EP_GRP_META, glen) == 0;
  ep_row row;
  int got, rc = EPINDEX_OK;
  while (!rc && (got = ep_lookup_next(it, &row)) == 1) {
    rc = add_rows_of(r, p, j, g, glen, &row);
    if (!rc && !meta && !is_removed(p, row.ord))
      rc = add_dir_row(r, &row);
  }
  if (!rc && got < 0)
    rc = got;
  return rc ? rc : add_rows_of(r, p, j, g, glen, NULL);
}

/* The old directory (dir, n entries) of the table, patched, into r. */
static int merge_dir(dir_rows *r, const ep_lookup *old, size_t dir, size_t n,
                     const ep_lookup_patch *p, int which) {
  size_t i = 0, j = 0;
  int rc = EPINDEX_OK;
  for (;;) {
    while (j < p->nadded && dir_of(p->added[j].grp, p->added[j].glen) != which)
      j++;
    if (i == n && j == p->nadded)
      return EPINDEX_OK;
    const char *g = NULL;
    size_t glen = 0;
    ep_lookup_rows it;
    if (i < n && (rc = dir_entry(old, dir, n, i, &g, &glen, &it)) != EPINDEX_OK)
      return rc;
    const ep_row *a = j < p->nadded ? &p->added[j] : NULL;
    if (!g || (a && ep_bytes_cmp(a->grp, a->glen, g, glen) < 0)) {
      rc = add_dir_row(r, a); /* a group the old table does not have */
      j++;
    } else {
      rc = merge_group(r, &it, g, glen, p, &j);
      i++;
    }
    if (rc)
      return rc;
  }
}

#define LK_KEYS_WHERE "grp >= " KEY_LO " AND grp < " KEY_HI
#define LK_NAMES_WHERE "grp >= " NAME_LO " AND grp < " NAME_HI

/* The rows of the groups directory, then the key and name groups: from
 * index.db (no patch); from the old table and the patch, keys from index.db
 * (they have no rows in the table: which to drop is not there); or (a
 * patch and no old table) from the patch's rows alone. */
static int write_rows(sqlite3 *db, const ep_lookup *old,
                      const ep_lookup_patch *patch, table_out *w,
                      dir_build *groups, dir_build *keys, dir_build *names,
                      ep_buf *order) {
  dir_rows gr = {.body = w, .d = groups, .order = order};
  int rc = EPINDEX_OK;
  if (patch)
    rc = merge_dir(&gr, old, old ? old->dir : 0, old ? old->ngroups : 0, patch,
                   LK_IN_GROUPS);
  for (size_t i = 0; !patch && !rc && i < sizeof(ranges) / sizeof(ranges[0]);
       i++)
    rc = add_range(db, ranges[i], &gr);
  int end = end_dir_rows(&gr);
  rc = rc ? rc : end;
  /* rows that disagree with what the index counts (an old table that is
   * not its index.db's) make no table (the caller writes it from index.db) */
  if (!rc && patch &&
      (gr.dists != patch->dists || gr.entries != patch->entries))
    rc = EPINDEX_EIO;
  dir_rows kr = {.body = w, .d = keys, .keys = true};
  if (!rc)
    rc = patch && !old ? merge_dir(&kr, NULL, 0, 0, patch, LK_IN_KEYS)
                       : add_range(db, LK_KEYS_WHERE, &kr);
  end = end_dir_rows(&kr);
  rc = rc ? rc : end;
  dir_rows nr = {.body = w, .d = names};
  if (!rc)
    rc = patch ? merge_dir(&nr, old, old ? old->ndir : 0, old ? old->nnames : 0,
                           patch, LK_IN_NAMES)
               : add_range(db, LK_NAMES_WHERE, &nr);
  end = end_dir_rows(&nr);
  return rc ? rc : end;
}

static void dir_build_free(dir_build *d) {
  ep_buf_free(&d->names);
  ep_buf_free(&d->entries);
  ep_buf_free(&d->hashes);
}

/* How many distributions index.db holds. */
static int db_dists(sqlite3 *db, int64_t *n) {
  sqlite3_stmt *st;
  if (sqlite3_prepare_v2(db,
                         "SELECT count(*) FROM ep WHERE grp = char(10) || "
                         "'dist'",
                         -1, &st, NULL) != SQLITE_OK)
    return EPINDEX_ESQLITE;
  int rc = sqlite3_step(st) == SQLITE_ROW ? EPINDEX_OK : EPINDEX_EIO;
  *n = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  return rc;
}

static int write_table(sqlite3 *db, const ep_lookup *old,
                       const ep_lookup_patch *patch, int fd) {
  int64_t dists = patch ? (int64_t)patch->dists : 0;
  int rc = patch ? EPINDEX_OK : db_dists(db, &dists);
  if (rc)
    return rc;
  bool small = dists <= EP_SMALL_DIR_DISTS;
  if (small && old) /* its rows may lack the stamps: few to read anew */
    return EPINDEX_EIO;
  table_out *w = malloc(sizeof(*w));
  if (!w)
    return EPINDEX_ENOMEM;
  w->fd = fd;
  w->written = w->fill = 0;
  w->dist_stamps = small;
  w->err = ftruncate(fd, 0) == 0 ? EPINDEX_OK : EPINDEX_EIO;
  dir_build groups = {0}, keys = {0}, names = {0};
  ep_buf order = {0};
  unsigned char h[LK_HEADER] = {0}; /* written last, when it is known */
  rc = out_append(w, h, sizeof(h));
  rc = rc ? rc : write_rows(db, old, patch, w, &groups, &keys, &names, &order);
  uint64_t dir = 0, kdir = 0, ndir = 0, edir = 0, hash = 0, kb = 0, nb = 0;
  size_t nentries = 0;
  rc = rc ? rc : place_dir(w, &groups, &dir);
  rc = rc ? rc : place_dir(w, &keys, &kdir);
  rc = rc ? rc : place_dir(w, &names, &ndir);
  rc = rc ? rc : place_entry_order(w, &order, &edir, &nentries);
  hash = out_len(w);
  rc = rc ? rc : place_hash(w, &keys, &kb);
  rc = rc ? rc : place_hash(w, &names, &nb);
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
    put32(h + 80, (uint32_t)kb);
    put32(h + 84, (uint32_t)nb);
    put64(h + 88, hash);
    rc = pwrite_all(fd, h, sizeof(h), 0);
  }
  if (!rc)
    ep_start_writeback(fd);
  free(w);
  dir_build_free(&groups);
  dir_build_free(&keys);
  dir_build_free(&names);
  ep_buf_free(&order);
  return rc;
}

int ep_lookup_write(sqlite3 *db, int fd) {
  return write_table(db, NULL, NULL, fd);
}

int ep_lookup_write_rows(const ep_lookup_patch *rows, int fd) {
  return write_table(NULL, NULL, rows, fd);
}

int ep_lookup_write_patch(sqlite3 *db, const ep_lookup *old,
                          const ep_lookup_patch *patch, int fd) {
  /* every row is read: the whole mapping costs less than reads */
  ep_mapping *m = ep_lookup_share(old);
  if (!m)
    return EPINDEX_EIO;
  int rc = write_table(db, old, patch, fd);
  ep_mapping_release(m);
  return rc;
}
