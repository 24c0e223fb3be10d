/*
 * update.h -- epindex_update_dir() and its per-user-cache twin: lock,
 * snapshot or patch, write, rename. Layer 6.
 */
#ifndef EPINDEX_UPDATE_H
#define EPINDEX_UPDATE_H

#include "util.h"

/* epindex_update_dir() writing the index into idxdir (created 0700 with
 * its parents) instead of <dir>/.epindex: the per-user cache. */
int ep_update_into(const char *dir, const char *idxdir, unsigned flags,
                   epindex_update_stats *stats, char *errbuf, size_t errlen);

#endif /* EPINDEX_UPDATE_H */
