/*
 * epindex.c -- the public API: search-path handles, lookups, results.
 *
 * Precedence across path entries (importlib.metadata's _unique): a
 * distribution is visible only if no earlier path entry holds a distribution
 * with the same uniqueness key. Each row of a lookup carries its key, and is
 * checked against the earlier entries that hold any distribution at all: an
 * in-memory sorted key list for scanned entries, one indexed point query for
 * indexed ones. Entries with no distributions (the stdlib directories of a
 * typical sys.path) cost nothing.
 */
#include "index.h"
#include "scan.h"
#include "update.h"
#include "zipapi.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- the handle
 * ---------------------------------------------------------------- */

typedef struct path_ent {
  char *path;
  epindex_source source;
  epindex_reason reason;
  ep_index *ix;   /* source INDEX */
  ep_catalog cat; /* source SCAN */
  ep_key *keys;   /* SCAN: sorted keys of cat, for precedence */
  size_t nkeys;
  int64_t ndists;    /* 0: cannot hide anything */
  ep_key *ruled_out; /* INDEX: sorted keys of distributions the value rule
                        skips (EPINDEX_OPEN_VALUE_RULE), in cat's arena */
  size_t nruled_out, nruled_out_cap;
  ep_catalog view; /* INDEX: its distributions and entry points, loaded on
                      the first epindex_dists_entry_points() */
  bool viewed;
  size_t listed;     /* SCAN under EPINDEX_OPEN_NO_SCAN: metadata entries
                        listed, none read (cat stays empty) */
  bool stamped;      /* stat() of the entry, before it was read, succeeded: */
  uint64_t dev, ino; /* its st_dev, st_ino */
  int64_t mtime_ns;  /* and mtime (epindex_path_stamp()) */
} path_ent;

struct epindex {
  pthread_mutex_t mu;
  epindex_policy policy;
  unsigned flags;
  size_t n;
  path_ent *ents;
  ep_strvec diags;
  size_t skipped; /* distributions skipped: importlib.metadata raises */
};

static int build_keys(path_ent *pe) {
  pe->keys = malloc((pe->cat.ndists + 1) * sizeof(*pe->keys));
  if (!pe->keys)
    return EPINDEX_ENOMEM;
  for (size_t i = 0; i < pe->cat.ndists; i++)
    if (pe->cat.dists[i].key)
      pe->keys[pe->nkeys++] =
          (ep_key){pe->cat.dists[i].key, pe->cat.dists[i].key_len};
  qsort(pe->keys, pe->nkeys, sizeof(*pe->keys), ep_key_cmp);
  pe->ndists = (int64_t)pe->nkeys;
  return EPINDEX_OK;
}

static int scan_entry(path_ent *pe) {
  ep_catalog_free(&pe->cat);
  free(pe->keys);
  pe->keys = NULL;
  pe->nkeys = 0;
  int rc = ep_scan_path_entry(pe->path, &pe->cat, &pe->source);
  return rc ? rc : build_keys(pe);
}

/* A directory nobody indexed, under EPINDEX_OPEN_NO_SCAN: its caller reads
 * such directories itself and needs only to know whether it holds any. */
static int list_entry(path_ent *pe) {
  return ep_count_dir_entry(pe->path, &pe->listed, &pe->source);
}

/* A directory nobody indexed that lists no distribution (the current
 * directory, the standard library's, an empty site directory) is answered
 * by that listing: neither healed nor kept in the user's cache, which would
 * each open and list it again to learn as much. *empty tells; when false
 * the entry is as before, for the caller to index, list or scan. */
static int list_no_dists(path_ent *pe, bool *empty) {
  int rc = list_entry(pe);
  *empty = !rc && pe->listed == 0;
  if (rc || !*empty) {
    pe->listed = 0;
    pe->source = EPINDEX_SOURCE_NONE;
    return rc;
  }
  pe->ndists = 0;
  return ep_catalog_seal(&pe->cat); /* what a scan of nothing leaves */
}

static bool reason_worth_telling(epindex_reason r) {
  return r == EPINDEX_REASON_DAMAGED || r == EPINDEX_REASON_UNTRUSTED ||
         r == EPINDEX_REASON_FOREIGN || r == EPINDEX_REASON_UNREADABLE ||
         r == EPINDEX_REASON_SCHEMA;
}

/* 0 if p is a directory, else the errno (ENOTDIR for other file types).
 * *stated (unless NULL): whether stat() succeeded, filling *st (a file's
 * too). */
static int stat_dir(const char *p, struct stat *st, bool *stated) {
  bool ok = stat(p, st) == 0;
  if (stated)
    *stated = ok;
  if (!ok)
    return errno;
  return S_ISDIR(st->st_mode) ? 0 : ENOTDIR;
}

/* Verdicts an update repairs. Another schema's, foreign and untrusted
 * files are never a reader's to rewrite; an older schema's are. */
static bool reason_repairable(epindex_reason r) {
  return r == EPINDEX_REASON_MISSING || r == EPINDEX_REASON_STALE ||
         r == EPINDEX_REASON_RELOCATED || r == EPINDEX_REASON_RACY ||
         r == EPINDEX_REASON_DAMAGED || r == EPINDEX_REASON_OUTDATED;
}

/* May this process rebuild the index of a directory? Only verdicts an
 * update repairs, and only as the directory's owner -- root included: a
 * healing root process never writes into another user's directory. The
 * update itself then checks that it is a site directory
 * (EPINDEX_UPDATE_SITE_ONLY: distributions, not the current directory, not
 * the standard library). */
static bool may_heal(epindex_reason r, const char *p, const struct stat *st,
                     uid_t me) {
  return reason_repairable(r) && me == st->st_uid && access(p, W_OK) == 0;
}

/* Rebuild without waiting for another rebuilder, then serve the new index
 * in place of the entry's (none, or one served only after verification).
 * Any failure (EBUSY: someone else is at it) leaves the entry as it was:
 * to its scan, or to its verified index. */
static void heal(path_ent *pe, const char *p, epindex_policy policy) {
  epindex_update_stats stats;
  if (epindex_update_dir(p, EPINDEX_UPDATE_NOWAIT | EPINDEX_UPDATE_SITE_ONLY,
                         &stats, NULL, 0) != EPINDEX_OK)
    return;
  epindex_reason why;
  struct stat now;
  ep_index *fresh = NULL;
  if (stat(p, &now) != 0 ||
      ep_index_open(p, &now, policy, &fresh, &why, NULL) != EPINDEX_OK ||
      !fresh)
    return;
  ep_index_close(pe->ix);
  pe->ix = fresh;
  pe->reason = stats.unchanged ? why : EPINDEX_REASON_REBUILT;
}

/* An index served after verification (the directory changed, no
 * distribution did: a .pth written, a module added) is verified again by
 * every reader until someone updates it: a healing owner refreshes it. */
static bool may_refresh(const path_ent *pe, const char *p,
                        const struct stat *st, epindex_policy policy,
                        uid_t me) {
  return pe->ix && pe->reason == EPINDEX_REASON_VERIFIED &&
         policy == EPINDEX_POLICY_STAT && me == st->st_uid &&
         access(p, W_OK) == 0;
}

/* The per-user cache directory of a directory: $XDG_CACHE_HOME/epindex/KEY
 * (default ~/.cache/epindex/KEY), KEY a hash of its real path (which the
 * index also records and which is checked, so two directories never share
 * one). */
static bool user_cache_dir(const char *p, char *real, char *out, size_t n) {
  char base[PATH_MAX];
  const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
  if (xdg && *xdg == '/')
    snprintf(base, sizeof(base), "%s", xdg);
  else if (home && *home == '/')
    snprintf(base, sizeof(base), "%s/.cache", home);
  else
    return false;
  if (!realpath(p, real))
    return false;
  uint64_t h = 1469598103934665603u; /* FNV-1a */
  for (const char *c = real; *c; c++)
    h = (h ^ (unsigned char)*c) * 1099511628211u;
  int len = snprintf(out, n, "%s/epindex/%016llx", base, (unsigned long long)h);
  return len > 0 && (size_t)len < n;
}

