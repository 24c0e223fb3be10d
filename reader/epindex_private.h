/*
 * epindex_private.h -- internal interfaces of libepindex. Not installed.
 *
 * Layering (each file uses only those above it):
 *   util.c     arena, growable buffers, string vectors, safe file reading
 *   text.c     CPython's str rules: UTF-8, splitlines, strip, lower, normalise;
 *              the entry_points.txt parser and the METADATA header reader
 *   scan.c     one path entry -> ep_catalog (directory, .egg, zip)
 *   index.c    ep_catalog <-> SQLite index file; freshness verdicts
 *   update.c   epindex_update_dir(): lock, snapshot, write, rename
 *   epindex.c  the public search-path handle, lookups and results
 */
#ifndef EPINDEX_PRIVATE_H
#define EPINDEX_PRIVATE_H

#include "epindex.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

/* Files larger than this are not read (reported as broken metadata). */
#define EP_MAX_FILE_SIZE (64u * 1024u * 1024u)

/* ---- util.c ------------------------------------------------------------ */

/* A chunked bump allocator: strings of one catalog live and die together. */
typedef struct ep_arena {
  struct ep_arena_chunk *head;
} ep_arena;

void *ep_arena_alloc(ep_arena *a, size_t n);
/* Copy n bytes and add a NUL; NULL on ENOMEM. */
char *ep_arena_strndup(ep_arena *a, const char *s, size_t n);
void ep_arena_free(ep_arena *a);

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

/* A counted string (a uniqueness key may hold a NUL), and its order for
 * qsort() and bsearch(): bytes, then length. */
typedef struct ep_key {
  const char *s;
  size_t n;
} ep_key;
int ep_key_cmp(const void *a, const void *b);

/* Map the errno of a failed call to an EPINDEX_E* code (0 gives EIO). */
int ep_errno_code(int err);

/* Outcome of reading one metadata file the way pathlib.read_text() does
 * inside importlib.metadata's suppress(...). */
typedef enum ep_read_status {
  EP_READ_OK,     /* contents in the buffer */
  EP_READ_ABSENT, /* ENOENT, EISDIR, ENOTDIR, EACCES, EPERM: Python's None */
  EP_READ_ERROR   /* anything else: importlib.metadata would raise */
} ep_read_status;

/* ---- access.c: who may read what an index publishes ------------------- */

typedef enum ep_audience_kind {
  EP_AUD_OWNER, /* only the index's writer (mode 0600) */
  EP_AUD_GROUP, /* the members of gid (0640) */
  EP_AUD_ALL    /* every user (0644) */
} ep_audience_kind;

typedef struct ep_audience {
  ep_audience_kind kind;
  gid_t gid;
} ep_audience;

/* Who may list the directory (open on dirfd, stat dir): its index's
 * audience. A directory with an ACL has only its owner. */
ep_audience ep_audience_of_dir(int dirfd, const struct stat *dir);
/* The same from the mode bits alone (a reader's check: no system call). */
ep_audience ep_audience_of_mode(const struct stat *dir);
/* Who an index file with this stat is readable by. */
ep_audience ep_audience_of_file(const struct stat *st);
/* Is everyone in inner also in outer? */
bool ep_audience_within(ep_audience inner, ep_audience outer);
/* The mode of index files for the audience. */
mode_t ep_audience_mode(ep_audience a);
bool ep_audience_same(ep_audience a, ep_audience b);
/* May every member read (want 4) or search (want 1) what st describes? */
bool ep_audience_may(const ep_audience *a, const struct stat *st,
                     unsigned want);
/* May every member read the open file fd (stat st)? No ACL on it, and when
 * it was reached through a symlink, every directory to its real place
 * searchable. */
bool ep_audience_may_file(const ep_audience *a, int fd, const struct stat *st,
                          bool via_link);
/* No ACL on the directory rel (relative to dirfd) that could deny a
 * member what its mode bits grant. */
bool ep_audience_acl_free_at(const ep_audience *a, int dirfd, const char *rel);

