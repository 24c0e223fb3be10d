/*
 * lookup_bench -- in-process cost of epindex_open + epindex_lookup +
 * epindex_close, the whole cycle a plugin host pays once per process.
 *
 *   lookup_bench [--repeat N] [--policy P] DIR... GROUP
 *
 * Prints one line: median, 10th and 90th percentile in microseconds, the
 * number of entries, and where each path entry was answered from.
 */
#include "epindex.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_us(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec * 1e6 + (double)t.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

int main(int argc, char **argv) {
  int repeat = 1000;
  epindex_policy policy = EPINDEX_POLICY_STAT;
  int i = 1;
  for (; i < argc && strncmp(argv[i], "--", 2) == 0; i += 2) {
    if (i + 1 >= argc)
      break;
    if (strcmp(argv[i], "--repeat") == 0)
      repeat = atoi(argv[i + 1]);
    else if (strcmp(argv[i], "--policy") != 0 ||
             epindex_policy_parse(argv[i + 1], &policy) != 0) {
      fprintf(stderr, "lookup_bench: bad option %s\n", argv[i]);
      return 2;
    }
  }
  if (argc - i < 2 || repeat < 1) {
    fprintf(stderr,
            "usage: lookup_bench [--repeat N] [--policy P] DIR... GROUP\n");
    return 2;
  }
  const char **paths = (const char **)(argv + i);
  size_t npaths = (size_t)(argc - i - 1);
  const char *group = argv[argc - 1];
  double *t = malloc((size_t)repeat * sizeof(*t));
  size_t count = 0;
  char sources[256] = "";
  for (int r = 0; r < repeat; r++) {
    epindex *ix;
    epindex_result *res;
    double t0 = now_us();
    if (epindex_open(&ix, paths, npaths, policy, 0) ||
        epindex_lookup(ix, group, NULL, &res)) {
      fprintf(stderr, "lookup_bench: lookup failed\n");
      return 1;
    }
    count = epindex_result_count(res);
    if (r == 0)
      for (size_t k = 0; k < npaths && strlen(sources) < 200; k++)
        snprintf(sources + strlen(sources), sizeof(sources) - strlen(sources),
                 "%s%s", k ? "," : "",
                 epindex_reason_name(epindex_path_reason(ix, k)));
    epindex_result_free(res);
    epindex_close(ix);
    t[r] = now_us() - t0;
  }
  qsort(t, (size_t)repeat, sizeof(*t), cmp_double);
  printf("median %.1f us  p10 %.1f  p90 %.1f  entries %zu  runs %d  [%s]\n",
         t[repeat / 2], t[repeat / 10], t[repeat * 9 / 10], count, repeat,
         sources);
  free(t);
  return 0;
}
