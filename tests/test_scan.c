/* test_scan.c -- the scanner (reader/scan.c): discovery order, keys,
 * precedence within a directory, legacy formats, broken metadata, zips. */
#include "support.h"

#include "scan.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int setup(void **state) {
  *state = tmp_dir();
  return 0;
}
static int teardown(void **state) {
  tmp_cleanup(*state);
  return 0;
}

static void scan(const char *path, ep_catalog *cat) {
  epindex_source what;
  memset(cat, 0, sizeof(*cat));
  assert_int_equal(ep_scan_path_entry(path, cat, &what), 0);
}

/* A writer's scan (an audience set): the one that stamps distributions. */
static void scan_as_writer(const char *path, ep_catalog *cat) {
  static const ep_audience owner = {EP_AUD_OWNER, 0};
  ep_listing l = {0};
  memset(cat, 0, sizeof(*cat));
  cat->aud = &owner;
  int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  assert_true(fd >= 0);
  assert_int_equal(ep_list_dir(fd, false, &l), 0);
  assert_int_equal(ep_scan_listed(fd, &l, cat, NULL, NULL, NULL), 0);
  assert_int_equal(ep_catalog_seal(cat), 0);
  ep_listing_free(&l);
  close(fd);
}

static const ep_dist *find(const ep_catalog *c, const char *metadir) {
  for (size_t i = 0; i < c->ndists; i++)
    if (strcmp(c->dists[i].metadir, metadir) == 0)
      return &c->dists[i];
  fail_msg("no dist %s", metadir);
  return NULL;
}

static void test_discovery_groups_by_lowered_name(void **state) {
  const char *d = *state;
  const char *names[] = {"b-2.dist-info", "A-1.dist-info", "B-1.egg-info",
                         "c-1.dist-info", "a-2.dist-info", "notes.txt"};
  for (size_t i = 0; i < 6; i++)
    put_dir(d, names[i]);
  /* expected: readdir order, grouped by first appearance of lowered name */
  char order[8][256];
  size_t n = 0;
  DIR *dir = opendir(d);
  struct dirent *de;
  while ((de = readdir(dir)))
    if (strstr(de->d_name, "-info"))
      snprintf(order[n++], sizeof(order[0]), "%s", de->d_name);
  closedir(dir);
  char want[256] = "", got[256] = "";
  bool done[8] = {0};
  for (size_t i = 0; i < n; i++) {
    for (size_t j = i; j < n && !done[i]; j++) {
      if (!done[j] && (order[j][0] | 0x20) == (order[i][0] | 0x20)) {
        strcat(want, order[j]);
        strcat(want, ",");
        if (j != i)
          done[j] = true;
      }
    }
    done[i] = true;
  }
  ep_catalog c;
  scan(d, &c);
  assert_int_equal(c.ndists, 5);
  for (size_t i = 0; i < c.ndists; i++) {
    strcat(got, c.dists[i].metadir);
    strcat(got, ",");
  }
  assert_string_equal(got, want);
  ep_catalog_free(&c);
}

static void test_first_distribution_of_a_name_wins(void **state) {
  const char *d = *state;
  put_dist(d, "foo-1.0.dist-info", "foo", "1.0", "[g]\na = one\n");
  put_dist(d, "Foo-2.0.dist-info", "Foo", "2.0", "[g]\na = two\n");
  ep_catalog c;
  scan(d, &c);
  assert_int_equal(c.ndists, 2);
  assert_string_equal(c.dists[0].key, "foo");
  assert_string_equal(c.dists[1].key, "foo");
  assert_false(c.dists[0].hidden);
  assert_true(c.dists[1].hidden);
  ep_catalog_free(&c);
}

static void test_egg_info_file_has_no_entry_points(void **state) {
  const char *d = *state;
  put_file(d, "bar-1.0-py3.11.egg-info",
           "Metadata-Version: 1.0\nName: bar\nVersion: 1.0\n", (size_t)-1);
  ep_catalog c;
  scan(d, &c);
  const ep_dist *b = find(&c, "bar-1.0-py3.11.egg-info");
  assert_int_equal(b->kind, EP_KIND_FILE);
  assert_int_equal(b->count, 0);
  assert_string_equal(b->key, "bar");
  ep_catalog_free(&c);
}

