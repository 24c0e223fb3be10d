/* support.c -- test helpers (see support.h). */
#include "support.h"

#include "epindex.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

char *tmp_dir(void) {
  const char *base = getenv("TMPDIR");
  char tmpl[4096];
  snprintf(tmpl, sizeof(tmpl), "%s/eptest.XXXXXX", base ? base : "/tmp");
  char *d = mkdtemp(tmpl);
  assert_non_null(d);
  return strdup(d);
}

void tmp_cleanup(char *dir) {
  if (!dir)
    return;
  sh("chmod -R u+rwX '%s' 2>/dev/null; rm -rf '%s'", dir, dir);
  free(dir);
}

char *path_join(const char *a, const char *b) {
  size_t n = strlen(a) + strlen(b) + 2;
  char *p = malloc(n);
  assert_non_null(p);
  snprintf(p, n, "%s/%s", a, b);
  return p;
}

static void mkdirs_for(const char *path) {
  char buf[4096];
  snprintf(buf, sizeof(buf), "%s", path);
  for (char *s = buf + 1; *s; s++) {
    if (*s != '/')
      continue;
    *s = '\0';
    if (mkdir(buf, 0755) != 0 && errno != EEXIST)
      fail_msg("mkdir %s: %s", buf, strerror(errno));
    *s = '/';
  }
}

void put_file(const char *dir, const char *rel, const char *text, size_t n) {
  char *p = path_join(dir, rel);
  mkdirs_for(p);
  FILE *f = fopen(p, "wb");
  if (!f)
    fail_msg("fopen %s: %s", p, strerror(errno));
  if (n == (size_t)-1)
    n = strlen(text);
  assert_int_equal(fwrite(text, 1, n, f), n);
  assert_int_equal(fclose(f), 0);
  free(p);
}

void put_dir(const char *dir, const char *rel) {
  char *p = path_join(dir, rel);
  char *q = path_join(p, "x");
  mkdirs_for(q);
  free(q);
  free(p);
}

void put_dist(const char *dir, const char *metadir, const char *name,
              const char *version, const char *entry_points) {
  char rel[1024], md[1024];
  snprintf(rel, sizeof(rel), "%s/METADATA", metadir);
  snprintf(md, sizeof(md),
           "Metadata-Version: 2.1\nName: %s\nVersion: %s\n\nbody\n", name,
           version);
  put_file(dir, rel, md, (size_t)-1);
  if (entry_points) {
    snprintf(rel, sizeof(rel), "%s/entry_points.txt", metadir);
    put_file(dir, rel, entry_points, (size_t)-1);
  }
}

void put_plain_dists(const char *dir, const char *prefix, int n) {
  for (int i = 0; i < n; i++) {
    char md[256];
    snprintf(md, sizeof(md), "%s%04d-1.0.dist-info", prefix, i);
    put_dist(dir, md, md, "1.0", NULL);
  }
}

void sh(const char *fmt, ...) {
  char cmd[8192];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(cmd, sizeof(cmd), fmt, ap);
  va_end(ap);
  int rc = system(cmd);
  if (rc != 0)
    fail_msg("command failed (%d): %s", rc, cmd);
}

void expect_nul_name_kept(const char *site) {
  const char *paths[] = {site};
  epindex *ix;
  epindex_result *r;
  assert_int_equal(epindex_open(&ix, paths, 1, EPINDEX_POLICY_STAT, 0),
                   EPINDEX_OK);
  assert_int_equal(epindex_path_reason(ix, 0), EPINDEX_REASON_FRESH);
  assert_int_equal(epindex_lookup(ix, "console_scripts", NULL, &r), EPINDEX_OK);
  size_t len;
  assert_memory_equal(epindex_result_get(r, 1, EPINDEX_FIELD_NAME, &len),
                      "a\0b", 3);
  assert_int_equal(len, 3); /* lengths, not strlen */
  epindex_result_free(r);
  assert_int_equal(epindex_lookup(ix, "console_scripts", "a", &r), EPINDEX_OK);
  assert_int_equal(epindex_result_count(r), 0); /* "a\0b" is not "a" */
  epindex_result_free(r);
  epindex_close(ix);
}
