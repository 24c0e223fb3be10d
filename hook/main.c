/*
 * epindex -- command-line front end of libepindex (public API only).
 *
 *   epindex update  [--full] [--lock-timeout S] [--python PY
 *                   [--include-stdlib]] [DIR...]
 *   epindex query   [--path DIR]... [--python PY] [--rules 3.N] [--policy P]
 *                   [--json] [--name NAME] [--explain] [--heal]
 *                   [--user-cache] [GROUP]
 *   epindex verify  [--policy P] DIR...
 *   epindex status  [--policy P] DIR...
 *
 * Each option is accepted only by the commands it applies to (commands[]).
 * Exit status: 0 success; 1 verify/status found an index that would not be
 * served; 2 usage error; 3 failure (I/O, permissions, a missing DIR, a
 * Python that would not run or whose rules are not known). Warnings about
 * skipped metadata go to stderr and do not change the exit status.
 */
#define _GNU_SOURCE
#include "epindex.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum { EXIT_STALE = 1, EXIT_USAGE = 2, EXIT_FAIL = 3 };

static const char usage_text[] =
    "Usage: epindex COMMAND [OPTIONS] [ARGS]\n"
    "\n"
    "Index the Python entry points of site directories at install time, and\n"
    "answer importlib.metadata.entry_points() queries from those indexes.\n"
    "\n"
    "Commands:\n"
    "  update [DIR...]    build or refresh DIR/" EPINDEX_INDEX_DIR
    "/" EPINDEX_INDEX_FILE " and its\n"
    "                     lookup table " EPINDEX_LOOKUP_FILE " (atomically)\n"
    "                     (DIR is written even when another user owns it; its\n"
    "                     " EPINDEX_INDEX_DIR " must be this user's, not a "
    "symlink and not\n"
    "                     writable by others, or nothing is written, exit 3).\n"
    "                     The index is readable by whoever may list DIR, or\n"
    "                     by this user alone when a distribution holds files\n"
    "                     that not all of them may read\n"
    "      --python PY    index the site directories on PY's sys.path: those\n"
    "                     that hold distributions and belong to this user;\n"
    "                     never '' or the current directory, the standard\n"
    "                     library or lib-dynload; others are reported skipped\n"
    "      --include-stdlib  with --python, index the standard library and\n"
    "                     lib-dynload too (image builds: saves their listing)\n"
    "      --full         re-read every distribution (default: only changed)\n"
    "      --lock-timeout S  wait at most S seconds (default 60) for another\n"
    "                     update of the same directory, then fail (exit 3)\n"
    "  query [GROUP]      print entry points of GROUP (all groups if omitted)\n"
    "                     in importlib.metadata's order and precedence, a\n"
    "                     line each: GROUP<tab>NAME = VALUE<tab>(DIST "
    "VERSION);\n"
    "                     control characters and backslashes in them (and in\n"
    "                     file names, in every message) are written as\n"
    "                     escapes: \\t \\n \\r \\\\ \\xHH \\u00HH\n"
    "      --path DIR     a search-path entry; repeat in sys.path order\n"
    "      --python PY    use PY's sys.path (default: python3's, if no "
    "--path)\n"
    "                     as an installed program sees it: without its\n"
    "                     first entry ('' under python -c, the script's\n"
    "                     directory); PY must be CPython 3.11-3.15 (whose\n"
    "                     rules epindex implements), else exit 3\n"
    "      --rules 3.N    answer by importlib.metadata's rules of Python 3.N\n"
    "                     (3.11-3.15; default: PY's, or 3.13's with --path):\n"
    "                     from 3.15 on, a distribution with an entry point\n"
    "                     value that is no object reference is skipped (there\n"
    "                     importlib.metadata raises), with a warning\n"
    "      --name NAME    only entry points called NAME\n"
    "      --json         one JSON array of objects with keys group, name,\n"
    "                     value, dist, version, path, metadir (strict JSON:\n"
    "                     bytes of a file name that are not UTF-8 are\n"
    "                     written as U+FFFD)\n"
    "      --explain      tell on stderr where each path entry's answer came\n"
    "                     from (index, scan, cache: the user cache, or\n"
    "                     none) and why\n"
    "      --heal         rebuild indexes that are not current, of site\n"
    "                     directories only (as update --python chooses them:\n"
    "                     this user's, holding distributions, not '', the\n"
    "                     current directory or the standard library), unless\n"
    "                     another process already is: then answer from a scan\n"
    "      --user-cache   for directories this user may not index, keep their\n"
    "                     indexes in $XDG_CACHE_HOME/epindex "
    "(~/.cache/epindex)\n"
    "  verify DIR...      is each index fresh? exit 0 if all would be served,\n"
    "                     1 otherwise, 3 if a DIR is missing or no directory;\n"
    "                     prints the verdict and what differs\n"
    "  status DIR...      what each index holds, for whom it was built, "
    "verdict\n"
    "\n"
    "Options of query, verify and status:\n"
    "      --policy P     freshness policy: stat (default), verify or trust\n"
    "An option given to a command it does not apply to is a usage error.\n"
    "\n"
    "Options of every command:\n"
    "  -h, --help         show this help\n"
    "      --version      show the version\n"
    "\n"
    "Exit status: 0 success, 1 an index would not be served (verify, status),\n"
    "2 usage error, 3 failure. Skipped broken metadata is reported on stderr\n"
    "as 'epindex: warning: ...' and does not change the exit status.\n"
    "Environment: XDG_CACHE_HOME and HOME, with --user-cache only. See\n"
    "epindex(1) and docs/ for details.\n";

