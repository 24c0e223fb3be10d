/* test_index.c -- index files through the public API: round trip, freshness
 * verdicts, relocation, racy stamps, damaged/foreign/hostile files. */
#include "support.h"

#include "epindex.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct fx {
  char *tmp, *site;
} fx;

static int setup(void **state) {
  fx *f = calloc(1, sizeof(*f));
  f->tmp = tmp_dir();
  f->site = path_join(f->tmp, "site");
  put_dist(f->site, "alpha-1.0.dist-info", "alpha", "1.0",
           "[console_scripts]\nal = alpha:main\n[g]\na1 = alpha.g:one\n");
  put_dist(f->site, "beta-2.0.dist-info", "Beta", "2.0",
           "[console_scripts]\nbe = beta:main\n");
  put_dist(f->site, "gamma-0.1.dist-info", "gamma", "0.1", NULL);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fx *f = *state;
  free(f->site);
  tmp_cleanup(f->tmp);
  free(f);
  return 0;
}

static void update(const char *dir) {
  char err[512];
  int rc = epindex_update_dir(dir, 0, NULL, err, sizeof(err));
  if (rc)
    fail_msg("update %s: %s", dir, err);
}

/* Query one directory; return "name=value(dist version);..." and the
 * verdict. The caller frees the string. */
static char *query(const char *dir, epindex_policy p, const char *group,
                   epindex_source *src, epindex_reason *why) {
  epindex *ix;
  epindex_result *r;
  const char *paths[] = {dir};
  assert_int_equal(epindex_open(&ix, paths, 1, p, 0), EPINDEX_OK);
  assert_int_equal(epindex_lookup(ix, group, NULL, &r), EPINDEX_OK);
  char *out = calloc(1, 8192);
  for (size_t i = 0; i < epindex_result_count(r); i++) {
    const char *d = epindex_result_get(r, i, EPINDEX_FIELD_DIST, NULL);
    const char *v = epindex_result_get(r, i, EPINDEX_FIELD_VERSION, NULL);
    snprintf(out + strlen(out), 8192 - strlen(out), "%s=%s(%s %s);",
             epindex_result_get(r, i, EPINDEX_FIELD_NAME, NULL),
             epindex_result_get(r, i, EPINDEX_FIELD_VALUE, NULL), d ? d : "-",
             v ? v : "-");
  }
  if (src)
    *src = epindex_path_source(ix, 0);
  if (why)
    *why = epindex_path_reason(ix, 0);
  epindex_result_free(r);
  epindex_close(ix);
  return out;
}

static void expect(const char *dir, epindex_policy p, epindex_source want_src,
                   epindex_reason want_why, const char *want) {
  epindex_source src;
  epindex_reason why;
  char *got = query(dir, p, "console_scripts", &src, &why);
  if (why != want_why)
    fail_msg("%s: reason %s, expected %s", dir, epindex_reason_name(why),
             epindex_reason_name(want_why));
  assert_int_equal(src, want_src);
  assert_string_equal(got, want);
  free(got);
}

#define BASE "al=alpha:main(alpha 1.0);be=beta:main(Beta 2.0);"

static void test_scan_and_index_agree(void **state) {
  fx *f = *state;
  expect(f->site, EPINDEX_POLICY_STAT, EPINDEX_SOURCE_SCAN,
         EPINDEX_REASON_MISSING, BASE);
  update(f->site);
  expect(f->site, EPINDEX_POLICY_STAT, EPINDEX_SOURCE_INDEX,
         EPINDEX_REASON_FRESH, BASE);
  char *a = query(f->site, EPINDEX_POLICY_STAT, NULL, NULL, NULL);
  sh("rm -rf '%s/.epindex'", f->site);
  char *b = query(f->site, EPINDEX_POLICY_STAT, NULL, NULL, NULL);
  assert_string_equal(a, b);
  free(a);
  free(b);
}