static void test_egg_directory_path_entry(void **state) {
  const char *d = *state;
  put_file(d, "Foo_Bar-1.0-py3.11.egg/EGG-INFO/PKG-INFO",
           "Metadata-Version: 1.1\nName: Foo-Bar\nVersion: 1.0\n", (size_t)-1);
  put_file(d, "Foo_Bar-1.0-py3.11.egg/EGG-INFO/entry_points.txt",
           "[console_scripts]\nfb = foo_bar:main\n", (size_t)-1);
  char *egg = path_join(d, "Foo_Bar-1.0-py3.11.egg");
  ep_catalog c;
  scan(egg, &c);
  assert_int_equal(c.ndists, 1);
  assert_int_equal(c.dists[0].kind, EP_KIND_EGG);
  assert_string_equal(c.dists[0].metadir, "EGG-INFO");
  assert_string_equal(c.dists[0].key, "foo_bar"); /* from PKG-INFO's Name */
  assert_string_equal(c.dists[0].version, "1.0");
  assert_int_equal(c.nentries, 1);
  ep_catalog_free(&c);
  free(egg);
}

static void test_key_falls_back_to_metadata_name(void **state) {
  const char *d = *state;
  put_dist(d, "-1.0.dist-info", "Dash-Less", "1.0", "[g]\na = b\n");
  put_dist(d, "Upper.DIST-INFO", "Up.Per", "1.0", "[g]\nc = d\n");
  put_dist(d, ".dist-info", "dotonly", "1.0", NULL);
  ep_catalog c;
  scan(d, &c);
  assert_string_equal(find(&c, "-1.0.dist-info")->key, "dash_less");
  assert_string_equal(find(&c, "Upper.DIST-INFO")->key, "up_per");
  assert_string_equal(find(&c, ".dist-info")->key, "dotonly");
  ep_catalog_free(&c);
}

static void test_name_needed_but_absent_is_a_problem(void **state) {
  const char *d = *state;
  put_file(d, "--1.0.dist-info/METADATA", "Version: 1\n", (size_t)-1);
  put_dist(d, "ok-1.0.dist-info", "ok", "1.0", "[g]\na = b\n");
  ep_catalog c;
  scan(d, &c);
  const ep_dist *bad = find(&c, "--1.0.dist-info");
  assert_null(bad->key);
  assert_non_null(bad->problem);
  assert_non_null(find(&c, "ok-1.0.dist-info")->key);
  ep_catalog_free(&c);
}

static void test_broken_entry_points_are_skipped(void **state) {
  const char *d = *state;
  put_file(d, "utf-1.0.dist-info/entry_points.txt", "[g]\na = \xff\n",
           (size_t)-1);
  put_file(d, "eq-1.0.dist-info/entry_points.txt", "[g]\na = 1\nnoeq\n",
           (size_t)-1);
  put_dist(d, "good-1.0.dist-info", "good", "1.0", "[g]\nx = y\n");
  char *fifo_dir = path_join(d, "fifo-1.0.dist-info");
  mkdir(fifo_dir, 0755);
  char *fifo = path_join(fifo_dir, "entry_points.txt");
  assert_int_equal(mkfifo(fifo, 0644), 0);
  sh("ln -s loop-1.0.dist-info '%s/loop-1.0.dist-info'", d);
  sh("ln -s nowhere '%s/dangling-1.0.dist-info'", d);
  ep_catalog c;
  scan(d, &c); /* must not block on the FIFO */
  assert_string_equal(find(&c, "utf-1.0.dist-info")->problem,
                      "entry_points.txt: invalid UTF-8 at byte 8");
  assert_string_equal(find(&c, "eq-1.0.dist-info")->problem,
                      "entry_points.txt: line 3 has no '='");
  assert_int_equal(find(&c, "eq-1.0.dist-info")->count, 0);
  assert_non_null(find(&c, "fifo-1.0.dist-info")->problem);
  assert_non_null(find(&c, "loop-1.0.dist-info")->problem);
  assert_null(find(&c, "dangling-1.0.dist-info")->problem); /* just absent */
  assert_null(find(&c, "good-1.0.dist-info")->problem);
  assert_int_equal(find(&c, "good-1.0.dist-info")->count, 1);
  ep_catalog_free(&c);
  free(fifo);
  free(fifo_dir);
}

static void test_huge_file_is_refused(void **state) {
  const char *d = *state;
  put_file(d, "big-1.0.dist-info/entry_points.txt", "[g]\n", (size_t)-1);
  char *p = path_join(d, "big-1.0.dist-info/entry_points.txt");
  assert_int_equal(truncate(p, (off_t)EP_MAX_FILE_SIZE + 1), 0);
  ep_catalog c;
  scan(d, &c);
  assert_non_null(find(&c, "big-1.0.dist-info")->problem);
  ep_catalog_free(&c);
  free(p);
}

