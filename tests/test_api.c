/* test_api.c -- the public contract: argument checks, codes and names,
 * precedence across path entries (index and scan mixed), threads. */
#include "support.h"

#include "epindex.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

static void test_codes_and_names(void **state) {
  (void)state;
  assert_string_equal(epindex_strerror(EPINDEX_OK), "success");
  assert_string_equal(epindex_strerror(EPINDEX_ENOSPC),
                      "no space left on device");
  assert_string_equal(epindex_strerror(-999), "unknown error");
  assert_string_equal(epindex_err_name(EPINDEX_EROFS), "EROFS");
  assert_string_equal(epindex_err_name(42), "UNKNOWN");
  assert_string_equal(epindex_reason_name(EPINDEX_REASON_RELOCATED),
                      "relocated");
  assert_string_equal(epindex_reason_name((epindex_reason)999), "unknown");
  assert_true(epindex_reason_is_served(EPINDEX_REASON_VERIFIED));
  assert_false(epindex_reason_is_served(EPINDEX_REASON_STALE));
  epindex_policy p;
  assert_int_equal(epindex_policy_parse("verify", &p), EPINDEX_OK);
  assert_int_equal(p, EPINDEX_POLICY_VERIFY);
  assert_int_equal(epindex_policy_parse("Verify", &p), EPINDEX_EINVAL);
  assert_int_equal(epindex_policy_parse(NULL, &p), EPINDEX_EINVAL);
  assert_string_equal(epindex_policy_name(EPINDEX_POLICY_TRUST), "trust");
  assert_int_equal(epindex_libversion_number(), EPINDEX_VERSION_NUMBER);
  assert_string_equal(epindex_libversion(), EPINDEX_VERSION_STRING);
}

static void test_argument_checks(void **state) {
  (void)state;
  epindex *ix = (epindex *)1;
  const char *bad[] = {"/tmp", NULL};
  assert_int_equal(epindex_open(NULL, NULL, 0, EPINDEX_POLICY_STAT, 0),
                   EPINDEX_EINVAL);
  assert_int_equal(epindex_open(&ix, NULL, 1, EPINDEX_POLICY_STAT, 0),
                   EPINDEX_EINVAL);
  assert_null(ix);
  assert_int_equal(epindex_open(&ix, bad, 2, EPINDEX_POLICY_STAT, 0),
                   EPINDEX_EINVAL);
  assert_int_equal(epindex_open(&ix, bad, 1, (epindex_policy)7, 0),
                   EPINDEX_EINVAL);
  epindex_result *r = (epindex_result *)1;
  assert_int_equal(epindex_lookup(NULL, "g", NULL, &r), EPINDEX_EINVAL);
  assert_null(r);
  epindex_close(NULL);
  epindex_result_free(NULL);
  epindex_dirinfo_free(NULL);
  assert_int_equal(epindex_path_count(NULL), 0);
  assert_null(epindex_result_get(NULL, 0, EPINDEX_FIELD_NAME, NULL));
  /* an empty search path answers nothing */
  assert_int_equal(epindex_open(&ix, NULL, 0, EPINDEX_POLICY_STAT, 0),
                   EPINDEX_OK);
  assert_int_equal(epindex_lookup(ix, NULL, NULL, &r), EPINDEX_OK);
  assert_int_equal(epindex_result_count(r), 0);
  size_t len = 7;
  assert_null(epindex_result_get(r, 0, EPINDEX_FIELD_NAME, &len));
  assert_int_equal(len, 0);
  assert_null(epindex_path_entry(ix, 0));
  assert_int_equal(epindex_path_reason(ix, 3), EPINDEX_REASON_ABSENT);
  epindex_result_free(r);
  epindex_close(ix);
}

typedef struct fx {
  char *tmp, *a, *b, *c;
} fx;

