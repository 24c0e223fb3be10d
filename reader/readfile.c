/*
 * readfile.c -- read one metadata file as pathlib.read_text() does inside
 * importlib.metadata's suppress(...): what counts as absent, what raises;
 * no FIFO, device or oversized file is ever read. The writer also learns
 * whether every reader of its index could have read the same file.
 */
#include "readfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static ep_read_status absent_or_error(int err, int *err_out) {
  *err_out = err;
  switch (err) {
  /* the exceptions PathDistribution.read_text() suppresses */
  case ENOENT:
  case EISDIR:
  case ENOTDIR:
  case EACCES:
  case EPERM:
    return EP_READ_ABSENT;
  default:
    return EP_READ_ERROR;
  }
}

bool ep_read_error_fleeting(int err) {
  int same;
  if (err == 0 || absent_or_error(err, &same) == EP_READ_ABSENT)
    return false; /* none, or one that importlib suppresses */
  switch (err) {
  case ELOOP: /* the tree itself causes these, or we refuse */
  case ENAMETOOLONG:
  case ENXIO:
  case ENODEV:
  case EFBIG:
  case EOVERFLOW:
    return false;
  default:
    return true;
  }
}

static int open_at(int dirfd, const char *path, int flags) {
  int fd;
  do
    fd = openat(dirfd, path,
                O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY | flags);
  while (fd < 0 && errno == EINTR);
  return fd;
}

ep_read_status ep_read_file_at(int dirfd, const char *path, ep_buf *buf,
                               int *err, ep_read_check *chk,
                               struct stat *seen) {
  struct stat scratch;
  if (!seen)
    seen = &scratch;
  seen->st_mode = 0;
  bool checking = chk && chk->aud->kind != EP_AUD_OWNER, via_link = false;
  /* the writer must know whether a symlink led to the file: try without
   * following first (no extra call when it is not one) */
  int fd = open_at(dirfd, path, checking ? O_NOFOLLOW : 0);
  if (fd < 0 && checking && errno == ELOOP) {
    via_link = true;
    fd = open_at(dirfd, path, 0);
  }
  if (fd < 0)
    return absent_or_error(errno, err);
  struct stat st;
  ep_read_status rs = EP_READ_OK;
  buf->len = 0;
  bool stated = fstat(fd, &st) == 0;
  if (stated)
    *seen = st;
  /* read it all the same: it is the writer's own answer */
  if (checking && stated && !S_ISDIR(st.st_mode) &&
      !ep_audience_may_file(chk->aud, fd, &st, via_link || chk->through_link))
    chk->denied = true;
  if (!stated) {
    rs = absent_or_error(errno, err);
  } else if (S_ISDIR(st.st_mode)) {
    rs = absent_or_error(EISDIR, err);
  } else if (!S_ISREG(st.st_mode)) {
    /* Python would block on a FIFO or read a device forever: refuse. */
    *err = ENODEV;
    rs = EP_READ_ERROR;
  } else if ((uint64_t)st.st_size > EP_MAX_FILE_SIZE) {
    *err = EFBIG;
    rs = EP_READ_ERROR;
  } else if (ep_buf_reserve(buf, (size_t)st.st_size + 1)) {
    *err = ENOMEM;
    rs = EP_READ_ERROR;
  }
  while (rs == EP_READ_OK) {
    if (buf->cap - buf->len - 1 < 4096 && ep_buf_reserve(buf, 4096)) {
      *err = ENOMEM;
      rs = EP_READ_ERROR;
      break;
    }
    size_t asked = buf->cap - buf->len - 1;
    ssize_t got = read(fd, buf->data + buf->len, asked);
    if (got < 0 && errno == EINTR)
      continue;
    if (got < 0) {
      rs = absent_or_error(errno, err);
      break;
    }
    if (got == 0)
      break;
    buf->len += (size_t)got;
    if (buf->len > EP_MAX_FILE_SIZE) { /* grew while we read it */
      *err = EFBIG;
      rs = EP_READ_ERROR;
    } else if ((size_t)got < asked && buf->len == (size_t)st.st_size) {
      /* the whole file as fstat() sized it, and a read cut short by its
       * end: the read that returns 0 would cost a system call per file */
      break;
    }
  }
  if (buf->data)
    buf->data[buf->len] = '\0';
  close(fd);
  return rs;
}