/* An index for a directory this process may not write: kept in the user's
 * cache, trusted only when the user owns it, rebuilt (without waiting for
 * another rebuilder) when it is not current -- but none is made for a
 * directory that lists no distribution: *done, the listing answers. */
static int use_user_cache(path_ent *pe, const char *p, const struct stat *st,
                          epindex_policy policy, uid_t me, ep_strvec *diags,
                          bool *done) {
  char real[PATH_MAX], idxdir[PATH_MAX], err[512];
  if (!user_cache_dir(p, real, idxdir, sizeof(idxdir)))
    /* said, so that "scan (no index)" is not all a user learns */
    return ep_strvec_addf(diags,
                          "%s: user cache not used: neither XDG_CACHE_HOME "
                          "nor HOME is an absolute path",
                          p);
  epindex_reason why;
  if (ep_index_open_in(p, st, idxdir, me, policy, &pe->ix, &why, NULL) ||
      (pe->ix && !ep_index_built_for(pe->ix, real))) {
    ep_index_close(pe->ix); /* another directory's (a hash collision) */
    pe->ix = NULL;
    why = EPINDEX_REASON_MISSING;
  }
  bool rebuilt = false;
  /* UNREADABLE: the cache directory cannot be reached, which the update
   * then says why */
  if (!pe->ix && (reason_repairable(why) || why == EPINDEX_REASON_UNREADABLE)) {
    int rc = list_no_dists(pe, done);
    if (rc || *done)
      return rc;
    epindex_update_stats stats;
    struct stat now;
    rc = ep_update_into(p, idxdir, EPINDEX_UPDATE_NOWAIT, &stats, err,
                        sizeof(err));
    if (rc && rc != EPINDEX_EBUSY) /* EBUSY: another process is at it */
      return ep_strvec_addf(diags, "%s: user cache not used: %s", p, err);
    if (rc || stat(p, &now) != 0 ||
        ep_index_open_in(p, &now, idxdir, me, policy, &pe->ix, &why, NULL))
      return EPINDEX_OK;
    rebuilt = !stats.unchanged;
  }
  if (pe->ix)
    pe->source = EPINDEX_SOURCE_CACHE;
  /* the cache was consulted: its verdict says why the answer is what it is */
  pe->reason = rebuilt ? EPINDEX_REASON_REBUILT : why;
  return EPINDEX_OK;
}

/* me: the effective uid, asked once per open (a syscall) where HEAL or
 * USER_CACHE may use it. */
static int judge_entry(path_ent *pe, epindex_policy policy, unsigned flags,
                       uid_t me, ep_strvec *diags) {
  const char *p = ep_path_or_dot(pe->path);
  struct stat st;
  int err = stat_dir(p, &st, &pe->stamped);
  if (pe->stamped) {
    pe->dev = (uint64_t)st.st_dev;
    pe->ino = (uint64_t)st.st_ino;
    pe->mtime_ns = ep_mtime_ns(&st);
  }
  if (err) {
    pe->reason =
        err == ENOTDIR ? EPINDEX_REASON_NOT_DIR : EPINDEX_REASON_ABSENT;
    return scan_entry(pe); /* a zip file, or nothing */
  }
  ep_buf detail = {0};
  int rc = ep_index_open(p, &st, policy, &pe->ix, &pe->reason, &detail);
  /* asked only of callers that would act on it: a scan needs no access() */
  bool healable = !rc && !pe->ix &&
                  (flags & (EPINDEX_OPEN_HEAL | EPINDEX_OPEN_USER_CACHE)) &&
                  may_heal(pe->reason, p, &st, me);
  bool done = false;
  if ((flags & EPINDEX_OPEN_HEAL) &&
      (healable || (!rc && may_refresh(pe, p, &st, policy, me)))) {
    if (!pe->ix && pe->reason == EPINDEX_REASON_MISSING)
      rc = list_no_dists(pe, &done);
    if (!rc && !done)
      heal(pe, p, policy);
  } else if (!rc && !pe->ix && !healable && (flags & EPINDEX_OPEN_USER_CACHE) &&
             pe->reason != EPINDEX_REASON_UNTRUSTED) {
    rc = use_user_cache(pe, p, &st, policy, me, diags, &done);
  }
  if (rc || done) {
    ep_buf_free(&detail);
    return rc;
  }
  if (pe->ix) {
    if (pe->source != EPINDEX_SOURCE_CACHE)
      pe->source = EPINDEX_SOURCE_INDEX;
    pe->ndists = ep_index_ndists(pe->ix);
  } else {
    if (reason_worth_telling(pe->reason))
      rc =
          ep_strvec_addf(diags, "%s: index not used: %s%s%s", p,
                         epindex_reason_text(pe->reason),
                         detail.len ? ": " : "", detail.len ? detail.data : "");
    if (!rc)
      rc = (flags & EPINDEX_OPEN_NO_SCAN) ? list_entry(pe) : scan_entry(pe);
  }
  ep_buf_free(&detail);
  return rc;
}

/* Is key present in any path entry before `before`? 1 yes, 0 no, <0 error. */
static int hidden_by_earlier(epindex *ix, size_t before, const char *key,
                             size_t klen) {
  for (size_t j = 0; j < before; j++) {
    path_ent *pe = &ix->ents[j];
    if (pe->ndists <= 0)
      continue;
    if (pe->ix) {
      int r = ep_index_has_key(pe->ix, key, klen);
      if (r)
        return r;
    } else if (pe->nkeys) {
      ep_key k = {key, klen};
      if (bsearch(&k, pe->keys, pe->nkeys, sizeof(*pe->keys), ep_key_cmp))
        return 1;
    }
  }
  return 0;
}

static int demote_to_scan(epindex *ix, size_t i);

/* The one wording of a skipped distribution, for indexes and scans. */
typedef struct problem_msg {
  const char *path;
  ep_strvec *diags;
  size_t *skipped;
} problem_msg;

static int add_problem(void *ctx, const char *metadir, size_t mlen,
                       const char *why, size_t wlen) {
  problem_msg *pm = ctx;
  (*pm->skipped)++;
  return ep_strvec_addf(pm->diags, "%s/%.*s: skipped: %.*s", pm->path,
                        (int)mlen, metadir ? metadir : "?", (int)wlen,
                        why ? why : "?");
}

/* ---- the value rule (importlib.metadata of Python 3.15+) -----------------
 *
 * EntryPoint() validates its value there, so a distribution with a value
 * that is no object reference makes entry_points() raise. Indexes record
 * such distributions whatever the reader's rules (\nbadvalue rows); a
 * reader that applies the rule skips the visible ones as broken. */

#define RULE_WHY_FMT                                                           \
  "entry_points.txt: line %lld: value '%.*s' is not an object reference "      \
  "(importlib.metadata of Python 3.15+ raises)"

typedef struct rule_ctx {
  epindex *ix;
  size_t entry;
} rule_ctx;

static int ruled_index_row(void *ctx, const char *metadir, size_t mlen,
                           const char *key, size_t klen, int64_t line,
                           const char *value, size_t vlen) {
  rule_ctx *rc = ctx;
  path_ent *pe = &rc->ix->ents[rc->entry];
  int h = hidden_by_earlier(rc->ix, rc->entry, key, klen);
  if (h)
    return h < 0 ? h : EPINDEX_OK;
  if (ep_grow(&pe->ruled_out, &pe->nruled_out_cap, pe->nruled_out,
              sizeof(*pe->ruled_out), 4))
    return EPINDEX_ENOMEM;
  /* the row's text lives only during the call: the key is kept in the
   * entry's (otherwise unused) catalog arena, freed with the entry */
  char *k = ep_arena_strndup(&pe->cat.arena, key, klen);
  if (!k)
    return EPINDEX_ENOMEM;
  pe->ruled_out[pe->nruled_out++] = (ep_key){k, klen};
  char why[600];
  snprintf(why, sizeof(why), RULE_WHY_FMT, (long long)line, (int)vlen, value);
  problem_msg pm = {ep_path_or_dot(pe->path), &rc->ix->diags, &rc->ix->skipped};
  return add_problem(&pm, metadir, mlen, why, strlen(why));
}