typedef struct options {
  const char *command;
  const char **paths;
  size_t npaths;
  const char *python;
  const char *name;
  epindex_policy policy;
  int json, explain, full, heal, user_cache, include_stdlib;
  int rules; /* --rules 3.N: N; 0 when not given */
  unsigned lock_timeout;
  char **args;
  int nargs;
  unsigned given; /* the OPT_* bits of the options given */
} options;

/* The options, and which command each means something to: any other use
 * is a usage error (exit 2), never silently ignored. */
enum {
  O_PATH = 1u << 0,
  O_PYTHON = 1u << 1,
  O_POLICY = 1u << 2,
  O_JSON = 1u << 3,
  O_NAME = 1u << 4,
  O_EXPLAIN = 1u << 5,
  O_FULL = 1u << 6,
  O_HEAL = 1u << 7,
  O_USER_CACHE = 1u << 8,
  O_INCLUDE_STDLIB = 1u << 9,
  O_LOCK_TIMEOUT = 1u << 10,
  O_RULES = 1u << 11
};

static const char *const option_names[] = {
    "--path",       "--python",         "--policy",       "--json",
    "--name",       "--explain",        "--full",         "--heal",
    "--user-cache", "--include-stdlib", "--lock-timeout", "--rules"};

typedef struct command {
  const char *name, *usage;
  unsigned allowed;
} command;

static const command commands[] = {
    {"update",
     "epindex update [--full] [--lock-timeout S] [DIR...]\n"
     "       epindex update --python PY [--include-stdlib] [--full] "
     "[--lock-timeout S]",
     O_PYTHON | O_INCLUDE_STDLIB | O_FULL | O_LOCK_TIMEOUT},
    {"query",
     "epindex query [--path DIR]... [--python PY] [--rules 3.N] [--policy P]\n"
     "       [--json] [--name NAME] [--explain] [--heal] [--user-cache] "
     "[GROUP]",
     O_PATH | O_PYTHON | O_POLICY | O_JSON | O_NAME | O_EXPLAIN | O_HEAL |
         O_USER_CACHE | O_RULES},
    {"verify", "epindex verify [--policy P] DIR...", O_POLICY},
    {"status", "epindex status [--policy P] DIR...", O_POLICY},
};

static void die_usage(const char *msg) __attribute__((noreturn));

