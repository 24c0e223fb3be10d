/* test_lookup.c -- the lookup table (.epindex/lookup.tbl): it answers as
 * index.db does, is judged on its own, is passed over for index.db when it
 * is missing, damaged, untrusted or of another version, is never read under
 * VERIFY, and a hostile one cannot make a reader read outside it. */
#include "support.h"

#include "epindex.h"
#include "index.h"
#include "lookup.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct fx {
  char *tmp, *site, *table;
} fx;

static int setup(void **state) {
  fx *f = calloc(1, sizeof(*f));
  f->tmp = tmp_dir();
  f->site = path_join(f->tmp, "site");
  f->table = path_join(f->site, EPINDEX_INDEX_DIR "/" EPINDEX_LOOKUP_FILE);
  put_dist(f->site, "alpha-1.0.dist-info", "alpha", "1.0",
           "[console_scripts]\nal = alpha:main\n[g]\na1 = alpha.g:one\n"
           "a2 = alpha.g:two [x]\n");
  put_dist(f->site, "beta-2.0.dist-info", "Beta", "2.0",
           "[console_scripts]\nbe = beta:main\n[g]\nb1 = beta:g\n");
  put_dist(f->site, "gamma-0.1.dist-info", "gamma", "0.1", NULL);
  put_dist(f->site, "Beta-3.0.dist-info", "Beta", "3.0",
           "[console_scripts]\nbe = beta3:main\n"); /* hidden by beta-2.0 */
  put_file(f->site, "broken-1.0.dist-info/entry_points.txt", "[g]\nno eq\n",
           (size_t)-1);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fx *f = *state;
  free(f->site);
  free(f->table);
  tmp_cleanup(f->tmp);
  free(f);
  return 0;
}

static void update(const char *dir) {
  char err[512];
  if (epindex_update_dir(dir, 0, NULL, err, sizeof(err)))
    fail_msg("update %s: %s", dir, err);
}

/* Everything a lookup says, as one string: every field of every row, then
 * the diagnostics. */
static char *answer(const char *site, epindex_policy policy, const char *group,
                    const char *name, epindex_reason *why) {
  epindex *ix;
  epindex_result *r;
  const char *paths[] = {site};
  assert_int_equal(epindex_open(&ix, paths, 1, policy, 0), EPINDEX_OK);
  assert_int_equal(epindex_lookup(ix, group, name, &r), EPINDEX_OK);
  size_t cap = 16384;
  char *out = calloc(1, cap);
  for (size_t i = 0; i < epindex_result_count(r); i++)
    for (int k = 0; k <= EPINDEX_FIELD_METADIR; k++) {
      const char *v = epindex_result_get(r, i, (epindex_field)k, NULL);
      snprintf(out + strlen(out), cap - strlen(out), "%s%c", v ? v : "-",
               k == EPINDEX_FIELD_METADIR ? ';' : '|');
    }
  for (size_t i = 0; i < epindex_diag_count(ix); i++)
    snprintf(out + strlen(out), cap - strlen(out), "\n%s",
             epindex_diag_message(ix, i));
  if (why)
    *why = epindex_path_reason(ix, 0);
  epindex_result_free(r);
  epindex_close(ix);
  return out;
}

static bool table_exists(const fx *f) { return access(f->table, F_OK) == 0; }

static void test_table_answers_as_index_db_does(void **state) {
  fx *f = *state;
  update(f->site);
  assert_true(table_exists(f));
  const char *groups[] = {"console_scripts", "g", NULL, "nope", "\nmeta"};
  const char *names[] = {NULL, "b1", NULL, NULL, NULL};
  char *from_table[5], *from_db[5];
  for (int i = 0; i < 5; i++) {
    epindex_reason why;
    from_table[i] =
        answer(f->site, EPINDEX_POLICY_STAT, groups[i], names[i], &why);
    assert_int_equal(why, EPINDEX_REASON_FRESH);
  }
  unlink(f->table);
  for (int i = 0; i < 5; i++) {
    epindex_reason why;
    from_db[i] =
        answer(f->site, EPINDEX_POLICY_STAT, groups[i], names[i], &why);
    assert_int_equal(why, EPINDEX_REASON_FRESH);
    assert_string_equal(from_table[i], from_db[i]);
    free(from_table[i]);
    free(from_db[i]);
  }
  char *all = answer(f->site, EPINDEX_POLICY_STAT, NULL, NULL, NULL);
  /* discovery order across groups, the problem reported, Beta 3.0 hidden */
  assert_non_null(strstr(all, "console_scripts|al|alpha:main|alpha|1.0|"));
  assert_true(strstr(all, "|a2|") < strstr(all, "|be|"));
  assert_null(strstr(all, "beta3"));
  assert_non_null(strstr(all, "broken-1.0.dist-info: skipped"));
  free(all);
}