/* A scan's distributions that the rule makes broken get a problem, which
 * report_problems() then tells as it tells any other. */
static int rule_scanned(epindex *ix, size_t i) {
  path_ent *pe = &ix->ents[i];
  for (size_t d = 0; d < pe->cat.ndists; d++) {
    ep_dist *dist = &pe->cat.dists[d];
    if (!dist->bad_value || !ep_dist_answers(dist))
      continue;
    const ep_entry *e = &pe->cat.entries[dist->first + dist->bad_value - 1];
    char why[600];
    snprintf(why, sizeof(why), RULE_WHY_FMT, (long long)e->line,
             (int)e->value_len, e->value);
    if (!(dist->problem = ep_arena_strndup(&pe->cat.arena, why, strlen(why))))
      return EPINDEX_ENOMEM;
  }
  return EPINDEX_OK;
}

static int apply_value_rule(epindex *ix) {
  for (size_t i = 0; i < ix->n; i++) {
    path_ent *pe = &ix->ents[i];
    int rc = EPINDEX_OK;
    if (pe->ix) {
      rule_ctx c = {ix, i};
      rc = ep_index_bad_values(pe->ix, ruled_index_row, &c);
      if (rc == EPINDEX_EIO) /* a read failed: its directory is scanned */
        rc = demote_to_scan(ix, i);
      else if (rc == EPINDEX_OK && pe->nruled_out > 1)
        qsort(pe->ruled_out, pe->nruled_out, sizeof(*pe->ruled_out),
              ep_key_cmp);
    } else if (pe->source == EPINDEX_SOURCE_SCAN) {
      rc = rule_scanned(ix, i);
    }
    if (rc)
      return rc;
  }
  return EPINDEX_OK;
}

static bool ruled_out(const path_ent *pe, const char *key, size_t klen) {
  ep_key k = {key, klen};
  return pe->nruled_out && bsearch(&k, pe->ruled_out, pe->nruled_out,
                                   sizeof(*pe->ruled_out), ep_key_cmp);
}

/* Problems of scanned entries' visible distributions, in path order. An
 * index whose problem rows cannot be read is scanned instead. */
static int report_problems(epindex *ix) {
  int rc = EPINDEX_OK;
  for (size_t i = 0; i < ix->n && !rc; i++) {
    path_ent *pe = &ix->ents[i];
    problem_msg pm = {ep_path_or_dot(pe->path), &ix->diags, &ix->skipped};
    if (pe->ix) {
      size_t before = ix->diags.len;
      rc = ep_index_problems(pe->ix, add_problem, &pm);
      if (rc != EPINDEX_EIO)
        continue;
      while (ix->diags.len > before)
        free(ix->diags.items[--ix->diags.len]);
      if ((rc = demote_to_scan(ix, i)) != EPINDEX_OK)
        break;
    }
    for (size_t d = 0; d < pe->cat.ndists && !rc; d++) {
      const ep_dist *dist = &pe->cat.dists[d];
      if (!dist->problem || dist->hidden)
        continue;
      int h =
          dist->key ? hidden_by_earlier(ix, i, dist->key, dist->key_len) : 0;
      if (h < 0)
        rc = h;
      else if (!h)
        rc = add_problem(&pm, dist->metadir, strlen(dist->metadir),
                         dist->problem, strlen(dist->problem));
    }
  }
  return rc;
}

int epindex_open(epindex **out, const char *const *paths, size_t npaths,
                 epindex_policy policy, unsigned flags) {
  if (!out)
    return EPINDEX_EINVAL;
  *out = NULL;
  if ((npaths && !paths) || (unsigned)policy > EPINDEX_POLICY_TRUST ||
      (flags & ~(EPINDEX_OPEN_HEAL | EPINDEX_OPEN_USER_CACHE |
                 EPINDEX_OPEN_VALUE_RULE | EPINDEX_OPEN_NO_SCAN)))
    return EPINDEX_EINVAL;
  for (size_t i = 0; i < npaths; i++)
    if (!paths[i])
      return EPINDEX_EINVAL;
  epindex *ix = calloc(1, sizeof(*ix));
  if (!ix)
    return EPINDEX_ENOMEM;
  pthread_mutex_init(&ix->mu, NULL);
  ix->policy = policy;
  ix->ents = calloc(npaths + 1, sizeof(*ix->ents));
  int rc = ix->ents ? EPINDEX_OK : EPINDEX_ENOMEM;
  uid_t me = flags & (EPINDEX_OPEN_HEAL | EPINDEX_OPEN_USER_CACHE) ? geteuid()
                                                                   : (uid_t)-1;
  for (size_t i = 0; i < npaths && !rc; i++) {
    ix->ents[i].path = strdup(paths[i]);
    ix->n = i + 1;
    rc = ix->ents[i].path
             ? judge_entry(&ix->ents[i], policy, flags, me, &ix->diags)
             : EPINDEX_ENOMEM;
  }
  ix->flags = flags;
  if (!rc && (flags & EPINDEX_OPEN_VALUE_RULE))
    rc = apply_value_rule(ix);
  if (!rc)
    rc = report_problems(ix);
  if (rc) {
    epindex_close(ix);
    return rc == EPINDEX_ENOMEM ? rc : EPINDEX_EIO;
  }
  *out = ix;
  return EPINDEX_OK;
}

void epindex_close(epindex *ix) {
  if (!ix)
    return;
  for (size_t i = 0; i < ix->n; i++) {
    free(ix->ents[i].path);
    ep_index_close(ix->ents[i].ix);
    ep_catalog_free(&ix->ents[i].cat);
    free(ix->ents[i].keys);
    free(ix->ents[i].ruled_out);
    ep_catalog_free(&ix->ents[i].view);
  }
  free(ix->ents);
  ep_strvec_free(&ix->diags);
  pthread_mutex_destroy(&ix->mu);
  free(ix);
}

/* The count and the path strings never change after open. A source, a
 * reason and the diagnostics may: a lookup in another thread demotes an
 * index that fails to a scan and adds a diagnostic. They are read under
 * the handle's mutex (a const handle's too: the mutex is not part of its
 * value). A message, once added, stays where it is until the handle is
 * closed, so the pointer returned remains valid. */
static pthread_mutex_t *mu_of(const epindex *ix) {
  return (pthread_mutex_t *)&ix->mu;
}

size_t epindex_path_count(const epindex *ix) { return ix ? ix->n : 0; }

const char *epindex_path_entry(const epindex *ix, size_t i) {
  return ix && i < ix->n ? ix->ents[i].path : NULL;
}

epindex_source epindex_path_source(const epindex *ix, size_t i) {
  if (!ix || i >= ix->n)
    return EPINDEX_SOURCE_NONE;
  pthread_mutex_lock(mu_of(ix));
  epindex_source s = ix->ents[i].source;
  pthread_mutex_unlock(mu_of(ix));
  return s;
}

epindex_reason epindex_path_reason(const epindex *ix, size_t i) {
  if (!ix || i >= ix->n)
    return EPINDEX_REASON_ABSENT;
  pthread_mutex_lock(mu_of(ix));
  epindex_reason r = ix->ents[i].reason;
  pthread_mutex_unlock(mu_of(ix));
  return r;
}