static void die_usage(const char *msg) {
  fprintf(stderr, "epindex: %s\nTry 'epindex --help'.\n", msg);
  exit(EXIT_USAGE);
}

/* An option given to a command it means nothing to. */
static void check_options(const options *o, const command *c) {
  unsigned bad = o->given & ~c->allowed;
  for (unsigned i = 0; bad && i < sizeof(option_names) / sizeof(*option_names);
       i++)
    if (bad & (1u << i)) {
      fprintf(stderr, "epindex: %s does not apply to %s\nUsage: %s\n",
              option_names[i], c->name, c->usage);
      exit(EXIT_USAGE);
    }
}

static void *xrealloc(void *p, size_t n) {
  void *q = realloc(p, n ? n : 1);
  if (!q) {
    fprintf(stderr, "epindex: out of memory\n");
    exit(EXIT_FAIL);
  }
  return q;
}

/* ---- python sys.path ---------------------------------------------------- */

/* sys.path of PY as a program would see it: without sys.path[0] (the script
 * directory, '' for -c). NUL-separated to survive any byte in a path, after
 * a tag and the version: a program that is not Python (--python /bin/true)
 * prints no tag, and is an error, not an empty sys.path. */
#define PY_TAG "epindex-sys-path"
static const char py_syspath[] =
    "import os, sys\n"
    "v = '%d.%d' % sys.version_info[:2]\n"
    "sys.stdout.buffer.write(b'" PY_TAG "\\0' + v.encode() + b'\\0' + "
    "b''.join(os.fsencode(p) + b'\\0' for p in sys.path[1:]))\n";

/* The interpreters whose importlib.metadata rules the library implements
 * (docs/conformance.md). */
#define PY_RULES_MIN 11
#define PY_RULES_MAX 15
/* from this minor version on, importlib.metadata validates entry point
 * values (EPINDEX_OPEN_VALUE_RULE) */
#define PY_VALUE_RULE 15

typedef struct py_info {
  char **paths;
  size_t n;
  int major, minor;
} py_info;

/* Run py and read its output; -1 when it cannot run or fails. */
static int run_python(const char *py, char **buf, size_t *len) {
  int fds[2];
  if (pipe(fds) != 0)
    return -1;
  pid_t pid = fork();
  if (pid < 0)
    return -1;
  if (pid == 0) {
    dup2(fds[1], 1);
    close(fds[0]);
    close(fds[1]);
    execlp(py, py, "-c", py_syspath, (char *)NULL);
    fprintf(stderr, "epindex: cannot run %s: %s\n", py, strerror(errno));
    _exit(127);
  }
  close(fds[1]);
  size_t cap = 0;
  *buf = NULL;
  *len = 0;
  for (;;) {
    if (*len == cap)
      *buf = xrealloc(*buf, cap = cap ? cap * 2 : 4096);
    ssize_t got = read(fds[0], *buf + *len, cap - *len);
    if (got < 0 && errno == EINTR)
      continue;
    if (got <= 0)
      break;
    *len += (size_t)got;
  }
  close(fds[0]);
  int status;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
    ;
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    free(*buf);
    return -1;
  }
  return 0;
}

/* PY's version and sys.path. Says why on stderr and returns -1 when PY
 * cannot be run or is not a Python interpreter. */
static int python_sys_path(const char *py, py_info *out) {
  char *buf;
  size_t len;
  *out = (py_info){NULL, 0, 0, 0};
  if (run_python(py, &buf, &len) != 0) {
    fprintf(stderr, "epindex: cannot read sys.path of %s\n", py);
    return -1;
  }
  size_t tag = sizeof(PY_TAG); /* with its NUL */
  const char *ver = buf + tag;
  if (len < tag || memcmp(buf, PY_TAG, tag) != 0 ||
      !memchr(ver, '\0', len - tag) ||
      sscanf(ver, "%d.%d", &out->major, &out->minor) != 2) {
    fprintf(stderr,
            "epindex: %s is not a Python interpreter (it printed no "
            "sys.path)\n",
            py);
    free(buf);
    return -1;
  }
  for (size_t i = tag + strlen(ver) + 1, start = i; i < len; i++) {
    if (buf[i] == '\0') {
      out->paths = xrealloc(out->paths, (out->n + 1) * sizeof(*out->paths));
      out->paths[out->n++] = strdup(buf + start);
      start = i + 1;
    }
  }
  free(buf);
  return 0;
}

