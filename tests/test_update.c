/* test_update.c -- epindex_update_dir(): atomic replace, litter, incremental
 * reads, errors (missing, not a directory, read-only, full disk). */
#include "support.h"

#include "access.h"
#include "epindex.h"
#include "lookup.h"

#include <fcntl.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static int setup(void **state) {
  char *t = tmp_dir();
  for (int i = 0; i < 20; i++) {
    char md[64], ep[128];
    snprintf(md, sizeof(md), "d%02d-1.0.dist-info", i);
    snprintf(ep, sizeof(ep), "[console_scripts]\nd%02d = d%02d:main\n", i, i);
    put_dist(t, md, md, "1.0", i % 2 ? ep : NULL);
  }
  *state = t;
  return 0;
}
static int teardown(void **state) {
  tmp_cleanup(*state);
  return 0;
}

static ino_t index_inode(const char *dir) {
  char *p = path_join(dir, ".epindex/index.db");
  struct stat st;
  ino_t ino = stat(p, &st) == 0 ? st.st_ino : 0;
  free(p);
  return ino;
}

static int count_litter(const char *dir) {
  char cmd[4096];
  snprintf(cmd, sizeof(cmd), "ls -a '%s/.epindex' | grep -c tmp", dir);
  FILE *f = popen(cmd, "r");
  int n = 0;
  assert_int_equal(fscanf(f, "%d", &n), 1);
  pclose(f);
  return n;
}

static void test_update_replaces_atomically_and_cleans_litter(void **state) {
  const char *d = *state;
  epindex_update_stats st;
  assert_int_equal(epindex_update_dir(d, 0, &st, NULL, 0), EPINDEX_OK);
  assert_int_equal(st.dists, 20);
  assert_int_equal(st.entries, 10);
  ino_t first = index_inode(d);
  put_file(d, ".epindex/index.db.tmp-99999-dead", "half-written", (size_t)-1);
  put_dist(d, "new-1.0.dist-info", "new", "1.0", NULL);
  assert_int_equal(epindex_update_dir(d, 0, &st, NULL, 0), EPINDEX_OK);
  assert_int_not_equal(index_inode(d), first); /* renamed into place */
  assert_int_equal(count_litter(d), 0);
}

static void test_incremental_reads_only_changes(void **state) {
  const char *d = *state;
  epindex_update_stats st;
  assert_int_equal(epindex_update_dir(d, 0, &st, NULL, 0), EPINDEX_OK);
  assert_int_equal(st.reread, 20);
  assert_int_equal(epindex_update_dir(d, 0, &st, NULL, 0), EPINDEX_OK);
  assert_int_equal(st.unchanged, 1);
  put_dist(d, "new-1.0.dist-info", "new", "1.0", "[g]\nn = new\n");
  assert_int_equal(epindex_update_dir(d, 0, &st, NULL, 0), EPINDEX_OK);
  assert_int_equal(st.unchanged, 0);
  assert_int_equal(st.reread, 1);
  assert_int_equal(st.dists, 21);
  assert_int_equal(epindex_update_dir(d, EPINDEX_UPDATE_FULL, &st, NULL, 0),
                   EPINDEX_OK);
  assert_int_equal(st.reread, 21);
  /* an in-place edit is seen by update even though the listing is the same */
  sh("sleep 0.01; printf '[g]\\nn = changed\\n' > "
     "'%s/new-1.0.dist-info/entry_points.txt'",
     d);
  assert_int_equal(epindex_update_dir(d, 0, &st, NULL, 0), EPINDEX_OK);
  assert_int_equal(st.unchanged, 0);
  assert_int_equal(st.reread, 1);
}

/* A full build takes the files' stamps from the reads, an incremental
 * update from stat(): for every shape of metadata directory they must
 * agree, or the next update would read everything again (and a reader
 * would find the index stale). */
static void test_full_build_stamps_as_an_update_does(void **state) {
  const char *d = *state;
  sh("cd '%s' && mkdir e1-1.0.dist-info e2-1.0.dist-info e3-1.0.dist-info "
     "e4-1.0.dist-info e5-1.0.dist-info e6-1.0.dist-info && "
     ": > e1-1.0.dist-info/METADATA && "
     "printf 'Name: e1\nVersion: 1\n' > e1-1.0.dist-info/PKG-INFO && "
     "mkdir e2-1.0.dist-info/METADATA && "
     "printf 'Name: e2\nVersion: 1\n' > e2-1.0.dist-info/PKG-INFO && "
     "mkdir e3-1.0.dist-info/entry_points.txt && "
     "printf 'Name: e3\nVersion: 1\n' > e3-1.0.dist-info/METADATA && "
     "printf 'Name: e4\nVersion: 1\n' > e4-1.0.dist-info/PKG-INFO && "
     "printf '[g]\ne5 = m\n' > e5-1.0.dist-info/real.txt && "
     "ln -s real.txt e5-1.0.dist-info/entry_points.txt && "
     "printf 'Name: e5\nVersion: 1\n' > e5-1.0.dist-info/METADATA && "
     "ln -s gone e6-1.0.dist-info/METADATA && "
     "printf 'Name: e6\nVersion: 1\n' > e6-1.0.dist-info/PKG-INFO && "
     "printf 'Name: e7\nVersion: 1\n' > e7-1.0.egg-info",
     d);
  epindex_update_stats st;
  assert_int_equal(epindex_update_dir(d, EPINDEX_UPDATE_FULL, &st, NULL, 0),
                   EPINDEX_OK);
  assert_int_equal(st.dists, 27);
  assert_int_equal(epindex_update_dir(d, 0, &st, NULL, 0), EPINDEX_OK);
  assert_int_equal(st.reread, 0);
  assert_int_equal(st.unchanged, 1);
}

