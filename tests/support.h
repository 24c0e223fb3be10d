/* support.h -- helpers shared by the cmocka tests: temp trees, files. */
#ifndef EPINDEX_TEST_SUPPORT_H
#define EPINDEX_TEST_SUPPORT_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka.h needs the three headers above first */
#include <cmocka.h>

/* A fresh temporary directory for one test; removed by tmp_cleanup(). */
char *tmp_dir(void);
void tmp_cleanup(char *dir);
/* Write a file (creating parent directories) with exactly n bytes;
 * n == (size_t)-1 means strlen(text). Fails the test on error. */
void put_file(const char *dir, const char *rel, const char *text, size_t n);
void put_dir(const char *dir, const char *rel);
/* A dist-info directory with METADATA Name/Version and an optional
 * entry_points.txt (NULL: none). */
void put_dist(const char *dir, const char *metadir, const char *name,
              const char *version, const char *entry_points);
/* n distributions prefix0000 ... without entry points. */
void put_plain_dists(const char *dir, const char *prefix, int n);
/* Run a shell command; fail the test when it exits non-zero. */
void sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* SQL that renames entry point "be" of group console_scripts to "a\0b",
 * and the check that an index so changed answers with "a\0b" whole (its
 * length, not strlen) and that it is not found under the name "a". */
#define NUL_NAME_SQL                                                           \
  "UPDATE ep SET name = 'a' || char(0) || 'b' WHERE grp = "                    \
  "'console_scripts' AND name = 'be'"
void expect_nul_name_kept(const char *site);
/* Join a path into a static-lifetime buffer owned by the caller. */
char *path_join(const char *a, const char *b);

#endif