/* Answers for PY follow its importlib.metadata's rules only when the
 * library implements them: refuse the others rather than answer by
 * another version's (Python 3.9 does not de-duplicate distributions). */
static int python_rules_known(const char *py, const py_info *pi) {
  if (pi->major == 3 && pi->minor >= PY_RULES_MIN && pi->minor <= PY_RULES_MAX)
    return 1;
  fprintf(stderr,
          "epindex: %s is Python %d.%d; epindex answers by the rules of "
          "importlib.metadata in Python 3.%d to 3.%d only "
          "(docs/conformance.md)\n",
          py, pi->major, pi->minor, PY_RULES_MIN, PY_RULES_MAX);
  return 0;
}

static void py_info_free(py_info *pi) {
  for (size_t i = 0; i < pi->n; i++)
    free(pi->paths[i]);
  free(pi->paths);
}

/* ---- JSON -----------------------------------------------------------------
 */

/* Length of the valid UTF-8 sequence at s[0..n) (strict: no overlong
 * forms, no surrogates, nothing past U+10FFFF), or 0. */
static size_t utf8_seq(const unsigned char *s, size_t n) {
  unsigned c = s[0];
  size_t len = c < 0x80                 ? 1
               : c >= 0xC2 && c <= 0xDF ? 2
               : c >= 0xE0 && c <= 0xEF ? 3
               : c >= 0xF0 && c <= 0xF4 ? 4
                                        : 0;
  if (!len || len > n)
    return 0;
  for (size_t k = 1; k < len; k++)
    if ((s[k] & 0xC0) != 0x80)
      return 0;
  if ((c == 0xE0 && s[1] < 0xA0) || (c == 0xED && s[1] > 0x9F) ||
      (c == 0xF0 && s[1] < 0x90) || (c == 0xF4 && s[1] > 0x8F))
    return 0;
  return len;
}

/* A JSON string (RFC 8259). Text that is not UTF-8 can only be in file
 * names (path, metadir: entry point files and METADATA are UTF-8 or
 * skipped); each such byte is written as U+FFFD, so that strict parsers
 * accept the output. The text output writes them as they are
 * (put_text). */
static void json_string(const char *s, size_t n) {
  if (!s) {
    fputs("null", stdout);
    return;
  }
  putchar('"');
  for (size_t i = 0; i < n;) {
    unsigned char c = (unsigned char)s[i];
    size_t len = utf8_seq((const unsigned char *)s + i, n - i);
    if (c == '"' || c == '\\')
      printf("\\%c", c);
    else if (c == '\n')
      fputs("\\n", stdout);
    else if (c == '\t')
      fputs("\\t", stdout);
    else if (c == '\r')
      fputs("\\r", stdout);
    else if (c < 0x20 || c == 0x7F)
      printf("\\u%04x", c);
    else if (len)
      fwrite(s + i, 1, len, stdout);
    else
      fputs("\\ufffd", stdout);
    i += len ? len : 1;
  }
  putchar('"');
}

/* ---- text output -----------------------------------------------------------
 */

/* Names, values and file names come from files other users may write, and
 * the text output and messages go to terminals and logs, root's included:
 * a control character among them could move the cursor, retitle a window
 * or forge a line of output. So each one is written as an escape (\t \n
 * \r; \xHH for the other C0 controls and DEL; \u00HH for a C1 control,
 * U+0080-U+009F), and so is a backslash (\\), which keeps the escapes
 * unambiguous. Other bytes, those of file names that are not UTF-8
 * included, are written as they are. */