/* The table is streamed through a 64 KiB buffer: one several times larger,
 * with a field larger than the buffer, reads back whole. */
static void test_a_table_larger_than_its_write_buffer(void **state) {
  fx *f = *state;
  size_t big = 100000;
  char *text = malloc(big + 32);
  strcpy(text, "[g]\nhuge = m:");
  size_t at = strlen(text);
  memset(text + at, 'a', big);
  strcpy(text + at + big, "\n");
  put_dist(f->site, "huge-1.0.dist-info", "huge", "1.0", text);
  free(text);
  for (int i = 0; i < 1000; i++) {
    char md[64], ep[64];
    snprintf(md, sizeof(md), "p%04d-1.0.dist-info", i);
    snprintf(ep, sizeof(ep), "[g]\np%04d = m:f\n", i);
    put_dist(f->site, md, md, "1.0", ep);
  }
  update(f->site);
  struct stat st;
  assert_int_equal(stat(f->table, &st), 0);
  assert_true(st.st_size > 3 * 64 * 1024);
  int fd = open(f->table, O_RDONLY);
  ep_lookup lk;
  assert_int_equal(ep_lookup_open(fd, &st, &lk), EPINDEX_OK);
  ep_lookup_rows it;
  assert_true(ep_lookup_find(&lk, "g", 1, &it));
  ep_row row;
  size_t rows = 0, huge = 0;
  int rc;
  while ((rc = ep_lookup_next(&it, &row)) == 1) {
    rows++;
    huge += row.n[EP_COL_VALUE] == big + 2;
  }
  assert_int_equal(rc, 0);
  assert_int_equal(rows, 1000 + 1 + 3); /* and alpha's two, beta's one */
  assert_int_equal(huge, 1);
  assert_true(ep_lookup_has_key(&lk, "p0999", 5));
  ep_lookup_close(&lk);
}

/* A site of n distributions with a group g of one entry each, indexed;
 * the values are long, for a table of megabytes from few files. */
static void make_big_site(const fx *f, int n) {
  char pad[501];
  memset(pad, 'm', sizeof(pad) - 1);
  pad[sizeof(pad) - 1] = '\0';
  for (int i = 0; i < n; i++) {
    char md[64], ep[600];
    snprintf(md, sizeof(md), "p%04d-1.0.dist-info", i);
    snprintf(ep, sizeof(ep), "[g]\np%04d = %s:f\n", i, pad);
    put_dist(f->site, md, md, "1.0", ep);
  }
  update(f->site);
}

/* The site's table, open in *lk on the descriptor returned. */
static int open_table(const fx *f, ep_lookup *lk) {
  int fd = open(f->table, O_RDONLY);
  struct stat st;
  assert_true(fd >= 0 && fstat(fd, &st) == 0);
  assert_int_equal(ep_lookup_open(fd, &st, lk), EPINDEX_OK);
  return fd;
}

/* Every row of group g, or the error that stopped the reading (the
 * group missing: EPINDEX_EIO). */
static int read_group_g(const ep_lookup *lk, size_t *rows) {
  ep_lookup_rows it;
  ep_row row;
  int rc;
  *rows = 0;
  if (!ep_lookup_find(lk, "g", 1, &it))
    return EPINDEX_EIO;
  while ((rc = ep_lookup_next(&it, &row)) == 1)
    ++*rows;
  return rc;
}

/* Put a copy of the site's table under descriptor fd, as a program that
 * closes a descriptor it does not own and opens another file would. */
static void swap_in_a_copy(const fx *f, int fd) {
  char *copy = path_join(f->tmp, "copy.tbl");
  char cmd[4096];
  snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", f->table, copy);
  assert_int_equal(system(cmd), 0);
  int other = open(copy, O_RDONLY);
  assert_true(other >= 0 && dup2(other, fd) == fd);
  close(other);
  free(copy);
}

/* The table is read a few pages at a time through the descriptor it was
 * opened on: a program that closes it and opens another file under the
 * same number (here: a copy of the same table) makes reads fail instead
 * of reading that file. */
static void test_a_table_reads_only_the_file_it_opened(void **state) {
  fx *f = *state;
  ep_lookup lk;
  make_big_site(f, 1500);
  int fd = open_table(f, &lk);
  swap_in_a_copy(f, fd);
  size_t rows;
  assert_int_equal(read_group_g(&lk, &rows), EPINDEX_EIO);
  ep_lookup_close(&lk);
}

