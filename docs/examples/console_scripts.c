/* console_scripts.c -- print the console_scripts entry points of a search
 * path, as importlib.metadata.entry_points(group="console_scripts") would
 * find them there (README, "From C"; compiled and run by
 * tests/install/run.sh).
 *
 *   cc console_scripts.c $(pkg-config --cflags --libs epindex) -o cs
 *   ./cs /usr/lib/python3/dist-packages
 */
#include <epindex.h>
#include <stdio.h>

int main(int argc, char **argv) {
  epindex *ix;
  epindex_result *r;
  const char *const *path = (const char *const *)argv + 1; /* sys.path order */
  int rc = epindex_open(&ix, path, (size_t)(argc - 1), EPINDEX_POLICY_STAT, 0);
  if (rc == EPINDEX_OK)
    rc = epindex_lookup(ix, "console_scripts", NULL, &r);
  if (rc != EPINDEX_OK) {
    fprintf(stderr, "console_scripts: %s\n", epindex_strerror(rc));
    epindex_close(ix);
    return 1;
  }
  for (size_t i = 0; i < epindex_result_count(r); i++)
    printf("%s = %s\n", epindex_result_get(r, i, EPINDEX_FIELD_NAME, NULL),
           epindex_result_get(r, i, EPINDEX_FIELD_VALUE, NULL));
  for (size_t i = 0; i < epindex_diag_count(ix); i++) /* skipped metadata */
    fprintf(stderr, "warning: %s\n", epindex_diag_message(ix, i));
  epindex_result_free(r);
  epindex_close(ix);
  return 0;
}