/* a: indexed; b: scanned; c: a zip-less missing entry. Names collide. */
static int setup(void **state) {
  fx *f = calloc(1, sizeof(*f));
  f->tmp = tmp_dir();
  f->a = path_join(f->tmp, "a");
  f->b = path_join(f->tmp, "b");
  f->c = path_join(f->tmp, "missing");
  put_dist(f->a, "Shared.Name-1.0.dist-info", "Shared.Name", "1.0",
           "[g]\nfrom_a = a:x\n");
  put_file(f->a, "legacy-0.1-py3.11.egg-info", "Name: legacy\nVersion: 0.1\n",
           (size_t)-1);
  put_dist(f->b, "shared_name-2.0.dist-info", "shared_name", "2.0",
           "[g]\nfrom_b = b:x\n");
  put_dist(f->b, "legacy-9.0.dist-info", "legacy", "9.0",
           "[g]\nlegacy = b:legacy\n");
  put_dist(f->b, "only_b-1.0.dist-info", "only_b", "1.0",
           "[g]\nonly = b:only\n[h]\nh = b:h\n");
  assert_int_equal(epindex_update_dir(f->a, 0, NULL, NULL, 0), EPINDEX_OK);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fx *f = *state;
  free(f->a);
  free(f->b);
  free(f->c);
  tmp_cleanup(f->tmp);
  free(f);
  return 0;
}

static char *names(epindex_result *r) {
  char *s = calloc(1, 1024);
  for (size_t i = 0; i < epindex_result_count(r); i++) {
    strcat(s, epindex_result_get(r, i, EPINDEX_FIELD_NAME, NULL));
    strcat(s, ",");
  }
  return s;
}

static void test_precedence_across_entries(void **state) {
  fx *f = *state;
  const char *paths[] = {f->c, f->a, f->b};
  epindex *ix;
  epindex_result *r;
  assert_int_equal(epindex_open(&ix, paths, 3, EPINDEX_POLICY_STAT, 0),
                   EPINDEX_OK);
  assert_int_equal(epindex_path_source(ix, 0), EPINDEX_SOURCE_NONE);
  assert_int_equal(epindex_path_source(ix, 1), EPINDEX_SOURCE_INDEX);
  assert_int_equal(epindex_path_source(ix, 2), EPINDEX_SOURCE_SCAN);
  assert_int_equal(epindex_lookup(ix, "g", NULL, &r), EPINDEX_OK);
  /* Shared.Name in a hides shared_name in b; the egg-info *file* legacy in a
   * (no entry points) hides legacy-9.0 in b */
  char *got = names(r);
  assert_string_equal(got, "from_a,only,");
  assert_int_equal(epindex_result_path_index(r, 0), 1);
  assert_int_equal(epindex_result_path_index(r, 1), 2);
  size_t len;
  assert_string_equal(epindex_result_get(r, 1, EPINDEX_FIELD_PATH, &len), f->b);
  assert_int_equal(len, strlen(f->b));
  assert_string_equal(epindex_result_get(r, 1, EPINDEX_FIELD_METADIR, NULL),
                      "only_b-1.0.dist-info");
  /* rows share what they have in common (the group) instead of copying it:
   * a result of hundreds of rows stays small */
  assert_ptr_equal(epindex_result_get(r, 0, EPINDEX_FIELD_GROUP, NULL),
                   epindex_result_get(r, 1, EPINDEX_FIELD_GROUP, NULL));
  free(got);
  epindex_result_free(r);
  assert_int_equal(epindex_lookup(ix, NULL, "h", &r), EPINDEX_OK);
  got = names(r);
  assert_string_equal(got, "h,");
  free(got);
  epindex_result_free(r);
  epindex_close(ix);
  /* reversed order: b wins */
  const char *rev[] = {f->b, f->a};
  assert_int_equal(epindex_open(&ix, rev, 2, EPINDEX_POLICY_STAT, 0),
                   EPINDEX_OK);
  assert_int_equal(epindex_lookup(ix, "g", NULL, &r), EPINDEX_OK);
  got = names(r);
  assert_non_null(strstr(got, "from_b,"));
  assert_null(strstr(got, "from_a"));
  free(got);
  epindex_result_free(r);
  epindex_close(ix);
}

