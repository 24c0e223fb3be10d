/* test_cache.c -- EPINDEX_OPEN_USER_CACHE: indexes of directories a user may
 * not write, kept in $XDG_CACHE_HOME/epindex/ and trusted only when the user
 * owns them. Runs the reader as nobody against root's directories. */
#include "support.h"

#include "epindex.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

typedef struct fx {
  char *tmp, *site, *site2, *home;
} fx;

static int setup(void **state) {
  fx *f = calloc(1, sizeof(*f));
  f->tmp = tmp_dir();
  sh("chmod 0755 '%s'", f->tmp);
  f->site = path_join(f->tmp, "site");
  f->site2 = path_join(f->tmp, "site2");
  f->home = path_join(f->tmp, "home");
  for (int i = 0; i < 10; i++) {
    char md[64], ep[64];
    snprintf(md, sizeof(md), "c%d-1.0.dist-info", i);
    snprintf(ep, sizeof(ep), "[g]\nc%d = c:main\n", i);
    put_dist(f->site, md, md, "1.0", ep);
    put_dist(f->site2, md, md, "1.0", ep);
  }
  sh("mkdir '%s' && chown 65534 '%s' && chmod 0700 '%s'", f->home, f->home,
     f->home);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fx *f = *state;
  free(f->site);
  free(f->site2);
  free(f->home);
  tmp_cleanup(f->tmp);
  free(f);
  return 0;
}

typedef struct seen {
  epindex_source src;
  epindex_reason why;
  size_t n;
} seen;

static seen look(const char *dir, unsigned flags) {
  const char *paths[] = {dir};
  epindex *ix;
  epindex_result *r;
  seen s = {EPINDEX_SOURCE_NONE, EPINDEX_REASON_ABSENT, 0};
  if (epindex_open(&ix, paths, 1, EPINDEX_POLICY_STAT, flags) ||
      epindex_lookup(ix, "g", NULL, &r))
    _exit(90);
  s = (seen){epindex_path_source(ix, 0), epindex_path_reason(ix, 0),
             epindex_result_count(r)};
  epindex_result_free(r);
  epindex_close(ix);
  return s;
}

/* Run body as nobody with HOME set; fail the test with the step number the
 * child exits with. */
#define AS_NOBODY(f, body)                                                     \
  do {                                                                         \
    pid_t pid = fork();                                                        \
    if (pid == 0) {                                                            \
      if (setgid(65534) || setuid(65534))                                      \
        _exit(99);                                                             \
      setenv("HOME", (f)->home, 1);                                            \
      unsetenv("XDG_CACHE_HOME");                                              \
      body;                                                                    \
      _exit(0);                                                                \
    }                                                                          \
    int status;                                                                \
    waitpid(pid, &status, 0);                                                  \
    assert_true(WIFEXITED(status));                                            \
    assert_int_equal(WEXITSTATUS(status), 0);                                  \
  } while (0)

#define CHECK(step, cond)                                                      \
  if (!(cond))                                                                 \
  _exit(step)

static int count_dirs(const char *path) {
  DIR *d = opendir(path);
  int n = 0;
  struct dirent *de;
  while (d && (de = readdir(d)))
    n += de->d_name[0] != '.';
  if (d)
    closedir(d);
  return n;
}

static void test_cache_for_a_directory_nobody_may_write(void **state) {
  fx *f = *state;
  AS_NOBODY(f, {
    seen s = look(f->site, 0);
    CHECK(1, s.src == EPINDEX_SOURCE_SCAN && s.n == 10); /* no flag: scan */
    s = look(f->site, EPINDEX_OPEN_USER_CACHE);
    CHECK(2, s.src == EPINDEX_SOURCE_CACHE && s.why == EPINDEX_REASON_REBUILT);
    CHECK(3, s.n == 10);
    s = look(f->site, EPINDEX_OPEN_USER_CACHE);
    CHECK(4, s.src == EPINDEX_SOURCE_CACHE && s.why == EPINDEX_REASON_FRESH);
    s = look(f->site2, EPINDEX_OPEN_USER_CACHE);
    CHECK(5, s.src == EPINDEX_SOURCE_CACHE && s.n == 10);
  });
  char *idx = path_join(f->site, ".epindex");
  assert_int_equal(access(idx, F_OK), -1); /* root's directory untouched */
  free(idx);
  char cache[4096]; /* on the stack: nothing on the heap across fork() */
  snprintf(cache, sizeof(cache), "%s/.cache/epindex", f->home);
  assert_int_equal(count_dirs(cache), 2); /* one per directory */
  struct stat st;
  assert_int_equal(stat(cache, &st), 0);
  assert_int_equal(st.st_mode & 077, 0); /* private */
  /* the directory changes: the cache is rebuilt */
  put_dist(f->site, "late-1.0.dist-info", "late", "1.0", "[g]\nlate = l:m\n");
  AS_NOBODY(f, {
    seen s = look(f->site, EPINDEX_OPEN_USER_CACHE);
    CHECK(6, s.src == EPINDEX_SOURCE_CACHE && s.why == EPINDEX_REASON_REBUILT);
    CHECK(7, s.n == 11);
  });
  /* a cache file another user could have written is not trusted */
  sh("chmod 0666 '%s'/*/index.db '%s'/*/" EPINDEX_LOOKUP_FILE, cache, cache);
  AS_NOBODY(f, {
    seen s = look(f->site, EPINDEX_OPEN_USER_CACHE);
    CHECK(8, s.src == EPINDEX_SOURCE_SCAN && s.why == EPINDEX_REASON_UNTRUSTED);
    CHECK(9, s.n == 11);
  });
}

/* A directory without distributions (the standard library's, an empty
 * site directory) is answered by its listing: nothing is cached for it. */
static void
test_directories_without_distributions_are_not_cached(void **state) {
  fx *f = *state;
  char *lib = path_join(f->tmp, "lib");
  sh("mkdir -p '%s/pkg' && touch '%s/os.py' '%s/pkg/__init__.py'", lib, lib,
     lib);
  AS_NOBODY(f, {
    seen s = look(lib, EPINDEX_OPEN_USER_CACHE | EPINDEX_OPEN_HEAL);
    CHECK(1, s.src == EPINDEX_SOURCE_SCAN && s.n == 0);
    CHECK(2, s.why == EPINDEX_REASON_MISSING);
  });
  char cache[4096];
  snprintf(cache, sizeof(cache), "%s/.cache/epindex", f->home);
  assert_int_equal(count_dirs(cache), 0);
  char *idx = path_join(lib, ".epindex");
  assert_int_equal(access(idx, F_OK), -1);
  free(idx);
  free(lib);
}

static void test_writable_directories_are_not_cached(void **state) {
  fx *f = *state;
  /* root may write the site: it is not cached (heal, or update, is the way) */
  seen s = look(f->site, EPINDEX_OPEN_USER_CACHE);
  assert_int_equal(s.src, EPINDEX_SOURCE_SCAN);
  assert_int_equal(s.n, 10);
}

int main(void) {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
  const struct CMUnitTest tests[] = {
      T(test_cache_for_a_directory_nobody_may_write),
      T(test_directories_without_distributions_are_not_cached),
      T(test_writable_directories_are_not_cached),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
