/* test_changes.c -- exactness under changes to a tree: after each change a
 * served index answers what a scan of the tree as it is now answers, under
 * the policy that claims to see that change (docs/freshness.md, "What each
 * policy cannot see"); and after `update` the index answers what a new
 * `update --full` would. The limits the table lists are shown too: there an
 * index is served with the old answer, as documented. */
#include "support.h"

#include "epindex.h"

#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct fx {
  char *tmp, *site, *store;
} fx;

static int setup(void **state) {
  fx *f = calloc(1, sizeof(*f));
  f->tmp = tmp_dir();
  f->site = path_join(f->tmp, "site");
  f->store = path_join(f->tmp, "store");
  put_dist(f->site, "alpha-1.0.dist-info", "alpha", "1.0",
           "[console_scripts]\nal = alpha:main\n");
  put_dist(f->site, "beta-2.0.dist-info", "beta", "2.0",
           "[console_scripts]\nbe = beta:main\n");
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fx *f = *state;
  free(f->site);
  free(f->store);
  tmp_cleanup(f->tmp);
  free(f);
  return 0;
}

static void update_flags(const char *dir, unsigned flags,
                         epindex_update_stats *st) {
  char err[512];
  int rc = epindex_update_dir(dir, flags, st, err, sizeof(err));
  if (rc)
    fail_msg("update %s: %s", dir, err);
}

static void update(const char *dir) { update_flags(dir, 0, NULL); }

/* Every entry point on the one-entry path [path], as
 * "group/name=value(dist);..." and the entry's verdict. Caller frees. */
static char *answer(const char *path, epindex_policy p, epindex_reason *why) {
  epindex *ix;
  epindex_result *r;
  assert_int_equal(epindex_open(&ix, &path, 1, p, 0), EPINDEX_OK);
  assert_int_equal(epindex_lookup(ix, NULL, NULL, &r), EPINDEX_OK);
  size_t cap = 8192, len = 0;
  char *out = calloc(1, cap);
  for (size_t i = 0; i < epindex_result_count(r); i++) {
    const char *d = epindex_result_get(r, i, EPINDEX_FIELD_DIST, NULL);
    len += (size_t)snprintf(out + len, cap - len, "%s/%s=%s(%s);",
                            epindex_result_get(r, i, EPINDEX_FIELD_GROUP, NULL),
                            epindex_result_get(r, i, EPINDEX_FIELD_NAME, NULL),
                            epindex_result_get(r, i, EPINDEX_FIELD_VALUE, NULL),
                            d ? d : "-");
    assert_true(len < cap);
  }
  if (why)
    *why = epindex_path_reason(ix, 0);
  epindex_result_free(r);
  epindex_close(ix);
  return out;
}

/* What a scan of the tree as it is now answers, for the same path string:
 * the index files are moved aside within .epindex (which no stamp covers)
 * for the query, and back. */
static char *scan_answer(const char *path) {
  const char *files[] = {EPINDEX_INDEX_FILE, EPINDEX_LOOKUP_FILE};
  char from[4096], to[4200];
  for (int i = 0; i < 2; i++) {
    snprintf(from, sizeof(from), "%s/" EPINDEX_INDEX_DIR "/%s", path, files[i]);
    snprintf(to, sizeof(to), "%s.aside", from);
    rename(from, to); /* absent: nothing to hide */
  }
  epindex_reason why;
  char *out = answer(path, EPINDEX_POLICY_STAT, &why);
  assert_true(why == EPINDEX_REASON_MISSING || why == EPINDEX_REASON_ABSENT);
  for (int i = 0; i < 2; i++) {
    snprintf(from, sizeof(from), "%s/" EPINDEX_INDEX_DIR "/%s", path, files[i]);
    snprintf(to, sizeof(to), "%s.aside", from);
    rename(to, from);
  }
  return out;
}

/* Under policy p, dir answers as a scan does; returns the verdict. */
static epindex_reason expect_exact(const char *dir, epindex_policy p) {
  epindex_reason why;
  char *got = answer(dir, p, &why), *want = scan_answer(dir);
  if (strcmp(got, want) != 0)
    fail_msg("%s under %s (%s):\n got  %s\n want %s", dir,
             epindex_policy_name(p), epindex_reason_name(why), got, want);
  free(got);
  free(want);
  return why;
}

