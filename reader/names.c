/*
 * names.c -- the names and texts of result codes, reasons, policies and
 * sources (the public epindex_*_name() functions). The lowest module: every
 * other one may use them, none is used here.
 */
#include "epindex.h"

#include <string.h>

/* ---- names of codes
 * ---------------------------------------------------------- */

int epindex_libversion_number(void) { return EPINDEX_VERSION_NUMBER; }
const char *epindex_libversion(void) { return EPINDEX_VERSION_STRING; }

const char *epindex_strerror(int code) {
  switch (code) {
#define EPINDEX_STR_(name, c, text)                                            \
  case c:                                                                      \
    return text;
    EPINDEX_ERRNO_MAP(EPINDEX_STR_)
#undef EPINDEX_STR_
  default:
    return "unknown error";
  }
}

const char *epindex_err_name(int code) {
  switch (code) {
#define EPINDEX_NAME_(name, c, text)                                           \
  case c:                                                                      \
    return #name;
    EPINDEX_ERRNO_MAP(EPINDEX_NAME_)
#undef EPINDEX_NAME_
  default:
    return "UNKNOWN";
  }
}

static const char *const reason_texts[] = {
#define EPINDEX_RT_(name, text) text,
    EPINDEX_REASON_MAP(EPINDEX_RT_)
#undef EPINDEX_RT_
};

#define REASON_COUNT (sizeof(reason_texts) / sizeof(reason_texts[0]))

/* The lowercase names, in EPINDEX_REASON_MAP order (checked below). */
static const char *const reason_lower[] = {
    "fresh",     "verified", "trusted", "missing",    "stale",     "relocated",
    "schema",    "foreign",  "damaged", "unreadable", "untrusted", "racy",
    "not-a-dir", "rebuilt",  "absent",  "private",    "outdated"};

_Static_assert(sizeof(reason_lower) / sizeof(reason_lower[0]) == REASON_COUNT,
               "reason_lower must list every reason");

const char *epindex_reason_name(epindex_reason r) {
  return (unsigned)r < REASON_COUNT ? reason_lower[r] : "unknown";
}

const char *epindex_reason_text(epindex_reason r) {
  return (unsigned)r < REASON_COUNT ? reason_texts[r] : "unknown";
}

int epindex_reason_is_served(epindex_reason r) {
  return r == EPINDEX_REASON_FRESH || r == EPINDEX_REASON_VERIFIED ||
         r == EPINDEX_REASON_TRUSTED || r == EPINDEX_REASON_REBUILT;
}

static const char *const policy_names[] = {"stat", "verify", "trust"};
static const char *const source_names[] = {"none", "index", "scan", "cache"};

const char *epindex_source_name(epindex_source s) {
  return (unsigned)s < 4 ? source_names[s] : "unknown";
}

int epindex_policy_parse(const char *text, epindex_policy *out) {
  for (int i = 0; text && i < 3; i++) {
    if (strcmp(text, policy_names[i]) == 0) {
      *out = (epindex_policy)i;
      return EPINDEX_OK;
    }
  }
  return EPINDEX_EINVAL;
}

const char *epindex_policy_name(epindex_policy p) {
  return (unsigned)p < 3 ? policy_names[p] : "unknown";
}