size_t epindex_path_dist_count(const epindex *ix, size_t i) {
  if (!ix || i >= ix->n)
    return 0;
  pthread_mutex_lock(mu_of(ix));
  const path_ent *pe = &ix->ents[i];
  int64_t n =
      pe->ix ? ep_index_ndists(pe->ix) : (int64_t)(pe->cat.ndists + pe->listed);
  pthread_mutex_unlock(mu_of(ix));
  return n > 0 ? (size_t)n : 0;
}

int epindex_path_stamp(const epindex *ix, size_t i, uint64_t *dev,
                       uint64_t *ino, int64_t *mtime_ns) {
  if (!ix || i >= ix->n || !dev || !ino || !mtime_ns)
    return EPINDEX_EINVAL;
  const path_ent *pe = &ix->ents[i]; /* set by open, never changed */
  if (!pe->stamped)
    return EPINDEX_ENOENT;
  *dev = pe->dev;
  *ino = pe->ino;
  *mtime_ns = pe->mtime_ns;
  return EPINDEX_OK;
}

/* Does path entry pe still look as it did when it was opened? */
static bool entry_unchanged(const epindex *ix, const path_ent *pe) {
  struct stat st;
  bool stated;
  stat_dir(ep_path_or_dot(pe->path), &st, &stated);
  if (stated != pe->stamped)
    return false;
  if (stated &&
      ((uint64_t)st.st_dev != pe->dev || (uint64_t)st.st_ino != pe->ino ||
       ep_mtime_ns(&st) != pe->mtime_ns))
    return false;
  return !pe->ix || ix->policy != EPINDEX_POLICY_STAT ||
         ep_index_small_dir_same(pe->ix, ep_path_or_dot(pe->path));
}

int epindex_unchanged(epindex *ix) {
  if (!ix)
    return EPINDEX_EINVAL;
  pthread_mutex_lock(mu_of(ix));
  bool same = true;
  for (size_t i = 0; same && i < ix->n; i++)
    same = entry_unchanged(ix, &ix->ents[i]);
  pthread_mutex_unlock(mu_of(ix));
  return same;
}

size_t epindex_skipped_count(const epindex *ix) {
  if (!ix)
    return 0;
  pthread_mutex_lock(mu_of(ix));
  size_t n = ix->skipped;
  pthread_mutex_unlock(mu_of(ix));
  return n;
}

size_t epindex_diag_count(const epindex *ix) {
  if (!ix)
    return 0;
  pthread_mutex_lock(mu_of(ix));
  size_t n = ix->diags.len;
  pthread_mutex_unlock(mu_of(ix));
  return n;
}

const char *epindex_diag_message(const epindex *ix, size_t i) {
  if (!ix)
    return NULL;
  pthread_mutex_lock(mu_of(ix));
  const char *m = i < ix->diags.len ? ix->diags.items[i] : NULL;
  pthread_mutex_unlock(mu_of(ix));
  return m;
}

/* ---- results
 * ---------------------------------------------------------------------- */

#define NFIELDS 7

typedef struct result_row {
  const char *f[NFIELDS];
  uint32_t len[NFIELDS];
  size_t path_index;
} result_row;

struct epindex_result {
  ep_arena arena;
  result_row *rows;
  size_t n, cap;
};

/* A field's copy: prev's (the previous row's same field) when it has the
 * same bytes, else a new one in arena. */
static const char *field_copy(ep_arena *arena, const char *s, size_t n,
                              const char *prev, uint32_t prev_len) {
  if (prev && prev_len == n && memcmp(prev, s, n) == 0)
    return prev;
  return ep_arena_strndup(arena, s, n);
}

/* Copy n counted fields into arena (NULL stays NULL), except field path_k:
 * rows of one path entry share one copy of the path, made at the first row
 * and kept in *shared_path. A field equal to the same field of the row
 * before (prev_f/prev_len, NULL for none) shares its copy: the rows of a
 * group lookup share their group, and those of a distribution its name,
 * version and metadata directory, so a result of hundreds of rows stays
 * small enough for malloc to keep between lookups instead of handing it
 * back to the kernel and faulting it in again. For results and
 * distribution lists alike. */
static int copy_fields(ep_arena *arena, const char *const *f, const size_t *len,
                       int n, int path_k, const char **shared_path,
                       const char *const *prev_f, const uint32_t *prev_len,
                       const char **out_f, uint32_t *out_len) {
  if (!*shared_path &&
      !(*shared_path = ep_arena_strndup(arena, f[path_k], len[path_k])))
    return EPINDEX_ENOMEM;
  for (int k = 0; k < n; k++) {
    out_f[k] = NULL;
    out_len[k] = 0;
    if (!f[k])
      continue;
    if (len[k] > UINT32_MAX)
      return EPINDEX_ENOMEM;
    out_len[k] = (uint32_t)len[k];
    out_f[k] = k == path_k
                   ? *shared_path
                   : field_copy(arena, f[k], len[k], prev_f ? prev_f[k] : NULL,
                                prev_len ? prev_len[k] : 0);
    if (!out_f[k])
      return EPINDEX_ENOMEM;
  }
  return EPINDEX_OK;
}

/* Append a row, its strings copied into the result's arena. */
static int result_add(epindex_result *r, const char *const f[NFIELDS],
                      const size_t len[NFIELDS], size_t path_index,
                      const char **shared_path) {
  if (ep_grow(&r->rows, &r->cap, r->n, sizeof(*r->rows), 64))
    return EPINDEX_ENOMEM;
  result_row *row = &r->rows[r->n];
  const result_row *prev = r->n ? row - 1 : NULL;
  int rc = copy_fields(&r->arena, f, len, NFIELDS, EPINDEX_FIELD_PATH,
                       shared_path, prev ? prev->f : NULL,
                       prev ? prev->len : NULL, row->f, row->len);
  if (rc)
    return rc;
  row->path_index = path_index;
  r->n++;
  return EPINDEX_OK;
}

size_t epindex_result_count(const epindex_result *r) { return r ? r->n : 0; }

const char *epindex_result_get(const epindex_result *r, size_t i,
                               epindex_field f, size_t *len) {
  if (len)
    *len = 0;
  if (!r || i >= r->n || (unsigned)f >= NFIELDS)
    return NULL;
  if (len)
    *len = r->rows[i].len[f];
  return r->rows[i].f[f];
}

size_t epindex_result_path_index(const epindex_result *r, size_t i) {
  return r && i < r->n ? r->rows[i].path_index : SIZE_MAX;
}

void epindex_result_free(epindex_result *r) {
  if (!r)
    return;
  ep_arena_free(&r->arena);
  free(r->rows);
  free(r);
}

/* ---- lookups
 * ---------------------------------------------------------------------- */

typedef struct lookup_ctx {
  epindex *ix;
  epindex_result *res;
  size_t entry;
  bool may_be_hidden;       /* some earlier path entry holds distributions */
  const char *path_copy;    /* this entry's path in res, once copied */
  const char *group, *name; /* the query (NULL: any), counted */
  size_t glen, nlen;
  const char *last_key; /* precedence answer cache: rows come by dist */
  size_t last_len;
  int last_hidden;
  ep_buf key_copy;
} lookup_ctx;

static int visible(lookup_ctx *lc, const char *key, size_t klen) {
  if (!lc->may_be_hidden)
    return 1;
  if (lc->last_key && lc->last_len == klen &&
      memcmp(lc->last_key, key, klen) == 0)
    return !lc->last_hidden;
  int h = hidden_by_earlier(lc->ix, lc->entry, key, klen);
  if (h < 0)
    return h;
  lc->key_copy.len = 0;
  if (ep_buf_append(&lc->key_copy, key, klen))
    return EPINDEX_ENOMEM;
  lc->last_key = lc->key_copy.data;
  lc->last_len = klen;
  lc->last_hidden = h;
  return !h;
}