/* The index as written answers as a scan does (TRUST: no check at all),
 * and is fresh under stat. */
static void expect_index_exact(const char *dir) {
  assert_int_equal(expect_exact(dir, EPINDEX_POLICY_TRUST),
                   EPINDEX_REASON_TRUSTED);
  assert_int_equal(expect_exact(dir, EPINDEX_POLICY_STAT),
                   EPINDEX_REASON_FRESH);
}

static void expect_both_policies(const char *dir) {
  expect_exact(dir, EPINDEX_POLICY_STAT);
  expect_exact(dir, EPINDEX_POLICY_VERIFY);
}

/* ---- #4: in-place edits survive no update ----------------------------- */

static void test_update_after_edit_and_install_equals_full(void **state) {
  fx *f = *state;
  update(f->site);
  /* edited in place: the directory holding it does not change */
  put_file(f->site, "alpha-1.0.dist-info/entry_points.txt",
           "[console_scripts]\nal = alpha:MAIN\n", (size_t)-1);
  put_dist(f->site, "delta-1.0.dist-info", "delta", "1.0",
           "[console_scripts]\nde = delta:main\n");
  epindex_update_stats st;
  update_flags(f->site, 0, &st);
  assert_true(st.patched); /* the incremental path, not a rebuild */
  expect_index_exact(f->site);
  epindex_reason why;
  char *got = answer(f->site, EPINDEX_POLICY_STAT, &why);
  assert_non_null(strstr(got, "al=alpha:MAIN"));
  free(got);
}

static void test_update_after_edit_alone_equals_full(void **state) {
  fx *f = *state;
  update(f->site);
  put_file(f->site, "beta-2.0.dist-info/entry_points.txt",
           "[console_scripts]\nbe = beta:MAIN\n", (size_t)-1);
  update(f->site);
  expect_index_exact(f->site);
}

/* ---- #5: changes whose timestamps are put back ------------------------ */

static void test_new_dist_with_directory_mtime_put_back(void **state) {
  fx *f = *state;
  update(f->site);
  sh("touch -r '%s' '%s/../ref'", f->site, f->site);
  put_dist(f->site, "delta-1.0.dist-info", "delta", "1.0",
           "[console_scripts]\nde = delta:main\n");
  sh("touch -r '%s/../ref' '%s'", f->site, f->site); /* tar --times */
  assert_int_not_equal(expect_exact(f->site, EPINDEX_POLICY_STAT),
                       EPINDEX_REASON_FRESH);
  expect_exact(f->site, EPINDEX_POLICY_VERIFY);
  update(f->site);
  expect_index_exact(f->site);
}

static void test_same_size_edit_with_mtime_put_back(void **state) {
  fx *f = *state;
  update(f->site);
  sh("cd '%s/beta-2.0.dist-info' && touch -r entry_points.txt ../../ref && "
     "printf '[console_scripts]\\nbe = beta:MAIN\\n' > entry_points.txt && "
     "touch -r ../../ref entry_points.txt",
     f->site);
  assert_int_equal(expect_exact(f->site, EPINDEX_POLICY_VERIFY),
                   EPINDEX_REASON_STALE);
  update(f->site);
  expect_index_exact(f->site);
}

static void test_file_replaced_by_an_installer(void **state) {
  fx *f = *state;
  update(f->site);
  /* a new inode with the same size and times, renamed over the old one */
  sh("cd '%s/beta-2.0.dist-info' && "
     "printf '[console_scripts]\\nbe = beta:MAIN\\n' > ep.tmp && "
     "touch -r entry_points.txt ep.tmp && mv ep.tmp entry_points.txt && "
     "touch -r METADATA .",
     f->site);
  assert_int_equal(expect_exact(f->site, EPINDEX_POLICY_VERIFY),
                   EPINDEX_REASON_STALE);
  update(f->site);
  expect_index_exact(f->site);
}

/* A tree unpacked from a machine whose clock was ahead: mtimes in the
 * future are just numbers; updates neither wait for them nor fail. */