static void test_problems_are_reported_once_visible(void **state) {
  fx *f = *state;
  put_file(f->b, "broken-1.0.dist-info/entry_points.txt", "[g]\nnoequals\n",
           (size_t)-1);
  /* hidden by a's Shared.Name: importlib never reads it, so no report */
  put_file(f->b, "shared.name-3.0.dist-info/entry_points.txt", "[g]\nbad\n",
           (size_t)-1);
  const char *paths[] = {f->a, f->b};
  epindex *ix;
  assert_int_equal(epindex_open(&ix, paths, 2, EPINDEX_POLICY_STAT, 0),
                   EPINDEX_OK);
  assert_int_equal(epindex_diag_count(ix), 1);
  assert_non_null(
      strstr(epindex_diag_message(ix, 0), "broken-1.0.dist-info: skipped"));
  assert_null(epindex_diag_message(ix, 1));
  epindex_close(ix);
}

/* Regression: "a\0b" is not the name "a" (strcmp would say it is). */
static void test_name_filter_respects_embedded_nul(void **state) {
  fx *f = *state;
  static const char text[] = "[g]\na\0b = x\na = y\n";
  put_file(f->b, "nul-1.0.dist-info/entry_points.txt", text, sizeof(text) - 1);
  for (int indexed = 0; indexed < 2; indexed++) {
    if (indexed)
      assert_int_equal(epindex_update_dir(f->b, 0, NULL, NULL, 0), EPINDEX_OK);
    const char *paths[] = {f->b};
    epindex *ix;
    epindex_result *r;
    assert_int_equal(epindex_open(&ix, paths, 1, EPINDEX_POLICY_STAT, 0),
                     EPINDEX_OK);
    assert_int_equal(epindex_lookup(ix, "g", "a", &r), EPINDEX_OK);
    assert_int_equal(epindex_result_count(r), 1);
    assert_string_equal(epindex_result_get(r, 0, EPINDEX_FIELD_VALUE, NULL),
                        "y");
    epindex_result_free(r);
    epindex_close(ix);
  }
}

typedef struct thread_arg {
  epindex *ix;
  int failures;
  const char *group; /* NULL: "g", which answers 2 rows */
  size_t want;
} thread_arg;

static void *lookup_loop(void *p) {
  thread_arg *a = p;
  for (int i = 0; i < 500; i++) {
    epindex_result *r;
    if (epindex_lookup(a->ix, a->group ? a->group : "g", NULL, &r) !=
            EPINDEX_OK ||
        epindex_result_count(r) != (a->group ? a->want : 2))
      a->failures++;
    epindex_result_free(r);
  }
  return NULL;
}

static void test_one_handle_many_threads(void **state) {
  fx *f = *state;
  const char *paths[] = {f->a, f->b};
  epindex *ix;
  assert_int_equal(epindex_open(&ix, paths, 2, EPINDEX_POLICY_STAT, 0),
                   EPINDEX_OK);
  pthread_t t[4];
  thread_arg args[4];
  for (int i = 0; i < 4; i++) {
    args[i] = (thread_arg){ix, 0, NULL, 0};
    pthread_create(&t[i], NULL, lookup_loop, &args[i]);
  }
  for (int i = 0; i < 4; i++) {
    pthread_join(t[i], NULL);
    assert_int_equal(args[i].failures, 0);
  }
  epindex_close(ix);
}

/* Getters that read what a lookup in another thread may change: an index
 * that fails mid-lookup is demoted to a scan and a diagnostic is added.
 * Run under ThreadSanitizer (.ci/run), this shows them serialised. */
typedef struct getter_arg {
  epindex *ix;
  atomic_int stop;
  long calls;
} getter_arg;

static void *getter_loop(void *p) {
  getter_arg *g = p;
  while (!atomic_load(&g->stop)) {
    for (size_t i = 0; i < epindex_path_count(g->ix); i++)
      g->calls += epindex_path_source(g->ix, i) + epindex_path_reason(g->ix, i);
    size_t n = epindex_diag_count(g->ix);
    for (size_t i = 0; i < n; i++)
      g->calls += epindex_diag_message(g->ix, i) != NULL;
  }
  return NULL;
}

