/* fuzz_lookup -- hostile lookup tables: the input becomes <dir>/.epindex/
 * lookup.tbl of a directory with one real distribution and no index.db,
 * opened under every policy and looked up (all groups, one group, and a
 * precedence check against a second path entry), and its distributions
 * listed, found by name and asked for their entry points. Under "stat"
 * and "verify" the answer must be the scan's (one entry, two
 * distributions named "one"); under "trust" a table that parses may say
 * anything, but must never be read out of bounds (ASan) or crash. */
#include "epindex.h"

#include "fuzz_site.h"

#include <stdbool.h>
#include <string.h>

static char dir[64], other[80];

/* A second path entry after the site: its "one" is hidden only if the
 * table's keys say so (a binary search in the key directory). */
static void setup(void) {
  snprintf(dir, sizeof(dir), "/tmp/fuzz-lookup-XXXXXX");
  site_make(dir);
  snprintf(other, sizeof(other), "%s/other", dir);
  site_mkdir(dir, "other");
  site_mkdir(dir, "other/one-2.0.dist-info");
  site_put(dir, "other/one-2.0.dist-info/METADATA", "Name: one\nVersion: 2.0\n",
           23);
}

/* Every distribution (or those named "one"), each field and each one's
 * entry points: from the table when it is served. */
static void check_dists(epindex *ix, const char *name, bool exact) {
  epindex_dists *d;
  if (epindex_distributions(ix, name, name ? strlen(name) : 0, &d) !=
      EPINDEX_OK)
    return;
  if (exact && epindex_dists_count(d) != 2)
    abort();
  for (size_t i = 0; i < epindex_dists_count(d); i++) {
    for (int f = 0; f < 5; f++)
      epindex_dists_get(d, i, (epindex_dist_field)f, NULL);
    epindex_result *r;
    if (epindex_dists_entry_points(ix, d, i, &r) == EPINDEX_OK) {
      for (size_t k = 0; k < epindex_result_count(r); k++)
        epindex_result_get(r, k, EPINDEX_FIELD_VALUE, NULL);
      epindex_result_free(r);
    }
  }
  epindex_dists_free(d);
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);
int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size) {
  if (!dir[0])
    setup();
  site_put(dir, ".epindex/lookup.tbl", data, size);
  const char *paths[] = {dir, other};
  const char *groups[] = {NULL, "g"};
  for (int policy = 0; policy < 3; policy++)
    for (int g = 0; g < 2; g++) {
      epindex *ix;
      epindex_result *r;
      if (epindex_open(&ix, paths, 2, (epindex_policy)policy, 0) != EPINDEX_OK)
        abort();
      if (epindex_lookup(ix, groups[g], NULL, &r) == EPINDEX_OK) {
        if (policy != EPINDEX_POLICY_TRUST && epindex_result_count(r) != 1)
          abort();
        for (size_t i = 0; i < epindex_result_count(r); i++)
          for (int f = 0; f < 7; f++)
            epindex_result_get(r, i, (epindex_field)f, NULL);
        epindex_result_free(r);
      }
      check_dists(ix, g ? "one" : NULL, policy != EPINDEX_POLICY_TRUST);
      for (size_t i = 0; i < epindex_diag_count(ix); i++)
        (void)strlen(epindex_diag_message(ix, i));
      epindex_close(ix);
    }
  return 0;
}
