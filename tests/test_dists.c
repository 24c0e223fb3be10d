/* test_dists.c -- distributions of a search path (epindex_distributions):
 * importlib.metadata's discovery order, its name matching, and each
 * distribution's entry points; the same answers from an index and from a
 * scan of the same tree. */
#include "support.h"

#include "epindex.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct tree {
  char *root, *site1, *site2, *egg;
} tree;

/* site1: two distributions named foo (the second hidden by the first), one
 * whose name normalises alike, one importlib raises on, a legacy egg-info
 * file, one without Version; site2: a third foo (shadowed from site1); an
 * .egg path entry. */
static tree make_tree(void) {
  tree t;
  t.root = tmp_dir();
  t.site1 = path_join(t.root, "site1");
  t.site2 = path_join(t.root, "site2");
  t.egg = path_join(t.root, "Egg_Pkg-1.0-py3.11.egg");
  put_dist(t.site1, "foo-1.0.dist-info", "foo", "1.0",
           "[console_scripts]\nfoo = foo:main\n[g]\nb = foo:b\na = foo:a\n");
  put_dist(t.site1, "Foo_Bar-2.0.dist-info", "Foo.Bar", "2.0", NULL);
  put_dist(t.site1, "bad-1.0.dist-info", "bad", "1.0", "[g]\nno equals\n");
  put_file(t.site1, "legacy-3.egg-info",
           "Metadata-Version: 1.0\nName: legacy\nVersion: 3\n", (size_t)-1);
  put_file(t.site1, "nover-1.dist-info/METADATA", "Name: nover\n", (size_t)-1);
  put_dist(t.site2, "foo-3.0.dist-info", "foo", "3.0", "[g]\nc = foo3:c\n");
  put_file(t.egg, "EGG-INFO/PKG-INFO", "Name: egg-pkg\nVersion: 1.0\n",
           (size_t)-1);
  put_file(t.egg, "EGG-INFO/entry_points.txt", "[g]\ne = egg:e\n", (size_t)-1);
  /* a second foo in site1, listed after the first one: "foo-0.9" */
  put_dist(t.site1, "foo-0.9.dist-info", "foo", "0.9", "[g]\nold = foo:old\n");
  return t;
}

static void free_tree(tree *t) {
  tmp_cleanup(t->root);
  free(t->site1);
  free(t->site2);
  free(t->egg);
}

static void index_tree(const tree *t) {
  const char *dirs[] = {t->site1, t->site2, t->egg};
  for (size_t i = 0; i < 3; i++)
    assert_int_equal(epindex_update_dir(dirs[i], 0, NULL, NULL, 0), EPINDEX_OK);
}

static epindex *open_tree_with(const tree *t, epindex_source want,
                               epindex_policy policy) {
  const char *paths[] = {t->site1, t->site2, "/nonexistent/x", t->egg};
  epindex *ix;
  assert_int_equal(epindex_open(&ix, paths, 4, policy, 0), EPINDEX_OK);
  assert_int_equal(epindex_path_source(ix, 0), want);
  assert_int_equal(epindex_path_source(ix, 3), want);
  return ix;
}

/* verify: an index this young would be racy under stat (verify reads
 * index.db; trust, the lookup table) */
static epindex *open_tree(const tree *t, epindex_source want) {
  return open_tree_with(t, want, EPINDEX_POLICY_VERIFY);
}

/* "metadir:version:flags" of each distribution, joined with '|'. */
static char *describe(const epindex_dists *d) {
  static char out[2048];
  size_t at = 0;
  out[0] = '\0';
  for (size_t i = 0; i < epindex_dists_count(d); i++) {
    const char *v = epindex_dists_get(d, i, EPINDEX_DIST_VERSION, NULL);
    at += (size_t)snprintf(out + at, sizeof(out) - at, "%s%zu/%s:%s:%u",
                           i ? "|" : "", epindex_dists_path_index(d, i),
                           epindex_dists_get(d, i, EPINDEX_DIST_METADIR, NULL),
                           v ? v : "-", epindex_dists_flags(d, i));
  }
  return out;
}