static void test_future_mtimes_do_not_stall_updates(void **state) {
  fx *f = *state;
  sh("touch -d '+2 hours' '%s'/*/* '%s'/* '%s'", f->site, f->site, f->site);
  update(f->site);
  expect_index_exact(f->site);
  put_dist(f->site, "delta-1.0.dist-info", "delta", "1.0",
           "[console_scripts]\nde = delta:main\n");
  sh("touch -d '+2 hours' '%s'", f->site);
  update(f->site);
  expect_index_exact(f->site);
}

/* ---- #1: symlinked metadata directories -------------------------------- */

/* site/foo-1.0.dist-info -> ../store/foo-1.0.dist-info */
static void link_foo(fx *f) {
  put_dist(f->store, "foo-1.0.dist-info", "foo", "1.0",
           "[console_scripts]\nfo = foo:main\n");
  sh("ln -s ../store/foo-1.0.dist-info '%s/foo-1.0.dist-info'", f->site);
  update(f->site);
  expect_index_exact(f->site);
  epindex_reason why;
  char *got = answer(f->site, EPINDEX_POLICY_STAT, &why);
  assert_non_null(strstr(got, "fo=foo:main"));
  free(got);
}

static void test_link_target_moved(void **state) {
  fx *f = *state;
  link_foo(f);
  sh("mv '%s/foo-1.0.dist-info' '%s/foo-moved'", f->store, f->store);
  expect_both_policies(f->site);
  update(f->site);
  expect_index_exact(f->site);
}

static void test_link_target_emptied(void **state) {
  fx *f = *state;
  link_foo(f);
  sh("rm '%s/foo-1.0.dist-info/entry_points.txt'", f->store);
  expect_both_policies(f->site);
}

static void test_link_target_replaced(void **state) {
  fx *f = *state;
  link_foo(f);
  sh("rm -rf '%s/foo-1.0.dist-info'", f->store);
  put_dist(f->store, "foo-1.0.dist-info", "foo", "1.0",
           "[console_scripts]\nfo = foo:MAIN\n");
  expect_both_policies(f->site);
  update(f->site);
  expect_index_exact(f->site);
}

/* The link points at a link that is retargeted (Nix profiles, alternatives) */
static void test_link_chain_retargeted(void **state) {
  fx *f = *state;
  put_dist(f->store, "v1", "foo", "1.0", "[console_scripts]\nfo = foo:one\n");
  put_dist(f->store, "v2", "foo", "2.0", "[console_scripts]\nfo = foo:two\n");
  sh("ln -s v1 '%s/current' && ln -s ../store/current "
     "'%s/foo-1.0.dist-info'",
     f->store, f->site);
  update(f->site);
  expect_index_exact(f->site);
  sh("ln -s v2 '%s/next' && mv -T '%s/next' '%s/current'", f->store, f->store,
     f->store);
  expect_both_policies(f->site);
}

/* A relative link that leaves the tree dangles once the tree moves; the
 * directory's own inode and mtime are unchanged by the move. */
static void test_tree_moved_away_from_link_target(void **state) {
  fx *f = *state;
  link_foo(f);
  char *deeper = path_join(f->tmp, "a/b");
  sh("mkdir -p '%s' && mv '%s' '%s/site'", deeper, f->site, deeper);
  char *moved = path_join(deeper, "site");
  expect_both_policies(moved);
  /* and copied: relocated, the link must still resolve to what it did */
  char *copy = path_join(f->tmp, "copy");
  sh("cp -a '%s' '%s'", moved, copy);
  expect_both_policies(copy);
  free(copy);
  free(moved);
  free(deeper);
}

/* ---- #2: the .egg rule is the reader's path string's ------------------ */

/* dir/EGG-INFO with one entry point */
static char *put_egg(fx *f, const char *name) {
  char *dir = path_join(f->tmp, name);
  put_file(dir, "EGG-INFO/PKG-INFO", "Name: eggy\nVersion: 1\n", (size_t)-1);
  put_file(dir, "EGG-INFO/entry_points.txt", "[console_scripts]\neg = eggy:m\n",
           (size_t)-1);
  put_dist(dir, "other-1.0.dist-info", "other", "1.0",
           "[console_scripts]\not = other:m\n");
  return dir;
}

