/* fuzz_site.h -- the site directory the index and lookup-table targets
 * plant their input in: a temporary directory with .epindex/ and one real
 * distribution, "one" 1.0, whose entry_points.txt has [g] one = one:main. */
#ifndef EPINDEX_FUZZ_SITE_H
#define EPINDEX_FUZZ_SITE_H

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

/* Write n bytes to dir/rel (created or truncated); abort on failure. */
static void site_put(const char *dir, const char *rel, const void *data,
                     size_t n) {
  char p[256];
  snprintf(p, sizeof(p), "%s/%s", dir, rel);
  int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0 || write(fd, data, n) != (ssize_t)n)
    abort();
  close(fd);
}

static void site_mkdir(const char *dir, const char *rel) {
  char p[256];
  snprintf(p, sizeof(p), "%s/%s", dir, rel);
  mkdir(p, 0755);
}

/* Create the site in dir (a buffer ending in "XXXXXX", as mkdtemp wants). */
static void site_make(char *dir) {
  if (!mkdtemp(dir))
    abort();
  site_mkdir(dir, "one-1.0.dist-info");
  site_mkdir(dir, ".epindex");
  site_put(dir, "one-1.0.dist-info/METADATA", "Name: one\nVersion: 1.0\n", 23);
  site_put(dir, "one-1.0.dist-info/entry_points.txt", "[g]\none = one:main\n",
           19);
}

#endif