/* What the writer checks of each file it reads (NULL: nothing). */
typedef struct ep_read_check {
  const ep_audience *aud;
  bool through_link; /* the metadata directory is a symlink */
  bool denied; /* set when a file read is one some member could not read */
} ep_read_check;

/* Read dirfd-relative `path` entirely into buf (replacing its contents).
 * Refuses FIFOs, devices and files over EP_MAX_FILE_SIZE with EP_READ_ERROR
 * and *err set to an errno-like value. EINTR is retried. With chk, also
 * judges whether chk->aud could have read the file. */
ep_read_status ep_read_file_at(int dirfd, const char *path, ep_buf *buf,
                               int *err, ep_read_check *chk);

/* Nanosecond timestamps out of a struct stat. */
int64_t ep_mtime_ns(const struct stat *st);
int64_t ep_ctime_ns(const struct stat *st);

/* ---- text.c ------------------------------------------------------------ */

/* Strict UTF-8 validation, as Python's "utf-8" codec decodes. On failure
 * *bad_at receives the offset of the first invalid byte. */
bool ep_utf8_valid(const char *s, size_t n, size_t *bad_at);

/* Python str.lower() of UTF-8 text, including Final_Sigma. Bytes that are
 * not valid UTF-8 are copied unchanged (like surrogate escapes). */
int ep_lower(ep_buf *out, const char *s, size_t n);

/* importlib.metadata Prepared.normalize():
 *   re.sub(r"[-_.]+", "-", name).lower().replace('-', '_') */
int ep_normalize(ep_buf *out, const char *s, size_t n);

/* One parsed entry point, pointing into the parsed text. */
typedef struct ep_parsed_entry {
  const char *group, *name, *value;
  size_t group_len, name_len, value_len;
  uint32_t line; /* 1-based physical line number */
} ep_parsed_entry;

typedef int (*ep_entry_cb)(void *ctx, const ep_parsed_entry *e);

/*
 * Parse entry_points.txt text (already validated UTF-8) with the rules of
 * importlib.metadata.Sectioned and Pair.parse. Calls cb for each entry in
 * order. Returns 0, a callback's non-zero result, or 1 with *bad_line set
 * when a line in a section has no '=' (importlib raises TypeError there).
 */
int ep_parse_entry_points(const char *text, size_t n, ep_entry_cb cb, void *ctx,
                          uint32_t *bad_line);

/*
 * The value of header `field` (ASCII, case-insensitive) in METADATA/PKG-INFO
 * text, as importlib.metadata's metadata[field] returns it (email compat32
 * parsing, then _adapters.Message's re-indentation). Universal newlines must
 * already be applied. Returns 1 and fills out when found, 0 when absent,
 * negative EPINDEX code on ENOMEM.
 */
int ep_header_value(const char *text, size_t n, const char *field, ep_buf *out);

/* Translate "\r\n" and "\r" to "\n" in place (Python's universal newlines);
 * returns the new length. */
size_t ep_universal_newlines(char *s, size_t n);

/* ---- catalog (scan.c) ---------------------------------------------------- */

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
  int64_t ord;         /* position key in the index (gapped, increasing) */
  uint32_t stored;     /* entry rows it has in the index it was loaded from */
  ep_stamp stamp;
  size_t first, count; /* its entries: catalog->entries[first..first+count) */
} ep_dist;

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
} ep_catalog;

void ep_catalog_free(ep_catalog *c);
/* Sort by_group; call once all entries are added. */
int ep_catalog_finish(ep_catalog *c);
/* Range [*lo, *hi) of by_group holding `group`. */
void ep_catalog_group_range(const ep_catalog *c, const char *group, size_t glen,
                            size_t *lo, size_t *hi);
ep_dist *ep_catalog_add_dist(ep_catalog *c);
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

/*
 * List the metadata entries of a directory path entry in importlib.metadata's
 * discovery order (Lookup: .dist-info/.egg-info grouped by first appearance
 * of their lowered name, then EGG-INFO when the entry is an .egg: egg).
 * dirfd is an open descriptor of the directory.
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
 * NULL. *reread (if not NULL) counts items actually read.
 */