static int add_index_row(void *ctx, const ep_row *r) {
  lookup_ctx *lc = ctx;
  if (ruled_out(&lc->ix->ents[lc->entry], r->f[EP_COL_KEY], r->n[EP_COL_KEY]))
    return EPINDEX_OK;
  int v = visible(lc, r->f[EP_COL_KEY], r->n[EP_COL_KEY]);
  if (v <= 0)
    return v;
  const char *path = lc->ix->ents[lc->entry].path;
  const char *f[NFIELDS] = {r->grp,
                            r->f[EP_COL_NAME],
                            r->f[EP_COL_VALUE],
                            r->f[EP_COL_DNAME],
                            r->f[EP_COL_DVERSION],
                            path,
                            r->f[EP_COL_METADIR]};
  size_t len[NFIELDS] = {r->glen,
                         r->n[EP_COL_NAME],
                         r->n[EP_COL_VALUE],
                         r->n[EP_COL_DNAME],
                         r->n[EP_COL_DVERSION],
                         strlen(path),
                         r->n[EP_COL_METADIR]};
  return result_add(lc->res, f, len, lc->entry, &lc->path_copy);
}

static int add_catalog_entry(lookup_ctx *lc, const ep_entry *e) {
  const path_ent *pe = &lc->ix->ents[lc->entry];
  const ep_dist *d = &pe->cat.dists[e->dist];
  if (!ep_dist_answers(d))
    return EPINDEX_OK;
  if (lc->name &&
      (e->name_len != lc->nlen || memcmp(e->name, lc->name, e->name_len) != 0))
    return EPINDEX_OK; /* by length: a name may hold a NUL */
  int v = visible(lc, d->key, d->key_len);
  if (v <= 0)
    return v;
  const char *f[NFIELDS] = {e->group,   e->name,  e->value,  d->name,
                            d->version, pe->path, d->metadir};
  size_t len[NFIELDS] = {e->group_len,      e->name_len,    e->value_len,
                         d->name_len,       d->version_len, strlen(pe->path),
                         strlen(d->metadir)};
  return result_add(lc->res, f, len, lc->entry, &lc->path_copy);
}

static int lookup_catalog(lookup_ctx *lc) {
  const ep_catalog *c = &lc->ix->ents[lc->entry].cat;
  int rc = EPINDEX_OK;
  if (!lc->group) {
    for (size_t i = 0; i < c->nentries && !rc; i++)
      rc = add_catalog_entry(lc, &c->entries[i]);
    return rc;
  }
  size_t lo, hi;
  ep_catalog_group_range(c, lc->group, lc->glen, &lo, &hi);
  for (size_t i = lo; i < hi && !rc; i++)
    rc = add_catalog_entry(lc, &c->entries[c->by_group[i]]);
  return rc;
}

/* An index that fails mid-lookup is damaged: scan that entry instead and
 * answer from the scan (never a partial answer). */
static int lookup_once(epindex *ix, const ep_key *group, const ep_key *name,
                       epindex_result *res, size_t *failed) {
  lookup_ctx lc = {.ix = ix,
                   .res = res,
                   .group = group->s,
                   .glen = group->n,
                   .name = name->s,
                   .nlen = name->n};
  int rc = EPINDEX_OK;
  for (size_t i = 0; i < ix->n && !rc; i++) {
    lc.entry = i;
    lc.last_key = NULL;
    lc.may_be_hidden =
        lc.may_be_hidden || (i > 0 && ix->ents[i - 1].ndists > 0);
    lc.path_copy = NULL;
    if (ix->ents[i].ix) { /* the directory's index, or the user's cache */
      rc = ep_index_lookup(ix->ents[i].ix, lc.group, lc.glen, lc.name, lc.nlen,
                           add_index_row, &lc);
      if (rc == EPINDEX_EIO)
        *failed = i;
    } else if (ix->ents[i].source == EPINDEX_SOURCE_SCAN) {
      rc = lookup_catalog(&lc);
    }
  }
  ep_buf_free(&lc.key_copy);
  return rc;
}

static int demote_to_scan(epindex *ix, size_t i) {
  path_ent *pe = &ix->ents[i];
  ep_index_close(pe->ix);
  pe->ix = NULL;
  pe->reason = EPINDEX_REASON_DAMAGED;
  int rc = ep_strvec_addf(&ix->diags, "%s: index not used: %s",
                          ep_path_or_dot(pe->path),
                          "index is damaged (a read failed)");
  ep_catalog_free(&pe->view);
  pe->viewed = false;
  free(pe->ruled_out); /* its keys live in the arena scan_entry frees */
  pe->ruled_out = NULL;
  pe->nruled_out = pe->nruled_out_cap = 0;
  if (!rc)
    rc = scan_entry(pe);
  /* told once already, from the index: marked, not told again */
  if (!rc && (ix->flags & EPINDEX_OPEN_VALUE_RULE))
    rc = rule_scanned(ix, i);
  return rc;
}

/* One pass over the path entries; on EPINDEX_EIO, *failed names the entry
 * whose index failed (SIZE_MAX: none did). */
typedef int (*attempt_fn)(epindex *ix, void *job, size_t *failed);

/* Run once until no index fails mid-way: each failing one is demoted to a
 * scan and the pass starts again (at most once per path entry), so that an
 * answer is never partial. Called with the handle's mutex held. */
static int until_settled(epindex *ix, attempt_fn once, void *job) {
  int rc = EPINDEX_EIO;
  for (size_t attempt = 0; attempt <= ix->n && rc == EPINDEX_EIO; attempt++) {
    size_t failed = SIZE_MAX;
    rc = once(ix, job, &failed);
    if (rc == EPINDEX_EIO && failed != SIZE_MAX) {
      int d = demote_to_scan(ix, failed);
      if (d)
        rc = d;
    } else if (rc == EPINDEX_EIO) {
      break;
    }
  }
  return rc;
}

typedef struct lookup_job {
  const ep_key *group, *name;
  epindex_result *res;
} lookup_job;

static int lookup_attempt(epindex *ix, void *job, size_t *failed) {
  lookup_job *j = job;
  j->res->n = 0;
  return lookup_once(ix, j->group, j->name, j->res, failed);
}

int epindex_lookup(epindex *ix, const char *group, const char *name,
                   epindex_result **out) {
  return epindex_lookup_n(ix, group, group ? strlen(group) : 0, name,
                          name ? strlen(name) : 0, out);
}

int epindex_lookup_n(epindex *ix, const char *group, size_t group_len,
                     const char *name, size_t name_len, epindex_result **out) {
  if (!out)
    return EPINDEX_EINVAL;
  *out = NULL;
  if (!ix)
    return EPINDEX_EINVAL;
  ep_key g = {group, group ? group_len : 0}, n = {name, name ? name_len : 0};
  epindex_result *res = calloc(1, sizeof(*res));
  if (!res)
    return EPINDEX_ENOMEM;
  lookup_job job = {&g, &n, res};
  pthread_mutex_lock(&ix->mu);
  int rc = until_settled(ix, lookup_attempt, &job);
  pthread_mutex_unlock(&ix->mu);
  if (rc) {
    epindex_result_free(res);
    return rc;
  }
  *out = res;
  return EPINDEX_OK;
}

/* ---- distributions
 * ---------------------------------------------------------------- */

#define DIST_NFIELDS 5

/* A distribution of a list, all its fields at hand. */
typedef struct dist_row {
  const char *f[DIST_NFIELDS];
  uint32_t len[DIST_NFIELDS];
  size_t path_index;
  int64_t ord; /* its place in its path entry: finds its entry points */
  unsigned flags;
  uint32_t nentries; /* with EPINDEX_DIST_ENTRY_POINTS */
} dist_row;

/* A distribution as a list keeps it: borrowed, the place of its row in a
 * lookup table the list holds, read again when asked (16 bytes, where a
 * dist_row is 88: a plugin host lists every distribution of the path in
 * every process, and fresh memory is much of what that costs); or a
 * dist_row of the list's arena (a scan's, index.db's). */