static void test_added_distribution_makes_index_stale(void **state) {
  fx *f = *state;
  update(f->site);
  put_dist(f->site, "delta-1.0.dist-info", "delta", "1.0",
           "[console_scripts]\nde = delta:main\n");
  epindex_source src;
  epindex_reason why;
  char *got =
      query(f->site, EPINDEX_POLICY_STAT, "console_scripts", &src, &why);
  assert_int_equal(why, EPINDEX_REASON_STALE);
  assert_int_equal(src, EPINDEX_SOURCE_SCAN);
  assert_non_null(strstr(got, "de=delta:main(delta 1.0);"));
  free(got);
  epindex_dirinfo *d;
  assert_int_equal(epindex_inspect(f->site, EPINDEX_POLICY_STAT, &d), 0);
  assert_int_equal(epindex_dirinfo_reason(d), EPINDEX_REASON_STALE);
  assert_non_null(strstr(epindex_dirinfo_detail(d), "delta-1.0.dist-info"));
  epindex_dirinfo_free(d);
}

static void test_unrelated_change_is_verified(void **state) {
  fx *f = *state;
  update(f->site);
  put_file(f->site, "newmodule.py", "x = 1\n", (size_t)-1);
  expect(f->site, EPINDEX_POLICY_STAT, EPINDEX_SOURCE_INDEX,
         EPINDEX_REASON_VERIFIED, BASE);
}

/* An entry_points.txt of dir's beta-2.0 rewritten in place: the same size,
 * new content, an mtime a second on, the directory's listing unchanged. */
static void edit_beta_in_place(const char *dir) {
  put_file(dir, "beta-2.0.dist-info/entry_points.txt",
           "[console_scripts]\nbe = beta:MAIN\n", (size_t)-1);
  sh("touch -d '+1 second' '%s/beta-2.0.dist-info/entry_points.txt'", dir);
}

static void test_in_place_edit_seen_by_stat_in_small_directories(void **state) {
  fx *f = *state;
  update(f->site);
  edit_beta_in_place(f->site);
  /* three distributions: STAT compares each one's files too */
  const char *edited = "al=alpha:main(alpha 1.0);be=beta:MAIN(Beta 2.0);";
  expect(f->site, EPINDEX_POLICY_STAT, EPINDEX_SOURCE_SCAN,
         EPINDEX_REASON_STALE, edited);
  expect(f->site, EPINDEX_POLICY_VERIFY, EPINDEX_SOURCE_SCAN,
         EPINDEX_REASON_STALE, edited);
  /* TRUST serves whatever the index says */
  expect(f->site, EPINDEX_POLICY_TRUST, EPINDEX_SOURCE_INDEX,
         EPINDEX_REASON_TRUSTED, BASE);
  /* 16 distributions are still checked file by file; from 17 on STAT
   * looks at the directory alone and serves the old answer (documented) */
  for (int n = 16; n <= 17; n++) {
    char *dir = path_join(f->tmp, n == 16 ? "sixteen" : "seventeen");
    put_dist(dir, "beta-2.0.dist-info", "Beta", "2.0",
             "[console_scripts]\nbe = beta:main\n");
    put_plain_dists(dir, "filler", n - 1);
    update(dir);
    if (n == 16) /* checked from index.db's rows, not the table's */
      sh("rm '%s/.epindex/lookup.tbl'", dir);
    expect(dir, EPINDEX_POLICY_STAT, EPINDEX_SOURCE_INDEX, EPINDEX_REASON_FRESH,
           "be=beta:main(Beta 2.0);");
    edit_beta_in_place(dir);
    if (n == 16)
      expect(dir, EPINDEX_POLICY_STAT, EPINDEX_SOURCE_SCAN,
             EPINDEX_REASON_STALE, "be=beta:MAIN(Beta 2.0);");
    else
      expect(dir, EPINDEX_POLICY_STAT, EPINDEX_SOURCE_INDEX,
             EPINDEX_REASON_FRESH, "be=beta:main(Beta 2.0);");
    expect(dir, EPINDEX_POLICY_VERIFY, EPINDEX_SOURCE_SCAN,
           EPINDEX_REASON_STALE, "be=beta:MAIN(Beta 2.0);");
    free(dir);
  }
  /* 17 become 16: the update's table keeps the stamps the check needs
   * (a patch of the old table, which had none, would be verified by every
   * reader), and sees the next edit */
  char *dir = path_join(f->tmp, "seventeen");
  update(dir);
  sh("rm -r '%s/filler0000-1.0.dist-info'", dir);
  update(dir);
  expect(dir, EPINDEX_POLICY_STAT, EPINDEX_SOURCE_INDEX, EPINDEX_REASON_FRESH,
         "be=beta:MAIN(Beta 2.0);");
  put_file(dir, "beta-2.0.dist-info/entry_points.txt",
           "[console_scripts]\nbe = beta:main\n", (size_t)-1);
  sh("touch -d '+2 second' '%s/beta-2.0.dist-info/entry_points.txt'", dir);
  expect(dir, EPINDEX_POLICY_STAT, EPINDEX_SOURCE_SCAN, EPINDEX_REASON_STALE,
         "be=beta:main(Beta 2.0);");
  free(dir);
}