static void test_getters_while_lookups_demote(void **state) {
  fx *f = *state;
  const char *paths[] = {f->a, f->b};
  /* enough rows that index.db reaches past the pages read at open */
  for (int i = 0; i < 300; i++) {
    char d[64];
    snprintf(d, sizeof(d), "filler%03d-1.0.dist-info", i);
    put_dist(f->a, d, d, "1.0", "[other]\nx = filler:x\n");
  }
  assert_int_equal(epindex_update_dir(f->a, 0, NULL, NULL, 0), EPINDEX_OK);
  assert_int_equal(epindex_update_dir(f->b, 0, NULL, NULL, 0), EPINDEX_OK);
  /* index.db answers (no lookup table); damaged after open, it fails in a
   * lookup, which demotes it */
  sh("rm -f '%s/.epindex/lookup.tbl' '%s/.epindex/lookup.tbl'", f->a, f->b);
  epindex *ix;
  assert_int_equal(epindex_open(&ix, paths, 2, EPINDEX_POLICY_TRUST, 0),
                   EPINDEX_OK);
  assert_int_equal(epindex_path_source(ix, 0), EPINDEX_SOURCE_INDEX);
  sh("truncate -s 16384 '%s/.epindex/index.db'", f->a);
  getter_arg g = {ix, 0, 0};
  pthread_t gt, t[3];
  thread_arg args[3];
  pthread_create(&gt, NULL, getter_loop, &g);
  for (int i = 0; i < 3; i++) {
    args[i] = (thread_arg){ix, 0, "other", 300}; /* pages not read yet */
    pthread_create(&t[i], NULL, lookup_loop, &args[i]);
  }
  for (int i = 0; i < 3; i++)
    pthread_join(t[i], NULL);
  atomic_store(&g.stop, 1);
  pthread_join(gt, NULL);
  for (int i = 0; i < 3; i++)
    assert_int_equal(args[i].failures, 0); /* the scan answers alike */
  assert_int_equal(epindex_path_source(ix, 0), EPINDEX_SOURCE_SCAN);
  assert_int_equal(epindex_path_reason(ix, 0), EPINDEX_REASON_DAMAGED);
  assert_true(epindex_diag_count(ix) >= 1);
  epindex_close(ix);
}

/* Each code the header documents for a function, provoked here; the ones
 * that need a special file system or an attacker are provoked where those
 * are set up: EROFS and ENOSPC in test_update.c (test_read_only_file_system,
 * test_full_disk_keeps_old_index), EUNTRUSTED and ETIMEDOUT there too
 * (test_refuses_index_dir_others_control,
 * test_lock_is_private_and_waits_are_bounded), ENOMEM in test_faults.c.
 * Not provoked: epindex_open's and a lookup's EIO, which need an index to
 * fail between its check and its use while a later entry is compared with
 * it (a damaged index on its own is scanned instead: test_index.c). */