/* The index after an update must equal a fresh full build's answer. */
static void expect_same_as_full(const char *d) {
  char *tmp = path_join(d, "../full-copy");
  sh("rm -rf '%s' && cp -r '%s' '%s' && rm -rf '%s/.epindex'", tmp, d, tmp,
     tmp);
  assert_int_equal(epindex_update_dir(tmp, EPINDEX_UPDATE_FULL, NULL, NULL, 0),
                   0);
  const char *a[] = {d}, *b[] = {tmp};
  epindex *x, *y;
  epindex_result *rx, *ry;
  assert_int_equal(epindex_open(&x, a, 1, EPINDEX_POLICY_VERIFY, 0), 0);
  assert_int_equal(epindex_path_reason(x, 0), EPINDEX_REASON_VERIFIED);
  assert_int_equal(epindex_open(&y, b, 1, EPINDEX_POLICY_STAT, 0), 0);
  assert_int_equal(epindex_lookup(x, NULL, NULL, &rx), 0);
  assert_int_equal(epindex_lookup(y, NULL, NULL, &ry), 0);
  assert_int_equal(epindex_result_count(rx), epindex_result_count(ry));
  for (size_t i = 0; i < epindex_result_count(rx); i++)
    for (int f = 0; f < 7; f++) {
      if (f == EPINDEX_FIELD_PATH)
        continue;
      const char *u = epindex_result_get(rx, i, (epindex_field)f, NULL);
      const char *v = epindex_result_get(ry, i, (epindex_field)f, NULL);
      assert_true((!u && !v) || (u && v && strcmp(u, v) == 0));
    }
  epindex_result_free(rx);
  epindex_result_free(ry);
  epindex_close(x);
  epindex_close(y);
  sh("rm -rf '%s'", tmp);
  free(tmp);
}

/* The bytes of a file; *n its size. */
static char *slurp(const char *path, size_t *n) {
  FILE *f = fopen(path, "rb");
  assert_non_null(f);
  assert_int_equal(fseek(f, 0, SEEK_END), 0);
  long len = ftell(f);
  assert_true(len >= 0);
  rewind(f);
  char *buf = malloc((size_t)len + 1);
  assert_non_null(buf);
  assert_int_equal(fread(buf, 1, (size_t)len, f), (size_t)len);
  fclose(f);
  *n = (size_t)len;
  return buf;
}

static void expect_same_bytes(const char *a, const char *b) {
  size_t na, nb;
  char *x = slurp(a, &na), *y = slurp(b, &nb);
  assert_int_equal(na, nb);
  assert_memory_equal(x, y, na);
  free(x);
  free(y);
}

/* The lookup table of d's index.db, written to out from all its rows. */
static void table_of_index(const char *d, const char *out) {
  char *db = path_join(d, ".epindex/index.db");
  sqlite3 *h;
  assert_int_equal(sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL),
                   SQLITE_OK);
  int fd = open(out, O_RDWR | O_CREAT | O_TRUNC, 0600);
  assert_true(fd >= 0);
  assert_int_equal(ep_lookup_write(h, fd), EPINDEX_OK);
  close(fd);
  sqlite3_close(h);
  free(db);
}

static size_t rows_of_index(const char *d) {
  char *db = path_join(d, ".epindex/index.db");
  sqlite3 *h;
  sqlite3_stmt *st;
  assert_int_equal(sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL),
                   SQLITE_OK);
  assert_int_equal(
      sqlite3_prepare_v2(h, "SELECT count(*) FROM ep", -1, &st, NULL),
      SQLITE_OK);
  assert_int_equal(sqlite3_step(st), SQLITE_ROW);
  size_t n = (size_t)sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  sqlite3_close(h);
  free(db);
  return n;
}

/* An update's lookup table is the one its index.db makes, byte for byte
 * (a patch makes it from the old table and the change). */
static void expect_table_of_index(const char *d) {
  char *ref = path_join(d, "../ref.tbl"),
       *tbl = path_join(d, ".epindex/lookup.tbl");
  table_of_index(d, ref);
  expect_same_bytes(tbl, ref);
  free(ref);
  free(tbl);
}

/* A new .epindex ignores itself in git (a source checkout on sys.path is a
 * site directory too); one the user took the .gitignore from stays so. */
static void test_new_index_dir_is_ignored_by_git(void **state) {
  const char *d = *state;
  assert_int_equal(epindex_update_dir(d, 0, NULL, NULL, 0), EPINDEX_OK);
  char *ignore = path_join(d, ".epindex/.gitignore");
  size_t n;
  char *text = slurp(ignore, &n);
  assert_true(n >= 3 && memcmp(text + n - 3, "\n*\n", 3) == 0);
  free(text);
  if (system("git --version >/dev/null 2>&1") == 0) {
    sh("cd '%s' && git init -q . && test -z \"$(git status --porcelain "
       "--untracked-files=all .epindex)\"",
       d);
    sh("rm -rf '%s/.git'", d);
  }
  sh("rm '%s'", ignore);
  assert_int_equal(epindex_update_dir(d, EPINDEX_UPDATE_FULL, NULL, NULL, 0),
                   EPINDEX_OK);
  assert_int_equal(access(ignore, F_OK), -1);
  free(ignore);
}

