/*
 * epindex.h -- Python entry points from per-directory SQLite indexes.
 *
 * libepindex answers "all entry points of group G on this search path" the way
 * importlib.metadata.entry_points(group=G) of CPython 3.11-3.13 does (same
 * entries, values, distribution precedence and order), but from an index that
 * `epindex update` (or epindex_update_dir()) wrote into each directory at
 * install time. Where an index is missing, stale, relocated, damaged, from an
 * unknown schema or untrusted, the library scans that directory itself and
 * still returns the right answer.
 *
 * Conventions (the whole API follows them):
 *   - Every function returning int returns EPINDEX_OK (0) or a negative
 *     EPINDEX_E* code; epindex_strerror() names it.
 *   - Handles are opaque. Objects returned through an out-parameter are owned
 *     by the caller and freed with the matching _free() or _close(), which
 *     accept NULL. On error the out-parameter is set to NULL.
 *   - Strings returned by getters are owned by the object they came from and
 *     stay valid until that object is freed. They are UTF-8 and
 *     NUL-terminated; where a length is offered it is authoritative, because
 *     entry point text may legally contain NUL characters.
 *   - The library never prints and never exits. Its global state is set
 *     once per process, on first use, under pthread_once(), and never
 *     changes after: an SQLite VFS named "epindex-fd" (registered, not as
 *     the default: it reads or writes one validated descriptor and opens
 *     nothing by name; other users of SQLite in the process are
 *     unaffected); SQLite, loaded with dlopen() when an index database is
 *     first opened (a reader served by lookup tables never opens one); and
 *     libarchive, loaded with dlopen() when a zip path entry is first read.
 *     An epindex handle may be shared between threads: calls on it are
 *     serialised internally. Results are independent of their handle.
 */
#ifndef EPINDEX_H
#define EPINDEX_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(EPINDEX_BUILDING) && defined(__GNUC__)
#define EPINDEX_API __attribute__((visibility("default")))
#else
#define EPINDEX_API
#endif

#define EPINDEX_VERSION_MAJOR 0
#define EPINDEX_VERSION_MINOR 1
#define EPINDEX_VERSION_PATCH 0
#define EPINDEX_VERSION_STRING "0.1.0"
#define EPINDEX_VERSION_NUMBER                                                 \
  (EPINDEX_VERSION_MAJOR * 10000 + EPINDEX_VERSION_MINOR * 100 +               \
   EPINDEX_VERSION_PATCH)

/* The index schema this library reads and writes (PRAGMA user_version). */
#define EPINDEX_SCHEMA_VERSION 4
/* PRAGMA application_id of every index file: "EPIX". */
#define EPINDEX_APPLICATION_ID 0x45504958
/* Where the index lives, relative to the directory it describes. */
#define EPINDEX_INDEX_DIR ".epindex"
#define EPINDEX_INDEX_FILE "index.db"
/* Beside it, the lookup table: a flat copy of the rows lookups read, which a
 * reader maps instead of opening SQLite (docs/index-format.md). */
#define EPINDEX_LOOKUP_FILE "lookup.tbl"

/* The library's version, twin of EPINDEX_VERSION_NUMBER / _STRING. */
EPINDEX_API int epindex_libversion_number(void);
EPINDEX_API const char *epindex_libversion(void);

/* ---- Result codes ----------------------------------------------------- */

#define EPINDEX_ERRNO_MAP(X)                                                   \
  X(OK, 0, "success")                                                          \
  X(ENOMEM, -1, "out of memory")                                               \
  X(EINVAL, -2, "invalid argument")                                            \
  X(EIO, -3, "input/output error")                                             \
  X(ENOENT, -4, "no such file or directory")                                   \
  X(ENOTDIR, -5, "not a directory")                                            \
  X(EACCES, -6, "permission denied")                                           \
  X(EROFS, -7, "read-only file system")                                        \
  X(ENOSPC, -8, "no space left on device")                                     \
  X(EBUSY, -9, "directory busy: it kept changing, or another update runs")     \
  X(ESQLITE, -10, "SQLite error")                                              \
  X(ETOOLONG, -11, "path too long")                                            \
  /* -12 is not used */                                                        \
  X(EUNTRUSTED, -13,                                                           \
    "refused: owned by another user, writable by others or a symlink")         \
  X(ETIMEDOUT, -14, "timed out waiting for another update's lock")             \
  X(ENOTSITE, -15, "not a site directory this process may index unasked")