typedef struct dist_ent {
  const void *p; /* the row's bytes in the table, or a dist_row */
  uint32_t path_index;
  uint16_t flags;    /* EPINDEX_DIST_* */
  uint16_t borrowed; /* p is a table row */
} dist_ent;

/* What a list knows of a path entry: its path, and the table its borrowed
 * rows are in. */
typedef struct dists_path {
  const char *path;
  uint32_t len;
  const ep_mapping *table;
} dists_path;

struct epindex_dists {
  ep_arena arena;
  dist_ent *rows;
  size_t n, cap;
  dists_path *paths; /* by path index (npaths: the handle's entries) */
  size_t npaths;
  ep_mapping **tables; /* held: borrowed rows are in them */
  size_t ntables, cap_tables;
};

/* Hold a table whose rows the list will point into. */
static int dists_hold(epindex_dists *d, ep_mapping *m) {
  if (ep_grow(&d->tables, &d->cap_tables, d->ntables, sizeof(*d->tables), 4)) {
    ep_mapping_release(m);
    return EPINDEX_ENOMEM;
  }
  d->tables[d->ntables++] = m;
  return EPINDEX_OK;
}

/* The path of entry path_index, copied once per list. */
static int dists_path_of(epindex_dists *d, size_t path_index, const char *path,
                         const ep_mapping *table) {
  dists_path *dp = &d->paths[path_index];
  if (dp->path)
    return EPINDEX_OK;
  size_t len = strlen(path);
  if (len > UINT32_MAX || !(dp->path = ep_arena_strndup(&d->arena, path, len)))
    return EPINDEX_ENOMEM;
  dp->len = (uint32_t)len;
  dp->table = table;
  return EPINDEX_OK;
}

/* Append a distribution: where its row is in a table the list holds (at),
 * or its fields copied (at NULL). */
static int dists_add(epindex_dists *d, const unsigned char *at,
                     const char *const f[DIST_NFIELDS],
                     const size_t len[DIST_NFIELDS], size_t path_index,
                     int64_t ord, unsigned flags, uint32_t nentries) {
  if (path_index > UINT32_MAX || flags > UINT16_MAX ||
      ep_grow(&d->rows, &d->cap, d->n, sizeof(*d->rows), 64))
    return EPINDEX_ENOMEM;
  dist_ent *e = &d->rows[d->n];
  *e = (dist_ent){at, (uint32_t)path_index, (uint16_t)flags, at != NULL};
  if (!at) {
    dist_row *row = ep_arena_alloc(&d->arena, sizeof(*row));
    const char *path = d->paths[path_index].path;
    if (!row || copy_fields(&d->arena, f, len, DIST_NFIELDS, EPINDEX_DIST_PATH,
                            &path, NULL, NULL, row->f, row->len))
      return EPINDEX_ENOMEM;
    row->path_index = path_index;
    row->ord = ord;
    row->flags = flags;
    row->nentries = flags & EPINDEX_DIST_ENTRY_POINTS ? nentries : 0;
    e->p = row;
  }
  d->n++;
  return EPINDEX_OK;
}

/* Distribution i of the list with all its fields (false: its row no longer
 * reads as it did, a table changed in place; out is then empty). */
static bool dist_view(const epindex_dists *d, size_t i, dist_row *out) {
  const dist_ent *e = &d->rows[i];
  if (!e->borrowed) {
    *out = *(const dist_row *)e->p;
    return true;
  }
  *out = (dist_row){.path_index = e->path_index, .flags = e->flags};
  const dists_path *dp = &d->paths[e->path_index];
  ep_row r;
  if (ep_lookup_row_at(e->p, dp->table, &r) != 1)
    return false;
  static const int col[DIST_NFIELDS - 1] = {EP_COL_METADIR, EP_COL_DNAME,
                                            EP_COL_DVERSION, EP_COL_KEY};
  for (int k = 0; k < DIST_NFIELDS - 1; k++) {
    out->f[k] = r.f[col[k]];
    out->len[k] = (uint32_t)r.n[col[k]];
  }
  out->f[EPINDEX_DIST_PATH] = dp->path;
  out->len[EPINDEX_DIST_PATH] = dp->len;
  out->ord = r.ord;
  out->nentries =
      e->flags & EPINDEX_DIST_ENTRY_POINTS ? (uint32_t)(r.line >> 8) : 0;
  return true;
}

/* The query as importlib.metadata's Prepared holds it, and where a pass
 * over the path entries is. */
typedef struct dists_job {
  epindex_dists *out;
  bool all;           /* no name, or "" (Prepared("") is false) */
  ep_buf grp;         /* EP_GRP_NAME + Prepared.normalize(name) */
  ep_buf legacy, egg; /* Prepared.legacy_normalize(name); a path's key */
  epindex *ix;
  size_t entry;
  const ep_mapping *table; /* the rows come from this table, the list's */
} dists_job;

/* Entry points are known for a distribution that answers with them
 * (ep_dist_answers), unless the reader's value rule breaks it. */
static unsigned dist_flags_of(bool file, bool answers, bool bad_value,
                              unsigned open_flags) {
  if (bad_value && (open_flags & EPINDEX_OPEN_VALUE_RULE))
    answers = false;
  return (answers ? EPINDEX_DIST_ENTRY_POINTS : 0u) |
         (file ? EPINDEX_DIST_FILE : 0u);
}

static int dists_add_job(dists_job *j, const unsigned char *at,
                         const char *metadir, size_t mlen, const char *name,
                         size_t nlen, const char *version, size_t vlen,
                         const char *key, size_t klen, int64_t ord,
                         unsigned flags, uint32_t nentries) {
  const char *path = j->ix->ents[j->entry].path;
  const char *f[DIST_NFIELDS] = {metadir, name, version, key, path};
  size_t len[DIST_NFIELDS] = {mlen, nlen, vlen, klen, strlen(path)};
  int rc = dists_path_of(j->out, j->entry, path, j->table);
  return rc ? rc
            : dists_add(j->out, j->table ? at : NULL, f, len, j->entry, ord,
                        flags, nentries);
}

/* A \ndist, \nname\n or \negg row (ep_index_dist_rows). */
static int add_dist_row(void *ctx, const ep_row *r) {
  dists_job *j = ctx;
  const unsigned text = (1u << EP_COL_NAME) | (1u << EP_COL_METADIR) |
                        (1u << EP_COL_DNAME) | (1u << EP_COL_DVERSION) |
                        (1u << EP_COL_KEY);
  if (!r->f[EP_COL_METADIR] || (r->ints & text) || (r->line & 3) > 2)
    return EPINDEX_EIO; /* a hostile or damaged index */
  bool answers = !(r->line & 4) && !r->f[EP_COL_NAME] && r->f[EP_COL_KEY];
  unsigned flags = dist_flags_of((r->line & 3) == EP_KIND_FILE, answers,
                                 (r->line & 16) != 0, j->ix->flags);
  return dists_add_job(j, r->at, r->f[EP_COL_METADIR], r->n[EP_COL_METADIR],
                       r->f[EP_COL_DNAME], r->n[EP_COL_DNAME],
                       r->f[EP_COL_DVERSION], r->n[EP_COL_DVERSION],
                       r->f[EP_COL_KEY], r->n[EP_COL_KEY], r->ord, flags,
                       (uint32_t)(r->line >> 8));
}

/* Does the path entry's EGG-INFO answer to the name asked? */
static int egg_matches(dists_job *j, const char *path, bool *yes) {
  *yes = false;
  if (!ep_path_is_egg(path))
    return EPINDEX_OK;
  int rc = ep_egg_lookup_key(path, &j->egg);
  *yes = !rc && ep_bytes_cmp(j->egg.data, j->egg.len, j->legacy.data,
                             j->legacy.len) == 0;
  return rc;
}