static void test_patch_adds_removes_and_upgrades(void **state) {
  char *d = path_join(*state, "site");
  sh("mkdir '%s' && mv '%s'/d* '%s'/", d, (char *)*state, d);
  epindex_update_stats st;
  assert_int_equal(epindex_update_dir(d, 0, &st, NULL, 0), EPINDEX_OK);
  assert_int_equal(st.patched, 0); /* first build */
  put_dist(d, "added-1.0.dist-info", "added", "1.0",
           "[console_scripts]\nadded = a:m\n");
  assert_int_equal(epindex_update_dir(d, 0, &st, NULL, 0), EPINDEX_OK);
  assert_int_equal(st.patched, 1);
  assert_int_equal(st.reread, 1);
  assert_int_equal(st.dists, 21);
  assert_int_equal(st.entries, 11);
  expect_same_as_full(d);
  expect_table_of_index(d);
  /* an upgrade: old version removed, new one added */
  sh("rm -rf '%s/d01-1.0.dist-info'", d);
  put_dist(d, "d01-2.0.dist-info", "d01-1.0.dist-info", "2.0",
           "[console_scripts]\nd01 = d01:main2\n");
  assert_int_equal(epindex_update_dir(d, 0, &st, NULL, 0), EPINDEX_OK);
  assert_int_equal(st.patched, 1);
  expect_same_as_full(d);
  expect_table_of_index(d);
  /* a removal, and a package changed in place by renames inside its
   * directory (how dpkg replaces files), in one go */
  sh("rm -rf '%s/d03-1.0.dist-info'", d);
  sh("printf '[console_scripts]\nd05 = d05:new\n' > '%s/d05-1.0.dist-info/x' "
     "&& "
     "mv '%s/d05-1.0.dist-info/x' '%s/d05-1.0.dist-info/entry_points.txt'",
     d, d, d);
  assert_int_equal(epindex_update_dir(d, 0, &st, NULL, 0), EPINDEX_OK);
  assert_int_equal(st.patched, 1);
  assert_int_equal(st.reread, 1);
  expect_same_as_full(d);
  expect_table_of_index(d);
  free(d);
}

/* n distributions named prefix%04d (every third with an entry point). */
static void put_dists(const char *d, const char *prefix, int from, int to) {
  for (int i = from; i < to; i++) {
    char md[64], ep[64];
    snprintf(md, sizeof(md), "%s%04d-1.0.dist-info", prefix, i);
    snprintf(ep, sizeof(ep), "[console_scripts]\n%s%04d = m:f\n", prefix, i);
    put_dist(d, md, md, "1.0", i % 3 ? NULL : ep);
  }
}

/* A change of most of a large directory is written by a snapshot, not a
 * patch (tests/test_changes.c: a small directory's is patched). */
static void test_mass_change_takes_a_snapshot(void **state) {
  char *d = path_join(*state, "mass");
  put_dists(d, "a", 0, 700);
  epindex_update_stats st;
  assert_int_equal(epindex_update_dir(d, 0, &st, NULL, 0), EPINDEX_OK);
  /* 260 replaced: 520 changes of 700 entries, under three quarters */
  sh("rm -rf '%s'/a00* '%s'/a01* '%s'/a02[0-5]*", d, d, d);
  put_dists(d, "b", 0, 260);
  assert_int_equal(epindex_update_dir(d, 0, &st, NULL, 0), EPINDEX_OK);
  assert_int_equal(st.patched, 1);
  expect_same_as_full(d);
  /* 300 more replaced: 600 changes of 700 */
  sh("rm -rf '%s'/a02[6-9]* '%s'/a0[34]* '%s'/a05[0-5]*", d, d, d);
  put_dists(d, "c", 0, 300);
  assert_int_equal(epindex_update_dir(d, 0, &st, NULL, 0), EPINDEX_OK);
  assert_int_equal(st.patched, 0);
  assert_int_equal(st.dists, 700);
  expect_same_as_full(d);
  expect_table_of_index(d);
  free(d);
}

static void test_patch_falls_back_when_precedence_changes(void **state) {
  char *d = path_join(*state, "site");
  sh("mkdir '%s' && mv '%s'/d* '%s'/", d, (char *)*state, d);
  epindex_update_stats st;
  assert_int_equal(epindex_update_dir(d, 0, &st, NULL, 0), EPINDEX_OK);
  /* a second distribution of an existing name: who hides whom may change */
  put_dist(d, "D07-9.0.dist-info", "D07", "9.0",
           "[console_scripts]\nd07 = other:main\n");
  assert_int_equal(epindex_update_dir(d, 0, &st, NULL, 0), EPINDEX_OK);
  assert_int_equal(st.patched, 0);
  expect_same_as_full(d);
  expect_table_of_index(d);
  /* files edited in place, directory listing unchanged: the snapshot path */
  sh("sleep 0.01; printf '[console_scripts]\nd09 = d09:edited\n' > "
     "'%s/d09-1.0.dist-info/entry_points.txt'",
     d);
  assert_int_equal(epindex_update_dir(d, 0, &st, NULL, 0), EPINDEX_OK);
  assert_int_equal(st.patched, 0);
  /* d09, and the hidden one of d07/D07 (hidden entries are not stored) */
  assert_int_equal(st.reread, 2);
  expect_same_as_full(d);
  expect_table_of_index(d);
  free(d);
}

/* The dist rows of the index db, ascending: ord, and its stamps and
 * metadata entry (what tells a distribution changed in place). */
typedef struct dist_at {
  int64_t ord;
  char what[512];
} dist_at;