enum {
#define EPINDEX_ENUM_(name, code, text) EPINDEX_##name = (code),
  EPINDEX_ERRNO_MAP(EPINDEX_ENUM_)
#undef EPINDEX_ENUM_
};

/* A static description of an EPINDEX_* result code; never NULL. */
EPINDEX_API const char *epindex_strerror(int code);
/* The code's name without prefix ("ENOMEM"); "UNKNOWN" for other values. */
EPINDEX_API const char *epindex_err_name(int code);

/* ---- Freshness policies ----------------------------------------------- */

/*
 * How much an index must prove before it is served (docs/freshness.md,
 * which lists what each policy cannot see):
 *   STAT   (default) the directory's device, inode, mtime and ctime equal
 *          the ones recorded, the recording was not racy, and each
 *          symlinked metadata entry resolves to what it did: one stat, plus
 *          one per symlinked entry. In a directory of at most 16
 *          distributions (a source checkout's egg-info, a small venv),
 *          also the stamps of each one's files, as VERIFY compares them:
 *          at most three stats each. Otherwise the index is verified as
 *          below before use.
 *   VERIFY always compare the directory's metadata entries, in discovery
 *          order, and the stamps (inode, size, mtime, ctime) of each one's
 *          files; only sizes when the tree was relocated.
 *   TRUST  serve any well-formed, trusted index of the current schema
 *          without freshness checks (immutable images).
 */
typedef enum epindex_policy {
  EPINDEX_POLICY_STAT = 0,
  EPINDEX_POLICY_VERIFY = 1,
  EPINDEX_POLICY_TRUST = 2
} epindex_policy;

/* Parse "stat", "verify" or "trust"; EPINDEX_EINVAL for anything else. */
EPINDEX_API int epindex_policy_parse(const char *text, epindex_policy *out);
EPINDEX_API const char *epindex_policy_name(epindex_policy policy);

/* ---- Where an answer came from ----------------------------------------- */

typedef enum epindex_source {
  EPINDEX_SOURCE_NONE = 0,  /* nothing to read: not a directory or zip */
  EPINDEX_SOURCE_INDEX = 1, /* answered from the directory's index */
  EPINDEX_SOURCE_SCAN = 2,  /* answered by scanning the path entry */
  EPINDEX_SOURCE_CACHE = 3  /* answered from this user's cached index of it */
} epindex_source;

/* "none", "index", "scan", "cache"; "unknown" for other values. */
EPINDEX_API const char *epindex_source_name(epindex_source source);

/* Why a path entry got the source it got. */
#define EPINDEX_REASON_MAP(X)                                                  \
  X(FRESH, "index is fresh")                                                   \
  X(VERIFIED, "index verified against the directory")                          \
  X(TRUSTED, "index served without checks (policy trust)")                     \
  X(MISSING, "no index")                                                       \
  X(STALE, "index is stale")                                                   \
  X(RELOCATED, "index was built for another directory and no longer matches")  \
  X(SCHEMA, "index has an unknown schema version")                             \
  X(FOREIGN, "file is not an epindex index")                                   \
  X(DAMAGED, "index is damaged")                                               \
  X(UNREADABLE, "index cannot be read")                                        \
  X(UNTRUSTED, "index or its directory is writable by another user")           \
  X(RACY, "index was stamped in the same clock tick as a change")              \
  X(NOT_DIR, "path entry is not a directory")                                  \
  X(REBUILT, "index was not current and this process rebuilt it")              \
  X(ABSENT, "path entry does not exist or cannot be listed")                   \
  X(PRIVATE, "index is readable only by the user who wrote it")                \
  X(OUTDATED, "index was written by an older epindex (its schema)")

typedef enum epindex_reason {
#define EPINDEX_REASON_ENUM_(name, text) EPINDEX_REASON_##name,
  EPINDEX_REASON_MAP(EPINDEX_REASON_ENUM_)
#undef EPINDEX_REASON_ENUM_
} epindex_reason;

