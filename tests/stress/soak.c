/*
 * soak -- concurrency: updaters, readers and a directory that keeps changing.
 *
 *   soak [SECONDS]      (default 20; EPINDEX_SOAK_SECONDS in .ci/run)
 *
 * The directory holds a sliding window of distributions d<j> (one entry
 * point "e<j>" each). A mutator moves the window one step at a time by one
 * atomic rename (in from a staging directory, or out to it), 15 ms apart,
 * so every state the directory has is a window of W or W+1 consecutive
 * distributions. Three processes run `epindex_update_dir` in a loop; two
 * reader processes with four threads each open the directory and look up
 * the group in a loop, alternating policies. Every answer from an index
 * must be exactly one such window (see answer_ok() for scans); no call may
 * fail, and some answers must come from an index (else only the scanner
 * was tested). At the end the index must be fresh, served, and answer
 * exactly what a scan answers. Prints the counts and "soak: N passed, 0
 * failed".
 */
#define _GNU_SOURCE
#include "epindex.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum { W = 20, READER_PROCS = 2, THREADS = 4, UPDATERS = 3 };

static char site[256], stage[256];

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void write_file(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  if (!f || fputs(text, f) < 0 || fclose(f) != 0) {
    perror(path);
    exit(2);
  }
}

/* d<j> is prepared in the staging directory, then renamed in: one step. */
static void prepare(int j) {
  char d[512], f[600], text[128];
  snprintf(d, sizeof(d), "%s/d%06d-1.0.dist-info", stage, j);
  mkdir(d, 0755);
  snprintf(f, sizeof(f), "%s/METADATA", d);
  snprintf(text, sizeof(text), "Name: d%06d\nVersion: 1.0\n", j);
  write_file(f, text);
  snprintf(f, sizeof(f), "%s/entry_points.txt", d);
  snprintf(text, sizeof(text), "[soak]\ne%06d = d:main\n", j);
  write_file(f, text);
}

static void move(int j, const char *from, const char *to) {
  char a[512], b[512];
  snprintf(a, sizeof(a), "%s/d%06d-1.0.dist-info", from, j);
  snprintf(b, sizeof(b), "%s/d%06d-1.0.dist-info", to, j);
  if (rename(a, b) != 0) {
    perror("rename");
    exit(2);
  }
}

static void mutator(double until) {
  int lo = 0, hi = W;
  struct timespec gap = {0, 15 * 1000000L};
  for (int step = 0; now() < until; step++) {
    if (step % 2 == 0) {
      prepare(hi);
      move(hi++, stage, site); /* window grows to W+1 */
    } else {
      move(lo++, site, stage); /* and shrinks back to W */
    }
    nanosleep(&gap, NULL);
  }
  printf("mutator: %d renames\n", lo + hi - W);
  fflush(stdout);
  _exit(0);
}

static void updater(double until) {
  long n = 0, busy = 0;
  char err[512];
  while (now() < until) {
    int rc = epindex_update_dir(site, n % 5 ? 0 : EPINDEX_UPDATE_FULL, NULL,
                                err, sizeof(err));
    if (rc == EPINDEX_EBUSY) /* changing faster than 8 snapshots: allowed */
      busy++;
    else if (rc) {
      fprintf(stderr, "soak: update failed: %s\n", err);
      _exit(1);
    }
    n++;
  }
  printf("updater: %ld updates (%ld gave up on a busy directory)\n", n, busy);
  fflush(stdout);
  _exit(0);
}

typedef struct reader_stats {
  long lookups, from_index, bad;
  double until;
  int id;
} reader_stats;

/* An answer from an index must be a state the directory had: e<lo> ..
 * e<hi-1>, consecutive, hi - lo = W or W+1. A scan reads a directory that
 * may change while it is read; readdir() then returns every entry present
 * throughout and may or may not return one added or removed meanwhile (as
 * for importlib.metadata): a scan that a loaded machine preempts across k
 * renames may miss up to k entries at the ends (seen: W-2 on a 2-core CI
 * machine), never one in the middle. Either way: consecutive, no
 * duplicates, at most W+1. Entries come in discovery (readdir) order:
 * checked as a set. */