static size_t dists_of(sqlite3 *db, dist_at *out, size_t max) {
  sqlite3_stmt *st;
  assert_int_equal(sqlite3_prepare_v2(db,
                                      "SELECT ord, value || '/' || metadir "
                                      "FROM ep WHERE grp = char(10) || 'dist' "
                                      "ORDER BY ord",
                                      -1, &st, NULL),
                   SQLITE_OK);
  size_t n = 0;
  while (sqlite3_step(st) == SQLITE_ROW) {
    assert_true(n < max);
    out[n].ord = sqlite3_column_int64(st, 0);
    snprintf(out[n++].what, sizeof(out->what), "%s",
             (const char *)sqlite3_column_text(st, 1));
  }
  sqlite3_finalize(st);
  return n;
}

static bool has_ord(const int64_t *ords, size_t n, int64_t ord) {
  for (size_t i = 0; i < n; i++)
    if (ords[i] == ord)
      return true;
  return false;
}

/* The ords of before that after does not have as they were (gone, or an
 * entry read again: a patch may give it its old place). */
static size_t changed_ords(const dist_at *before, size_t nb,
                           const dist_at *after, size_t na, int64_t *out) {
  size_t n = 0;
  for (size_t i = 0; i < nb; i++) {
    bool same = false;
    for (size_t j = 0; j < na; j++)
      same = same || (after[j].ord == before[i].ord &&
                      strcmp(after[j].what, before[i].what) == 0);
    if (!same)
      out[n++] = before[i].ord;
  }
  return n;
}

/* The rows of db that the patch inserted: of the ords among changed or not
 * among before, and the meta rows; as ep_lookup_write_patch() takes them,
 * strings in *keep. */
static size_t new_rows(sqlite3 *db, const dist_at *before, size_t nb,
                       const int64_t *changed, size_t nc, ep_row *rows,
                       size_t max, char **keep, size_t *nkeep) {
  sqlite3_stmt *st;
  assert_int_equal(
      sqlite3_prepare_v2(db,
                         "SELECT grp, ord, line, name, value, metadir, "
                         "dname, dversion, key FROM ep ORDER BY grp, ord, line",
                         -1, &st, NULL),
      SQLITE_OK);
  size_t n = 0;
  *nkeep = 0;
  while (sqlite3_step(st) == SQLITE_ROW) {
    int64_t ord = sqlite3_column_int64(st, 1);
    bool kept = false;
    for (size_t i = 0; i < nb && !kept; i++)
      kept = before[i].ord == ord && !has_ord(changed, nc, ord);
    if (kept)
      continue;
    assert_true(n < max);
    ep_row *r = &rows[n++];
    *r = (ep_row){.ord = sqlite3_column_int64(st, 1),
                  .line = sqlite3_column_int64(st, 2)};
    for (int c = 0; c < 7; c++) {
      const char *t = (const char *)sqlite3_column_text(st, c ? c + 2 : 0);
      size_t len = (size_t)sqlite3_column_bytes(st, c ? c + 2 : 0);
      char *copy = NULL;
      if (t) {
        copy = keep[(*nkeep)++] = malloc(len + 1);
        memcpy(copy, t, len + 1);
      }
      if (c == 0)
        r->grp = copy, r->glen = len;
      else
        r->f[c - 1] = copy, r->n[c - 1] = len;
    }
  }
  sqlite3_finalize(st);
  return n;
}

/* A patch's table is the old table merged with the change, and is the
 * table all of the new index.db's rows make: the merge itself, called
 * with what the patch changed, gives the bytes update wrote. */
static void test_patched_table_is_the_old_one_merged(void **state) {
  char *d = path_join(*state, "site");
  sh("mkdir '%s' && mv '%s'/d* '%s'/", d, (char *)*state, d);
  assert_int_equal(epindex_update_dir(d, 0, NULL, NULL, 0), EPINDEX_OK);
  sh("cd '%s' && cp .epindex/index.db ../old.db && cp .epindex/lookup.tbl "
     "../old.tbl",
     d);
  /* removed, upgraded, changed by a rename inside, and added: one sorting
   * before every group and name, one after, one into a new group */
  sh("rm -rf '%s/d03-1.0.dist-info' '%s/d04-1.0.dist-info'", d, d);
  sh("mv '%s/d07-1.0.dist-info' '%s/d07-2.0.dist-info'", d, d);
  sh("printf '[console_scripts]\nd05 = d05:new\n' > '%s/d05-1.0.dist-info/x' "
     "&& mv '%s/d05-1.0.dist-info/x' '%s/d05-1.0.dist-info/entry_points.txt'",
     d, d, d);
  put_dist(d, "aa-1.0.dist-info", "aa", "1.0",
           "[a.first]\nz = aa:z\na = aa:a\n[console_scripts]\naa = aa:m\n");
  put_dist(d, "zz-1.0.dist-info", "zz", "1.0", "[zz.last]\nzz = zz:m\n");
  epindex_update_stats st;
  assert_int_equal(epindex_update_dir(d, 0, &st, NULL, 0), EPINDEX_OK);
  assert_int_equal(st.patched, 1);
  expect_table_of_index(d);

  char *old_db = path_join(*state, "old.db"),
       *old_tbl = path_join(*state, "old.tbl");
  char *new_db = path_join(d, ".epindex/index.db"),
       *out = path_join(*state, "merged.tbl");
  sqlite3 *o, *n;
  assert_int_equal(sqlite3_open(old_db, &o), SQLITE_OK);
  assert_int_equal(sqlite3_open(new_db, &n), SQLITE_OK);
  dist_at before[64], after[64];
  int64_t removed[64];
  size_t nb = dists_of(o, before, 64), na = dists_of(n, after, 64);
  size_t nr = changed_ords(before, nb, after, na, removed);
  assert_int_equal(nr, 4); /* d03, d04, d05 and d07's old entry */
  ep_row rows[256];
  char *keep[256 * 7];
  size_t nkeep,
      nrows = new_rows(n, before, nb, removed, nr, rows, 256, keep, &nkeep);
  int fd = open(old_tbl, O_RDONLY);
  struct stat sb;
  assert_int_equal(fstat(fd, &sb), 0);
  ep_lookup old;
  assert_int_equal(ep_lookup_open(fd, &sb, &old), EPINDEX_OK);
  ep_lookup_patch patch = {removed, nr, rows, nrows, st.dists, st.entries};
  int ofd = open(out, O_RDWR | O_CREAT | O_TRUNC, 0600);
  assert_int_equal(ep_lookup_write_patch(n, &old, &patch, ofd), EPINDEX_OK);
  close(ofd);
  char *tbl = path_join(d, ".epindex/lookup.tbl");
  expect_same_bytes(out, tbl);
  /* rows out of order are refused, not written where lookups would miss
   * them (aa's two rows of a.first, swapped) */
  size_t k = 0;
  while (k + 1 < nrows && strcmp(rows[k].grp, "a.first") != 0)
    k++;
  assert_string_equal(rows[k + 1].grp, "a.first");
  ep_row swap = rows[k];
  rows[k] = rows[k + 1];
  rows[k + 1] = swap;
  ofd = open(out, O_RDWR | O_TRUNC);
  assert_int_equal(ep_lookup_write_patch(n, &old, &patch, ofd), EPINDEX_EIO);
  close(ofd);
  ep_lookup_close(&old);
  for (size_t i = 0; i < nkeep; i++)
    free(keep[i]);
  sqlite3_close(o);
  sqlite3_close(n);
  free(tbl);
  free(old_db);
  free(old_tbl);
  free(new_db);
  free(out);
  free(d);
}