/* The descriptor is checked once per operation, not once per read (a
 * search reads a dozen probes): an operation after the swap, on parts of
 * the table not read yet, still fails. */
static void test_each_operation_checks_the_file_again(void **state) {
  fx *f = *state;
  ep_lookup lk;
  make_big_site(f, 1500);
  int fd = open_table(f, &lk);
  assert_true(ep_lookup_has_key(&lk, "p0001", 5));
  swap_in_a_copy(f, fd);
  ep_lookup_rows it;
  assert_false(ep_lookup_find(&lk, "g", 1, &it));
  ep_lookup_close(&lk);
}

/* Keys and names are found through their directories' hash tables:
 * each of 1,500 of both, in a few reads, and no name that is not there
 * (other lengths, a prefix, the empty name). With the key directory's
 * table emptied in the file, no key is found although the directory
 * itself is intact, and names still are: the tables are what is read. */
static void test_names_are_found_by_their_hash(void **state) {
  fx *f = *state;
  make_big_site(f, 1500);
  ep_lookup lk;
  open_table(f, &lk);
  assert_true(lk.kbuckets >= 1500 + 1500 / 2 && lk.nbuckets >= lk.kbuckets);
  char key[16];
  ep_lookup_rows it;
  for (int i = 0; i < 1500; i++) {
    snprintf(key, sizeof(key), "p%04d", i);
    assert_true(ep_lookup_has_key(&lk, key, 5));
    assert_true(ep_lookup_find_name(&lk, key, 5, &it));
    assert_int_equal(it.left, 1);
  }
  const char *absent[] = {"p1500", "p000", "p00001", "", "g", "p0001\n"};
  for (size_t i = 0; i < sizeof(absent) / sizeof(absent[0]); i++) {
    assert_false(ep_lookup_has_key(&lk, absent[i], strlen(absent[i])));
    assert_false(ep_lookup_find_name(&lk, absent[i], strlen(absent[i]), &it));
  }
  size_t kbytes = lk.kbuckets * 8, at = lk.hash;
  ep_lookup_close(&lk);
  unsigned char *zeros = calloc(1, kbytes);
  int w = open(f->table, O_WRONLY);
  assert_true(w >= 0 && pwrite(w, zeros, kbytes, (off_t)at) == (ssize_t)kbytes);
  close(w);
  free(zeros);
  open_table(f, &lk);
  assert_false(ep_lookup_has_key(&lk, "p0001", 5));
  assert_true(ep_lookup_find_name(&lk, "p0001", 5, &it));
  ep_lookup_close(&lk);
}

/* A table cut short after it was opened (its owner writing it in place)
 * ends a reading with EPINDEX_EIO, not a fault, whether its pages are
 * read or mapped. */
static void test_a_table_cut_short_after_open(void **state) {
  fx *f = *state;
  make_big_site(f, 1500);
  for (int shared = 0; shared < 2; shared++) {
    ep_lookup lk;
    update(f->site); /* a whole table again */
    open_table(f, &lk);
    struct stat st;
    assert_int_equal(stat(f->table, &st), 0);
    assert_int_equal(truncate(f->table, st.st_size / 2), 0);
    ep_mapping *m = shared ? ep_lookup_share(&lk) : NULL;
    assert_null(m); /* a table no longer its size is not mapped */
    size_t rows;
    assert_int_equal(read_group_g(&lk, &rows), EPINDEX_EIO);
    assert_true(rows < 1500);
    ep_lookup_close(&lk);
    assert_int_equal(unlink(f->table), 0);
  }
}

/* A reading that needs more than the handle's few buffers goes on from a
 * mapping of the file, and so do readings after ep_lookup_share(): the
 * same rows either way, and the shared rows are in the mapping. */
