/*
 * access.h -- who may read what an index publishes: the audience of a
 * directory and of an index file, and whether it may read a file.
 * Layer 2.
 */
#ifndef EPINDEX_ACCESS_H
#define EPINDEX_ACCESS_H

#include "util.h"

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
/* Has rel (relative to dirfd; a symlink followed, as reading does) an
 * ACL? 0: no (none, or none on its file system); 1: yes, or cannot tell.
 * Asked with getxattrat(2) where the kernel has it, else (and always with
 * via_proc, which tests use) through /proc/self/fd. */
int ep_acl_at(int dirfd, const char *rel, bool via_proc);

#endif /* EPINDEX_ACCESS_H */