/* An old table that cannot be read (a row runs past its end) is not the
 * base of the new one: the new one is made from all of index.db. */
static void test_patch_over_a_damaged_table(void **state) {
  char *d = path_join(*state, "site");
  sh("mkdir '%s' && mv '%s'/d* '%s'/", d, (char *)*state, d);
  assert_int_equal(epindex_update_dir(d, 0, NULL, NULL, 0), EPINDEX_OK);
  /* the length before the value "d07:main" (the 4 bytes before it and
   * its NUL-free text) becomes far larger than the file */
  sh("cd '%s/.epindex' && python3 -c \"import sys; b = "
     "bytearray(open('lookup.tbl', 'rb').read()); i = b.index(b'd07:main'); "
     "assert b[i - 4:i] == bytes([8, 0, 0, 0]); b[i - 4:i] = bytes([0, 0, 0, "
     "0x7f]); open('lookup.tbl', 'wb').write(b)\"",
     d);
  put_dist(d, "added-1.0.dist-info", "added", "1.0", "[g]\na = a:m\n");
  epindex_update_stats st;
  assert_int_equal(epindex_update_dir(d, 0, &st, NULL, 0), EPINDEX_OK);
  assert_int_equal(st.patched, 1);
  expect_table_of_index(d);
  free(d);
}

static void test_bad_directories(void **state) {
  const char *d = *state;
  char err[512];
  char *missing = path_join(d, "missing");
  assert_int_equal(epindex_update_dir(missing, 0, NULL, err, sizeof(err)),
                   EPINDEX_ENOENT);
  assert_non_null(strstr(err, "missing"));
  assert_non_null(strstr(err, "No such file"));
  char *file = path_join(d, "d00-1.0.dist-info/METADATA");
  assert_int_equal(epindex_update_dir(file, 0, NULL, err, sizeof(err)),
                   EPINDEX_ENOTDIR);
  assert_int_equal(epindex_update_dir(NULL, 0, NULL, err, sizeof(err)),
                   EPINDEX_EINVAL);
  free(missing);
  free(file);
}

static void test_read_only_file_system(void **state) {
  const char *d = *state;
  char *mnt = path_join(d, "ro");
  char err[512];
  sh("mkdir '%s' && mount -t tmpfs tmpfs '%s'", mnt, mnt);
  put_dist(mnt, "x-1.0.dist-info", "x", "1.0", "[g]\nx = x\n");
  sh("mount -o remount,ro '%s'", mnt);
  int rc = epindex_update_dir(mnt, 0, NULL, err, sizeof(err));
  sh("umount '%s'", mnt);
  assert_int_equal(rc, EPINDEX_EROFS);
  assert_non_null(strstr(err, "Read-only file system"));
  free(mnt);
}

static void test_full_disk_keeps_old_index(void **state) {
  const char *d = *state;
  char *mnt = path_join(d, "full");
  char err[512];
  sh("mkdir '%s' && mount -t tmpfs -o size=512k tmpfs '%s'", mnt, mnt);
  for (int i = 0; i < 40; i++) {
    char md[64];
    snprintf(md, sizeof(md), "p%02d-1.0.dist-info", i);
    put_dist(mnt, md, md, "1.0", "[console_scripts]\np = p:main\n");
  }
  assert_int_equal(epindex_update_dir(mnt, 0, NULL, err, sizeof(err)),
                   EPINDEX_OK);
  ino_t before = index_inode(mnt);
  put_dist(mnt, "zz-1.0.dist-info", "zz", "1.0",
           "[console_scripts]\nz = z:main\n");
  sh("dd if=/dev/zero of='%s/filler' bs=4k 2>/dev/null; true", mnt);
  int rc = epindex_update_dir(mnt, EPINDEX_UPDATE_FULL, NULL, err, sizeof(err));
  ino_t after = index_inode(mnt);
  int litter = count_litter(mnt);
  sh("umount '%s'", mnt);
  assert_int_equal(rc, EPINDEX_ENOSPC);
  assert_int_equal(before, after); /* the old index is untouched */
  assert_int_equal(litter, 0);
  free(mnt);
}