int ep_scan_listed(int dirfd, const ep_listing *listing, ep_catalog *cat,
                   ep_reuse_fn reuse, void *reuse_ctx, size_t *reread);

/*
 * Scan one sys.path entry whatever it is: a directory (including an .egg
 * directory), a zip file (wheel, .egg, .zip), or something that yields
 * nothing. "" means ".". Sets *what to SCAN or NONE.
 */
int ep_scan_path_entry(const char *path, ep_catalog *cat, epindex_source *what);

/* Derive keys, names and hiding once a distribution's files are read. Shared
 * by the directory and zip scanners. */
int ep_finish_dist(ep_catalog *cat, size_t di, bool name_from_stem,
                   const char *md_text, size_t md_len, bool md_valid,
                   const char *ep_text, size_t ep_len, ep_read_status ep_st,
                   int ep_err);
/* Mark dists hidden by an earlier one with the same key in this catalog. */
int ep_catalog_mark_hidden(ep_catalog *cat);

/* ---- zipapi.c ------------------------------------------------------------ */

struct archive;
struct archive_entry;

/* The libarchive functions the zip scanner uses, loaded on first use. */
typedef struct ep_zipapi {
  struct archive *(*read_new)(void);
  int (*support_zip)(struct archive *);
  int (*open_filename)(struct archive *, const char *, size_t);
  int (*next_header)(struct archive *, struct archive_entry **);
  const char *(*pathname)(struct archive_entry *);
  ptrdiff_t (*read_data)(struct archive *, void *, size_t);
  int (*read_free)(struct archive *);
} ep_zipapi;

/* NULL when libarchive cannot be loaded: zip path entries then yield
 * nothing, and the handle says so in a diagnostic. */
const ep_zipapi *ep_zip_api(void);

/* ---- fdvfs.c ------------------------------------------------------------ */

typedef struct sqlite3 sqlite3;

/* A validated, immutable index file: its descriptor, size, and the first
 * bytes already read (served again to SQLite without a system call). */
typedef struct ep_fdsrc {
  int fd;
  bool writable; /* the writer's own temporary file (ep_sqlite_open_fd_rw) */
  int64_t size;
  size_t head_len;
  unsigned char head[16384]; /* pages 1-4 at the writer's 4 KiB page size */
} ep_fdsrc;

/* Open the SQLite database in src read-only, without locks, reading that
 * descriptor only. src must outlive the connection. SQLITE_* result. */
int ep_sqlite_open_fd(const ep_fdsrc *src, sqlite3 **db);
/* Open the SQLite database in src (writable set, head_len 0) read-write
 * through that descriptor only: no file is ever opened, created or deleted
 * by name. SQLITE_* result. */
int ep_sqlite_open_fd_rw(const ep_fdsrc *src, sqlite3 **db);

/* ---- lookup.c: the lookup table (docs/index-format.md) ------------------ */

#define EP_LOOKUP_VERSION 3
/* Columns of a lookup table row, those of the index's hot statement. */
enum {
  EP_LK_NAME,
  EP_LK_VALUE,
  EP_LK_METADIR,
  EP_LK_DNAME,
  EP_LK_DVERSION,
  EP_LK_KEY,
  EP_LK_FIELDS
};

/* A mapped table; its header has been checked, nothing else. */
typedef struct ep_lookup {
  const unsigned char *base;
  size_t size;
  size_t ngroups, dir; /* the groups' directory: entries, offset */
  size_t nkeys, kdir;  /* the key groups' directory */
} ep_lookup;
/* The rows of one group, read one by one. */
typedef struct ep_lookup_rows {
  const ep_lookup *lk;
  size_t off;
  uint32_t left;
} ep_lookup_rows;
/* One row; f[i] is NULL for SQL NULL. Points into the mapping. */
typedef struct ep_lookup_row {
  int64_t ord, line;
  const char *f[EP_LK_FIELDS];
  size_t n[EP_LK_FIELDS];
} ep_lookup_row;

/* Map the size-byte table open on fd and check its header (EPINDEX_EIO if
 * it is not one of this version). fd may be closed afterwards. */
