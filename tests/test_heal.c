/* test_heal.c -- EPINDEX_OPEN_HEAL: readers that rebuild indexes nobody
 * updated (pip runs no hook), one at a time, without a thundering herd. */
#include "support.h"

#include "epindex.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

static int setup(void **state) {
  char *t = tmp_dir();
  for (int i = 0; i < 30; i++) {
    char md[64], ep[128];
    snprintf(md, sizeof(md), "p%04d-1.0.dist-info", i);
    snprintf(ep, sizeof(ep), "[g]\np%04d = p%04d:main\n", i, i);
    put_dist(t, md, md, "1.0", ep);
  }
  assert_int_equal(epindex_update_dir(t, 0, NULL, NULL, 0), EPINDEX_OK);
  put_dist(t, "late-1.0.dist-info", "late", "1.0", "[g]\nlate = late:main\n");
  *state = t;
  return 0;
}

static int teardown(void **state) {
  tmp_cleanup(*state);
  return 0;
}

static size_t lookup(const char *dir, unsigned flags, epindex_reason *why,
                     epindex_source *src) {
  const char *paths[] = {dir};
  epindex *ix;
  epindex_result *r;
  assert_int_equal(epindex_open(&ix, paths, 1, EPINDEX_POLICY_STAT, flags), 0);
  assert_int_equal(epindex_lookup(ix, "g", NULL, &r), EPINDEX_OK);
  size_t n = epindex_result_count(r);
  *why = epindex_path_reason(ix, 0);
  *src = epindex_path_source(ix, 0);
  epindex_result_free(r);
  epindex_close(ix);
  return n;
}

static epindex_reason verdict(const char *dir) {
  epindex_dirinfo *d;
  assert_int_equal(epindex_inspect(dir, EPINDEX_POLICY_STAT, &d), 0);
  epindex_reason r = epindex_dirinfo_reason(d);
  epindex_dirinfo_free(d);
  return r;
}

static void test_heal_rebuilds_a_stale_index(void **state) {
  epindex_reason why;
  epindex_source src;
  assert_int_equal(lookup(*state, 0, &why, &src), 31); /* scanned */
  assert_int_equal(why, EPINDEX_REASON_STALE);
  assert_int_equal(verdict(*state), EPINDEX_REASON_STALE); /* untouched */
  assert_int_equal(lookup(*state, EPINDEX_OPEN_HEAL, &why, &src), 31);
  assert_int_equal(why, EPINDEX_REASON_REBUILT);
  assert_int_equal(src, EPINDEX_SOURCE_INDEX);
  assert_int_equal(verdict(*state), EPINDEX_REASON_FRESH);
}

/* A directory that changed without a distribution changing: served after
 * verification; a healing reader refreshes the stamps, so that the next
 * reader needs one stat again. */
static void test_heal_refreshes_a_verified_index(void **state) {
  epindex_reason why;
  epindex_source src;
  assert_int_equal(epindex_update_dir(*state, 0, NULL, NULL, 0), EPINDEX_OK);
  sh("sleep 0.05; touch %s/module.py", (char *)*state);
  assert_int_equal(lookup(*state, 0, &why, &src), 31);
  assert_int_equal(why, EPINDEX_REASON_VERIFIED);
  assert_int_equal(verdict(*state), EPINDEX_REASON_VERIFIED); /* untouched */
  assert_int_equal(lookup(*state, EPINDEX_OPEN_HEAL, &why, &src), 31);
  assert_int_equal(src, EPINDEX_SOURCE_INDEX);
  assert_true(why == EPINDEX_REASON_REBUILT || why == EPINDEX_REASON_FRESH);
  sh("sleep 0.05");
  assert_int_equal(verdict(*state), EPINDEX_REASON_FRESH);
}