static void *update_thread(void *dir) {
  for (int i = 0; i < 10; i++)
    if (epindex_update_dir(dir, EPINDEX_UPDATE_FULL, NULL, NULL, 0) !=
        EPINDEX_OK)
      return (void *)1;
  return NULL;
}

static void test_concurrent_updates_serialise(void **state) {
  pthread_t t[4];
  for (int i = 0; i < 4; i++)
    pthread_create(&t[i], NULL, update_thread, *state);
  for (int i = 0; i < 4; i++) {
    void *res;
    pthread_join(t[i], &res);
    assert_null(res);
  }
  epindex_dirinfo *di;
  assert_int_equal(epindex_inspect(*state, EPINDEX_POLICY_VERIFY, &di), 0);
  assert_int_equal(epindex_dirinfo_reason(di), EPINDEX_REASON_VERIFIED);
  epindex_dirinfo_free(di);
  assert_int_equal(count_litter(*state), 0);
}

static int update_err(const char *d, unsigned flags, char *err, size_t n) {
  return epindex_update_dir(d, flags, NULL, err, n);
}

static bool exists(const char *dir, const char *rel) {
  struct stat st;
  char *p = path_join(dir, rel);
  bool ok = lstat(p, &st) == 0;
  free(p);
  return ok;
}

/* The writer never writes through an index directory or lock it does not
 * own exclusively (docs/security.md, "no confused deputy on write"). */
static void test_refuses_index_dir_others_control(void **state) {
  const char *d = *state;
  char err[512];
  sh("mkdir -m 0777 '%s/.epindex' && chmod 0777 '%s/.epindex'", d, d);
  assert_int_equal(update_err(d, 0, err, sizeof(err)), EPINDEX_EUNTRUSTED);
  assert_non_null(strstr(err, "writable by group or others"));
  assert_false(exists(d, ".epindex/index.db"));
  assert_false(exists(d, ".epindex/lock"));
  /* a symlink to another directory: nothing appears there */
  sh("rmdir '%s/.epindex' && mkdir '%s/elsewhere' && "
     "ln -s elsewhere '%s/.epindex'",
     d, d, d);
  assert_int_equal(update_err(d, 0, err, sizeof(err)), EPINDEX_EUNTRUSTED);
  sh("test -z \"$(ls -A '%s/elsewhere')\"", d);
  sh("rm '%s/.epindex'", d);
  /* a lock that is a symlink, or a hard link to some other file */
  sh("mkdir '%s/.epindex' && ln -s ../elsewhere/x '%s/.epindex/lock'", d, d);
  assert_int_equal(update_err(d, 0, err, sizeof(err)), EPINDEX_EUNTRUSTED);
  sh("test ! -e '%s/elsewhere/x'", d);
  sh("rm '%s/.epindex/lock' && touch '%s/elsewhere/x' && "
     "ln '%s/elsewhere/x' '%s/.epindex/lock'",
     d, d, d, d);
  assert_int_equal(update_err(d, 0, err, sizeof(err)), EPINDEX_EUNTRUSTED);
  assert_false(exists(d, ".epindex/index.db"));
  sh("rm '%s/.epindex/lock'", d);
  assert_int_equal(update_err(d, 0, err, sizeof(err)), EPINDEX_OK);
  if (geteuid() != 0)
    return; /* chown needs root */
  sh("rm -r '%s/.epindex' && mkdir '%s/.epindex' && chown 4242 "
     "'%s/.epindex'",
     d, d, d);
  assert_int_equal(update_err(d, 0, err, sizeof(err)), EPINDEX_EUNTRUSTED);
  assert_non_null(strstr(err, "owned by uid 4242"));
  assert_false(exists(d, ".epindex/index.db"));
}