static int answer_ok(epindex_result *r, int from_index) {
  size_t n = epindex_result_count(r);
  if (from_index ? n != W && n != W + 1 : n > W + 1 || n < W / 2)
    return 0;
  int seen[W + 1] = {0}, lo = -1;
  for (size_t i = 0; i < n; i++) {
    int j = atoi(epindex_result_get(r, i, EPINDEX_FIELD_NAME, NULL) + 1);
    if (lo < 0 || j < lo)
      lo = j;
  }
  for (size_t i = 0; i < n; i++) {
    int j = atoi(epindex_result_get(r, i, EPINDEX_FIELD_NAME, NULL) + 1);
    if (j - lo < 0 || j - lo > W || seen[j - lo]++)
      return 0;
  }
  return 1;
}

static void *reader_thread(void *arg) {
  reader_stats *s = arg;
  const char *paths[] = {site};
  for (long k = 0; now() < s->until; k++) {
    epindex_policy p = (epindex_policy)(k % 2); /* stat, verify */
    epindex *ix;
    epindex_result *r;
    if (epindex_open(&ix, paths, 1, p, 0) ||
        epindex_lookup(ix, "soak", NULL, &r)) {
      s->bad++;
      continue;
    }
    int from_index = epindex_path_source(ix, 0) == EPINDEX_SOURCE_INDEX;
    s->from_index += from_index;
    if (!answer_ok(r, from_index)) {
      s->bad++;
      fprintf(stderr,
              "soak: reader %d: a window of %zu that never existed "
              "(%s, %s)\n",
              s->id, epindex_result_count(r),
              epindex_path_source(ix, 0) == EPINDEX_SOURCE_INDEX ? "index"
                                                                 : "scan",
              epindex_reason_name(epindex_path_reason(ix, 0)));
    }
    s->lookups++;
    epindex_result_free(r);
    epindex_close(ix);
  }
  return NULL;
}

static void reader(double until, int id) {
  pthread_t t[THREADS];
  reader_stats s[THREADS];
  for (int i = 0; i < THREADS; i++) {
    s[i] = (reader_stats){0, 0, 0, until, id * THREADS + i};
    pthread_create(&t[i], NULL, reader_thread, &s[i]);
  }
  long lookups = 0, from_index = 0, bad = 0;
  for (int i = 0; i < THREADS; i++) {
    pthread_join(t[i], NULL);
    lookups += s[i].lookups, from_index += s[i].from_index, bad += s[i].bad;
  }
  printf("reader %d: %d threads, %ld lookups (%ld from the index), %ld wrong\n",
         id, THREADS, lookups, from_index, bad);
  /* a soak whose indexes are never served tests only the scanner */
  if (from_index == 0)
    printf("reader %d: FAILED: no answer came from an index\n", id);
  fflush(stdout);
  _exit(bad || from_index == 0 ? 1 : 0);
}

/* The group's answer as "name=value;..." in order, and where it came from.
 * NULL on failure. */
static char *answer_text(epindex_source *src, epindex_reason *why) {
  const char *paths[] = {site};
  epindex *ix;
  epindex_result *r;
  if (epindex_open(&ix, paths, 1, EPINDEX_POLICY_STAT, 0))
    return NULL;
  if (epindex_lookup(ix, "soak", NULL, &r)) {
    epindex_close(ix);
    return NULL;
  }
  size_t n = epindex_result_count(r), at = 0, cap = 64 * (n + 1);
  char *out = malloc(cap);
  out[0] = '\0';
  for (size_t i = 0; i < n; i++)
    at += (size_t)snprintf(out + at, cap - at, "%s=%s;",
                           epindex_result_get(r, i, EPINDEX_FIELD_NAME, NULL),
                           epindex_result_get(r, i, EPINDEX_FIELD_VALUE, NULL));
  *src = epindex_path_source(ix, 0);
  *why = epindex_path_reason(ix, 0);
  epindex_result_free(r);
  epindex_close(ix);
  return out;
}