static void test_heal_never_waits_for_another_rebuild(void **state) {
  char *lock = path_join(*state, ".epindex/lock");
  int fd = open(lock, O_RDWR);
  assert_true(fd >= 0);
  assert_int_equal(flock(fd, LOCK_EX), 0); /* an update in progress */
  epindex_reason why;
  epindex_source src;
  assert_int_equal(lookup(*state, EPINDEX_OPEN_HEAL, &why, &src), 31);
  assert_int_equal(why, EPINDEX_REASON_STALE);
  assert_int_equal(src, EPINDEX_SOURCE_SCAN);
  assert_int_equal(
      epindex_update_dir(*state, EPINDEX_UPDATE_NOWAIT, NULL, NULL, 0),
      EPINDEX_EBUSY);
  close(fd);
  free(lock);
}

static void test_heal_leaves_foreign_files_alone(void **state) {
  char *db = path_join(*state, ".epindex/index.db");
  sqlite3 *h;
  assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
  assert_int_equal(sqlite3_exec(h, "PRAGMA application_id = 7", 0, 0, 0),
                   SQLITE_OK);
  sqlite3_close(h);
  epindex_reason why;
  epindex_source src;
  assert_int_equal(lookup(*state, EPINDEX_OPEN_HEAL, &why, &src), 31);
  assert_int_equal(why, EPINDEX_REASON_FOREIGN);
  assert_int_equal(verdict(*state), EPINDEX_REASON_FOREIGN);
  free(db);
}

/* 50 processes start at once on a stale index of 3,000 distributions: one
 * rebuilds, the others answer from their own scan, all answers are right. */
static void test_no_thundering_herd(void **state) {
  const char *d = *state;
  for (int i = 30; i < 3000; i++) {
    char md[64];
    snprintf(md, sizeof(md), "p%04d-1.0.dist-info", i);
    put_dist(d, md, md, "1.0", i % 10 ? NULL : "[g]\nx = y\n");
  }
  enum { N = 50 };
  int go[2], report[2];
  assert_int_equal(pipe(go), 0);
  assert_int_equal(pipe(report), 0);
  for (int i = 0; i < N; i++) {
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
      close(go[1]);
      char c;
      (void)!read(go[0], &c, 1); /* wait for the start: EOF for everyone */
      epindex_reason why;
      epindex_source src;
      const char *paths[] = {d};
      epindex *ix;
      epindex_result *r;
      if (epindex_open(&ix, paths, 1, EPINDEX_POLICY_STAT, EPINDEX_OPEN_HEAL) ||
          epindex_lookup(ix, "g", NULL, &r))
        _exit(1);
      why = epindex_path_reason(ix, 0);
      src = epindex_path_source(ix, 0);
      char line[64];
      int n = snprintf(line, sizeof(line), "%d %d %zu\n", (int)why, (int)src,
                       epindex_result_count(r));
      (void)!write(report[1], line, (size_t)n); /* < PIPE_BUF: atomic */
      _exit(0);
    }
  }
  close(go[0]);
  close(report[1]);
  close(go[1]); /* start */
  FILE *f = fdopen(report[0], "r");
  int rebuilt = 0, scanned = 0, lines = 0, why, src;
  size_t count;
  while (fscanf(f, "%d %d %zu", &why, &src, &count) == 3) {
    lines++;
    assert_int_equal(count, 31 + 297); /* every answer right */
    rebuilt += why == EPINDEX_REASON_REBUILT;
    scanned += src == EPINDEX_SOURCE_SCAN;
  }
  fclose(f);
  for (int i = 0; i < N; i++) {
    int status;
    wait(&status);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
  assert_int_equal(lines, N);
  assert_int_equal(rebuilt, 1);
  printf("# herd: %d processes, %d rebuild, %d answered by scanning\n", N,
         rebuilt, scanned);
  assert_int_equal(verdict(d), EPINDEX_REASON_FRESH);
}

int main(void) {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
  const struct CMUnitTest tests[] = {
      T(test_heal_rebuilds_a_stale_index),
      T(test_heal_refreshes_a_verified_index),
      T(test_heal_never_waits_for_another_rebuild),
      T(test_heal_leaves_foreign_files_alone),
      T(test_no_thundering_herd),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