static void test_relocation(void **state) {
  fx *f = *state;
  update(f->site);
  char *moved = path_join(f->tmp, "moved");
  /* a rename keeps the inode and mtime but sets the ctime: stat cannot
   * tell it from a put-back mtime, verify finds every file as it was */
  sh("mv '%s' '%s'", f->site, moved);
  expect(moved, EPINDEX_POLICY_STAT, EPINDEX_SOURCE_INDEX,
         EPINDEX_REASON_VERIFIED, BASE);
  const char *copies[] = {"cp -a", "cp -r"};
  for (int i = 0; i < 2; i++) {
    char *dst = path_join(f->tmp, i ? "copy-r" : "copy-a");
    sh("%s '%s' '%s'", copies[i], moved, dst);
    expect(dst, EPINDEX_POLICY_STAT, EPINDEX_SOURCE_INDEX,
           EPINDEX_REASON_VERIFIED, BASE);
    free(dst);
  }
  char *untarred = path_join(f->tmp, "untarred");
  sh("mkdir '%s' && tar -C '%s' -cf - . | tar -C '%s' -xf -", untarred, moved,
     untarred);
  expect(untarred, EPINDEX_POLICY_STAT, EPINDEX_SOURCE_INDEX,
         EPINDEX_REASON_VERIFIED, BASE);
  /* relocated and changed: the index no longer matches, scan */
  char *changed = path_join(f->tmp, "changed");
  sh("cp -r '%s' '%s'", moved, changed);
  put_file(changed, "beta-2.0.dist-info/entry_points.txt",
           "[console_scripts]\nbe = beta:main_changed\n", (size_t)-1);
  expect(changed, EPINDEX_POLICY_STAT, EPINDEX_SOURCE_SCAN,
         EPINDEX_REASON_RELOCATED,
         "al=alpha:main(alpha 1.0);be=beta:main_changed(Beta 2.0);");
  free(changed);
  free(untarred);
  free(moved);
}

/* Remove the lookup table, so that index.db itself is judged and read:
 * these tests are about index.db (test_lookup.c is about the table). */
static void drop_table(const char *site) {
  sh("rm -f '%s/.epindex/" EPINDEX_LOOKUP_FILE "'", site);
}

/* Run sql on site's index, as an attacker or a bug with write access would
 * (and drop the table, which would otherwise answer). */
static void exec_on_index(const char *site, const char *sql) {
  char *p = path_join(site, ".epindex/index.db");
  sqlite3 *db;
  assert_int_equal(sqlite3_open(p, &db), SQLITE_OK);
  free(p);
  char *err = NULL;
  if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK)
    fail_msg("%s: %s", sql, err);
  sqlite3_close(db);
  drop_table(site);
}

static void test_racy_stamp_forces_verification(void **state) {
  fx *f = *state;
  update(f->site);
  /* a change in the same clock tick as the stamp keeps the directory mtime:
   * simulate it by adding a dist and restoring the recorded mtime */
  exec_on_index(
      f->site, "UPDATE ep SET value = (SELECT value FROM ep WHERE grp = "
               "char(10) || 'meta' AND name = 'mtime_ns') WHERE grp = char(10) "
               "|| 'meta' AND name = 'stamp_ns'");
  struct stat before;
  assert_int_equal(stat(f->site, &before), 0);
  put_dist(f->site, "delta-1.0.dist-info", "delta", "1.0",
           "[console_scripts]\nde = delta:main\n");
  struct timespec ts[2] = {before.st_atim, before.st_mtim};
  assert_int_equal(utimensat(AT_FDCWD, f->site, ts, 0), 0);
  epindex_source src;
  epindex_reason why;
  char *got =
      query(f->site, EPINDEX_POLICY_STAT, "console_scripts", &src, &why);
  assert_int_equal(why, EPINDEX_REASON_STALE);
  assert_int_equal(src, EPINDEX_SOURCE_SCAN);
  assert_non_null(strstr(got, "de=delta:main(delta 1.0);")); /* readdir order */
  assert_int_equal(strlen(got), strlen(BASE "de=delta:main(delta 1.0);"));
  free(got);
}