static void put_text(FILE *f, const char *s, size_t n) {
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    unsigned char next = i + 1 < n ? (unsigned char)s[i + 1] : 0;
    if (c == '\\')
      fputs("\\\\", f);
    else if (c == '\t')
      fputs("\\t", f);
    else if (c == '\n')
      fputs("\\n", f);
    else if (c == '\r')
      fputs("\\r", f);
    else if (c < 0x20 || c == 0x7F)
      fprintf(f, "\\x%02x", c);
    else if (c == 0xC2 && next >= 0x80 && next <= 0x9F)
      fprintf(f, "\\u%04x", next), i++; /* U+0080-U+009F in UTF-8 */
    else
      putc(c, f);
  }
}

/* fprintf() of a format whose only conversions are %s, each argument
 * written by put_text(). */
static void put_line(FILE *f, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  for (const char *p = fmt; *p; p++) {
    if (p[0] == '%' && p[1] == 's') {
      const char *arg = va_arg(ap, const char *);
      put_text(f, arg, strlen(arg));
      p++;
    } else {
      putc(*p, f);
    }
  }
  va_end(ap);
}

/* ---- commands --------------------------------------------------------------
 */

static double ms_since(const struct timespec *t0) {
  struct timespec t1;
  clock_gettime(CLOCK_MONOTONIC, &t1);
  return (double)(t1.tv_sec - t0->tv_sec) * 1e3 +
         (double)(t1.tv_nsec - t0->tv_nsec) / 1e6;
}

static int update_one(const char *dir, unsigned flags) {
  char err[1024];
  epindex_update_stats st;
  struct timespec t0;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  int rc = epindex_update_dir(dir, flags, &st, err, sizeof(err));
  if (rc == EPINDEX_ENOTSITE) {
    put_line(stdout, "%s\n", err); /* "DIR: skipped: why" */
    return 0;
  }
  if (rc) {
    put_line(stderr, "epindex: %s\n", err);
    return EXIT_FAIL;
  }
  put_line(stdout, "%s: ", dir);
  if (st.unchanged)
    printf("unchanged (%.1f ms)\n", ms_since(&t0));
  else
    printf("%zu dists, %zu entry points, %zu read, %.1f ms\n", st.dists,
           st.entries, st.reread, ms_since(&t0));
  if (!st.unchanged && st.restricted) {
    put_line(stdout, "%s: ", dir);
    printf("readable by this user only: %zu distribution%s hold%s files "
           "not every user who may list the directory may read\n",
           st.restricted, st.restricted == 1 ? "" : "s",
           st.restricted == 1 ? "s" : "");
  }
  return 0;
}

/* A sys.path entry --python passes over before asking the library (which
 * applies the site-directory rules: EPINDEX_UPDATE_SITE_ONLY). */
static const char *skip_reason(const char *dir) {
  struct stat st;
  if (!*dir)
    return "empty path (current directory)";
  if (stat(dir, &st) != 0)
    return strerror(errno);
  if (!S_ISDIR(st.st_mode))
    return "not a directory (zip files are read directly)";
  if (access(dir, W_OK) != 0)
    return "not writable by this user";
  return NULL;
}

static int cmd_update(const options *o) {
  unsigned flags = (o->full ? EPINDEX_UPDATE_FULL : 0) |
                   EPINDEX_UPDATE_LOCK_WAIT(o->lock_timeout);
  if (o->include_stdlib && !o->python)
    die_usage("--include-stdlib goes with --python");
  int status = 0;
  if (o->python) {
    /* any version: which directories to index does not depend on it */
    py_info pi;
    if (python_sys_path(o->python, &pi) != 0)
      return EXIT_FAIL;
    for (size_t i = 0; i < pi.n; i++) {
      const char *why = skip_reason(pi.paths[i]);
      if (why)
        put_line(stdout, "%s: skipped: %s\n", pi.paths[i], why);
      else if (update_one(pi.paths[i],
                          flags | EPINDEX_UPDATE_SITE_ONLY |
                              (o->include_stdlib ? EPINDEX_UPDATE_STDLIB : 0)))
        status = EXIT_FAIL;
    }
    py_info_free(&pi);
  }
  if (!o->python && o->nargs == 0)
    die_usage("update needs DIR arguments or --python PY");
  for (int i = 0; i < o->nargs; i++)
    if (update_one(o->args[i], flags))
      status = EXIT_FAIL;
  return status;
}