static int dists_of_index(dists_job *j, path_ent *pe) {
  ep_mapping *table = ep_index_share_table(pe->ix);
  int held = table ? dists_hold(j->out, table) : EPINDEX_OK;
  if (held)
    return held;
  j->table = table;
  if (j->all)
    return ep_index_dist_rows(pe->ix, EP_GRP_DIST, strlen(EP_GRP_DIST),
                              add_dist_row, j);
  int rc = ep_index_dist_rows(pe->ix, j->grp.data, j->grp.len, add_dist_row, j);
  bool egg;
  if (!rc && !(rc = egg_matches(j, pe->path, &egg)) && egg)
    rc = ep_index_dist_rows(pe->ix, EP_GRP_EGG, strlen(EP_GRP_EGG),
                            add_dist_row, j);
  return rc;
}

/* Does a scanned distribution answer to the name asked? */
static int scanned_matches(dists_job *j, const path_ent *pe, const ep_dist *d,
                           bool *yes) {
  if (j->all) {
    *yes = true;
    return EPINDEX_OK;
  }
  if (d->kind == EP_KIND_EGG)
    return egg_matches(j, pe->path, yes);
  char *key = ep_lookup_key(d->metadir);
  size_t plen = strlen(EP_GRP_NAME);
  if (!key)
    return EPINDEX_ENOMEM;
  *yes = ep_bytes_cmp(key, strlen(key), j->grp.data + plen,
                      j->grp.len - plen) == 0;
  free(key);
  return EPINDEX_OK;
}

static int dists_of_catalog(dists_job *j, const path_ent *pe) {
  int rc = EPINDEX_OK;
  for (size_t i = 0; i < pe->cat.ndists && !rc; i++) {
    const ep_dist *d = &pe->cat.dists[i];
    bool yes;
    if ((rc = scanned_matches(j, pe, d, &yes)) != EPINDEX_OK || !yes)
      continue;
    unsigned flags = dist_flags_of(d->kind == EP_KIND_FILE, ep_dist_answers(d),
                                   d->bad_value != 0, j->ix->flags);
    rc = dists_add_job(j, NULL, d->metadir, strlen(d->metadir), d->name,
                       d->name_len, d->version, d->version_len, d->key,
                       d->key_len, d->ord, flags, (uint32_t)d->count);
  }
  return rc;
}

/* Room for every distribution of the path at once: the list of all is
 * made in one allocation, not by doubling (a plugin host asks for it in
 * every process). */
static int dists_reserve_all(dists_job *j) {
  size_t total = 0;
  for (size_t i = 0; i < j->ix->n; i++) {
    const path_ent *pe = &j->ix->ents[i];
    total += pe->ix ? (size_t)ep_index_ndists(pe->ix) : pe->cat.ndists;
  }
  epindex_dists *d = j->out;
  return ep_grow(&d->rows, &d->cap, d->n, sizeof(*d->rows), total ? total : 1);
}

static int dists_attempt(epindex *ix, void *job, size_t *failed) {
  dists_job *j = job;
  j->out->n = 0;
  memset(j->out->paths, 0, j->out->npaths * sizeof(*j->out->paths));
  int rc = j->all ? dists_reserve_all(j) : EPINDEX_OK;
  for (size_t i = 0; i < ix->n && !rc; i++) {
    path_ent *pe = &ix->ents[i];
    j->entry = i;
    j->table = NULL;
    if (pe->ix) {
      if ((rc = dists_of_index(j, pe)) == EPINDEX_EIO)
        *failed = i;
    } else if (pe->source == EPINDEX_SOURCE_SCAN) {
      rc = dists_of_catalog(j, pe);
    }
  }
  return rc;
}

static int prepare_name(dists_job *j, const char *name, size_t len) {
  ep_buf norm = {0};
  int rc = ep_normalize(&norm, name, len);
  rc = rc ? rc : ep_buf_append(&j->grp, EP_GRP_NAME, strlen(EP_GRP_NAME));
  rc = rc ? rc : ep_buf_append(&j->grp, norm.data, norm.len);
  rc = rc ? rc : ep_legacy_normalize(&j->legacy, name, len);
  ep_buf_free(&norm);
  return rc;
}

int epindex_distributions(epindex *ix, const char *name, size_t name_len,
                          epindex_dists **out) {
  if (!out)
    return EPINDEX_EINVAL;
  *out = NULL;
  if (!ix)
    return EPINDEX_EINVAL;
  dists_job j = {.ix = ix, .all = !name || name_len == 0};
  if (!(j.out = calloc(1, sizeof(*j.out))) ||
      !(j.out->paths = calloc(ix->n ? ix->n : 1, sizeof(*j.out->paths)))) {
    epindex_dists_free(j.out);
    return EPINDEX_ENOMEM;
  }
  j.out->npaths = ix->n;
  int rc = j.all ? EPINDEX_OK : prepare_name(&j, name, name_len);
  if (!rc) {
    pthread_mutex_lock(&ix->mu);
    rc = until_settled(ix, dists_attempt, &j);
    pthread_mutex_unlock(&ix->mu);
  }
  ep_buf_free(&j.grp);
  ep_buf_free(&j.legacy);
  ep_buf_free(&j.egg);
  if (rc) {
    epindex_dists_free(j.out);
    return rc;
  }
  *out = j.out;
  return EPINDEX_OK;
}

size_t epindex_dists_count(const epindex_dists *d) { return d ? d->n : 0; }

const char *epindex_dists_get(const epindex_dists *d, size_t i,
                              epindex_dist_field f, size_t *len) {
  if (len)
    *len = 0;
  dist_row row;
  if (!d || i >= d->n || (unsigned)f >= DIST_NFIELDS || !dist_view(d, i, &row))
    return NULL;
  if (len)
    *len = row.len[f];
  return row.f[f];
}

size_t epindex_dists_path_index(const epindex_dists *d, size_t i) {
  return d && i < d->n ? d->rows[i].path_index : SIZE_MAX;
}

unsigned epindex_dists_flags(const epindex_dists *d, size_t i) {
  return d && i < d->n ? d->rows[i].flags : 0;
}

size_t epindex_dists_entry_count(const epindex_dists *d, size_t i) {
  dist_row row;
  return d && i < d->n && dist_view(d, i, &row) ? row.nentries : 0;
}

void epindex_dists_free(epindex_dists *d) {
  if (!d)
    return;
  ep_arena_free(&d->arena);
  free(d->rows);
  free(d->paths);
  for (size_t i = 0; i < d->ntables; i++)
    ep_mapping_release(d->tables[i]);
  free(d->tables);
  free(d);
}

/* The catalog holding a path entry's distributions with their entry
 * points: the scan's, or the index's, loaded once. */
static int catalog_with_entries(path_ent *pe, const ep_catalog **out) {
  *out = NULL;
  if (pe->ix && !pe->viewed) {
    ep_catalog_free(&pe->view);
    int rc = ep_index_load_view(pe->ix, &pe->view);
    if (rc)
      return rc;
    pe->viewed = true;
  }
  if (pe->ix)
    *out = &pe->view;
  else if (pe->source == EPINDEX_SOURCE_SCAN)
    *out = &pe->cat;
  return EPINDEX_OK;
}

/* The distribution of a catalog at ord with this metadata entry (dists
 * are in ord order), or NULL. */
static const ep_dist *dist_at(const ep_catalog *c, int64_t ord,
                              const char *metadir, size_t mlen) {
  size_t lo = 0, hi = c->ndists;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (c->dists[mid].ord < ord)
      lo = mid + 1;
    else
      hi = mid;
  }
  if (lo == c->ndists || c->dists[lo].ord != ord)
    return NULL;
  const ep_dist *d = &c->dists[lo];
  return strlen(d->metadir) == mlen && memcmp(d->metadir, metadir, mlen) == 0
             ? d
             : NULL;
}