/* "fresh", "stale", ... (lowercase name) and a one-line explanation. */
EPINDEX_API const char *epindex_reason_name(epindex_reason reason);
EPINDEX_API const char *epindex_reason_text(epindex_reason reason);

/* ---- Opening a search path -------------------------------------------- */

typedef struct epindex epindex;

/* Flags for epindex_open(). */
/* rebuild indexes that are not current */
#define EPINDEX_OPEN_HEAL 0x1u
/* keep the indexes of directories this process may not write in the
 * user's cache */
#define EPINDEX_OPEN_USER_CACHE 0x2u
/* answer by the rule of Python 3.15+ (below) */
#define EPINDEX_OPEN_VALUE_RULE 0x4u
/* list, but do not read, directories without a usable index (below) */
#define EPINDEX_OPEN_NO_SCAN 0x8u

/*
 * Open an ordered search path (like sys.path). Each path entry is judged now:
 * its index is opened and checked under `policy`, or it is scanned (a
 * directory, a zip file, an .egg). "" means the current directory, as in
 * sys.path. Entries that do not exist are kept and answer nothing. flags is
 * 0 or a combination of EPINDEX_OPEN_*.
 *
 * With EPINDEX_OPEN_HEAL, a directory whose index is missing, stale,
 * relocated, racy, damaged or outdated (an older schema) is re-indexed by
 * this call (as epindex_update_dir() would) when this process owns the
 * directory (root included) and may write it -- for installers that run no
 * hook, such as pip. Under EPINDEX_POLICY_STAT, so is one that was served
 * only after verification (the directory changed but no distribution did),
 * which every later reader would otherwise verify again. The rebuild takes the
 * directory's update lock without waiting: while one process rebuilds, the
 * others answer from their own scan, so a crowd of processes starting on a
 * stale index causes one rebuild, not a thundering herd. Such an entry's reason
 * is EPINDEX_REASON_REBUILT. Indexes of a newer schema, foreign or untrusted
 * files are never touched.
 *
 * With EPINDEX_OPEN_USER_CACHE, a directory with no usable index that this
 * process may not re-index (another owner, read-only) is answered from an
 * index kept in $XDG_CACHE_HOME/epindex/ (default ~/.cache/epindex/; these
 * two environment variables are read), one per directory, keyed by a hash
 * of its real path, which the index records and which is checked. It is
 * built and refreshed like the directory's own (same atomic write and
 * non-blocking lock), trusted only when this user owns it and nobody else
 * may write it; the entry's source is EPINDEX_SOURCE_CACHE.
 *
 * Under either flag, a directory nobody indexed whose listing holds no
 * *.dist-info or *.egg-info (the current directory, the standard library's,
 * an empty site directory) is answered by that listing alone: it is neither
 * re-indexed nor cached, and is opened once.
 *
 * With EPINDEX_OPEN_VALUE_RULE, answers follow importlib.metadata of Python
 * 3.15 and later (importlib_metadata 8.7+), which validates an entry point's
 * value when it is constructed (EntryPoint.pattern: module[:attr][ [extras]],
 * docs/conformance.md): a visible distribution with a value that is no
 * object reference is one importlib.metadata raises on, so it is skipped
 * and reported like other broken metadata. Without it, the rules of
 * 3.11-3.14, where such a value is returned and fails only when loaded.
 *
 * With EPINDEX_OPEN_NO_SCAN, a directory left without a usable index (after
 * HEAL and USER_CACHE had their say) is listed but not read: its source is
 * SCAN, epindex_path_dist_count() counts its metadata entries, and it
 * answers nothing -- no entry points, no distributions, no diagnostics, no
 * precedence over later entries. For callers that read such directories
 * themselves (the CPython binding's accelerate() hands them to
 * importlib.metadata's own search) and would otherwise pay for reading
 * them twice. Zip files and .egg files are still read, and an index that
 * fails while in use is replaced by a full scan as always.
 *
 * Broken metadata never makes this fail: it is skipped and reported through
 * epindex_diag_*() and counted by epindex_skipped_count(). On success *out is a
 * handle to close with epindex_close(). Errors (*out is then NULL):
 *   EPINDEX_EINVAL  out NULL, paths NULL with npaths > 0, a NULL entry, an
 *                   unknown policy or flag;
 *   EPINDEX_ENOMEM  out of memory;
 *   EPINDEX_EIO     an index failed to read while distributions of a later
 *                   entry were checked against it (a file damaged or
 *                   truncated between its check and its use).
 */
