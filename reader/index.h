/*
 * index.h -- ep_catalog <-> SQLite index file: trust checks, freshness
 * verdicts, queries over index.db and the lookup table, the writer.
 * Layer 5.
 */
#ifndef EPINDEX_INDEX_H
#define EPINDEX_INDEX_H

#include "access.h"
#include "lookup.h"
#include "scan.h"
#include "util.h"

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
/* The rest of readers' stat check: in a directory of at most
 * EP_SMALL_DIR_DISTS distributions, each one's files still have the stamps
 * the index recorded (and none changed in the tick it was stamped); true
 * for larger directories, whose files the stat check does not look at. */
bool ep_index_small_dir_same(ep_index *ix, const char *dir_path);
/* The filesystem time the index's snapshot was taken at. */
int64_t ep_index_stamp_ns(const ep_index *ix);
/* Does the index answer for a reader whose path string is path? Not when
 * it was built under the other .egg judgement of a directory that has an
 * EGG-INFO child (ep_path_is_egg). */
bool ep_index_egg_rule_agrees(const ep_index *ix, const char *path);
/* Who the index file is readable by (its mode when it was opened). */
ep_audience ep_index_audience(const ep_index *ix);
/* Each problem recorded for a visible distribution: its metadata entry and
 * why its entry points were skipped (the caller words the message). */
typedef int (*ep_problem_fn)(void *ctx, const char *metadir, size_t mlen,
                             const char *why, size_t wlen);
int ep_index_problems(ep_index *ix, ep_problem_fn fn, void *ctx);
/* Each visible distribution with an entry point value that is no object
 * reference (ep_dist.bad_value): its metadata entry, key, and the first
 * such value with its line in entry_points.txt. */
typedef int (*ep_badvalue_fn)(void *ctx, const char *metadir, size_t mlen,
                              const char *key, size_t klen, int64_t line,
                              const char *value, size_t vlen);
int ep_index_bad_values(ep_index *ix, ep_badvalue_fn fn, void *ctx);
/* Does the index hold a distribution with this key? 1 yes, 0 no, <0 error. */
int ep_index_has_key(ep_index *ix, const char *key, size_t klen);

/* The entry point rows (ep_row, lookup.h: valid during the call) of group
 * (NULL: every group, in discovery order) named name (NULL: any), both
 * counted: they may hold a NUL. */
int ep_index_lookup(ep_index *ix, const char *group, size_t glen,
                    const char *name, size_t nlen, ep_row_fn cb, void *ctx);

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
/* The lookup table in idxfd opened, if it carries ix's stamps and totals
 * (it is the table of the index ix read); NULL otherwise. Close it. */
ep_index *ep_index_open_matching_table(const ep_index *ix, int idxfd,
                                       uid_t owner);
/* 1 if the index records realdir as the directory it was built for. */
int ep_index_built_for(ep_index *ix, const char *realdir);
/* Load the whole index back into a catalog (update's parse cache). */
int ep_index_load(ep_index *ix, ep_catalog *cat, ep_dirstamp *ds);

/* The distribution rows (ord; line = flags, as a \ndist row's; name =
 * problem; metadir, dname, dversion, key) of grp: EP_GRP_DIST (every
 * one, in discovery order), EP_GRP_NAME + a Lookup key (those that
 * distribution(name) finds by it), or EP_GRP_EGG (the EGG-INFO ones).
 * From the lookup table when the handle has one, else index.db. */
int ep_index_dist_rows(ep_index *ix, const char *grp, size_t glen, ep_row_fn fn,
                       void *ctx);
/* Does the handle read the lookup table (not index.db)? */
bool ep_index_has_table(const ep_index *ix);
/* A hold on the handle's table mapping (NULL when it reads index.db): the
 * text of the rows ep_index_dist_rows() hands out stays readable while it
 * is held, after the handle is closed too. ep_mapping_release() it. */
ep_mapping *ep_index_share_table(const ep_index *ix);
/* The entry point rows of the distribution at ord, in file order, from the
 * lookup table: where every entry row is, in discovery order, is found on
 * the first call and kept with the handle, so that a reader handing out
 * distributions one at a time pays one binary search each, and copies
 * nothing it does not return. EPINDEX_ENOENT when the handle reads
 * index.db (then ep_index_load_view() is the way). */
int ep_index_entries_at(ep_index *ix, int64_t ord, ep_row_fn fn, void *ctx);
/* Load every distribution (without stamps) and its entry points into cat,
 * for a reader that hands them out one distribution at a time. */
int ep_index_load_view(ep_index *ix, ep_catalog *cat);

/* Write cat as a complete index file into fd (new and empty). */
int ep_index_write(int fd, const ep_catalog *cat, const ep_dirstamp *ds,
                   const char *dir_realpath, bool is_egg, int lookup_fd,
                   ep_buf *err);

/* Totals recorded in an index's meta rows. */
typedef struct ep_index_counts {
  size_t dists, entries, problems, links;
  size_t badvalues; /* \nbadvalue rows (ep_dist.bad_value) */
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
 * table to lookup_fd (if >= 0). After a failure, abort. A catalog given to
 * ep_writer_add() must live until the commit or abort has returned (rows
 * kept for the lookup table point at its strings).
 */
typedef struct ep_writer ep_writer;
int ep_writer_open(int fd, bool create, ep_writer **w, ep_buf *err);
/* Make the patch's lookup table from table (the old index's, from
 * ep_index_open_matching_table(), open until the commit) and the rows the
 * patch deletes and adds, not from all of the new index's rows. Call it
 * before anything is deleted or added; NULL or a handle without a table
 * does nothing. */
void ep_writer_patch_table(ep_writer *w, const ep_index *table);
int ep_writer_delete_ords(ep_writer *w, const int64_t *ords, size_t n);
int ep_writer_add(ep_writer *w, const ep_catalog *cat, const bool *only,
                  ep_index_counts *added);
int ep_writer_commit(ep_writer *w, const ep_index_counts *totals,
                     const ep_dirstamp *ds, const char *dir_realpath,
                     bool is_egg, int lookup_fd, ep_buf *err);
void ep_writer_abort(ep_writer *w);

/* Compare a listing + stamps against an open index (the VERIFY check),
 * listed by the index's own .egg judgement. relocated: compare sizes only
 * (but not behind symlinked entries). Returns 1 match, 0 mismatch (detail
 * says what), 2 racy, <0 error. */
int ep_index_matches_listing(ep_index *ix, int dirfd, bool relocated,
                             ep_buf *detail);

/* The schema text, embedded at build time from schema/index.sql. */
extern const char ep_schema_sql[];

#endif /* EPINDEX_INDEX_H */