static void test_update_never_stamps_racily(void **state) {
  fx *f = *state;
  for (int i = 0; i < 5; i++) { /* change, then update at once */
    char name[64];
    snprintf(name, sizeof(name), "n%d-1.0.dist-info", i);
    put_dist(f->site, name, name, "1.0", NULL);
    update(f->site);
    epindex_dirinfo *d;
    assert_int_equal(epindex_inspect(f->site, EPINDEX_POLICY_STAT, &d), 0);
    assert_int_equal(epindex_dirinfo_reason(d), EPINDEX_REASON_FRESH);
    epindex_dirinfo_free(d);
  }
}

static void damage(const fx *f, const char *cmd) {
  update(f->site);
  drop_table(f->site);
  sh("cd '%s/.epindex' && %s", f->site, cmd);
}

static void expect_refused(const fx *f, epindex_reason why) {
  epindex *ix;
  const char *paths[] = {f->site};
  assert_int_equal(epindex_open(&ix, paths, 1, EPINDEX_POLICY_STAT, 0),
                   EPINDEX_OK);
  if (epindex_path_reason(ix, 0) != why)
    fail_msg("reason %s, expected %s",
             epindex_reason_name(epindex_path_reason(ix, 0)),
             epindex_reason_name(why));
  epindex_close(ix);
  expect(f->site, EPINDEX_POLICY_STAT, EPINDEX_SOURCE_SCAN, why, BASE);
}

static size_t diag_count(const char *site) {
  epindex *ix;
  assert_int_equal(epindex_open(&ix, &site, 1, EPINDEX_POLICY_STAT, 0),
                   EPINDEX_OK);
  size_t n = epindex_diag_count(ix);
  epindex_close(ix);
  return n;
}

static void test_damaged_indexes_fall_back(void **state) {
  fx *f = *state;
  damage(f, "truncate -s 5000 index.db");
  expect_refused(f, EPINDEX_REASON_DAMAGED);
  damage(f, "head -c 40000 /dev/urandom > index.db");
  expect_refused(f, EPINDEX_REASON_DAMAGED);
  damage(f, ": > index.db");
  expect_refused(f, EPINDEX_REASON_DAMAGED);
  damage(
      f,
      "chmod 0644 index.db && printf 'SQLite format 3\\000' | dd of=index.db "
      "bs=1 seek=0 conv=notrunc 2>/dev/null && dd if=/dev/zero of=index.db "
      "bs=1 "
      "seek=4096 count=20000 conv=notrunc 2>/dev/null");
  epindex *ix;
  const char *paths[] = {f->site};
  assert_int_equal(epindex_open(&ix, paths, 1, EPINDEX_POLICY_STAT, 0),
                   EPINDEX_OK);
  epindex_result *r;
  assert_int_equal(epindex_lookup(ix, "console_scripts", NULL, &r), EPINDEX_OK);
  assert_int_equal(epindex_result_count(r), 2); /* right answer, by scanning */
  assert_int_equal(epindex_path_source(ix, 0), EPINDEX_SOURCE_SCAN);
  assert_true(epindex_diag_count(ix) >= 1);
  epindex_result_free(r);
  epindex_close(ix);
}

static void test_foreign_and_future_schemas(void **state) {
  fx *f = *state;
  update(f->site);
  exec_on_index(f->site, "PRAGMA application_id = 1234");
  expect_refused(f, EPINDEX_REASON_FOREIGN);
  update(f->site);
  exec_on_index(f->site, "PRAGMA user_version = 99");
  expect_refused(f, EPINDEX_REASON_SCHEMA);
  assert_int_equal(diag_count(f->site), 1); /* not this reader's to judge */
  update(f->site);
  exec_on_index(f->site, "PRAGMA user_version = 2"); /* before an upgrade */
  expect_refused(f, EPINDEX_REASON_OUTDATED);
  assert_int_equal(diag_count(f->site), 0); /* the next update fixes it */
}