EPINDEX_API int epindex_open(epindex **out, const char *const *paths,
                             size_t npaths, epindex_policy policy,
                             unsigned flags);
/* Release a handle and everything it owns. NULL is a no-op. */
EPINDEX_API void epindex_close(epindex *ix);

/* Number of path entries, and for entry i (0-based) its text as given, where
 * its answers come from and why. Out-of-range i returns NULL / NONE / ABSENT.
 */
EPINDEX_API size_t epindex_path_count(const epindex *ix);
EPINDEX_API const char *epindex_path_entry(const epindex *ix, size_t i);
EPINDEX_API epindex_source epindex_path_source(const epindex *ix, size_t i);
EPINDEX_API epindex_reason epindex_path_reason(const epindex *ix, size_t i);
/* How many metadata entries (distributions, hidden ones included) path
 * entry i holds, from its index, its scan or (EPINDEX_OPEN_NO_SCAN) its
 * listing; 0 out of range. A scanned entry with none answers nothing (the
 * standard library's directories). */
EPINDEX_API size_t epindex_path_dist_count(const epindex *ix, size_t i);
/* What epindex_open() saw of path entry i (a directory, or a file: a zip)
 * in the stat() it took before reading anything of it: *dev, *ino and
 * *mtime_ns (st_dev, st_ino, st_mtime in nanoseconds). A caller that keeps
 * a handle while a new stat() of each entry gives the same three (the
 * directory listings importlib.metadata caches, keyed on the mtime; device
 * and inode tell another directory at the same path, as '' after chdir())
 * needs no stat() of its own before opening. EPINDEX_ENOENT when that
 * stat() failed (the entry is absent), EPINDEX_EINVAL for a NULL argument
 * or out-of-range i; outputs are set only on EPINDEX_OK. */
EPINDEX_API int epindex_path_stamp(const epindex *ix, size_t i, uint64_t *dev,
                                   uint64_t *ino, int64_t *mtime_ns);
/* Would a new epindex_open() of the same search path answer the same? 1
 * when every path entry's stat() gives the device, inode and mtime of
 * epindex_path_stamp() (or still fails), and, under EPINDEX_POLICY_STAT,
 * every entry answered from the index of a directory of at most 16
 * distributions still has the files it had (the stat policy's check: an
 * entry_points.txt rewritten in place there is a change); 0 otherwise;
 * EPINDEX_EINVAL for NULL. For a caller that keeps a handle between
 * questions, as importlib.metadata keeps its listings: one stat per entry,
 * up to three per distribution of a small indexed directory. */
EPINDEX_API int epindex_unchanged(epindex *ix);

/*
 * Diagnostics: one message per distribution whose metadata was skipped
 * because importlib.metadata would raise on it (invalid UTF-8, a line without
 * '=' in a section, an unreadable file, ...), and per index that was not used
 * for a reason worth telling (damaged, untrusted, ...). Messages name the
 * file; they are owned by the handle.
 */
EPINDEX_API size_t epindex_diag_count(const epindex *ix);
/* How many distributions were skipped because importlib.metadata would
 * raise on them (each has a diagnostic): when it is not 0, importlib.metadata
 * raises where this handle answers. */
EPINDEX_API size_t epindex_skipped_count(const epindex *ix);
EPINDEX_API const char *epindex_diag_message(const epindex *ix, size_t i);

/* ---- Looking up entry points ------------------------------------------ */

typedef struct epindex_result epindex_result;

/*
 * The entry points of `group` (NULL: every group), restricted to `name` when
 * it is not NULL, across the whole search path, in importlib.metadata's order
 * (3.12+ order when group is NULL). Distribution precedence is applied: the
 * first distribution of a normalised name on the path hides later ones.
 *
 * On success *out holds a result to free with epindex_result_free(), possibly
 * with zero rows. Fails with EPINDEX_ENOMEM, EPINDEX_EINVAL, or EPINDEX_EIO if
 * an index became unreadable after open (the answer is never partial).
 * Cost: one indexed range scan per indexed path entry.
 */