static void test_error_codes_as_documented(void **state) {
  fx *f = *state;
  epindex *ix = NULL;
  epindex_result *r = NULL;
  const char *one[] = {f->a};
  /* epindex_open: EINVAL for a bad argument of each kind */
  assert_int_equal(epindex_open(&ix, one, 1, EPINDEX_POLICY_STAT, 0x80),
                   EPINDEX_EINVAL);
  assert_null(ix);
  /* epindex_lookup_n: EINVAL */
  assert_int_equal(epindex_lookup_n(NULL, "g", 1, NULL, 0, &r), EPINDEX_EINVAL);
  assert_int_equal(epindex_lookup_n(ix, "g", 1, NULL, 0, NULL), EPINDEX_EINVAL);
  /* epindex_update_dir */
  char err[256], longp[5000];
  char *file = path_join(f->tmp, "a-file");
  char *empty = path_join(f->tmp, "empty");
  put_file(f->tmp, "a-file", "x", 1);
  put_dir(f->tmp, "empty");
  memset(longp, 'x', sizeof(longp) - 1);
  longp[0] = '/';
  longp[sizeof(longp) - 1] = '\0';
  const struct {
    const char *dir;
    unsigned flags;
    int want;
  } cases[] = {
      {NULL, 0, EPINDEX_EINVAL},
      {f->a, 0x100, EPINDEX_EINVAL}, /* an unknown flag */
      {"/nonexistent/dir", 0, EPINDEX_ENOENT},
      {file, 0, EPINDEX_ENOTDIR},
      {longp, 0, EPINDEX_ETOOLONG},
      {empty, EPINDEX_UPDATE_SITE_ONLY, EPINDEX_ENOTSITE},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    int rc = epindex_update_dir(cases[i].dir, cases[i].flags, NULL, err,
                                sizeof(err));
    if (rc != cases[i].want)
      fail_msg("update case %zu: %s, expected %s", i, epindex_err_name(rc),
               epindex_err_name(cases[i].want));
  }
  /* EBUSY: NOWAIT while another update holds the lock */
  char lock[4096];
  snprintf(lock, sizeof(lock), "%s/" EPINDEX_INDEX_DIR "/lock", f->a);
  int fd = open(lock, O_RDWR);
  assert_true(fd >= 0 && flock(fd, LOCK_EX) == 0);
  assert_int_equal(
      epindex_update_dir(f->a, EPINDEX_UPDATE_NOWAIT | EPINDEX_UPDATE_FULL,
                         NULL, err, sizeof(err)),
      EPINDEX_EBUSY);
  close(fd);
  /* epindex_inspect: EINVAL; any directory gets a verdict */
  epindex_dirinfo *d = NULL;
  assert_int_equal(epindex_inspect(NULL, EPINDEX_POLICY_STAT, &d),
                   EPINDEX_EINVAL);
  assert_int_equal(epindex_inspect("/nonexistent", EPINDEX_POLICY_STAT, &d),
                   EPINDEX_OK);
  epindex_dirinfo_free(d);
  /* epindex_policy_parse: EINVAL */
  epindex_policy p;
  assert_int_equal(epindex_policy_parse("fast", &p), EPINDEX_EINVAL);
  /* the getters' out-of-range answers */
  assert_int_equal(epindex_open(&ix, one, 1, EPINDEX_POLICY_STAT, 0), 0);
  assert_int_equal(epindex_lookup(ix, "g", NULL, &r), 0);
  assert_int_equal(epindex_result_path_index(r, 99), SIZE_MAX);
  assert_null(epindex_result_get(r, 99, EPINDEX_FIELD_NAME, NULL));
  assert_int_equal(epindex_path_source(ix, 99), EPINDEX_SOURCE_NONE);
  assert_int_equal(epindex_path_reason(ix, 99), EPINDEX_REASON_ABSENT);
  assert_string_equal(epindex_source_name(EPINDEX_SOURCE_CACHE), "cache");
  assert_string_equal(epindex_source_name((epindex_source)9), "unknown");
  epindex_result_free(r);
  epindex_close(ix);
  free(file);
  free(empty);
}

/* The value rule of Python 3.15+: a visible distribution with a value that
 * is no object reference is skipped and counted; without the flag it is
 * answered; a later distribution of the same name stays hidden. */
static void test_value_rule_and_skipped_count(void **state) {
  fx *f = *state;
  char *x = path_join(f->tmp, "x"), *y = path_join(f->tmp, "y");
  put_dist(x, "bad-1.0.dist-info", "bad", "1.0",
           "[g]\nok = bad:ok\nno = not/a/module\n");
  put_dist(x, "good-1.0.dist-info", "good", "1.0", "[g]\ngood = good:m\n");
  put_dist(y, "bad-2.0.dist-info", "bad", "2.0", "[g]\nlater = bad2:m\n");
  const char *paths[] = {x, y};
  for (int indexed = 0; indexed < 2; indexed++) {
    if (indexed) {
      assert_int_equal(epindex_update_dir(x, 0, NULL, NULL, 0), EPINDEX_OK);
      assert_int_equal(epindex_update_dir(y, 0, NULL, NULL, 0), EPINDEX_OK);
    }
    for (int rule = 0; rule < 2; rule++) {
      epindex *ix;
      epindex_result *r;
      assert_int_equal(epindex_open(&ix, paths, 2, EPINDEX_POLICY_STAT,
                                    rule ? EPINDEX_OPEN_VALUE_RULE : 0),
                       EPINDEX_OK);
      assert_int_equal(epindex_path_source(ix, 0),
                       indexed ? EPINDEX_SOURCE_INDEX : EPINDEX_SOURCE_SCAN);
      assert_int_equal(epindex_lookup(ix, "g", NULL, &r), EPINDEX_OK);
      /* bad's 3 entries, or none of them; never bad 2.0's */
      assert_int_equal(epindex_result_count(r), rule ? 1 : 3);
      for (size_t i = 0; i < epindex_result_count(r); i++)
        assert_string_not_equal(
            epindex_result_get(r, i, EPINDEX_FIELD_VALUE, NULL), "bad2:m");
      assert_int_equal(epindex_skipped_count(ix), rule ? 1 : 0);
      assert_int_equal(epindex_diag_count(ix), rule ? 1 : 0);
      if (rule)
        assert_non_null(strstr(epindex_diag_message(ix, 0),
                               "value 'not/a/module' is not an object"));
      epindex_result_free(r);
      epindex_close(ix);
    }
  }
  free(x);
  free(y);
}

