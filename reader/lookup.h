/*
 * lookup.h -- the lookup table (docs/index-format.md): a flat copy of an
 * index's lookup rows, read a few pages at a time. Layer 4.
 */
#ifndef EPINDEX_LOOKUP_H
#define EPINDEX_LOOKUP_H

#include "fdvfs.h"
#include "util.h"

/* Reserved group names of internal rows (see schema/index.sql). */
#define EP_GRP_META "\nmeta"
#define EP_GRP_DIST "\ndist"
#define EP_GRP_PROBLEM "\nproblem"
#define EP_GRP_KEY "\nkey\n"
#define EP_GRP_LINK "\nlink"
#define EP_GRP_BADVALUE "\nbadvalue"
#define EP_GRP_NAME "\nname\n"
#define EP_GRP_EGG "\negg"

#define EP_LOOKUP_VERSION 7
/* A directory of at most this many distributions is small: readers' stat
 * check compares each one's stamps too (index_open.c), and its table keeps
 * the \ndist rows' stamps for that; larger ones' tables leave them out. */
#define EP_SMALL_DIR_DISTS 16
/* The fields of a row, in the order of the lookup table and of index.db's
 * statements (which select these first): one numbering for both. */
enum {
  EP_COL_NAME,
  EP_COL_VALUE,
  EP_COL_METADIR,
  EP_COL_DNAME,
  EP_COL_DVERSION,
  EP_COL_KEY,
  EP_COL_FIELDS
};

/* A table's mapping, shared: unmapped when its last holder lets go. A
 * list of distributions made from a table points into it instead of
 * copying every name (and outlives the handle, which may close first). */
typedef struct ep_mapping ep_mapping;
/* Where an open table's bytes are: its descriptor, the pages read so far,
 * its mapping once it has one (lookup.c). */
typedef struct ep_lookup_reads ep_lookup_reads;

/* An open table; its header has been checked, nothing else. Reading it
 * changes rd: one thread at a time (the handle's lock). Text it hands out
 * stays valid until ep_lookup_close(). */
typedef struct ep_lookup {
  size_t size;
  ep_lookup_reads *rd;   /* NULL: no table */
  size_t ngroups, dir;   /* the groups' directory: entries, offset */
  size_t nkeys, kdir;    /* the key groups' directory */
  size_t nnames, ndir;   /* the name groups' directory (\nname\n + key) */
  size_t nentries, edir; /* the entry order directory: entries, offset */
  size_t kbuckets, nbuckets, hash; /* the key and name directories' hash
                                    * tables: buckets each, offset */
} ep_lookup;
/* The rows of one group, read one by one. */
typedef struct ep_lookup_rows {
  const ep_lookup *lk;
  size_t off;
  uint32_t left;
  const char *grp; /* the group's name, in the table's pages */
  size_t glen;
  size_t end; /* where the group's rows end, if known (0: not): how much of
               * the table to read for them, never trusted further */
} ep_lookup_rows;

/* One row of an index, from the lookup table or from index.db alike (the
 * index module's row source): the one row type every reader of an index
 * consumes. f[i] is NULL for SQL NULL, n[i] its length (text may hold NUL
 * characters; each is also followed by a NUL). grp is the row's group.
 * ord and line are 0 where index.db's hot statement does not select them.
 * ints has bit i set when index.db stores field i as an integer (meta
 * values do; nothing else may). Points into the table's pages or the
 * statement: valid until the next row. */
typedef struct ep_row {
  const unsigned char *at; /* its bytes in a lookup table; NULL: index.db's */
  const char *grp;
  size_t glen;
  int64_t ord, line;
  const char *f[EP_COL_FIELDS];
  size_t n[EP_COL_FIELDS];
  unsigned ints;
} ep_row;

/* A row consumer: returns EPINDEX_OK to go on, anything else to stop (1:
 * stop, not an error). */
typedef int (*ep_row_fn)(void *ctx, const ep_row *r);

/* Open the table on fd, whose fstat() is st, and check its header
 * (EPINDEX_EIO if it is not one of this version). Takes fd, on failure
 * too: it is read until ep_lookup_close(), and only while it is still
 * the file st describes (a program that closes and reuses descriptors it
 * does not own makes reads fail, not read another file). */