static void expect_path(fx *f, const char *rel, bool has_egg) {
  char *path = path_join(f->tmp, rel);
  expect_both_policies(path);
  epindex_reason why;
  char *got = answer(path, EPINDEX_POLICY_STAT, &why);
  if ((strstr(got, "eg=eggy:m") != NULL) != has_egg)
    fail_msg("%s: %s", rel, got);
  assert_non_null(strstr(got, "ot=other:m"));
  free(got);
  free(path);
}

static void test_egg_rule_follows_the_readers_path(void **state) {
  fx *f = *state;
  char *egg = put_egg(f, "x.egg");
  update(egg);
  expect_path(f, "x.egg", true);
  expect_path(f, "x.egg/", false); /* basename "" */
  expect_path(f, "x.egg/.", false);
  sh("cd '%s' && ln -s x.egg plain && ln -s x.egg X.Egg", f->tmp);
  expect_path(f, "plain", false);
  expect_path(f, "X.Egg", true);
  /* indexed through a path that is not an .egg's: readers of x.egg scan */
  char *plain = path_join(f->tmp, "plain");
  update(plain);
  expect_path(f, "plain", false);
  expect_path(f, "x.egg", true);
  /* and what update writes for a path, readers of that path are served */
  char *dot = path_join(f->tmp, "x.egg/.");
  update(dot);
  epindex_reason why;
  free(answer(dot, EPINDEX_POLICY_STAT, &why));
  assert_int_equal(why, EPINDEX_REASON_FRESH);
  free(dot);
  free(plain);
  free(egg);
}

static void test_egg_rule_after_renames(void **state) {
  fx *f = *state;
  char *dir = put_egg(f, "plaindir");
  update(dir);
  expect_path(f, "plaindir", false);
  sh("cd '%s' && ln -s plaindir y.egg", f->tmp);
  expect_path(f, "y.egg", true); /* an .egg-named link to a plain dir */
  sh("cd '%s' && mv plaindir renamed.egg", f->tmp);
  expect_path(f, "renamed.egg", true);
  free(dir);
}

static void drop_tables(const char *a, const char *b) {
  sh("rm '%s/" EPINDEX_INDEX_DIR "/" EPINDEX_LOOKUP_FILE
     "' '%s/" EPINDEX_INDEX_DIR "/" EPINDEX_LOOKUP_FILE "'",
     a, b);
}

/* ---- #3: strings are counted end to end -------------------------------- */

/* [name, len] of field f of every row, "|"-separated, NULs as "\\0" */
static char *fields(epindex_result *r, epindex_field f) {
  char *out = calloc(1, 4096);
  size_t at = 0;
  for (size_t i = 0; i < epindex_result_count(r); i++) {
    size_t n;
    const char *s = epindex_result_get(r, i, f, &n);
    for (size_t k = 0; s && k < n && at < 4000; k++)
      at += (size_t)snprintf(out + at, 4096 - at, s[k] ? "%c" : "\\0", s[k]);
    out[at++] = '|';
  }
  return out;
}

static void expect_nul_answers(const char *egg, const char *site,
                               epindex_source src) {
  const char *paths[] = {egg, site};
  epindex *ix;
  epindex_result *r;
  assert_int_equal(epindex_open(&ix, paths, 2, EPINDEX_POLICY_STAT, 0),
                   EPINDEX_OK);
  assert_int_equal(epindex_path_source(ix, 0), src);
  assert_int_equal(epindex_path_source(ix, 1), src);
  assert_int_equal(epindex_lookup(ix, "console_scripts", NULL, &r), 0);
  char *d = fields(r, EPINDEX_FIELD_DIST), *v = fields(r, EPINDEX_FIELD_VALUE);
  /* "fo\0o" is not "fo": it hides nothing, and is given whole */
  assert_string_equal(d, "fo\\0o|fo|");
  assert_string_equal(v, "nul:m|fo:m|");
  free(d);
  free(v);
  epindex_result_free(r);
  /* groups and names with a NUL, through the counted lookup */
  assert_int_equal(epindex_lookup_n(ix, "g\0x", 3, "n\0m", 3, &r), 0);
  v = fields(r, EPINDEX_FIELD_VALUE);
  assert_string_equal(v, "gx:nm|");
  free(v);
  epindex_result_free(r);
  assert_int_equal(epindex_lookup_n(ix, "g\0x", 3, "n", 1, &r), 0);
  assert_int_equal(epindex_result_count(r), 0);
  epindex_result_free(r);
  assert_int_equal(epindex_lookup(ix, "g", NULL, &r), 0);
  assert_int_equal(epindex_result_count(r), 0);
  epindex_result_free(r);
  epindex_close(ix);
}