/* Once quiet, the index is served (fresh) and answers what a scan of the
 * directory answers, in the same order. The scan's answer is taken with
 * the index files moved aside within .epindex, which no stamp covers. */
static int final_answer_is_a_scans(void) {
  static const char *const files[] = {EPINDEX_INDEX_FILE, EPINDEX_LOOKUP_FILE};
  char from[2][400], to[2][420];
  epindex_source s1 = EPINDEX_SOURCE_NONE, s2 = EPINDEX_SOURCE_NONE;
  epindex_reason w1 = EPINDEX_REASON_ABSENT, w2 = EPINDEX_REASON_ABSENT;
  char *indexed = answer_text(&s1, &w1);
  for (int i = 0; i < 2; i++) {
    snprintf(from[i], sizeof(from[i]), "%s/" EPINDEX_INDEX_DIR "/%s", site,
             files[i]);
    snprintf(to[i], sizeof(to[i]), "%s.aside", from[i]);
    rename(from[i], to[i]);
  }
  char *scanned = answer_text(&s2, &w2);
  for (int i = 0; i < 2; i++)
    rename(to[i], from[i]);
  int ok = indexed && scanned && s1 == EPINDEX_SOURCE_INDEX &&
           w1 == EPINDEX_REASON_FRESH && s2 == EPINDEX_SOURCE_SCAN &&
           strcmp(indexed, scanned) == 0 && *indexed;
  if (!ok)
    fprintf(stderr, "soak: final answer (%s, %s): %s\nscan (%s): %s\n",
            s1 == EPINDEX_SOURCE_INDEX ? "index" : "not the index",
            epindex_reason_name(w1), indexed ? indexed : "(failed)",
            epindex_reason_name(w2), scanned ? scanned : "(failed)");
  free(indexed);
  free(scanned);
  return ok;
}

int main(int argc, char **argv) {
  double secs = argc > 1 ? atof(argv[1]) : 20;
  char base[] = "/tmp/epindex-soak-XXXXXX";
  if (!mkdtemp(base))
    return 2;
  snprintf(site, sizeof(site), "%s/site", base);
  snprintf(stage, sizeof(stage), "%s/stage", base);
  mkdir(site, 0755);
  mkdir(stage, 0755);
  for (int j = 0; j < W; j++) {
    prepare(j);
    move(j, stage, site);
  }
  if (epindex_update_dir(site, 0, NULL, NULL, 0))
    return 2;
  fflush(stdout);
  double until = now() + secs;
  pid_t kids[1 + UPDATERS + READER_PROCS];
  int n = 0;
  if ((kids[n++] = fork()) == 0)
    mutator(until);
  for (int i = 0; i < UPDATERS; i++)
    if ((kids[n++] = fork()) == 0)
      updater(until);
  for (int i = 0; i < READER_PROCS; i++)
    if ((kids[n++] = fork()) == 0)
      reader(until, i);
  int failed = 0;
  for (int i = 0; i < n; i++) {
    int status;
    waitpid(kids[i], &status, 0);
    failed += !WIFEXITED(status) || WEXITSTATUS(status) != 0;
  }
  /* quiet now: one more update must leave a fresh index equal to a scan */
  epindex_update_stats st;
  int rc = epindex_update_dir(site, 0, &st, NULL, 0);
  epindex_dirinfo *d;
  epindex_inspect(site, EPINDEX_POLICY_VERIFY, &d);
  int fresh = rc == 0 && epindex_dirinfo_reason(d) == EPINDEX_REASON_VERIFIED;
  epindex_dirinfo_free(d);
  failed += !fresh;
  printf("final index: %s\n", fresh ? "fresh and verified" : "NOT fresh");
  int same = final_answer_is_a_scans();
  failed += !same;
  printf("final answer: %s\n",
         same ? "served by the index, equal to a scan" : "WRONG");
  char cmd[512];
  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", base);
  if (system(cmd) != 0)
    failed++;
  printf("soak: %d passed, %d failed\n", n + 1 - failed, failed);
  return failed ? 1 : 0;
}