EPINDEX_API int epindex_lookup(epindex *ix, const char *group, const char *name,
                               epindex_result **out);
/* epindex_lookup() with counted strings: group_len and name_len bytes
 * (ignored when the pointer is NULL), which may hold NUL characters, as
 * Python's str may. */
EPINDEX_API int epindex_lookup_n(epindex *ix, const char *group,
                                 size_t group_len, const char *name,
                                 size_t name_len, epindex_result **out);

typedef enum epindex_field {
  EPINDEX_FIELD_GROUP = 0,   /* entry point group */
  EPINDEX_FIELD_NAME = 1,    /* entry point name */
  EPINDEX_FIELD_VALUE = 2,   /* entry point value ("module:attr [extra]") */
  EPINDEX_FIELD_DIST = 3,    /* METADATA Name; NULL when there is none */
  EPINDEX_FIELD_VERSION = 4, /* METADATA Version; NULL when there is none */
  EPINDEX_FIELD_PATH = 5,    /* the search-path entry it was found on */
  EPINDEX_FIELD_METADIR = 6  /* metadata directory or file name, e.g.
                                "foo-1.0.dist-info", or "EGG-INFO" */
} epindex_field;

EPINDEX_API size_t epindex_result_count(const epindex_result *r);
/* Field f of row i, its byte length in *len when len is not NULL. NULL (and
 * *len = 0) for a missing DIST/VERSION, an out-of-range row or field. */
EPINDEX_API const char *epindex_result_get(const epindex_result *r, size_t i,
                                           epindex_field f, size_t *len);
/* Index in the search path of the entry row i came from; SIZE_MAX for an
 * out-of-range row. */
EPINDEX_API size_t epindex_result_path_index(const epindex_result *r, size_t i);
EPINDEX_API void epindex_result_free(epindex_result *r);

/* ---- Distributions ------------------------------------------------------ */

typedef struct epindex_dists epindex_dists;

/*
 * The distributions importlib.metadata's path finder yields for the search
 * path -- MetadataPathFinder.find_distributions(Context(name=name)) -- in
 * its order: path entry by path entry, each one's metadata entries in
 * discovery order; shadowed distributions (an earlier one has the same
 * name) and those without entry points included, as distributions() has
 * them. name NULL, or name_len 0 (Prepared("") is false), gives every
 * distribution; otherwise those whose metadata entry's name matches it
 * the way importlib.metadata matches (Prepared.normalize of the part
 * before the first '-', and for the EGG-INFO of an .egg path entry the
 * legacy normalisation of the entry's basename): the first row is
 * importlib.metadata.distribution(name) up to Python 3.13; from 3.14 on it
 * is the first row whose metadata can be read, if any (the caller reads
 * it: Distribution._prefer_valid), else the first. name may hold NUL
 * characters, and bytes that are not UTF-8, each of which matches itself
 * in a metadata entry's name, as Python's surrogate escapes do (the str
 * os.listdir() gives for such a name, encoded as UTF-8 with
 * surrogateescape).
 *
 * Cost: from an index, one indexed lookup per path entry for a name, one
 * range read per path entry for all; a scanned entry is walked. On success
 * *out is a list to free with epindex_dists_free(). Errors as
 * epindex_lookup_n().
 */
EPINDEX_API int epindex_distributions(epindex *ix, const char *name,
                                      size_t name_len, epindex_dists **out);

typedef enum epindex_dist_field {
  EPINDEX_DIST_METADIR = 0, /* metadata entry as listed, e.g.
                               "foo-1.0.dist-info", "foo.egg-info",
                               "EGG-INFO" */
  EPINDEX_DIST_NAME = 1,    /* METADATA Name; NULL: none, or unreadable */
  EPINDEX_DIST_VERSION = 2, /* METADATA Version; NULL: none, or unreadable */
  EPINDEX_DIST_KEY = 3,     /* importlib's uniqueness key (_normalized_name);
                               NULL: it cannot be told */
  EPINDEX_DIST_PATH = 4     /* the search-path entry it is on */
} epindex_dist_field;