static void explain(const epindex *ix) {
  for (size_t i = 0; i < epindex_path_count(ix); i++) {
    epindex_source s = epindex_path_source(ix, i);
    put_line(stderr, "epindex: %s: %s (%s)\n", epindex_path_entry(ix, i),
             epindex_source_name(s),
             epindex_reason_text(epindex_path_reason(ix, i)));
  }
}

static void print_json(const epindex_result *r) {
  static const char *const keys[] = {"group",   "name", "value",  "dist",
                                     "version", "path", "metadir"};
  putchar('[');
  for (size_t i = 0; i < epindex_result_count(r); i++) {
    printf(i ? ",\n {" : "{");
    for (int f = 0; f < 7; f++) {
      size_t len;
      const char *v = epindex_result_get(r, i, (epindex_field)f, &len);
      printf(f ? ", \"%s\": " : "\"%s\": ", keys[f]);
      json_string(v, len);
    }
    putchar('}');
  }
  puts("]");
}

/* A field of a result (counted: NULs included), "?" for none. */
static void put_field(const epindex_result *r, size_t i, epindex_field f) {
  size_t len;
  const char *v = epindex_result_get(r, i, f, &len);
  put_text(stdout, v ? v : "?", v ? len : 1);
}

/* "GROUP<tab>NAME = VALUE<tab>(DIST VERSION)", a line each. */
static void print_text(const epindex_result *r) {
  for (size_t i = 0; i < epindex_result_count(r); i++) {
    put_field(r, i, EPINDEX_FIELD_GROUP);
    putchar('\t');
    put_field(r, i, EPINDEX_FIELD_NAME);
    fputs(" = ", stdout);
    put_field(r, i, EPINDEX_FIELD_VALUE);
    fputs("\t(", stdout);
    put_field(r, i, EPINDEX_FIELD_DIST);
    putchar(' ');
    put_field(r, i, EPINDEX_FIELD_VERSION);
    puts(")");
  }
}

static int cmd_query(options *o) {
  if (o->nargs > 1)
    die_usage("query takes at most one GROUP");
  py_info pi = {NULL, 0, 0, 0};
  int rules = o->rules; /* --rules, else the interpreter's, else 3.13's */
  if (o->python || o->npaths == 0) {
    const char *py = o->python ? o->python : "python3";
    if (python_sys_path(py, &pi) != 0)
      return EXIT_FAIL;
    if (!rules && !python_rules_known(py, &pi)) {
      py_info_free(&pi);
      return EXIT_FAIL;
    }
    if (!rules)
      rules = pi.minor;
    o->paths = xrealloc(o->paths, (o->npaths + pi.n) * sizeof(*o->paths));
    for (size_t i = 0; i < pi.n; i++)
      o->paths[o->npaths++] = pi.paths[i];
  }
  epindex *ix = NULL;
  epindex_result *res = NULL;
  int rc =
      epindex_open(&ix, o->paths, o->npaths, o->policy,
                   (o->heal ? EPINDEX_OPEN_HEAL : 0) |
                       (o->user_cache ? EPINDEX_OPEN_USER_CACHE : 0) |
                       (rules >= PY_VALUE_RULE ? EPINDEX_OPEN_VALUE_RULE : 0));
  if (!rc)
    rc = epindex_lookup(ix, o->nargs ? o->args[0] : NULL, o->name, &res);
  if (!rc) {
    if (o->explain)
      explain(ix);
    for (size_t i = 0; i < epindex_diag_count(ix); i++)
      put_line(stderr, "epindex: warning: %s\n", epindex_diag_message(ix, i));
    if (o->json)
      print_json(res);
    else
      print_text(res);
  } else {
    fprintf(stderr, "epindex: query failed: %s\n", epindex_strerror(rc));
  }
  epindex_result_free(res);
  epindex_close(ix);
  py_info_free(&pi); /* o->paths borrowed its strings */
  return rc ? EXIT_FAIL : 0;
}