typedef struct entries_job {
  const dist_row *row;
  const char *path; /* its path entry's */
  const char *path_copy;
  epindex_result *res;
} entries_job;

/* An entry row of the table at the distribution's ord: its own, or (the
 * index was replaced since the list was made) another's: then ENOENT, and
 * the caller reads the file. */
static int add_table_entry(void *ctx, const ep_row *r) {
  entries_job *j = ctx;
  const dist_row *d = j->row;
  size_t mlen = d->len[EPINDEX_DIST_METADIR];
  if (!r->f[EP_COL_NAME] || !r->f[EP_COL_VALUE] || !r->f[EP_COL_METADIR])
    return EPINDEX_EIO;
  if (r->n[EP_COL_METADIR] != mlen ||
      memcmp(r->f[EP_COL_METADIR], d->f[EPINDEX_DIST_METADIR], mlen) != 0)
    return EPINDEX_ENOENT;
  const char *f[NFIELDS] = {r->grp,
                            r->f[EP_COL_NAME],
                            r->f[EP_COL_VALUE],
                            d->f[EPINDEX_DIST_NAME],
                            d->f[EPINDEX_DIST_VERSION],
                            j->path,
                            d->f[EPINDEX_DIST_METADIR]};
  size_t len[NFIELDS] = {r->glen,
                         r->n[EP_COL_NAME],
                         r->n[EP_COL_VALUE],
                         d->len[EPINDEX_DIST_NAME],
                         d->len[EPINDEX_DIST_VERSION],
                         strlen(j->path),
                         mlen};
  return result_add(j->res, f, len, d->path_index, &j->path_copy);
}

static int entries_from_table(entries_job *j, path_ent *pe) {
  epindex_result *r = j->res; /* sized once: it is asked for every dist */
  size_t want = j->row->nentries ? j->row->nentries : 1;
  if (ep_grow(&r->rows, &r->cap, r->n, sizeof(*r->rows), want))
    return EPINDEX_ENOMEM;
  int rc = ep_index_entries_at(pe->ix, j->row->ord, add_table_entry, j);
  if (!rc && j->res->n != j->row->nentries)
    rc = EPINDEX_ENOENT; /* not the distribution the list was made from */
  return rc;
}

/* Its entry points from the catalog: the scan's, or index.db's loaded. */
static int entries_from_catalog(entries_job *j, path_ent *pe) {
  const ep_catalog *c;
  int rc = catalog_with_entries(pe, &c);
  if (rc)
    return rc;
  const ep_dist *d =
      c ? dist_at(c, j->row->ord, j->row->f[EPINDEX_DIST_METADIR],
                  j->row->len[EPINDEX_DIST_METADIR])
        : NULL;
  if (!d || !ep_dist_answers(d))
    return EPINDEX_ENOENT;
  for (size_t k = 0; k < d->count && !rc; k++) {
    const ep_entry *e = &c->entries[d->first + k];
    const char *f[NFIELDS] = {e->group,   e->name,  e->value,  d->name,
                              d->version, pe->path, d->metadir};
    size_t len[NFIELDS] = {e->group_len,      e->name_len,    e->value_len,
                           d->name_len,       d->version_len, strlen(pe->path),
                           strlen(d->metadir)};
    rc = result_add(j->res, f, len, j->row->path_index, &j->path_copy);
  }
  return rc;
}

static int entries_attempt(epindex *ix, void *job, size_t *failed) {
  entries_job *j = job;
  path_ent *pe = &ix->ents[j->row->path_index];
  j->res->n = 0;
  j->path = pe->path;
  j->path_copy = NULL;
  int rc = pe->ix && ep_index_has_table(pe->ix) ? entries_from_table(j, pe)
                                                : entries_from_catalog(j, pe);
  if (rc == EPINDEX_EIO)
    *failed = j->row->path_index;
  return rc;
}

int epindex_dists_entry_points(epindex *ix, const epindex_dists *d, size_t i,
                               epindex_result **out) {
  if (!out)
    return EPINDEX_EINVAL;
  *out = NULL;
  if (!ix || !d || i >= d->n || d->rows[i].path_index >= ix->n)
    return EPINDEX_EINVAL;
  dist_row row;
  if (!(d->rows[i].flags & EPINDEX_DIST_ENTRY_POINTS) || !dist_view(d, i, &row))
    return EPINDEX_ENOENT;
  entries_job j = {.row = &row, .res = calloc(1, sizeof(epindex_result))};
  if (!j.res)
    return EPINDEX_ENOMEM;
  pthread_mutex_lock(&ix->mu);
  int rc = until_settled(ix, entries_attempt, &j);
  pthread_mutex_unlock(&ix->mu);
  if (rc) {
    epindex_result_free(j.res);
    return rc;
  }
  *out = j.res;
  return EPINDEX_OK;
}

/* ---- dirinfo
 * -------------------------------------------------------------------- */

struct epindex_dirinfo {
  epindex_reason reason;
  ep_buf detail;
  ep_strvec keys, values;
};

int epindex_inspect(const char *dir, epindex_policy policy,
                    epindex_dirinfo **out) {
  if (!out)
    return EPINDEX_EINVAL;
  *out = NULL;
  if (!dir)
    return EPINDEX_EINVAL;
  epindex_dirinfo *d = calloc(1, sizeof(*d));
  if (!d)
    return EPINDEX_ENOMEM;
  int rc = EPINDEX_OK;
  const char *p = ep_path_or_dot(dir);
  struct stat st;
  int err = stat_dir(p, &st, NULL);
  if (err) {
    d->reason = err == ENOTDIR ? EPINDEX_REASON_NOT_DIR : EPINDEX_REASON_ABSENT;
    ep_buf_appendf(&d->detail, "%s", strerror(err));
  } else {
    ep_index *ix = NULL, *raw = NULL;
    epindex_reason raw_reason;
    rc = ep_index_open(p, &st, policy, &ix, &d->reason, &d->detail);
    ep_index_close(ix);
    int fd = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int idxfd = fd < 0
                    ? -1
                    : openat(fd, EPINDEX_INDEX_DIR,
                             O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (!rc && idxfd >= 0)
      rc = ep_index_open_raw(idxfd, st.st_uid, &raw, &raw_reason);
    if (idxfd >= 0)
      close(idxfd);
    if (!rc && raw)
      rc = ep_index_meta(raw, &d->keys, &d->values);
    ep_index_close(raw);
    if (fd >= 0)
      close(fd);
  }
  if (!d->detail.data)
    rc = rc ? rc : ep_buf_append(&d->detail, "", 0);
  if (rc) {
    epindex_dirinfo_free(d);
    return rc == EPINDEX_ENOMEM ? rc : EPINDEX_EIO;
  }
  *out = d;
  return EPINDEX_OK;
}

epindex_reason epindex_dirinfo_reason(const epindex_dirinfo *d) {
  return d ? d->reason : EPINDEX_REASON_ABSENT;
}
const char *epindex_dirinfo_detail(const epindex_dirinfo *d) {
  return d && d->detail.data ? d->detail.data : "";
}
size_t epindex_dirinfo_count(const epindex_dirinfo *d) {
  return d ? d->keys.len : 0;
}
const char *epindex_dirinfo_key(const epindex_dirinfo *d, size_t i) {
  return d && i < d->keys.len ? d->keys.items[i] : NULL;
}
const char *epindex_dirinfo_value(const epindex_dirinfo *d, size_t i) {
  return d && i < d->values.len ? d->values.items[i] : NULL;
}
void epindex_dirinfo_free(epindex_dirinfo *d) {
  if (!d)
    return;
  ep_buf_free(&d->detail);
  ep_strvec_free(&d->keys);
  ep_strvec_free(&d->values);
  free(d);
}
