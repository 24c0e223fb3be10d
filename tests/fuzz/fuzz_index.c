/* fuzz_index -- hostile index files: the input becomes <dir>/.epindex/
 * index.db of a directory with one real distribution, opened under every
 * policy and looked up. The answer must always be the scan's (one entry). */
#include "epindex.h"

#include "fuzz_site.h"

#include <string.h>

static char dir[64];

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);
int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size) {
  if (!dir[0]) {
    snprintf(dir, sizeof(dir), "/tmp/fuzz-index-XXXXXX");
    site_make(dir);
  }
  site_put(dir, ".epindex/index.db", data, size);
  const char *paths[] = {dir};
  for (int policy = 0; policy < 3; policy++) {
    epindex *ix;
    epindex_result *r;
    if (epindex_open(&ix, paths, 1, (epindex_policy)policy, 0) != EPINDEX_OK)
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