int ep_lookup_open(int fd, const struct stat *st, ep_lookup *lk);
void ep_lookup_close(ep_lookup *lk);
/* Another hold on lk's mapping, made on first use (NULL if lk has no
 * table or it cannot be mapped); every row read from lk afterwards is in
 * it, and its text stays readable until ep_mapping_release(). Mapping
 * changes lk (one thread at a time); the holds are thread-safe. */
ep_mapping *ep_lookup_share(const ep_lookup *lk);
void ep_mapping_release(ep_mapping *m);
/* Group i (in BINARY order) and its rows; EPINDEX_EIO if out of bounds. */
int ep_lookup_group(const ep_lookup *lk, size_t i, const char **grp,
                    size_t *glen, ep_lookup_rows *it);
/* Find a group by binary search; false if absent. */
bool ep_lookup_find(const ep_lookup *lk, const char *grp, size_t glen,
                    ep_lookup_rows *it);
/* Is there a key group "\nkey\n" + key? Key groups are in a directory of
 * their own, without rows (only their presence is asked). This and
 * ep_lookup_find_name() look names up in their directory's hash table:
 * a few reads whatever the number of distributions. */
bool ep_lookup_has_key(const ep_lookup *lk, const char *key, size_t klen);
/* The rows of name group "\nname\n" + key (the distributions that
 * distribution(name) may find); false if absent. */
bool ep_lookup_find_name(const ep_lookup *lk, const char *key, size_t klen,
                         ep_lookup_rows *it);
/* Entry k of the entry order directory: where the k-th entry point row in
 * discovery order (ord, line) is -- its distribution's ord, the index of
 * its group in the group directory, and the row's offset (the rows
 * themselves are kept group by group). *it is set to read that row.
 * EPINDEX_EIO if out of bounds or not among its group's rows; the row
 * itself is checked when read. */
int ep_lookup_entry(const ep_lookup *lk, size_t k, int64_t *ord,
                    ep_lookup_rows *it);
/* Next row: 1, 0 at the end, EPINDEX_EIO if it runs out of the file. */
int ep_lookup_next(ep_lookup_rows *it, ep_row *row);
/* The row whose bytes start at at (an ep_row's at, read after
 * ep_lookup_share() returned m) in the table mapped by m, read again and
 * checked again (no group: grp NULL): 1, or EPINDEX_EIO when at is not in m or
 * the row runs out of it. For lists that keep a row's place instead of its
 * fields (epindex_distributions()). */
int ep_lookup_row_at(const unsigned char *at, const ep_mapping *m, ep_row *row);
/* Write the table of the (committed) index db to fd. */
int ep_lookup_write(sqlite3 *db, int fd);
/* What a patch of an index changed: the ords whose rows it deleted
 * (ascending) and the rows it inserted (grp set; sorted by grp in BINARY
 * order, then ord, then line; fields as index.db returns them, integers as
 * decimal text). Its \nmeta rows replace the old ones. dists and entries:
 * the dist rows and entry point rows the patched index holds. */
typedef struct ep_lookup_patch {
  const int64_t *removed;
  size_t nremoved;
  const ep_row *added;
  size_t nadded;
  size_t dists, entries;
} ep_lookup_patch;
/* Write the table of the patched index db to fd, as ep_lookup_write()
 * would, from old (the table of the index before the patch) and the
 * patch: only the key groups are read from db. EPINDEX_EIO when old
 * cannot be read or does not add up to the patch's counts, and for a
 * small directory (whose old table may lack the stamps it needs): the
 * caller then writes from db alone. */
int ep_lookup_write_patch(sqlite3 *db, const ep_lookup *old,
                          const ep_lookup_patch *patch, int fd);
/* Write the table of a whole index to fd from all of its rows (rows->added,
 * sorted as for a patch; nothing removed), as ep_lookup_write() would from
 * the index.db they were inserted into. EPINDEX_EIO when they do not add up
 * to rows->dists and rows->entries or are out of order. */
int ep_lookup_write_rows(const ep_lookup_patch *rows, int fd);
/* From this many rows on, a writer of a whole index writes its table with
 * ep_lookup_write_rows() in a thread while SQLite inserts the same rows
 * into index.db (below it, the thread costs more than it saves, and the
 * fault-injection runs, whose directories are small, keep one order of
 * system calls). */
enum { EP_LOOKUP_PARALLEL_ROWS = 8192 };

#endif /* EPINDEX_LOOKUP_H */
