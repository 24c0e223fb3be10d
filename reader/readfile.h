/*
 * readfile.h -- reading one metadata file the way pathlib.read_text() does
 * inside importlib.metadata, and judging who else could have read it.
 * Layer 3.
 */
#ifndef EPINDEX_READFILE_H
#define EPINDEX_READFILE_H

#include "access.h"
#include "util.h"
#include <sys/stat.h>

/* Outcome of reading one metadata file the way pathlib.read_text() does
 * inside importlib.metadata's suppress(...). */
typedef enum ep_read_status {
  EP_READ_OK,     /* contents in the buffer */
  EP_READ_ABSENT, /* ENOENT, EISDIR, ENOTDIR, EACCES, EPERM: Python's None */
  EP_READ_ERROR   /* anything else: importlib.metadata would raise */
} ep_read_status;

/* What the writer checks of each file it reads (NULL: nothing). */
typedef struct ep_read_check {
  const ep_audience *aud;
  bool through_link; /* the metadata directory is a symlink */
  bool denied; /* set when a file read is one some member could not read */
} ep_read_check;

/* Read dirfd-relative `path` entirely into buf (replacing its contents).
 * Refuses FIFOs, devices and files over EP_MAX_FILE_SIZE with EP_READ_ERROR
 * and *err set to an errno-like value. EINTR is retried. With chk, also
 * judges whether chk->aud could have read the file. With seen, *seen is
 * the fstat() of what was opened (followed when a symlink), its st_mode 0
 * when nothing was. */
ep_read_status ep_read_file_at(int dirfd, const char *path, ep_buf *buf,
                               int *err, ep_read_check *chk, struct stat *seen);

/* Is err, of ep_read_file_at(), an error of the moment (EIO, EMFILE,
 * ENOMEM...: another read of the same tree may succeed) rather than one of
 * the file itself (absent, a loop, a FIFO, too large)? 0 is neither. */
bool ep_read_error_fleeting(int err);

#endif /* EPINDEX_READFILE_H */