static int cmd_verify_status(const options *o, int show_meta) {
  if (o->nargs == 0)
    die_usage(show_meta ? "status needs DIR arguments"
                        : "verify needs DIR arguments");
  int status = 0;
  for (int i = 0; i < o->nargs; i++) {
    epindex_dirinfo *d = NULL;
    int rc = epindex_inspect(o->args[i], o->policy, &d);
    if (rc) {
      put_line(stderr, "epindex: %s: %s\n", o->args[i], epindex_strerror(rc));
      return EXIT_FAIL;
    }
    epindex_reason r = epindex_dirinfo_reason(d);
    const char *detail = epindex_dirinfo_detail(d);
    if (r == EPINDEX_REASON_ABSENT || r == EPINDEX_REASON_NOT_DIR) {
      put_line(stderr, "epindex: %s: %s\n", o->args[i], epindex_reason_text(r));
      epindex_dirinfo_free(d);
      status = EXIT_FAIL;
      continue;
    }
    /* "fresh", "stale: delta-1.0.dist-info changed", "missing (no index)":
     * the reason's sentence only where its name alone says too little */
    if (*detail)
      put_line(stdout, "%s: %s: %s\n", o->args[i], epindex_reason_name(r),
               detail);
    else if (epindex_reason_is_served(r))
      put_line(stdout, "%s: %s\n", o->args[i], epindex_reason_name(r));
    else
      put_line(stdout, "%s: %s (%s)\n", o->args[i], epindex_reason_name(r),
               epindex_reason_text(r));
    if (show_meta) {
      printf("  policy: %s\n", epindex_policy_name(o->policy));
      for (size_t k = 0; k < epindex_dirinfo_count(d); k++)
        put_line(stdout, "  %s: %s\n", epindex_dirinfo_key(d, k),
                 epindex_dirinfo_value(d, k));
    }
    if (!epindex_reason_is_served(r) && status == 0)
      status = EXIT_STALE;
    epindex_dirinfo_free(d);
  }
  return status;
}

/* ---- options ----------------------------------------------------------------
 */