static void test_a_table_read_in_pages_and_mapped_alike(void **state) {
  fx *f = *state;
  ep_lookup paged, mapped;
  make_big_site(f, 1500);
  open_table(f, &paged);
  int fd = open(f->table, O_RDONLY);
  struct stat st;
  assert_true(fd >= 0 && fstat(fd, &st) == 0);
  assert_int_equal(ep_lookup_open(fd, &st, &mapped), EPINDEX_OK);
  ep_mapping *m = ep_lookup_share(&mapped);
  assert_non_null(m);
  ep_lookup_rows a, b;
  assert_true(ep_lookup_find(&paged, "g", 1, &a));
  assert_true(ep_lookup_find(&mapped, "g", 1, &b));
  ep_row ra, rb, again;
  size_t rows = 0;
  int rc;
  while ((rc = ep_lookup_next(&a, &ra)) == 1) {
    assert_int_equal(ep_lookup_next(&b, &rb), 1);
    assert_int_equal(ra.n[EP_COL_NAME], rb.n[EP_COL_NAME]);
    assert_memory_equal(ra.f[EP_COL_NAME], rb.f[EP_COL_NAME],
                        ra.n[EP_COL_NAME]);
    assert_int_equal(ep_lookup_row_at(rb.at, m, &again), 1);
    assert_int_equal(again.ord, rb.ord);
    rows++;
  }
  assert_int_equal(rc, 0);
  assert_int_equal(ep_lookup_next(&b, &rb), 0);
  assert_int_equal(rows, 1500 + 2 + 1); /* and alpha's two, beta's one */
  ep_lookup_close(&mapped);
  /* a handle that read pages before it was shared reads from the mapping
   * after, with read buffers to spare: its rows are in the mapping */
  ep_lookup late;
  open_table(f, &late);
  assert_true(ep_lookup_find(&late, "console_scripts", 15, &a));
  ep_mapping *m2 = ep_lookup_share(&late);
  assert_non_null(m2);
  assert_int_equal(ep_lookup_next(&a, &ra), 1);
  assert_int_equal(ep_lookup_row_at(ra.at, m2, &again), 1);
  assert_int_equal(ep_lookup_row_at(ra.at, m, &again), EPINDEX_EIO);
  ep_mapping_release(m2);
  ep_lookup_close(&late);
  /* the mapping outlives the handle while it is held */
  assert_int_equal(ep_lookup_row_at(rb.at, m, &again), 1);
  ep_mapping_release(m);
  ep_lookup_close(&paged);
}

/* Replace the table by one made from a copy of index.db changed by sql: a
 * table that is well formed but disagrees with index.db. */
static void forge_table(const fx *f, const char *sql) {
  char *db_path = path_join(f->tmp, "forged.db");
  sh("cp '%s/.epindex/index.db' '%s'", f->site, db_path);
  sqlite3 *db;
  assert_int_equal(sqlite3_open(db_path, &db), SQLITE_OK);
  assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
  int fd = open(f->table, O_WRONLY | O_TRUNC);
  assert_true(fd >= 0);
  assert_int_equal(ep_lookup_write(db, fd), EPINDEX_OK);
  close(fd);
  sqlite3_close(db);
  free(db_path);
}

static void test_verify_reads_index_db_and_stat_the_table(void **state) {
  fx *f = *state;
  update(f->site);
  forge_table(f, "UPDATE ep SET value = 'forged:x' WHERE name = 'be'");
  char *stat_answer =
      answer(f->site, EPINDEX_POLICY_STAT, "console_scripts", NULL, NULL);
  char *trust_answer =
      answer(f->site, EPINDEX_POLICY_TRUST, "console_scripts", NULL, NULL);
  epindex_reason why;
  char *verify_answer =
      answer(f->site, EPINDEX_POLICY_VERIFY, "console_scripts", NULL, &why);
  assert_non_null(strstr(stat_answer, "forged:x"));
  assert_non_null(strstr(trust_answer, "forged:x"));
  assert_int_equal(why, EPINDEX_REASON_VERIFIED);
  assert_null(strstr(verify_answer, "forged:x"));
  assert_non_null(strstr(verify_answer, "beta:main"));
  free(stat_answer);
  free(trust_answer);
  free(verify_answer);
}

static void test_a_stale_table_is_not_served(void **state) {
  fx *f = *state;
  update(f->site);
  put_dist(f->site, "delta-1.0.dist-info", "delta", "1.0",
           "[console_scripts]\nde = delta:main\n");
  epindex_reason why;
  char *got =
      answer(f->site, EPINDEX_POLICY_STAT, "console_scripts", NULL, &why);
  assert_int_equal(why, EPINDEX_REASON_STALE); /* index.db's verdict */
  assert_non_null(strstr(got, "delta:main"));
  free(got);
  /* a table stamped for another directory state is not served either */
  update(f->site);
  forge_table(f, "UPDATE ep SET value = value + 1 WHERE grp = char(10) || "
                 "'meta' AND name = 'mtime_ns'; UPDATE ep SET value = "
                 "'forged:x' WHERE name = 'de'");
  got = answer(f->site, EPINDEX_POLICY_STAT, "console_scripts", NULL, &why);
  assert_int_equal(why, EPINDEX_REASON_FRESH); /* index.db's */
  assert_non_null(strstr(got, "delta:main"));
  assert_null(strstr(got, "forged"));
  free(got);
}