static void test_untrusted_indexes(void **state) {
  fx *f = *state;
  damage(f, "chmod 0666 index.db");
  expect_refused(f, EPINDEX_REASON_UNTRUSTED);
  damage(f, "chmod 0644 index.db && chmod 0777 .");
  expect_refused(f, EPINDEX_REASON_UNTRUSTED);
  sh("chmod 0755 '%s/.epindex'", f->site); /* or update refuses it too */
  damage(f, "chown 4242 index.db");
  expect_refused(f, EPINDEX_REASON_UNTRUSTED);
  damage(f,
         "chown 0 index.db && mv index.db real.db && ln -s real.db index.db");
  expect_refused(f, EPINDEX_REASON_UNTRUSTED);
}

static void test_hostile_schema_objects_never_run(void **state) {
  fx *f = *state;
  update(f->site);
  /* a view shadowing nothing, a trigger, and a table renamed into a view */
  exec_on_index(f->site,
                "CREATE TABLE pwned(x); "
                "CREATE TRIGGER t AFTER INSERT ON ep BEGIN INSERT INTO pwned "
                "VALUES(1); END; "
                "ALTER TABLE ep RENAME TO ep_real; "
                "CREATE VIEW ep AS SELECT * FROM ep_real;");
  /* views are disabled: reading the index fails, the entry is scanned */
  epindex *ix;
  const char *paths[] = {f->site};
  assert_int_equal(epindex_open(&ix, paths, 1, EPINDEX_POLICY_STAT, 0),
                   EPINDEX_OK);
  epindex_result *r;
  assert_int_equal(epindex_lookup(ix, "console_scripts", NULL, &r), EPINDEX_OK);
  assert_int_equal(epindex_result_count(r), 2);
  assert_int_equal(epindex_path_source(ix, 0), EPINDEX_SOURCE_SCAN);
  assert_int_equal(epindex_path_reason(ix, 0), EPINDEX_REASON_DAMAGED);
  epindex_result_free(r);
  epindex_close(ix);
}

static void test_hostile_row_types(void **state) {
  fx *f = *state;
  update(f->site);
  exec_on_index(f->site,
                "UPDATE ep SET value = x'00ff' WHERE grp = 'console_scripts' "
                "AND name = 'be'");
  expect(f->site, EPINDEX_POLICY_STAT, EPINDEX_SOURCE_SCAN,
         EPINDEX_REASON_DAMAGED, BASE);
}

static void set_meta(const char *site, const char *key, const char *value) {
  char sql[256];
  snprintf(sql, sizeof(sql),
           "UPDATE ep SET value = %s WHERE grp = char(10) || 'meta' AND "
           "name = '%s'",
           value, key);
  exec_on_index(site, sql);
}

static void test_absurd_counts(void **state) {
  fx *f = *state;
  update(f->site); /* counts far beyond the file's size: harmless */
  set_meta(f->site, "dists", "9000000000000000000");
  set_meta(f->site, "problems", "9000000000000000000");
  expect(f->site, EPINDEX_POLICY_STAT, EPINDEX_SOURCE_INDEX,
         EPINDEX_REASON_FRESH, BASE);
  update(f->site); /* a negative count, or one of the wrong type: damaged */
  set_meta(f->site, "dists", "-5");
  expect_refused(f, EPINDEX_REASON_DAMAGED);
  update(f->site);
  set_meta(f->site, "mtime_ns", "'not a number'");
  expect_refused(f, EPINDEX_REASON_DAMAGED);
}

static void test_nul_in_index_text(void **state) {
  fx *f = *state;
  update(f->site);
  exec_on_index(f->site, NUL_NAME_SQL);
  expect_nul_name_kept(f->site);
}

int main(void) {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
  const struct CMUnitTest tests[] = {
      T(test_scan_and_index_agree),
      T(test_added_distribution_makes_index_stale),
      T(test_unrelated_change_is_verified),
      T(test_in_place_edit_seen_by_stat_in_small_directories),
      T(test_relocation),
      T(test_racy_stamp_forces_verification),
      T(test_update_never_stamps_racily),
      T(test_damaged_indexes_fall_back),
      T(test_foreign_and_future_schemas),
      T(test_untrusted_indexes),
      T(test_hostile_schema_objects_never_run),
      T(test_hostile_row_types),
      T(test_absurd_counts),
      T(test_nul_in_index_text),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