/* EPINDEX_OPEN_NO_SCAN: a directory nobody indexed is listed, not read --
 * counted, answering nothing, hiding nothing -- while an indexed one
 * answers as always and a missing entry stays NONE. */
static void test_no_scan_lists_unindexed_directories(void **state) {
  fx *f = *state;
  char *x = path_join(f->tmp, "x"), *y = path_join(f->tmp, "y");
  char *gone = path_join(f->tmp, "gone");
  put_dist(x, "dup-1.0.dist-info", "dup", "1.0", "[g]\nfrom_x = x:m\n");
  put_dist(x, "other-1.0.dist-info", "other", "1.0", NULL);
  put_dist(y, "dup-2.0.dist-info", "dup", "2.0", "[g]\nfrom_y = y:m\n");
  assert_int_equal(epindex_update_dir(y, 0, NULL, NULL, 0), EPINDEX_OK);
  const char *paths[] = {x, y, gone};
  epindex *ix;
  epindex_result *r;
  epindex_dists *d;
  assert_int_equal(
      epindex_open(&ix, paths, 3, EPINDEX_POLICY_STAT, EPINDEX_OPEN_NO_SCAN),
      EPINDEX_OK);
  assert_int_equal(epindex_path_source(ix, 0), EPINDEX_SOURCE_SCAN);
  assert_int_equal(epindex_path_dist_count(ix, 0), 2);
  assert_int_equal(epindex_path_source(ix, 1), EPINDEX_SOURCE_INDEX);
  assert_int_equal(epindex_path_source(ix, 2), EPINDEX_SOURCE_NONE);
  assert_int_equal(epindex_path_dist_count(ix, 2), 0);
  assert_int_equal(epindex_lookup(ix, "g", NULL, &r), EPINDEX_OK);
  char *got = names(r); /* x's dup was not read: it hides nothing */
  assert_string_equal(got, "from_y,");
  free(got);
  epindex_result_free(r);
  assert_int_equal(epindex_distributions(ix, NULL, 0, &d), EPINDEX_OK);
  assert_int_equal(epindex_dists_count(d), 1);
  assert_int_equal(epindex_dists_path_index(d, 0), 1);
  epindex_dists_free(d);
  epindex_close(ix);
  /* without the flag, x is read and its dup wins */
  assert_int_equal(epindex_open(&ix, paths, 3, EPINDEX_POLICY_STAT, 0),
                   EPINDEX_OK);
  assert_int_equal(epindex_path_dist_count(ix, 0), 2);
  assert_int_equal(epindex_lookup(ix, "g", NULL, &r), EPINDEX_OK);
  got = names(r);
  assert_string_equal(got, "from_x,");
  free(got);
  epindex_result_free(r);
  epindex_close(ix);
  free(x);
  free(y);
  free(gone);
}

/* Install a distribution "late" in dir and move dir's mtime a second on
 * (past any clock tick); return dir's stat from before. */
static struct stat add_late_dist(const char *dir) {
  struct stat before;
  assert_int_equal(stat(dir, &before), 0);
  put_dist(dir, "late-1.0.dist-info", "late", "1.0", NULL);
  struct timespec t = {before.st_mtim.tv_sec + 1, before.st_mtim.tv_nsec};
  const struct timespec times[2] = {t, t};
  assert_int_equal(utimensat(AT_FDCWD, dir, times, 0), 0);
  return before;
}

/* epindex_path_stamp(): what open() saw of each entry before reading it
 * -- a directory's, a file's, nothing of an absent one -- and only that. */