/* Damage the table with a shell command run in .epindex; index.db answers,
 * without a warning. */
static void expect_index_db_answers(const fx *f, const char *cmd,
                                    const char *want) {
  update(f->site);
  sh("cd '%s/.epindex' && %s", f->site, cmd);
  epindex_reason why;
  char *got = answer(f->site, EPINDEX_POLICY_STAT, "g", NULL, &why);
  if (why != EPINDEX_REASON_FRESH || strcmp(got, want) != 0)
    fail_msg("after `%s`: %s, %s", cmd, epindex_reason_name(why), got);
  free(got);
}

static void test_damaged_tables_are_passed_over(void **state) {
  fx *f = *state;
  update(f->site);
  char *want = answer(f->site, EPINDEX_POLICY_STAT, "g", NULL, NULL);
  const char *cmds[] = {
      ": > lookup.tbl",
      "truncate -s 20 lookup.tbl",
      "truncate -s -1 lookup.tbl",
      "echo x >> lookup.tbl",
      "head -c 5000 /dev/urandom > lookup.tbl",
      "printf 'XPIX' | dd of=lookup.tbl conv=notrunc 2>/dev/null",
      /* a future format version */
      "printf '\\002' | dd of=lookup.tbl bs=1 seek=8 conv=notrunc 2>/dev/null",
      /* the directory offset past the end */
      "printf '\\377\\377' | dd of=lookup.tbl bs=1 seek=30 conv=notrunc "
      "2>/dev/null",
      /* no meta rows: the group count says there are none */
      "printf '\\000\\000\\000\\000' | dd of=lookup.tbl bs=1 seek=12 "
      "conv=notrunc 2>/dev/null",
      "chmod 0666 lookup.tbl",
      "chown 4242 lookup.tbl",
      "mv lookup.tbl t && ln -s t lookup.tbl",
      "rm lookup.tbl && mkdir lookup.tbl",
  };
  for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
    sh("rm -rf '%s/.epindex/lookup.tbl' '%s/.epindex/t'", f->site, f->site);
    expect_index_db_answers(f, cmds[i], want);
  }
  free(want);
}

/* Flip bytes of the site's table at random, in [from, to) of it: whatever
 * the reader then says, it never reads outside the file (ASan checks) and
 * never fails the call. */
static void flip_bytes_and_read(const fx *f, int rounds, off_t from, off_t to) {
  char *good = path_join(f->tmp, "good.tbl");
  sh("cp '%s' '%s'", f->table, good);
  for (int round = 0; round < rounds; round++) {
    sh("cp '%s' '%s'", good, f->table);
    int fd = open(f->table, O_WRONLY);
    assert_true(fd >= 0);
    for (int k = 0; k < 1 + round % 4; k++) {
      unsigned char b = (unsigned char)rand();
      off_t at = from + (off_t)((size_t)rand() % (size_t)(to - from));
      assert_int_equal(pwrite(fd, &b, 1, at), 1);
    }
    close(fd);
    free(answer(f->site, EPINDEX_POLICY_STAT, round % 2 ? "g" : NULL, NULL,
                NULL));
  }
  sh("cp '%s' '%s'", good, f->table);
  free(good);
}

/* A small table anywhere; a large one in its groups' directory (read
 * whole, its names just before it) and in all its directories, which
 * follow the rows (searches of many probes, some of them kept). */
static void test_fuzzed_tables_stay_in_bounds(void **state) {
  fx *f = *state;
  update(f->site);
  struct stat st;
  assert_int_equal(stat(f->table, &st), 0);
  srand(7);
  flip_bytes_and_read(f, 400, 0, st.st_size);
  make_big_site(f, 1500);
  assert_int_equal(stat(f->table, &st), 0);
  unsigned char h[32];
  int fd = open(f->table, O_RDONLY);
  assert_true(fd >= 0 && pread(fd, h, sizeof(h), 0) == (ssize_t)sizeof(h));
  close(fd);
  off_t dirs = 0; /* the group directory's entries, little-endian at 24 */
  for (int i = 7; i >= 0; i--)
    dirs = dirs << 8 | h[24 + i];
  off_t ngroups = h[12] | h[13] << 8; /* a few */
  assert_true(dirs > 4096 && dirs + ngroups * 24 < st.st_size);
  /* the groups' names and entries, read whole, then every directory */
  flip_bytes_and_read(f, 120, dirs - 256, dirs + ngroups * 24);
  flip_bytes_and_read(f, 180, dirs - 4096, st.st_size);
  /* the groups' names said to begin at the header's end: far more bytes
   * before the directory than the probe buffer holds */
  char *want = answer(f->site, EPINDEX_POLICY_STAT, "g", NULL, NULL);
  unsigned char names_at[8] = {96}; /* the header is 96 bytes */
  fd = open(f->table, O_WRONLY);
  assert_true(fd >= 0 && pwrite(fd, names_at, 8, dirs) == 8);
  close(fd);
  char *got = answer(f->site, EPINDEX_POLICY_STAT, "g", NULL, NULL);
  assert_string_equal(got, want);
  free(got);
  free(want);
}

