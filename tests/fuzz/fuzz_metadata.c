/* fuzz_metadata -- the METADATA/PKG-INFO header reader (email compat32
 * rules + textwrap.dedent), after universal newlines. Any input. */
#include "scan.h"
#include "text.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);
int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size) {
  char *copy = malloc(size + 1);
  if (!copy)
    return 0;
  memcpy(copy, data, size);
  size_t n = ep_universal_newlines(copy, size);
  static const char *const fields[] = {"Name", "Version", "X"};
  for (int i = 0; i < 3; i++) {
    ep_buf v = {0};
    int found = ep_header_value(copy, n, fields[i], &v);
    if (found == 1 && (!v.data || v.len > n + 8 * (n + 1)))
      abort();
    ep_buf_free(&v);
  }
  free(copy);
  return 0;
}