static double seconds_since(const struct timespec *t0) {
  struct timespec t1;
  clock_gettime(CLOCK_MONOTONIC, &t1);
  return (double)(t1.tv_sec - t0->tv_sec) +
         (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

/* Nobody else can open the lock, and a writer never waits unboundedly. */
static void test_lock_is_private_and_waits_are_bounded(void **state) {
  const char *d = *state;
  char err[512];
  sh("mkdir '%s/.epindex' && touch '%s/.epindex/lock' && "
     "chmod 0644 '%s/.epindex/lock'",
     d, d, d); /* as epindex 0.1.0 left it */
  assert_int_equal(update_err(d, 0, err, sizeof(err)), EPINDEX_OK);
  char *lock = path_join(d, ".epindex/lock");
  struct stat st;
  assert_int_equal(stat(lock, &st), 0);
  assert_int_equal(st.st_mode & 0777, 0600);
  int fd = open(lock, O_RDWR);
  assert_true(fd >= 0);
  assert_int_equal(flock(fd, LOCK_EX), 0);
  put_dist(d, "new-1.0.dist-info", "new", "1.0", NULL);
  assert_int_equal(update_err(d, EPINDEX_UPDATE_NOWAIT, err, sizeof(err)),
                   EPINDEX_EBUSY);
  struct timespec t0;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  assert_int_equal(update_err(d, EPINDEX_UPDATE_LOCK_WAIT(1), err, sizeof(err)),
                   EPINDEX_ETIMEDOUT);
  double waited = seconds_since(&t0);
  assert_true(waited >= 0.9 && waited < 10);
  assert_non_null(strstr(err, "giving up"));
  close(fd);
  assert_int_equal(update_err(d, EPINDEX_UPDATE_LOCK_WAIT(1), err, sizeof(err)),
                   EPINDEX_OK);
  free(lock);
}

/* EPINDEX_UPDATE_SITE_ONLY: what healing readers and `update --python`
 * may write without being given the directory's name. */
static void test_site_only_writes_only_site_dirs(void **state) {
  const char *d = *state;
  char err[512], sub[4096];
  const unsigned site = EPINDEX_UPDATE_SITE_ONLY;
  assert_int_equal(update_err(d, site, err, sizeof(err)), EPINDEX_OK);
  snprintf(sub, sizeof(sub), "%s/empty", d);
  sh("mkdir '%s'", sub);
  assert_int_equal(update_err(sub, site, err, sizeof(err)), EPINDEX_ENOTSITE);
  assert_non_null(strstr(err, "holds no distributions"));
  snprintf(sub, sizeof(sub), "%s/lib", d);
  put_file(sub, "os.py", "", 0);
  assert_int_equal(update_err(sub, site, err, sizeof(err)), EPINDEX_ENOTSITE);
  assert_non_null(strstr(err, "standard library"));
  assert_false(exists(sub, ".epindex"));
  assert_int_equal(
      update_err(sub, site | EPINDEX_UPDATE_STDLIB, err, sizeof(err)),
      EPINDEX_OK);
  snprintf(sub, sizeof(sub), "%s/lib-dynload/", d);
  put_file(sub, "x.so", "", 0);
  assert_int_equal(update_err(sub, site, err, sizeof(err)), EPINDEX_ENOTSITE);
  /* the current directory, by "" and by its name, even with distributions */
  char cwd[4096];
  assert_non_null(getcwd(cwd, sizeof(cwd)));
  assert_int_equal(chdir(d), 0);
  int rc_empty = update_err("", site, err, sizeof(err));
  int rc_named = update_err(d, site, err, sizeof(err));
  int rc_dot = update_err(".", site, err, sizeof(err));
  assert_int_equal(chdir(cwd), 0);
  assert_int_equal(rc_empty, EPINDEX_ENOTSITE);
  assert_int_equal(rc_named, EPINDEX_ENOTSITE);
  assert_int_equal(rc_dot, EPINDEX_ENOTSITE);
  assert_non_null(strstr(err, "current directory"));
  if (geteuid() != 0)
    return;
  snprintf(sub, sizeof(sub), "%s/theirs", d);
  put_dist(sub, "t-1.dist-info", "t", "1", NULL);
  sh("chown -R 4242 '%s'", sub);
  assert_int_equal(update_err(sub, site, err, sizeof(err)), EPINDEX_ENOTSITE);
  assert_non_null(strstr(err, "owned by another user"));
  assert_false(exists(sub, ".epindex"));
  assert_int_equal(update_err(sub, 0, err, sizeof(err)), EPINDEX_OK);
}

/* Everything a path entry answers, as text: every entry point and every
 * distribution with all their fields but the path, and the diagnostics
 * (the caller frees). */
static char *answer_of(const char *d, unsigned flags, epindex_source want) {
  const char *paths[] = {d};
  epindex *ix;
  epindex_result *r;
  epindex_dists *ds;
  assert_int_equal(epindex_open(&ix, paths, 1, EPINDEX_POLICY_STAT, flags), 0);
  assert_int_equal(epindex_path_source(ix, 0), want);
  assert_int_equal(epindex_lookup(ix, NULL, NULL, &r), 0);
  assert_int_equal(epindex_distributions(ix, NULL, 0, &ds), 0);
  size_t n = 0, cap = 1 << 20;
  char *out = malloc(cap);
  assert_non_null(out);
#define ADD(...)                                                               \
  (n += (size_t)snprintf(out + n, n < cap ? cap - n : 0, __VA_ARGS__))
  for (size_t i = 0; i < epindex_result_count(r); i++)
    for (int f = 0; f <= EPINDEX_FIELD_METADIR; f++) {
      const char *v = epindex_result_get(r, i, (epindex_field)f, NULL);
      ADD("%s%c",
          f == EPINDEX_FIELD_PATH ? ""
          : v                     ? v
                                  : "(null)",
          f == EPINDEX_FIELD_METADIR ? '\n' : '|');
    }
  for (size_t i = 0; i < epindex_dists_count(ds); i++) {
    for (int f = 0; f < EPINDEX_DIST_PATH; f++) {
      const char *v = epindex_dists_get(ds, i, (epindex_dist_field)f, NULL);
      ADD("%s|", v ? v : "(null)");
    }
    ADD("%u|%zu\n", epindex_dists_flags(ds, i),
        epindex_dists_entry_count(ds, i));
  }
  for (size_t i = 0; i < epindex_diag_count(ix); i++)
    ADD("%s\n", epindex_diag_message(ix, i));
#undef ADD
  assert_true(n < cap);
  epindex_result_free(r);
  epindex_dists_free(ds);
  epindex_close(ix);
  return out;
}

/* The index of d answers as a scan of d does, by either value rule. */
static void expect_indexed_as_scanned(const char *d) {
  for (unsigned rule = 0; rule <= EPINDEX_OPEN_VALUE_RULE;
       rule += EPINDEX_OPEN_VALUE_RULE) {
    char *indexed = answer_of(d, rule, EPINDEX_SOURCE_INDEX);
    sh("mv '%s/.epindex' '%s/../away'", d, d);
    char *scanned = answer_of(d, rule, EPINDEX_SOURCE_SCAN);
    sh("mv '%s/../away' '%s/.epindex'", d, d);
    assert_string_equal(indexed, scanned);
    free(indexed);
    free(scanned);
  }
}

/* A directory large enough to be read by two threads (each half into a
 * catalog of its own, appended) is indexed as the scanner reads it: same
 * order, same entry points per distribution, the same hidden ones (names
 * that normalise alike, spread over both halves), the same values that are
 * no object reference (which the value rule tells by their line). */
static void test_large_directory_read_in_halves(void **state) {
  char *d = path_join(*state, "large");
  for (int i = 0; i < 2400; i++) {
    char md[64], ep[128];
    snprintf(md, sizeof(md), "p%04d-1.0.dist-info", i);
    char bad[32] = "";
    if (i % 9 == 0) /* a value that is no reference, distinct, on line 3 or 5 */
      snprintf(bad, sizeof(bad), "bad = not a reference %04d!\n", i);
    snprintf(ep, sizeof(ep), "[g]\n%sp%04d = p:m\n[h%d]\n%sx = p%04d:f\n",
             i % 2 ? bad : "", i, i % 7, i % 2 ? "" : bad, i);
    put_dist(d, md, md, "1.0", i % 3 ? NULL : ep);
  }
  for (int i = 0; i < 60; i++) { /* pairs of one key: listing order decides */
    char md[64], ep[128];
    snprintf(ep, sizeof(ep), "[g]\ndup%02d = first:m\n", i);
    snprintf(md, sizeof(md), "dup_%02d-1.0.dist-info", i);
    put_dist(d, md, md, "1.0", ep);
    snprintf(ep, sizeof(ep), "[g]\ndup%02d = second:m\n", i);
    snprintf(md, sizeof(md), "Dup.%02d-2.0.dist-info", i);
    put_dist(d, md, md, "2.0", ep);
  }
  epindex_update_stats st;
  assert_int_equal(epindex_update_dir(d, EPINDEX_UPDATE_FULL, &st, NULL, 0),
                   EPINDEX_OK);
  assert_int_equal(st.dists, 2520);
  expect_indexed_as_scanned(d);
  /* its table, written in a thread while SQLite took the same rows, is
   * the one its index.db makes */
  assert_true(rows_of_index(d) >= EP_LOOKUP_PARALLEL_ROWS);
  expect_table_of_index(d);
  /* files edited in place (the directory as the index saw it: the moves
   * of .epindex changed it): a snapshot whose two threads reuse the rest */
  assert_int_equal(epindex_update_dir(d, 0, &st, NULL, 0), EPINDEX_OK);
  sh("sleep 0.01; printf '[g]\\nedited = e:f\\n' > "
     "'%s/p0003-1.0.dist-info/entry_points.txt' && "
     "printf 'Name: renamed\\nVersion: 2\\n' > "
     "'%s/p2399-1.0.dist-info/METADATA'",
     d, d);
  assert_int_equal(epindex_update_dir(d, 0, &st, NULL, 0), EPINDEX_OK);
  assert_int_equal(st.patched, 0);
  assert_int_equal(st.reread, 2 + 60); /* and the hidden ones, never kept */
  expect_indexed_as_scanned(d);
  expect_table_of_index(d);
  free(d);
}

/* An ACL on a metadata directory is seen whichever way it is asked:
 * getxattrat(2) relative to the directory's descriptor, and the /proc path
 * of kernels before it. Missing names count as having one (cannot tell). */
static void test_acl_seen_by_both_ways_of_asking(void **state) {
  const char *d = *state;
  sh("cd '%s' && mkdir plain.dist-info denied.dist-info && "
     "setfacl -m u:65534:--- denied.dist-info && "
     "ln -s denied.dist-info link.dist-info",
     d);
  int dfd = open(d, O_RDONLY | O_DIRECTORY);
  assert_true(dfd >= 0);
  for (int via_proc = 0; via_proc < 2; via_proc++) {
    assert_int_equal(ep_acl_at(dfd, "plain.dist-info", via_proc), 0);
    assert_int_equal(ep_acl_at(dfd, "denied.dist-info", via_proc), 1);
    assert_int_equal(ep_acl_at(dfd, "link.dist-info", via_proc), 1);
    assert_int_equal(ep_acl_at(dfd, "missing.dist-info", via_proc), 1);
  }
  close(dfd);
}

int main(void) {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
  const struct CMUnitTest tests[] = {
      T(test_update_replaces_atomically_and_cleans_litter),
      T(test_incremental_reads_only_changes),
      T(test_full_build_stamps_as_an_update_does),
      T(test_new_index_dir_is_ignored_by_git),
      T(test_patch_adds_removes_and_upgrades),
      T(test_patch_falls_back_when_precedence_changes),
      T(test_mass_change_takes_a_snapshot),
      T(test_patched_table_is_the_old_one_merged),
      T(test_patch_over_a_damaged_table),
      T(test_bad_directories),
      T(test_read_only_file_system),
      T(test_full_disk_keeps_old_index),
      T(test_concurrent_updates_serialise),
      T(test_refuses_index_dir_others_control),
      T(test_lock_is_private_and_waits_are_bounded),
      T(test_site_only_writes_only_site_dirs),
      T(test_large_directory_read_in_halves),
      T(test_acl_seen_by_both_ways_of_asking),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