static void test_nul_in_table_text(void **state) {
  fx *f = *state;
  update(f->site);
  forge_table(f, NUL_NAME_SQL);
  expect_nul_name_kept(f->site);
}

static void test_empty_directory_table(void **state) {
  fx *f = *state;
  char *empty = path_join(f->tmp, "empty");
  sh("mkdir '%s'", empty);
  update(empty);
  epindex_reason why;
  char *got = answer(empty, EPINDEX_POLICY_STAT, NULL, NULL, &why);
  assert_int_equal(why, EPINDEX_REASON_FRESH);
  assert_string_equal(got, "");
  free(got);
  /* it hides nothing in a later path entry */
  const char *paths[] = {empty, f->site};
  epindex *ix;
  epindex_result *r;
  assert_int_equal(epindex_open(&ix, paths, 2, EPINDEX_POLICY_STAT, 0),
                   EPINDEX_OK);
  assert_int_equal(epindex_lookup(ix, "console_scripts", NULL, &r), EPINDEX_OK);
  assert_int_equal(epindex_result_count(r), 2);
  epindex_result_free(r);
  epindex_close(ix);
  free(empty);
}

/* Precedence between two indexed entries goes through the key directory. */
static void test_keys_decide_precedence(void **state) {
  fx *f = *state;
  char *later = path_join(f->tmp, "later");
  put_dist(later, "beta-9.0.dist-info", "Beta", "9.0",
           "[console_scripts]\nbe = beta9:main\nonly9 = beta9:x\n");
  put_dist(later, "zeta-1.0.dist-info", "zeta", "1.0",
           "[console_scripts]\nze = zeta:main\n");
  update(f->site);
  update(later);
  const char *paths[] = {f->site, later};
  epindex *ix;
  epindex_result *r;
  assert_int_equal(epindex_open(&ix, paths, 2, EPINDEX_POLICY_STAT, 0),
                   EPINDEX_OK);
  assert_int_equal(epindex_path_reason(ix, 1), EPINDEX_REASON_FRESH);
  assert_int_equal(epindex_lookup(ix, "console_scripts", NULL, &r), EPINDEX_OK);
  char got[512] = "";
  for (size_t i = 0; i < epindex_result_count(r); i++)
    snprintf(got + strlen(got), sizeof(got) - strlen(got), "%s=%s;",
             epindex_result_get(r, i, EPINDEX_FIELD_NAME, NULL),
             epindex_result_get(r, i, EPINDEX_FIELD_VALUE, NULL));
  /* Beta 9.0 is hidden by Beta 2.0 of the earlier entry; zeta is not */
  assert_int_equal(epindex_result_count(r), 3);
  assert_non_null(strstr(got, "be=beta:main;"));
  assert_non_null(strstr(got, "ze=zeta:main;"));
  assert_null(strstr(got, "beta9"));
  epindex_result_free(r);
  epindex_close(ix);
  free(later);
}

/* Every distribution's entry points (epindex_dists_entry_points()), as one
 * string: the per-distribution reads of a plugin host. */
static char *dist_entries(const char *site) {
  epindex *ix;
  epindex_dists *d;
  const char *paths[] = {site};
  assert_int_equal(epindex_open(&ix, paths, 1, EPINDEX_POLICY_STAT, 0),
                   EPINDEX_OK);
  assert_int_equal(epindex_distributions(ix, NULL, 0, &d), EPINDEX_OK);
  size_t cap = 16384;
  char *out = calloc(1, cap);
  for (size_t i = 0; i < epindex_dists_count(d); i++) {
    snprintf(out + strlen(out), cap - strlen(out),
             "%s:", epindex_dists_get(d, i, EPINDEX_DIST_METADIR, NULL));
    epindex_result *r;
    if (epindex_dists_entry_points(ix, d, i, &r) != EPINDEX_OK)
      continue;
    for (size_t k = 0; k < epindex_result_count(r); k++)
      snprintf(out + strlen(out), cap - strlen(out), " %s.%s",
               epindex_result_get(r, k, EPINDEX_FIELD_GROUP, NULL),
               epindex_result_get(r, k, EPINDEX_FIELD_NAME, NULL));
    snprintf(out + strlen(out), cap - strlen(out), ";");
    epindex_result_free(r);
  }
  epindex_dists_free(d);
  epindex_close(ix);
  return out;
}

