/* fuzz_index -- hostile index files: the input becomes <dir>/.epindex/
 * index.db of a directory with one real distribution, opened under every
 * policy and looked up. The answer must always be the scan's (one entry). */
#include "epindex.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[64];

static void put(const char *rel, const void *data, size_t n) {
  char p[256];
  snprintf(p, sizeof(p), "%s/%s", dir, rel);
  int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0 || write(fd, data, n) != (ssize_t)n)
    abort();
  close(fd);
}

static void setup(void) {
  char p[256];
  snprintf(dir, sizeof(dir), "/tmp/fuzz-index-XXXXXX");
  if (!mkdtemp(dir))
    abort();
  snprintf(p, sizeof(p), "%s/one-1.0.dist-info", dir);
  mkdir(p, 0755);
  snprintf(p, sizeof(p), "%s/.epindex", dir);
  mkdir(p, 0755);
  put("one-1.0.dist-info/METADATA", "Name: one\nVersion: 1.0\n", 23);
  put("one-1.0.dist-info/entry_points.txt", "[g]\none = one:main\n", 19);
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);
int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size) {
  if (!dir[0])
    setup();
  put(".epindex/index.db", data, size);
  const char *paths[] = {dir};
  for (int policy = 0; policy < 3; policy++) {
    epindex *ix;
    epindex_result *r;
    if (epindex_open(&ix, paths, 1, (epindex_policy)policy) != EPINDEX_OK)
      abort();
    if (epindex_lookup(ix, NULL, NULL, &r) == EPINDEX_OK) {
      /* a hostile index served under "trust" may say anything; otherwise
       * the answer is the directory's */
      if (policy != EPINDEX_POLICY_TRUST && epindex_result_count(r) != 1)
        abort();
      for (size_t i = 0; i < epindex_result_count(r); i++)
        for (int f = 0; f < 7; f++)
          epindex_result_get(r, i, (epindex_field)f, NULL);
      epindex_result_free(r);
    }
    epindex_close(ix);
  }
  return 0;
}