/* Flags of a distribution (epindex_dists_flags()). */
/* its entry points are known: epindex_dists_entry_points() answers. Not
 * set when importlib.metadata raises reading them (broken metadata, and
 * under EPINDEX_OPEN_VALUE_RULE a value that is no object reference), or
 * for a distribution shadowed by one with the same key in its own
 * directory, whose entry points no index keeps. */
#define EPINDEX_DIST_ENTRY_POINTS 0x1u
/* its metadata entry is a legacy *.egg-info (or *.dist-info) file */
#define EPINDEX_DIST_FILE 0x2u

EPINDEX_API size_t epindex_dists_count(const epindex_dists *d);
/* Field f of distribution i, its byte length in *len when len is not NULL.
 * NULL (and *len = 0) for a missing NAME/VERSION/KEY or out-of-range i/f.
 * NAME and VERSION are what importlib.metadata's Distribution.name and
 * .version return when they are not NULL; when NULL, importlib.metadata
 * itself must be asked (it may return None, warn or raise). */
EPINDEX_API const char *epindex_dists_get(const epindex_dists *d, size_t i,
                                          epindex_dist_field f, size_t *len);
/* Index in the search path of the entry distribution i is on; SIZE_MAX
 * out of range. */
EPINDEX_API size_t epindex_dists_path_index(const epindex_dists *d, size_t i);
/* EPINDEX_DIST_* flags of distribution i; 0 out of range. */
EPINDEX_API unsigned epindex_dists_flags(const epindex_dists *d, size_t i);
/* How many entry points distribution i has when EPINDEX_DIST_ENTRY_POINTS
 * is set (so that a caller need not ask for none), else 0. */
EPINDEX_API size_t epindex_dists_entry_count(const epindex_dists *d, size_t i);
/*
 * The entry points of distribution i of d (which ix returned), in the order
 * of its entry_points.txt: Distribution.entry_points. The first call on a
 * path entry answered from an index finds where that index's entry point
 * rows are, once (kept by ix); later ones cost one binary search and
 * their rows. On success *out is a result as epindex_lookup()'s.
 * EPINDEX_ENOENT: not known (the flag EPINDEX_DIST_ENTRY_POINTS is not
 * set, or the path entry's index was since demoted to a scan or replaced
 * and no longer has this distribution there): read its entry_points.txt.
 * EPINDEX_EINVAL for a NULL argument or out-of-range i.
 */
EPINDEX_API int epindex_dists_entry_points(epindex *ix, const epindex_dists *d,
                                           size_t i, epindex_result **out);
EPINDEX_API void epindex_dists_free(epindex_dists *d);

/* ---- Writing and checking indexes -------------------------------------- */

/* Flags for epindex_update_dir(). */
#define EPINDEX_UPDATE_FULL 0x1u /* re-read every distribution */
#define EPINDEX_UPDATE_NOWAIT                                                  \
  0x2u /* if another update holds the lock, fail                               \
          at once with EPINDEX_EBUSY */
/* Index dir only if it is a site directory worth indexing without being
 * named: it holds at least one distribution, belongs to this process's
 * effective user, is not the current directory, and is not the standard
 * library (holds os.py) or lib-dynload. Otherwise EPINDEX_ENOTSITE and
 * nothing is written; errbuf says why. Used by healing readers and by
 * `epindex update --python`. */
#define EPINDEX_UPDATE_SITE_ONLY 0x4u
/* With EPINDEX_UPDATE_SITE_ONLY: also accept the standard library and
 * lib-dynload (which hold no distributions), still only when this user owns
 * them (`epindex update --python PY --include-stdlib`). */
#define EPINDEX_UPDATE_STDLIB 0x8u
/* How long to wait for another update's lock before failing with
 * EPINDEX_ETIMEDOUT: EPINDEX_UPDATE_LOCK_WAIT(seconds), 1 to 65535, or'ed
 * into the flags. Without it: EPINDEX_UPDATE_LOCK_WAIT_DEFAULT seconds.
 * Ignored with EPINDEX_UPDATE_NOWAIT. Only processes of the index's owner
 * can open the lock file (mode 0600), so only they can make a writer wait. */
#define EPINDEX_UPDATE_LOCK_WAIT(seconds) (((unsigned)(seconds)&0xFFFFu) << 16)
#define EPINDEX_UPDATE_LOCK_WAIT_DEFAULT 60