/* The entry order records of the table, by entry point name: NAMES[k]'s
 * record is rec[k] and its row at row[k]; the records' ords are checked
 * against their rows' and to be in order. row[NROWS - 1] is delta's
 * \nbadvalue row: of a distribution's ord, with a name and a value, but no
 * entry point. */
#define NROWS 7
static const char *const NAMES[NROWS - 1] = {"al", "a1", "a2",
                                             "be", "b1", "d1"};
static void table_places(const fx *f, size_t rec[NROWS - 1],
                         uint64_t row[NROWS]) {
  int fd = open(f->table, O_RDONLY);
  struct stat st;
  assert_true(fd >= 0 && fstat(fd, &st) == 0);
  ep_lookup lk;
  assert_int_equal(ep_lookup_open(fd, &st, &lk), EPINDEX_OK);
  assert_int_equal(lk.nentries, NROWS - 1);
  int64_t ord, last = INT64_MIN;
  ep_lookup_rows it;
  ep_row r;
  for (size_t k = 0; k < lk.nentries; k++) {
    assert_int_equal(ep_lookup_entry(&lk, k, &ord, &it), EPINDEX_OK);
    uint64_t at = it.off;
    assert_int_equal(ep_lookup_next(&it, &r), 1);
    assert_true(ord == r.ord && ord >= last);
    last = ord;
    for (size_t n = 0; n < NROWS - 1; n++)
      if (r.f[EP_COL_NAME] && strcmp(r.f[EP_COL_NAME], NAMES[n]) == 0)
        rec[n] = k, row[n] = at;
  }
  assert_true(
      ep_lookup_find(&lk, EP_GRP_BADVALUE, strlen(EP_GRP_BADVALUE), &it));
  row[NROWS - 1] = it.off;
  ep_lookup_close(&lk);
}

/* Where record k of the entry order directory of the table open on fd is. */
static off_t record_at(int fd, size_t k) {
  unsigned char h[80];
  assert_int_equal(pread(fd, h, sizeof(h), 0), (ssize_t)sizeof(h));
  off_t edir = 0;
  for (int b = 7; b >= 0; b--)
    edir = edir << 8 | h[72 + b];
  return edir + (off_t)k * 24;
}

/* Make record k of the entry order directory point at the row at off. */
static void point_record(const fx *f, size_t k, uint64_t off) {
  int fd = open(f->table, O_RDWR);
  unsigned char at[8];
  for (int b = 0; b < 8; b++)
    at[b] = (unsigned char)(off >> (8 * b));
  assert_int_equal(pwrite(fd, at, 8, record_at(fd, k) + 8), 8);
  close(fd);
}

/* Give record k of the entry order directory record j's group. */
static void regroup_record(const fx *f, size_t k, size_t j) {
  int fd = open(f->table, O_RDWR);
  unsigned char grp[4];
  assert_int_equal(pread(fd, grp, 4, record_at(fd, j) + 16), 4);
  assert_int_equal(pwrite(fd, grp, 4, record_at(fd, k) + 16), 4);
  close(fd);
}

/* A distribution's entry points come from the table's entry order
 * directory (written sorted by ord and line; the rows themselves are kept
 * by group) in entry_points.txt's order, as index.db gives them. A record
 * that points at another distribution's row, at its own out of order, at
 * a row outside its group, or that names another group than its row's is
 * a damaged table, passed over for index.db. */