static void test_nul_in_metadata_name(void **state) {
  fx *f = *state;
  char *egg = path_join(f->tmp, "nul.egg");
  static const char pkg[] = "Name: fo\0o\nVersion: 1\n";
  static const char eps[] =
      "[console_scripts]\nfo = nul:m\n[g\0x]\nn\0m = gx:nm\n";
  put_file(egg, "EGG-INFO/PKG-INFO", pkg, sizeof(pkg) - 1);
  put_file(egg, "EGG-INFO/entry_points.txt", eps, sizeof(eps) - 1);
  char *site = path_join(f->tmp, "later");
  put_dist(site, "fo-1.0.dist-info", "fo", "1.0",
           "[console_scripts]\nfo = fo:m\n");
  expect_nul_answers(egg, site, EPINDEX_SOURCE_SCAN);
  update(egg);
  update(site);
  expect_nul_answers(egg, site, EPINDEX_SOURCE_INDEX);
  drop_tables(egg, site); /* and index.db, without the lookup tables */
  expect_nul_answers(egg, site, EPINDEX_SOURCE_INDEX);
  free(site);
  free(egg);
}

/* ---- what each policy cannot see (docs/freshness.md) ------------------- */

static void test_documented_limits(void **state) {
  fx *f = *state;
  put_plain_dists(f->site, "filler", 15); /* 17: no longer a small directory */
  update(f->site);
  /* stat: an edit inside a metadata directory */
  put_file(f->site, "beta-2.0.dist-info/entry_points.txt",
           "[console_scripts]\nbe = beta:changed\n", (size_t)-1);
  epindex_reason why;
  char *got = answer(f->site, EPINDEX_POLICY_STAT, &why);
  assert_int_equal(why, EPINDEX_REASON_FRESH);
  assert_non_null(strstr(got, "be=beta:main")); /* the old answer */
  free(got);
  assert_int_equal(expect_exact(f->site, EPINDEX_POLICY_VERIFY),
                   EPINDEX_REASON_STALE);
  update(f->site);
  /* verify, relocated: a copy whose file was edited to the same size */
  char *copy = path_join(f->tmp, "copy");
  sh("cp -r '%s' '%s'", f->site, copy);
  put_file(copy, "beta-2.0.dist-info/entry_points.txt",
           "[console_scripts]\nbe = beta:CHANGED\n", (size_t)-1);
  got = answer(copy, EPINDEX_POLICY_VERIFY, &why);
  assert_int_equal(why, EPINDEX_REASON_VERIFIED);
  assert_non_null(strstr(got, "be=beta:changed")); /* the old answer */
  free(got);
  /* trust: anything */
  put_dist(copy, "delta-1.0.dist-info", "delta", "1.0",
           "[console_scripts]\nde = delta:main\n");
  got = answer(copy, EPINDEX_POLICY_TRUST, &why);
  assert_null(strstr(got, "de=delta"));
  free(got);
  free(copy);
}

int main(void) {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
  const struct CMUnitTest tests[] = {
      T(test_update_after_edit_and_install_equals_full),
      T(test_update_after_edit_alone_equals_full),
      T(test_new_dist_with_directory_mtime_put_back),
      T(test_same_size_edit_with_mtime_put_back),
      T(test_file_replaced_by_an_installer),
      T(test_future_mtimes_do_not_stall_updates),
      T(test_link_target_moved),
      T(test_link_target_emptied),
      T(test_link_target_replaced),
      T(test_link_chain_retargeted),
      T(test_tree_moved_away_from_link_target),
      T(test_egg_rule_follows_the_readers_path),
      T(test_egg_rule_after_renames),
      T(test_nul_in_metadata_name),
      T(test_documented_limits),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
