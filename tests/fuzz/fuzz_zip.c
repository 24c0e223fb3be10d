/* fuzz_zip -- a zip file on the search path (wheels, eggs): the input is
 * the zip. No crash, no leak, whatever libarchive makes of it. */
#include "epindex.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);
int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size) {
  static char path[64];
  if (!path[0]) {
    snprintf(path, sizeof(path), "/tmp/fuzz-zip-XXXXXX");
    int fd = mkstemp(path);
    if (fd < 0)
      abort();
    close(fd);
  }
  int fd = open(path, O_WRONLY | O_TRUNC);
  if (fd < 0 || write(fd, data, size) != (ssize_t)size)
    abort();
  close(fd);
  const char *paths[] = {path};
  epindex *ix;
  epindex_result *r;
  if (epindex_open(&ix, paths, 1, EPINDEX_POLICY_STAT, 0) != EPINDEX_OK)
    abort();
  if (epindex_lookup(ix, NULL, NULL, &r) == EPINDEX_OK)
    epindex_result_free(r);
  epindex_close(ix);
  return 0;
}