int ep_lookup_map(int fd, uint64_t size, ep_lookup *lk);
void ep_lookup_unmap(ep_lookup *lk);
/* Group i (in BINARY order) and its rows; EPINDEX_EIO if out of bounds. */
int ep_lookup_group(const ep_lookup *lk, size_t i, const char **grp,
                    size_t *glen, ep_lookup_rows *it);
/* Find a group by binary search; false if absent. */
bool ep_lookup_find(const ep_lookup *lk, const char *grp, size_t glen,
                    ep_lookup_rows *it);
/* Is there a key group "\nkey\n" + key? Key groups are in a directory of
 * their own, without rows (only their presence is asked). */
bool ep_lookup_has_key(const ep_lookup *lk, const char *key, size_t klen);
/* Next row: 1, 0 at the end, EPINDEX_EIO if it runs out of the file. */
int ep_lookup_next(ep_lookup_rows *it, ep_lookup_row *row);
/* Write the table of the (committed) index db to fd. */
int ep_lookup_write(sqlite3 *db, int fd);

/* ---- index.c ------------------------------------------------------------- */

/* The recorded identity of the directory an index describes. */
typedef struct ep_dirstamp {
  int64_t dev, ino, mtime_ns, ctime_ns, stamp_ns;
} ep_dirstamp;

/* An open, validated index file (read-only). */
typedef struct ep_index ep_index;

/*
 * Open the index of directory dir_path (whose stat is *dir) and judge it
 * under policy. On return *reason says why it is or is not served; *out is
 * set only when it is served (reason FRESH, VERIFIED or TRUSTED). detail (may
 * be NULL) receives a sentence explaining the verdict.
 */
int ep_index_open(const char *dir_path, const struct stat *dir,
                  epindex_policy policy, ep_index **out, epindex_reason *reason,
                  ep_buf *detail);
void ep_index_close(ep_index *ix);
/* The stamp as text (a dist row's value) and back: 13 decimal integers. */
#define EP_STAMP_TEXT_MAX 320
void ep_stamp_format(const ep_stamp *s, char *out, size_t n);
bool ep_stamp_parse(const char *text, ep_stamp *s);
/* Distributions recorded (0 means it cannot hide anything). */
int64_t ep_index_ndists(const ep_index *ix);
/* The STAT policy's test: same directory, same mtime and ctime, not racy,
 * and each symlinked metadata entry (dir_path/<entry>, relative to atfd)
 * still resolves to the directory it did, unchanged. O(1) in the
 * distributions; one stat per symlinked entry. */
bool ep_index_stat_fresh(ep_index *ix, int atfd, const char *dir_path,
                         const struct stat *dir);
/* The filesystem time the index's snapshot was taken at. */
int64_t ep_index_stamp_ns(const ep_index *ix);
/* Does the index answer for a reader whose path string is path? Not when
 * it was built under the other .egg judgement of a directory that has an
 * EGG-INFO child (ep_path_is_egg). */
bool ep_index_egg_rule_agrees(const ep_index *ix, const char *path);
/* Who the index file is readable by (its mode when it was opened). */
ep_audience ep_index_audience(const ep_index *ix);
/* Problems recorded for visible distributions, as diagnostics. */
int ep_index_problems(ep_index *ix, const char *path, ep_strvec *diags);
/* Reserved group names of internal rows (see schema/index.sql). */
#define EP_GRP_META "\nmeta"
#define EP_GRP_DIST "\ndist"
#define EP_GRP_PROBLEM "\nproblem"
#define EP_GRP_KEY "\nkey\n"
#define EP_GRP_LINK "\nlink"
/* Does the index hold a distribution with this key? 1 yes, 0 no, <0 error. */
int ep_index_has_key(ep_index *ix, const char *key, size_t klen);

/* Row callback of ep_index_lookup(): strings are valid during the call. */
typedef struct ep_index_row {
  const char *group, *name, *value, *metadir, *dist, *version, *key;
  size_t group_len, name_len, value_len, metadir_len, dist_len, version_len,
      key_len;
} ep_index_row;
typedef int (*ep_row_cb)(void *ctx, const ep_index_row *row);

/* The rows of group (NULL: every group) named name (NULL: any), both
 * counted: they may hold a NUL. */
