/*
 * scan.h -- one path entry -> ep_catalog, in importlib.metadata's discovery
 * order: directories, .egg directories, zip files; stamps of what was read.
 * Layer 4.
 */
#ifndef EPINDEX_SCAN_H
#define EPINDEX_SCAN_H

#include "access.h"
#include "readfile.h"
#include "text.h"
#include "util.h"

typedef enum ep_kind {
  EP_KIND_DIR = 0,  /* *.dist-info or *.egg-info directory */
  EP_KIND_FILE = 1, /* legacy *.egg-info (or *.dist-info) file */
  EP_KIND_EGG = 2   /* EGG-INFO of an .egg path entry */
} ep_kind;

/* One file's identity and change times; all -1 when it is absent. ctime
 * and inode are what nobody but root can put back: a file replaced by an
 * installer has a new inode, and any write, chmod or utimensat() (tar's
 * --times, touch -r, SOURCE_DATE_EPOCH clamping) sets its ctime to now. */
typedef struct ep_fstamp {
  int64_t size, mtime, ctime, ino;
} ep_fstamp;

/* What an index remembers of a distribution's files, to tell later whether
 * they changed (docs/freshness.md). dir is the metadata entry itself,
 * followed when it is a symlink (dev and ino then say what it resolved
 * to); ep is entry_points.txt; md is METADATA, PKG-INFO or the entry. */
typedef struct ep_stamp {
  int64_t dir_dev;
  ep_fstamp dir, ep, md;
  bool denied; /* not stored: some member of the audience asked of
                  ep_stamp_item() may not search or read what was stat'ed */
} ep_stamp;

#define EP_FSTAMP_NONE ((ep_fstamp){-1, -1, -1, -1})
#define EP_STAMP_NONE                                                          \
  ((ep_stamp){-1, EP_FSTAMP_NONE, EP_FSTAMP_NONE, EP_FSTAMP_NONE, false})

/* Every recorded field equal (denied aside). */
bool ep_stamp_same(const ep_stamp *a, const ep_stamp *b);
/* The latest ctime in the stamp: a change at or after the moment an index
 * was stamped may be invisible in it (the clock tick is coarse). */
int64_t ep_stamp_newest_change(const ep_stamp *s);

/* Strings of a distribution are counted, not NUL-terminated in meaning:
 * METADATA may say "Name: fo\0o", which is not "fo" (each still has a NUL
 * after its length, for messages). */
typedef struct ep_dist {
  const char *metadir; /* name as listed, e.g. "foo-1.0.dist-info" */
  ep_kind kind;
  const char *key;     /* importlib's uniqueness key; NULL if undeterminable */
  const char *name;    /* METADATA Name, NULL if none or unreadable */
  const char *version; /* METADATA Version, NULL if none or unreadable */
  size_t key_len, name_len, version_len;
  const char *problem; /* why its entry points were skipped, or NULL */
  bool hidden;         /* an earlier distribution here has the same key */
  bool restricted;     /* the writer read files of it that some reader of
                          the index may not (access.c): index is 0600 */
  bool link;           /* its metadata entry is a symlink */
  uint32_t bad_value;  /* 1 + index among its entries of the first whose value
                          is no object reference (EntryPoint.pattern), else 0:
                          importlib.metadata of Python 3.15+ raises on it */
  int64_t ord;         /* position key in the index (gapped, increasing) */
  uint32_t stored;     /* entry rows it has in the index it was loaded from */
  ep_stamp stamp;
  size_t first, count; /* its entries: catalog->entries[first..first+count) */
} ep_dist;

/* Does the distribution answer with its entry points? Not when an earlier
 * one here has its key, when importlib.metadata would raise on it, or when
 * its key cannot be told. The one rule: index rows, scans and counts. */
static inline bool ep_dist_answers(const ep_dist *d) {
  return !d->hidden && !d->problem && d->key;
}

typedef struct ep_entry {
  const char *group, *name, *value;
  uint32_t group_len, name_len, value_len;
  uint32_t dist; /* index into catalog->dists */
  uint32_t line;
} ep_entry;

/* Everything one path entry holds, in importlib.metadata discovery order. */
typedef struct ep_catalog {
  ep_arena arena;
  ep_dist *dists;
  size_t ndists, cap_dists;
  ep_entry *entries;
  size_t nentries, cap_entries;
  uint32_t *by_group;     /* entry indexes sorted by (group, dist, line) */
  int64_t stamp_ns;       /* filesystem time taken before listing; 0 if none */
  size_t egg_infos;       /* the listing's (ep_listing) */
  const ep_audience *aud; /* the writer's: mark dists it may not publish */
  const char *failed;     /* a writer's scan that failed (EPINDEX_EIO) for */
  int failed_errno;       /* an error of the moment: the entry and errno */
} ep_catalog;

void ep_catalog_free(ep_catalog *c);
/* Sort by_group; call once all entries are added. */
int ep_catalog_finish(ep_catalog *c);
/* Range [*lo, *hi) of by_group holding `group`. */
void ep_catalog_group_range(const ep_catalog *c, const char *group, size_t glen,
                            size_t *lo, size_t *hi);