static void test_entry_order_directory(void **state) {
  fx *f = *state;
  put_dist(f->site, "delta-1.0.dist-info", "delta", "1.0",
           "[g]\nd1 = -\n"); /* no object reference: a bad value row */
  update(f->site);
  char *from_table = dist_entries(f->site);
  char *all_table = answer(f->site, EPINDEX_POLICY_STAT, NULL, NULL, NULL);
  /* alpha's rows are in two groups' sections, but in its file's order */
  assert_non_null(strstr(from_table, "alpha-1.0.dist-info: console_scripts.al"
                                     " g.a1 g.a2;"));
  size_t rec[NROWS - 1];
  uint64_t row[NROWS];
  table_places(f, rec, row);
  unlink(f->table);
  char *from_db = dist_entries(f->site);
  assert_string_equal(from_table, from_db);
  char *all_db = answer(f->site, EPINDEX_POLICY_STAT, NULL, NULL, NULL);
  assert_string_equal(all_table, all_db);
  /* whose record -> whose row: another distribution's (in another group,
   * in the same), its own distribution's twice (in another group, in the
   * same), a row of its distribution outside its group */
  size_t damage[][2] = {{0, 3}, {3, 0}, {2, 4}, {4, 2},        {1, 0},
                        {0, 2}, {2, 1}, {1, 2}, {5, NROWS - 1}};
  for (size_t i = 0; i < sizeof(damage) / sizeof(damage[0]); i++) {
    unlink(f->table); /* a whole table again (update keeps a fresh one) */
    update(f->site);
    point_record(f, rec[damage[i][0]], row[damage[i][1]]);
    char *got = dist_entries(f->site);
    if (strcmp(got, from_db) != 0)
      fail_msg("%s's record at row %zu: %s", NAMES[damage[i][0]], damage[i][1],
               got);
    free(got);
    got = answer(f->site, EPINDEX_POLICY_STAT, NULL, NULL, NULL);
    char *rows_end = strchr(got, '\n'); /* a read failed: a diagnostic */
    assert_non_null(rows_end);
    *rows_end = '\0';
    assert_memory_equal(got, all_db, strlen(got));
    assert_int_equal(all_db[strlen(got)], '\n');
    free(got);
  }
  /* a record whose row is its own, but which names an earlier group (al's,
   * console_scripts, for g's a1): only where that group's rows end tells */
  unlink(f->table);
  update(f->site);
  regroup_record(f, rec[1], rec[0]);
  char *got = dist_entries(f->site);
  assert_string_equal(got, from_db);
  free(got);
  free(from_table);
  free(from_db);
  free(all_table);
  free(all_db);
}

static void test_update_adds_a_missing_table(void **state) {
  fx *f = *state;
  update(f->site);
  unlink(f->table); /* as an index written before tables existed */
  epindex_update_stats stats;
  assert_int_equal(epindex_update_dir(f->site, 0, &stats, NULL, 0), 0);
  assert_false(stats.unchanged);
  assert_true(table_exists(f));
  assert_int_equal(epindex_update_dir(f->site, 0, &stats, NULL, 0), 0);
  assert_true(stats.unchanged); /* and then it is current */
}

/* A dist row's stamp text is what printf's %lld would write, and parses
 * back to the same stamp, at every extreme of the integers it holds. */
static void test_stamp_text_round_trip(void **state) {
  (void)state;
  ep_stamp s = {INT64_MIN,
                {0, -1, INT64_MAX, 7},
                {10, 1733529600123456789, -999, 1},
                {-1, -1, -1, -1},
                false};
  char got[EP_STAMP_TEXT_MAX], want[EP_STAMP_TEXT_MAX];
  ep_stamp_format(&s, got, sizeof(got));
  snprintf(want, sizeof(want),
           "%lld 0 -1 %lld 7 10 1733529600123456789 -999 1 -1 -1 -1 -1",
           (long long)INT64_MIN, (long long)INT64_MAX);
  assert_string_equal(got, want);
  ep_stamp back;
  assert_true(ep_stamp_parse(got, &back));
  assert_true(ep_stamp_same(&back, &s));
  ep_stamp_format(&s, got, 6); /* cut short, still a string */
  assert_string_equal(got, "-9223");
}

int main(void) {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
  const struct CMUnitTest tests[] = {
      T(test_table_answers_as_index_db_does),
      T(test_a_table_larger_than_its_write_buffer),
      T(test_a_table_reads_only_the_file_it_opened),
      T(test_each_operation_checks_the_file_again),
      T(test_names_are_found_by_their_hash),
      T(test_a_table_cut_short_after_open),
      T(test_a_table_read_in_pages_and_mapped_alike),
      T(test_verify_reads_index_db_and_stat_the_table),
      T(test_a_stale_table_is_not_served),
      T(test_damaged_tables_are_passed_over),
      T(test_fuzzed_tables_stay_in_bounds),
      T(test_nul_in_table_text),
      T(test_empty_directory_table),
      T(test_keys_decide_precedence),
      T(test_update_adds_a_missing_table),
      T(test_entry_order_directory),
      cmocka_unit_test(test_stamp_text_round_trip),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