static char *found_in_order(epindex *ix, const char *name) {
  epindex_dists *d;
  assert_int_equal(epindex_distributions(ix, name, name ? strlen(name) : 0, &d),
                   EPINDEX_OK);
  char *s = describe(d);
  epindex_dists_free(d);
  return s;
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* found_in_order() with its items sorted: the order within a directory is
 * the listing's, which the file system chooses (compared separately). */
static char *found(epindex *ix, const char *name) {
  static char out[2048];
  char copy[2048], *items[64];
  size_t n = 0;
  snprintf(copy, sizeof(copy), "%s", found_in_order(ix, name));
  for (char *save, *tok = strtok_r(copy, "|", &save); tok && n < 64;
       tok = strtok_r(NULL, "|", &save))
    items[n++] = tok;
  qsort(items, n, sizeof(*items), cmp_str);
  size_t at = 0;
  out[0] = '\0';
  for (size_t i = 0; i < n; i++)
    at += (size_t)snprintf(out + at, sizeof(out) - at, "%s%s", i ? "|" : "",
                           items[i]);
  return out;
}

/* The group.name=value of distribution i's entry points, or "ENOENT". */
static char *entry_points_of(epindex *ix, const char *name, size_t i) {
  static char out[1024];
  epindex_dists *d;
  epindex_result *r;
  assert_int_equal(epindex_distributions(ix, name, strlen(name), &d),
                   EPINDEX_OK);
  int rc = epindex_dists_entry_points(ix, d, i, &r);
  epindex_dists_free(d);
  if (rc == EPINDEX_ENOENT) {
    assert_null(r);
    return "ENOENT";
  }
  assert_int_equal(rc, EPINDEX_OK);
  size_t at = 0;
  out[0] = '\0';
  for (size_t k = 0; k < epindex_result_count(r); k++)
    at +=
        (size_t)snprintf(out + at, sizeof(out) - at, "%s%s.%s=%s", k ? " " : "",
                         epindex_result_get(r, k, EPINDEX_FIELD_GROUP, NULL),
                         epindex_result_get(r, k, EPINDEX_FIELD_NAME, NULL),
                         epindex_result_get(r, k, EPINDEX_FIELD_VALUE, NULL));
  epindex_result_free(r);
  return out;
}

/* sorted (see found()); %u: whether each foo of site1 is the first
 * listed, which hides the other */
#define ALL                                                                    \
  "0/Foo_Bar-2.0.dist-info:2.0:1|0/bad-1.0.dist-info:1.0:0|"                   \
  "0/foo-0.9.dist-info:0.9:%u|0/foo-1.0.dist-info:1.0:%u|"                     \
  "0/legacy-3.egg-info:3:3|0/nover-1.dist-info:-:1|"                           \
  "1/foo-3.0.dist-info:3.0:1|3/EGG-INFO:1.0:1"

/* The same questions, asked of a scanning handle and of an indexed one. */
static void check_answers(epindex *ix) {
  bool ten_first = strstr(found_in_order(ix, "foo"), "0/foo-1.0") ==
                   found_in_order(ix, "foo");
  char all_sorted[1024], foos[256];
  snprintf(all_sorted, sizeof(all_sorted), ALL, !ten_first, ten_first);
  assert_string_equal(found(ix, NULL), all_sorted);
  assert_string_equal(found(ix, ""), all_sorted); /* Prepared("") is false */
  snprintf(foos, sizeof(foos),
           "0/foo-0.9.dist-info:0.9:%u|0/foo-1.0.dist-info:1.0:%u|"
           "1/foo-3.0.dist-info:3.0:1",
           !ten_first, ten_first);
  assert_string_equal(found(ix, "FOO"), foos);
  /* the two foo of site1 are adjacent in discovery order (one Lookup key),
   * and the first of them hides the other */
  char *all = found_in_order(ix, NULL);
  char *a = strstr(all, "foo-1.0.dist-info"), *b = strstr(all, "foo-0.9");
  assert_non_null(a);
  assert_non_null(b);
  const char *first = a < b ? a : b, *second = a < b ? b : a;
  assert_ptr_equal(strchr(first, '|') + 3, second); /* "|0/" between */
  /* Prepared.normalize: runs of -_. are one '_', any case */
  assert_string_equal(found(ix, "foo--BAR"), "0/Foo_Bar-2.0.dist-info:2.0:1");
  assert_string_equal(found(ix, "foo.bar"), "0/Foo_Bar-2.0.dist-info:2.0:1");
  assert_string_equal(found(ix, "legacy"), "0/legacy-3.egg-info:3:3");
  /* the EGG-INFO by the legacy key of the path entry's basename */
  assert_string_equal(found(ix, "Egg-Pkg"), "3/EGG-INFO:1.0:1");
  assert_string_equal(found(ix, "egg.pkg"), "");
  assert_string_equal(found(ix, "nope"), "");
  assert_string_equal(found(ix, "fo"), "");
  /* names are counted: "foo\0x" is not "foo" */
  epindex_dists *d;
  assert_int_equal(epindex_distributions(ix, "foo\0x", 5, &d), EPINDEX_OK);
  assert_int_equal(epindex_dists_count(d), 0);
  epindex_dists_free(d);
  /* entry points in file order; hidden, broken: not known */
  /* the first listed answers; the other is hidden, and no index keeps
   * the entry points of a hidden distribution */
  assert_string_equal(entry_points_of(ix, "foo", 0),
                      ten_first
                          ? "console_scripts.foo=foo:main g.b=foo:b g.a=foo:a"
                          : "g.old=foo:old");
  assert_string_equal(entry_points_of(ix, "foo", 1), "ENOENT");
  assert_string_equal(entry_points_of(ix, "foo", 2), "g.c=foo3:c");
  assert_string_equal(entry_points_of(ix, "bad", 0), "ENOENT");
  assert_string_equal(entry_points_of(ix, "foo.bar", 0), "");
  assert_string_equal(entry_points_of(ix, "egg_pkg", 0), "g.e=egg:e");
}

static void test_scanned(void **state) {
  (void)state;
  tree t = make_tree();
  epindex *ix = open_tree(&t, EPINDEX_SOURCE_SCAN);
  check_answers(ix);
  epindex_close(ix);
  free_tree(&t);
}

static void test_indexed(void **state) {
  (void)state;
  tree t = make_tree();
  index_tree(&t);
  epindex *ix = open_tree(&t, EPINDEX_SOURCE_INDEX);
  check_answers(ix);
  epindex_close(ix);
  /* from the lookup table: each distribution's entry rows found by its
   * place in discovery order */
  ix = open_tree_with(&t, EPINDEX_SOURCE_INDEX, EPINDEX_POLICY_TRUST);
  check_answers(ix);
  epindex_close(ix);
  free_tree(&t);
}

/* Results are independent of their handle: a list made from a lookup
 * table (whose names it points into rather than copies) stays readable
 * after the handle is closed and the index replaced. */
static void test_a_list_outlives_its_handle(void **state) {
  (void)state;
  tree t = make_tree();
  index_tree(&t);
  epindex *ix = open_tree_with(&t, EPINDEX_SOURCE_INDEX, EPINDEX_POLICY_TRUST);
  epindex_dists *d;
  assert_int_equal(epindex_distributions(ix, NULL, 0, &d), EPINDEX_OK);
  char want[2048];
  snprintf(want, sizeof(want), "%s", describe(d));
  epindex_close(ix);
  put_dist(t.site1, "zz-1.0.dist-info", "zz", "1.0", NULL);
  assert_int_equal(
      epindex_update_dir(t.site1, EPINDEX_UPDATE_FULL, NULL, NULL, 0),
      EPINDEX_OK);
  assert_string_equal(describe(d), want);
  size_t len;
  assert_string_equal(epindex_dists_get(d, 0, EPINDEX_DIST_PATH, &len),
                      t.site1);
  assert_int_equal(len, strlen(t.site1));
  epindex_dists_free(d);
  free_tree(&t);
}

/* An index answers in exactly the scan's order. */
static void test_index_order_is_the_scans(void **state) {
  (void)state;
  tree t = make_tree();
  epindex *scan = open_tree(&t, EPINDEX_SOURCE_SCAN);
  index_tree(&t);
  epindex *ix = open_tree(&t, EPINDEX_SOURCE_INDEX);
  const char *names[] = {NULL, "foo", "egg-pkg"};
  for (size_t i = 0; i < 3; i++) {
    char want[2048];
    snprintf(want, sizeof(want), "%s", found_in_order(scan, names[i]));
    assert_string_equal(found_in_order(ix, names[i]), want);
  }
  epindex_close(scan);
  epindex_close(ix);
  free_tree(&t);
}

/* Under the value rule (3.15+), importlib raises reading the entry points
 * of a distribution with a value that is no object reference. */
static void test_value_rule(void **state) {
  (void)state;
  char *site = tmp_dir();
  put_dist(site, "v-1.dist-info", "v", "1", "[g]\nx = not a ref!\n");
  for (int indexed = 0; indexed < 2; indexed++) {
    if (indexed)
      assert_int_equal(epindex_update_dir(site, 0, NULL, NULL, 0), EPINDEX_OK);
    const char *paths[] = {site};
    for (unsigned rule = 0; rule <= EPINDEX_OPEN_VALUE_RULE;
         rule += EPINDEX_OPEN_VALUE_RULE) {
      epindex *ix;
      assert_int_equal(epindex_open(&ix, paths, 1, EPINDEX_POLICY_VERIFY, rule),
                       EPINDEX_OK);
      assert_string_equal(entry_points_of(ix, "v", 0),
                          rule ? "ENOENT" : "g.x=not a ref!");
      epindex_close(ix);
    }
  }
  tmp_cleanup(site);
}

/* A metadata entry whose name is not UTF-8 (b"Caf\xe9": Python lists it
 * as "Caf\udce9") answers to those bytes, any case of the rest, as
 * Python's surrogate escapes do; "café" in UTF-8 is another name. */
static void test_undecodable_names(void **state) {
  (void)state;
  char *root = tmp_dir(), *site = path_join(root, "site");
  put_dist(site, "Caf\xe9-1.0.dist-info", "cafe", "1.0", NULL);
  put_dist(site, "caf\xc3\xa9-2.0.dist-info", "caf\xc3\xa9", "2.0", NULL);
  for (int indexed = 0; indexed < 2; indexed++) {
    if (indexed)
      assert_int_equal(epindex_update_dir(site, 0, NULL, NULL, 0), EPINDEX_OK);
    const char *paths[] = {site};
    epindex *ix;
    assert_int_equal(epindex_open(&ix, paths, 1, EPINDEX_POLICY_VERIFY, 0),
                     EPINDEX_OK);
    assert_int_equal(epindex_path_source(ix, 0),
                     indexed ? EPINDEX_SOURCE_INDEX : EPINDEX_SOURCE_SCAN);
    assert_string_equal(found(ix, "caf\xe9"), "0/Caf\xe9-1.0.dist-info:1.0:1");
    assert_string_equal(found(ix, "CAF\xe9"), "0/Caf\xe9-1.0.dist-info:1.0:1");
    assert_string_equal(found(ix, "CAF\xc3\x89"),
                        "0/caf\xc3\xa9-2.0.dist-info:2.0:1");
    assert_string_equal(found(ix, "caf\xc9"), "");
    epindex_close(ix);
  }
  tmp_cleanup(root);
  free(site);
}

static void test_dists_arguments(void **state) {
  (void)state;
  epindex_dists *d = (epindex_dists *)1;
  epindex_result *r = (epindex_result *)1;
  assert_int_equal(epindex_distributions(NULL, NULL, 0, &d), EPINDEX_EINVAL);
  assert_null(d);
  assert_int_equal(epindex_distributions(NULL, NULL, 0, NULL), EPINDEX_EINVAL);
  epindex *ix;
  assert_int_equal(epindex_open(&ix, NULL, 0, EPINDEX_POLICY_STAT, 0),
                   EPINDEX_OK);
  assert_int_equal(epindex_distributions(ix, NULL, 0, &d), EPINDEX_OK);
  assert_int_equal(epindex_dists_count(d), 0);
  assert_int_equal(epindex_dists_entry_points(ix, d, 0, &r), EPINDEX_EINVAL);
  assert_null(r);
  assert_null(epindex_dists_get(d, 0, EPINDEX_DIST_NAME, NULL));
  assert_int_equal(epindex_dists_path_index(d, 0), SIZE_MAX);
  assert_int_equal(epindex_dists_flags(d, 0), 0);
  epindex_dists_free(d);
  epindex_dists_free(NULL);
  assert_int_equal(epindex_dists_count(NULL), 0);
  epindex_close(ix);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_scanned),
      cmocka_unit_test(test_indexed),
      cmocka_unit_test(test_index_order_is_the_scans),
      cmocka_unit_test(test_a_list_outlives_its_handle),
      cmocka_unit_test(test_value_rule),
      cmocka_unit_test(test_dists_arguments),
      cmocka_unit_test(test_undecodable_names),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