static void test_metadata_fallbacks(void **state) {
  const char *d = *state;
  put_file(d, "e-1.0.dist-info/METADATA", "", 0); /* empty: falls through */
  put_file(d, "e-1.0.dist-info/PKG-INFO", "Name: from-pkg-info\nVersion: 9\n",
           (size_t)-1);
  put_file(d, "e-1.0.dist-info/entry_points.txt", "[g]\na = b\n", (size_t)-1);
  put_file(d, "u-1.0.dist-info/METADATA", "Name: \xff\n", (size_t)-1);
  put_file(d, "u-1.0.dist-info/entry_points.txt", "[g]\nc = d\n", (size_t)-1);
  /* both present: METADATA wins, and stamps the distribution */
  put_file(d, "m-1.0.dist-info/METADATA", "Name: from-md\nVersion: 1\n",
           (size_t)-1);
  put_file(d, "m-1.0.dist-info/PKG-INFO", "Name: from-pkg\nVersion: 22\n",
           (size_t)-1);
  ep_catalog c;
  scan_as_writer(d, &c);
  assert_int_equal(find(&c, "m-1.0.dist-info")->stamp.md.size,
                   strlen("Name: from-md\nVersion: 1\n"));
  ep_catalog_free(&c);
  scan(d, &c);
  assert_string_equal(find(&c, "m-1.0.dist-info")->name, "from-md");
  assert_string_equal(find(&c, "m-1.0.dist-info")->version, "1");
  assert_string_equal(find(&c, "e-1.0.dist-info")->name, "from-pkg-info");
  assert_string_equal(find(&c, "e-1.0.dist-info")->version, "9");
  /* undecodable METADATA: entry points still count, the name is unknown */
  assert_null(find(&c, "u-1.0.dist-info")->name);
  assert_int_equal(find(&c, "u-1.0.dist-info")->count, 1);
  ep_catalog_free(&c);
}

static void zip_add(struct archive *a, const char *name, const char *data) {
  struct archive_entry *e = archive_entry_new();
  archive_entry_set_pathname(e, name);
  archive_entry_set_filetype(e, AE_IFREG);
  archive_entry_set_perm(e, 0644);
  archive_entry_set_size(e, (la_int64_t)strlen(data));
  assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
  assert_int_equal(archive_write_data(a, data, strlen(data)),
                   (la_ssize_t)strlen(data));
  archive_entry_free(e);
}

static void test_zip_path_entry(void **state) {
  const char *d = *state;
  char *zip = path_join(d, "bundle.zip");
  struct archive *a = archive_write_new();
  archive_write_set_format_zip(a);
  assert_int_equal(archive_write_open_filename(a, zip), ARCHIVE_OK);
  zip_add(a, "pkg/__init__.py", "");
  zip_add(a, "zipped_dist-1.0.dist-info/METADATA",
          "Name: Zipped.Dist\nVersion: 1.0\n");
  zip_add(a, "zipped_dist-1.0.dist-info/entry_points.txt",
          "[g]\nz = zipped:main\n");
  zip_add(a, "legacy-2.0.egg-info", "Name: legacy\nVersion: 2.0\n");
  archive_write_close(a);
  archive_write_free(a);
  ep_catalog c;
  scan(zip, &c);
  assert_int_equal(c.ndists, 2);
  const ep_dist *z = find(&c, "zipped_dist-1.0.dist-info");
  assert_string_equal(z->key, "zipped_dist"); /* from METADATA's Name */
  assert_int_equal(z->count, 1);
  const ep_dist *l = find(&c, "legacy-2.0.egg-info");
  assert_int_equal(l->kind, EP_KIND_FILE);
  assert_string_equal(l->key, "legacy");
  assert_null(l->name); /* zipfile reads no metadata from an egg-info file */
  ep_catalog_free(&c);
  free(zip);
}

static void test_missing_and_odd_path_entries(void **state) {
  const char *d = *state;
  put_file(d, "plain.txt", "not a zip", (size_t)-1);
  char *missing = path_join(d, "missing");
  char *plain = path_join(d, "plain.txt");
  ep_catalog c;
  epindex_source what;
  memset(&c, 0, sizeof(c));
  assert_int_equal(ep_scan_path_entry(missing, &c, &what), 0);
  assert_int_equal(what, EPINDEX_SOURCE_NONE);
  assert_int_equal(c.ndists, 0);
  ep_catalog_free(&c);
  assert_int_equal(ep_scan_path_entry(plain, &c, &what), 0);
  assert_int_equal(what, EPINDEX_SOURCE_NONE);
  ep_catalog_free(&c);
  free(missing);
  free(plain);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_discovery_groups_by_lowered_name,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(test_first_distribution_of_a_name_wins,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(test_egg_info_file_has_no_entry_points,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(test_egg_directory_path_entry, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_key_falls_back_to_metadata_name,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(test_name_needed_but_absent_is_a_problem,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(test_broken_entry_points_are_skipped,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(test_huge_file_is_refused, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_metadata_fallbacks, setup, teardown),
      cmocka_unit_test_setup_teardown(test_zip_path_entry, setup, teardown),
      cmocka_unit_test_setup_teardown(test_missing_and_odd_path_entries, setup,
                                      teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
