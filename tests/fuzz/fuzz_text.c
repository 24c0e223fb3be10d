/* fuzz_text -- the entry_points.txt parser and the str rules behind it
 * (strict UTF-8, splitlines, strip, lower, normalize). Any input. */
#include "text.h"

#include <stdlib.h>
#include <string.h>

static int count(void *ctx, const ep_parsed_entry *e) {
  size_t *n = ctx;
  /* every piece must lie inside the input and be well-formed */
  if (!e->group || !e->name || !e->value)
    abort();
  (*n)++;
  return 0;
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);
int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size) {
  const char *s = (const char *)data;
  ep_buf low = {0}, norm = {0};
  ep_lower(&low, s, size);
  ep_normalize(&norm, s, size);
  if (ep_utf8_valid(s, size, NULL)) {
    size_t n = 0;
    uint32_t bad = 0;
    ep_parse_entry_points(s, size, count, &n, &bad);
    /* lowering valid UTF-8 yields valid UTF-8 */
    if (!ep_utf8_valid(low.data, low.len, NULL))
      abort();
  }
  ep_buf_free(&low);
  ep_buf_free(&norm);
  return 0;
}