static void parse_options(int argc, char **argv, const char *optstring,
                          options *o) {
  enum {
    OPT_PATH = 256,
    OPT_PYTHON,
    OPT_POLICY,
    OPT_JSON,
    OPT_NAME,
    OPT_EXPLAIN,
    OPT_FULL,
    OPT_VERSION,
    OPT_HEAL,
    OPT_USER_CACHE,
    OPT_INCLUDE_STDLIB,
    OPT_LOCK_TIMEOUT,
    OPT_RULES
  };
  static const struct option longopts[] = {
      {"path", required_argument, NULL, OPT_PATH},
      {"python", required_argument, NULL, OPT_PYTHON},
      {"policy", required_argument, NULL, OPT_POLICY},
      {"json", no_argument, NULL, OPT_JSON},
      {"name", required_argument, NULL, OPT_NAME},
      {"explain", no_argument, NULL, OPT_EXPLAIN},
      {"full", no_argument, NULL, OPT_FULL},
      {"heal", no_argument, NULL, OPT_HEAL},
      {"user-cache", no_argument, NULL, OPT_USER_CACHE},
      {"include-stdlib", no_argument, NULL, OPT_INCLUDE_STDLIB},
      {"lock-timeout", required_argument, NULL, OPT_LOCK_TIMEOUT},
      {"rules", required_argument, NULL, OPT_RULES},
      {"help", no_argument, NULL, 'h'},
      {"version", no_argument, NULL, OPT_VERSION},
      {NULL, 0, NULL, 0}};
  int c;
  opterr = 0;
  while ((c = getopt_long(argc, argv, optstring, longopts, NULL)) != -1) {
    switch (c) {
    case OPT_PATH:
      o->given |= O_PATH;
      o->paths = xrealloc(o->paths, (o->npaths + 1) * sizeof(*o->paths));
      o->paths[o->npaths++] = optarg;
      break;
    case OPT_PYTHON:
      o->given |= O_PYTHON;
      o->python = optarg;
      break;
    case OPT_POLICY:
      o->given |= O_POLICY;
      if (epindex_policy_parse(optarg, &o->policy))
        die_usage("--policy must be stat, verify or trust");
      break;
    case OPT_JSON:
      o->given |= O_JSON;
      o->json = 1;
      break;
    case OPT_NAME:
      o->given |= O_NAME;
      o->name = optarg;
      break;
    case OPT_EXPLAIN:
      o->given |= O_EXPLAIN;
      o->explain = 1;
      break;
    case OPT_FULL:
      o->given |= O_FULL;
      o->full = 1;
      break;
    case OPT_HEAL:
      o->given |= O_HEAL;
      o->heal = 1;
      break;
    case OPT_USER_CACHE:
      o->given |= O_USER_CACHE;
      o->user_cache = 1;
      break;
    case OPT_INCLUDE_STDLIB:
      o->given |= O_INCLUDE_STDLIB;
      o->include_stdlib = 1;
      break;
    case OPT_LOCK_TIMEOUT: {
      o->given |= O_LOCK_TIMEOUT;
      char *end;
      unsigned long v = strtoul(optarg, &end, 10);
      if (!*optarg || *end || v < 1 || v > 65535)
        die_usage("--lock-timeout takes whole seconds from 1 to 65535");
      o->lock_timeout = (unsigned)v;
      break;
    }
    case OPT_RULES: {
      o->given |= O_RULES;
      int minor = 0;
      char tail;
      if (sscanf(optarg, "3.%d%c", &minor, &tail) != 1 ||
          minor < PY_RULES_MIN || minor > PY_RULES_MAX)
        die_usage("--rules takes a Python version from 3.11 to 3.15");
      o->rules = minor;
      break;
    }
    case 'h':
      fputs(usage_text, stdout);
      exit(0);
    case OPT_VERSION:
      printf("epindex %s (schema %d)\n", epindex_libversion(),
             EPINDEX_SCHEMA_VERSION);
      exit(0);
    default: /* getopt's own messages would name argv[0], not epindex */
      fprintf(stderr,
              "epindex: unknown option, or one missing its argument: %s\n"
              "Try 'epindex --help'.\n",
              argv[optind - 1]);
      exit(EXIT_USAGE);
    }
  }
}

int main(int argc, char **argv) {
  options o = {0};
  /* options may come before the command word, and anywhere after it */
  parse_options(argc, argv, "+h", &o);
  if (optind >= argc)
    die_usage("missing COMMAND");
  o.command = argv[optind++];
  int rest = argc - optind + 1;
  char **restv = argv + optind - 1;
  optind = 0; /* 0, not 1: makes GNU getopt reset its permutation state */
  parse_options(rest, restv, "h", &o);
  o.args = restv + optind;
  o.nargs = rest - optind;
  const command *c = NULL;
  for (size_t i = 0; i < sizeof(commands) / sizeof(*commands); i++)
    if (strcmp(o.command, commands[i].name) == 0)
      c = &commands[i];
  if (!c)
    die_usage("unknown COMMAND (expected update, query, verify or status)");
  check_options(&o, c);
  int status;
  if (c == &commands[0])
    status = cmd_update(&o);
  else if (c == &commands[1])
    status = cmd_query(&o);
  else
    status = cmd_verify_status(&o, c == &commands[3]);
  free(o.paths);
  return status;
}