int ep_index_lookup(ep_index *ix, const char *group, size_t glen,
                    const char *name, size_t nlen, ep_row_cb cb, void *ctx);

/* Read every meta key/value pair (for status). */
int ep_index_meta(ep_index *ix, ep_strvec *keys, ep_strvec *values);

/* Open the index file in the index directory idxfd for inspection even if
 * it would not be served (owner, schema and application id must still
 * match). Used by update to reuse parsed distributions and by status. */
int ep_index_open_raw(int idxfd, uid_t owner, ep_index **ix,
                      epindex_reason *reason);
/* ep_index_open() with the index in idxdir (instead of <dir>/.epindex),
 * trusted when owned by owner (or root): the per-user cache. */
int ep_index_open_in(const char *dir_path, const struct stat *dir,
                     const char *idxdir, uid_t owner, epindex_policy policy,
                     ep_index **out, epindex_reason *reason, ep_buf *detail);
/* Does the lookup table in idxfd carry the same stamps and totals as ix? */
bool ep_index_lookup_matches(const ep_index *ix, int idxfd, uid_t owner);
/* 1 if the index records realdir as the directory it was built for. */
int ep_index_built_for(ep_index *ix, const char *realdir);
/* Load the whole index back into a catalog (update's parse cache). */
int ep_index_load(ep_index *ix, ep_catalog *cat, ep_dirstamp *ds);

/* Write cat as a complete index file into fd (new and empty). */
int ep_index_write(int fd, const ep_catalog *cat, const ep_dirstamp *ds,
                   const char *dir_realpath, bool is_egg, int lookup_fd,
                   ep_buf *err);

/* Totals recorded in an index's meta rows. */
typedef struct ep_index_counts {
  size_t dists, entries, problems, links;
  size_t egg_infos; /* EGG-INFO children of the directory (see ep_listing) */
} ep_index_counts;

void ep_index_counts_of(const ep_index *ix, ep_index_counts *n);
/* Load only the dist rows (ord, metadir, kind, key, stamps, stored). */
int ep_index_load_dists(ep_index *ix, ep_catalog *cat);

/*
 * Writing an index, all at once (ep_index_write) or as a patch of a copy of
 * an old one: open (create: a new file and its schema), delete the rows of
 * some distributions, add the rows of some (only[i] selects dists of cat;
 * NULL: all), commit with the new totals and stamps, and write the lookup
 * table to lookup_fd (if >= 0). After a failure, abort.
 */
typedef struct ep_writer ep_writer;
int ep_writer_open(int fd, bool create, ep_writer **w, ep_buf *err);
int ep_writer_delete_ords(ep_writer *w, const int64_t *ords, size_t n);
int ep_writer_add(ep_writer *w, const ep_catalog *cat, const bool *only,
                  ep_index_counts *added);
int ep_writer_commit(ep_writer *w, const ep_index_counts *totals,
                     const ep_dirstamp *ds, const char *dir_realpath,
                     bool is_egg, int lookup_fd, ep_buf *err);
void ep_writer_abort(ep_writer *w);
/* Start writing a file's dirty pages back without waiting (Linux; a no-op
 * elsewhere): the fsync that follows later then waits less, because the
 * disk worked while the caller went on. */
void ep_start_writeback(int fd);

/* Compare a listing + stamps against an open index (the VERIFY check),
 * listed by the index's own .egg judgement. relocated: compare sizes only
 * (but not behind symlinked entries). Returns 1 match, 0 mismatch (detail
 * says what), 2 racy, <0 error. */
int ep_index_matches_listing(ep_index *ix, int dirfd, bool relocated,
                             ep_buf *detail);

/* epindex_update_dir() writing the index into idxdir (created 0700 with
 * its parents) instead of <dir>/.epindex: the per-user cache. */
int ep_update_into(const char *dir, const char *idxdir, unsigned flags,
                   epindex_update_stats *stats, char *errbuf, size_t errlen);

/* The schema text, embedded at build time from schema/index.sql. */
extern const char ep_schema_sql[];

#endif /* EPINDEX_PRIVATE_H */