static void test_path_stamps_are_the_stats_open_took(void **state) {
  fx *f = *state;
  char *file = path_join(f->tmp, "plain.zip");
  put_file(f->tmp, "plain.zip", "not a zip", (size_t)-1);
  const char *paths[] = {f->a, file, f->c};
  epindex *ix;
  assert_int_equal(epindex_open(&ix, paths, 3, EPINDEX_POLICY_STAT, 0),
                   EPINDEX_OK);
  for (size_t i = 0; i < 2; i++) {
    struct stat st;
    uint64_t dev = 0, ino = 0;
    int64_t mtime = 0;
    assert_int_equal(stat(paths[i], &st), 0);
    assert_int_equal(epindex_path_stamp(ix, i, &dev, &ino, &mtime), EPINDEX_OK);
    assert_true(dev == (uint64_t)st.st_dev && ino == (uint64_t)st.st_ino);
    assert_true(mtime ==
                (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec);
  }
  uint64_t dev = 7, ino = 7;
  int64_t mtime = 7;
  assert_int_equal(epindex_path_stamp(ix, 2, &dev, &ino, &mtime),
                   EPINDEX_ENOENT);
  assert_true(dev == 7 && ino == 7 && mtime == 7); /* left alone */
  assert_int_equal(epindex_path_stamp(ix, 3, &dev, &ino, &mtime),
                   EPINDEX_EINVAL);
  assert_int_equal(epindex_path_stamp(ix, 0, NULL, &ino, &mtime),
                   EPINDEX_EINVAL);
  assert_int_equal(epindex_path_stamp(NULL, 0, &dev, &ino, &mtime),
                   EPINDEX_EINVAL);
  /* taken at open: a later change is not in it */
  struct stat before = add_late_dist(f->a);
  assert_int_equal(epindex_path_stamp(ix, 0, &dev, &ino, &mtime), EPINDEX_OK);
  assert_true(mtime == (int64_t)before.st_mtim.tv_sec * 1000000000 +
                           before.st_mtim.tv_nsec);
  epindex_close(ix);
  free(file);
}

/* epindex_unchanged(): 1 while a new open would answer the same; 0 after an
 * entry's stat changes, or, under STAT, a file of a distribution in a small
 * indexed directory (which the directory's stat does not show). */
static void test_unchanged_until_an_entry_changes(void **state) {
  fx *f = *state;
  const char *paths[] = {f->a, f->b, f->c};
  epindex *ix, *trusting;
  assert_int_equal(epindex_open(&ix, paths, 3, EPINDEX_POLICY_STAT, 0),
                   EPINDEX_OK);
  assert_int_equal(epindex_open(&trusting, paths, 3, EPINDEX_POLICY_TRUST, 0),
                   EPINDEX_OK);
  assert_int_equal(epindex_path_source(ix, 0), EPINDEX_SOURCE_INDEX);
  assert_int_equal(epindex_unchanged(ix), 1);
  put_file(f->a, "Shared.Name-1.0.dist-info/entry_points.txt",
           "[g]\nfrom_a = a:changed\n", (size_t)-1);
  sh("touch -d '+1 second' '%s/Shared.Name-1.0.dist-info/entry_points.txt'",
     f->a);
  assert_int_equal(epindex_unchanged(ix), 0);
  assert_int_equal(epindex_unchanged(trusting), 1); /* TRUST looks at none */
  epindex_close(ix);
  epindex_close(trusting);
  assert_int_equal(epindex_open(&ix, paths, 3, EPINDEX_POLICY_STAT, 0),
                   EPINDEX_OK);
  assert_int_equal(epindex_unchanged(ix), 1);
  add_late_dist(f->b);
  assert_int_equal(epindex_unchanged(ix), 0);
  epindex_close(ix);
  assert_int_equal(epindex_unchanged(NULL), EPINDEX_EINVAL);
}

int main(void) {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_codes_and_names),
      cmocka_unit_test(test_argument_checks),
      T(test_precedence_across_entries),
      T(test_problems_are_reported_once_visible),
      T(test_one_handle_many_threads),
      T(test_getters_while_lookups_demote),
      T(test_error_codes_as_documented),
      T(test_value_rule_and_skipped_count),
      T(test_name_filter_respects_embedded_nul),
      T(test_no_scan_lists_unindexed_directories),
      T(test_path_stamps_are_the_stats_open_took),
      T(test_unchanged_until_an_entry_changes),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