ep_dist *ep_catalog_add_dist(ep_catalog *c);
/* Move the distributions and entries of from (a scan of the entries that
 * follow c's in the listing; neither catalog finished) after c's, their
 * ords after c's; from is left empty. EPINDEX_ENOMEM leaves both as they
 * were. */
int ep_catalog_append(ep_catalog *c, ep_catalog *from);
int ep_catalog_add_entry(ep_catalog *c, size_t dist, const char *group,
                         size_t glen, const char *name, size_t nlen,
                         const char *value, size_t vlen, uint32_t line);

/* One metadata entry found in a listing, before its files are read. */
typedef struct ep_listed {
  char *metadir;
  ep_kind kind;
  bool link; /* the entry is a symlink (followed, as pathlib does) */
} ep_listed;

typedef struct ep_listing {
  ep_listed *items; /* in discovery order */
  size_t len, cap;
  size_t egg_infos; /* EGG-INFO children, listed or not (egg false) */
  bool is_zip;
} ep_listing;

void ep_listing_free(ep_listing *l);

/* importlib.metadata's .egg rule: does the basename of the path string
 * (os.path.basename: after the last '/', so "x.egg/" has none) end in
 * ".egg", in any case? Judged from the string a reader has, every time. */
bool ep_path_is_egg(const char *path);

/* importlib.metadata's Lookup keys, by which distribution(name) finds a
 * metadata entry: for a *.dist-info / *.egg-info child `name`,
 * normalize(lower(name).rpartition(".")[0].partition("-")[0]) (malloc'ed,
 * NULL when out of memory); for the EGG-INFO of an .egg path entry, the
 * legacy key of the path's basename (ep_egg_lookup_key), compared with
 * legacy_normalize(the name asked): lower(), '-' -> '_'. */
char *ep_lookup_key(const char *name);
int ep_egg_lookup_key(const char *path, ep_buf *out);
int ep_legacy_normalize(ep_buf *out, const char *s, size_t n);

/*
 * List the metadata entries of a directory path entry in importlib.metadata's
 * discovery order (Lookup: .dist-info/.egg-info grouped by first appearance
 * of their lowered name, then EGG-INFO when the entry is an .egg: egg).
 * dirfd is an open descriptor of the directory, listed from its start
 * whatever was read of it before.
 */
int ep_list_dir(int dirfd, bool egg, ep_listing *out);

/* Callback the scanner uses to reuse a distribution parsed earlier (from an
 * old index) instead of reading it again: return true and fill *dst (strings
 * copied into cat's arena, entries appended) if `item` with `stamp` is
 * known and unchanged. */
typedef bool (*ep_reuse_fn)(void *ctx, ep_catalog *cat, size_t dist_index,
                            const ep_listed *item, const ep_stamp *stamp);

/* Stamp a listed item of a directory: the entry itself (one fstatat) and,
 * with files, its entry_points.txt and metadata file too. */
/* With aud, also sets out->denied when a member of aud may not search the
 * metadata directory or read a file that was stat'ed. */
void ep_stamp_item(int dirfd, const ep_listed *item, bool files,
                   const ep_audience *aud, ep_stamp *out);
/* Spacing of ord values in a full build, leaving room for insertions. */
#define EP_ORD_GAP ((int64_t)1 << 20)

/*
 * Read every listed item of a directory into cat (appending), in order,
 * computing keys; problems are recorded on each distribution. reuse may be
 * NULL. *reread (if not NULL) counts items actually read. A writer's scan
 * (cat->aud set) also stamps each distribution; a reader's leaves the
 * stamps EP_STAMP_NONE, and answers for the moment (see fleeting errors).
 */
int ep_scan_listed(int dirfd, const ep_listing *listing, ep_catalog *cat,
                   ep_reuse_fn reuse, void *reuse_ctx, size_t *reread);

/*
 * Scan one sys.path entry whatever it is: a directory (including an .egg
 * directory), a zip file (wheel, .egg, .zip), or something that yields
 * nothing. "" means ".". Sets *what to SCAN or NONE.
 */
int ep_scan_path_entry(const char *path, ep_catalog *cat, epindex_source *what);

/*
 * List a directory path entry without reading its distributions: *count
 * metadata entries, *what SCAN; NONE (and 0) when it cannot be opened as a
 * directory or listed, as importlib.metadata then sees nothing.
 */
int ep_count_dir_entry(const char *path, size_t *count, epindex_source *what);

/* Derive keys, names and hiding once a distribution's files are read. Shared
 * by the directory and zip scanners. */
int ep_finish_dist(ep_catalog *cat, size_t di, bool name_from_stem,
                   const char *md_text, size_t md_len, bool md_valid,
                   const char *ep_text, size_t ep_len, ep_read_status ep_st,
                   int ep_err);
/* Mark dists hidden by an earlier one with the same key in this catalog. */
int ep_catalog_mark_hidden(ep_catalog *cat);
/* Once every distribution is read: mark the hidden ones, then sort the
 * entries by group (ep_catalog_finish). */
int ep_catalog_seal(ep_catalog *cat);

#endif /* EPINDEX_SCAN_H */