typedef struct epindex_update_stats {
  size_t dists;   /* metadata entries indexed */
  size_t entries; /* entry point rows written */
  size_t reread;  /* distributions whose files were read this time */
  int unchanged;  /* 1 if the existing index was already fresh: not rewritten */
  int patched;    /* 1 if a copy of the old index was patched (only entries
                     that came or changed were read and written) */
  size_t restricted; /* distributions with files that not every user who
                        may list dir may read: then the index is readable
                        by its writer alone (docs/security.md) */
} epindex_update_stats;

/*
 * (Re)build the index of one directory. Concurrent updates of one directory
 * are serialised by a lock file; the new index is written to a temporary file
 * in EPINDEX_INDEX_DIR, synced and renamed over the old one, so readers see
 * either the old or the complete new index. Unless EPINDEX_UPDATE_FULL is
 * given, distributions whose files did not change are copied from the old
 * index instead of being read again.
 *
 * Security (docs/security.md): every file it creates, opens, renames or
 * removes is reached from descriptors of dir and of its EPINDEX_INDEX_DIR,
 * never by a path that another user could redirect. An existing
 * EPINDEX_INDEX_DIR (or lock file) that is a symlink, is not owned by this
 * process's effective user, or is writable by group or others is refused
 * with EPINDEX_EUNTRUSTED. The index files get the read permissions of dir
 * itself (0644, 0640 with dir's group, or 0600), and only 0600 when a
 * distribution holds something that not every reader of dir may read: the
 * index never shows a reader what it could not have read itself.
 *
 * Returns EPINDEX_OK, or one of these; then nothing was changed and, when
 * errbuf is not NULL, a message naming the failing file is written to it
 * (NUL-terminated, truncated to errlen). stats may be NULL.
 *   EINVAL      dir NULL, or an unknown flag
 *   ENOENT, ENOTDIR, EACCES, ETOOLONG   dir cannot be opened as a directory
 *   EROFS, EACCES, ENOSPC, EIO          the index cannot be written
 *   EUNTRUSTED  EPINDEX_INDEX_DIR or its lock is another user's, a symlink
 *               or writable by others
 *   EBUSY       NOWAIT and another update holds the lock; or the directory
 *               kept changing during 8 snapshots, or the clock stood still
 *   ETIMEDOUT   another update held the lock past the wait
 *   ENOTSITE    SITE_ONLY and dir is not a site directory
 *   ESQLITE     SQLite failed otherwise; ENOMEM  out of memory
 */
EPINDEX_API int epindex_update_dir(const char *dir, unsigned flags,
                                   epindex_update_stats *stats, char *errbuf,
                                   size_t errlen);

/* Information about one directory's index: its verdict under a policy and
 * the key/value pairs of its meta table (docs/index-format.md). */
typedef struct epindex_dirinfo epindex_dirinfo;

/*
 * Judge the index of `dir` under `policy` without scanning the directory's
 * metadata (a verify policy still lists it). Always returns a dirinfo unless
 * memory runs out (EPINDEX_ENOMEM) or dir is NULL (EPINDEX_EINVAL).
 */
EPINDEX_API int epindex_inspect(const char *dir, epindex_policy policy,
                                epindex_dirinfo **out);
/* EPINDEX_REASON_FRESH, VERIFIED or TRUSTED mean the index would be served. */
EPINDEX_API epindex_reason epindex_dirinfo_reason(const epindex_dirinfo *d);
/* A sentence with the details of the verdict (e.g. what differs). */
EPINDEX_API const char *epindex_dirinfo_detail(const epindex_dirinfo *d);
EPINDEX_API size_t epindex_dirinfo_count(const epindex_dirinfo *d);
EPINDEX_API const char *epindex_dirinfo_key(const epindex_dirinfo *d, size_t i);
EPINDEX_API const char *epindex_dirinfo_value(const epindex_dirinfo *d,
                                              size_t i);
EPINDEX_API void epindex_dirinfo_free(epindex_dirinfo *d);

/* 1 if `reason` means an index is served, else 0. */
EPINDEX_API int epindex_reason_is_served(epindex_reason reason);

#ifdef __cplusplus
}
#endif
#endif /* EPINDEX_H */
