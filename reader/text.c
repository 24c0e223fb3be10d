/*
 * text.c -- the text rules of importlib.metadata, reproduced exactly.
 *
 * importlib.metadata decodes files as strict UTF-8 and then relies on
 * CPython's str methods: splitlines(), strip(), lower(). These are Unicode
 * aware, so the tables in unicode_tables.h are generated from the
 * interpreters themselves (tools/gen_unicode.py). docs/conformance.md lists
 * every rule with the line of importlib.metadata it comes from.
 */
#include "text.h"

#include <stdlib.h>
#include <string.h>

#include "unicode_tables.h"

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* ---- UTF-8 ------------------------------------------------------------- */

/* Decode one code point at s[*i]; -1 if the bytes there are not valid UTF-8
 * in Python's strict sense (no overlongs, surrogates or > U+10FFFF). */
static int32_t utf8_next(const unsigned char *s, size_t n, size_t *i) {
  size_t p = *i;
  unsigned c = s[p];
  if (c < 0x80) {
    *i = p + 1;
    return (int32_t)c;
  }
  unsigned need;
  uint32_t cp, min;
  if (c >= 0xC2 && c <= 0xDF) {
    need = 1, cp = c & 0x1F, min = 0x80;
  } else if (c >= 0xE0 && c <= 0xEF) {
    need = 2, cp = c & 0x0F, min = 0x800;
  } else if (c >= 0xF0 && c <= 0xF4) {
    need = 3, cp = c & 0x07, min = 0x10000;
  } else {
    return -1;
  }
  if (n - p <= need)
    return -1;
  for (unsigned k = 1; k <= need; k++) {
    unsigned cc = s[p + k];
    if ((cc & 0xC0) != 0x80)
      return -1;
    cp = (cp << 6) | (cc & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
    return -1;
  *i = p + need + 1;
  return (int32_t)cp;
}

bool ep_utf8_valid(const char *s, size_t n, size_t *bad_at) {
  const unsigned char *u = (const unsigned char *)s;
  size_t i = 0;
  while (i < n) {
    if (u[i] < 0x80) { /* fast path for ASCII runs */
      i++;
      continue;
    }
    size_t at = i;
    if (utf8_next(u, n, &i) < 0) {
      if (bad_at)
        *bad_at = at;
      return false;
    }
  }
  return true;
}

static size_t utf8_put(char *out, uint32_t cp) {
  if (cp < 0x80) {
    out[0] = (char)cp;
    return 1;
  }
  if (cp < 0x800) {
    out[0] = (char)(0xC0 | (cp >> 6));
    out[1] = (char)(0x80 | (cp & 0x3F));
    return 2;
  }
  if (cp < 0x10000) {
    out[0] = (char)(0xE0 | (cp >> 12));
    out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[2] = (char)(0x80 | (cp & 0x3F));
    return 3;
  }
  out[0] = (char)(0xF0 | (cp >> 18));
  out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
  out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
  out[3] = (char)(0x80 | (cp & 0x3F));
  return 4;
}

/* ---- character classes ------------------------------------------------- */

static bool in_list(const uint32_t *list, size_t n, uint32_t cp) {
  for (size_t i = 0; i < n; i++)
    if (list[i] == cp)
      return true;
  return false;
}

/* str.isspace(): what str.strip() removes. */
static bool is_space(uint32_t cp) {
  if (cp < 0x80)
    return cp == ' ' || (cp >= 0x09 && cp <= 0x0D) ||
           (cp >= 0x1C && cp <= 0x1F);
  return in_list(ep_space_cps, COUNT(ep_space_cps), cp);
}

/* What str.splitlines() splits on ("\r\n" is handled by the caller). */
static bool in_ranges(const uint32_t (*r)[2], size_t n, uint32_t cp);

/* re's \w in a str pattern: str.isalnum() or '_'. */
static bool is_word(uint32_t cp) {
  if (cp < 0x80)
    return (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') ||
           (cp >= '0' && cp <= '9') || cp == '_';
  return in_ranges(ep_word, sizeof(ep_word) / sizeof(ep_word[0]), cp);
}

static bool is_break(uint32_t cp) {
  return in_list(ep_break_cps, COUNT(ep_break_cps), cp);
}

static bool in_ranges(const uint32_t (*r)[2], size_t n, uint32_t cp) {
  size_t lo = 0, hi = n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (cp < r[mid][0])
      hi = mid;
    else if (cp > r[mid][1])
      lo = mid + 1;
    else
      return true;
  }
  return false;
}

/* ---- splitlines + strip ----------------------------------------------- */

/* A line iterator with Python str.splitlines() boundaries over valid UTF-8.
 * Returns false at the end; the line excludes its terminator. */
typedef struct line_iter {
  const char *s;
  size_t n, pos;
  uint32_t lineno;
} line_iter;

static bool next_line(line_iter *it, const char **line, size_t *len) {
  if (it->pos >= it->n)
    return false;
  const unsigned char *u = (const unsigned char *)it->s;
  size_t start = it->pos, i = it->pos;
  while (i < it->n) {
    size_t at = i;
    int32_t cp = utf8_next(u, it->n, &i);
    if (cp < 0) /* callers validate first; be safe anyway */
      cp = 0xFFFD, i = at + 1;
    if (is_break((uint32_t)cp)) {
      *line = it->s + start;
      *len = at - start;
      if (cp == '\r' && i < it->n && u[i] == '\n')
        i++;
      it->pos = i;
      it->lineno++;
      return true;
    }
  }
  *line = it->s + start;
  *len = it->n - start;
  it->pos = it->n;
  it->lineno++;
  return true;
}

/* Decode the code point that ends just before s[end] (valid UTF-8). */
static uint32_t prev_cp(const char *s, size_t start, size_t *end) {
  size_t p = *end;
  do
    p--;
  while (p > start && ((unsigned char)s[p] & 0xC0) == 0x80);
  size_t q = p;
  int32_t cp = utf8_next((const unsigned char *)s, *end, &q);
  *end = p;
  return cp < 0 ? 0xFFFD : (uint32_t)cp;
}

/* str.strip() with no arguments. */
static void strip(const char **s, size_t *n) {
  const unsigned char *u = (const unsigned char *)*s;
  size_t lo = 0, hi = *n;
  while (lo < hi) {
    size_t next = lo;
    int32_t cp = utf8_next(u, hi, &next);
    if (cp < 0 || !is_space((uint32_t)cp))
      break;
    lo = next;
  }
  while (hi > lo) {
    size_t end = hi;
    uint32_t cp = prev_cp(*s, lo, &end);
    if (!is_space(cp))
      break;
    hi = end;
  }
  *s += lo;
  *n = hi - lo;
}

/* ---- entry_points.txt ------------------------------------------------- */

int ep_parse_entry_points(const char *text, size_t n, ep_entry_cb cb, void *ctx,
                          uint32_t *bad_line) {
  line_iter it = {text, n, 0, 0};
  const char *line, *section = NULL;
  size_t len, section_len = 0;
  while (next_line(&it, &line, &len)) {
    strip(&line, &len);
    /* Sectioned.valid: drop blank lines and '#' comments */
    if (len == 0 || line[0] == '#')
      continue;
    if (line[0] == '[' && line[len - 1] == ']') {
      /* value.strip('[]'): every leading '[' or ']' and trailing one */
      size_t lo = 0, hi = len;
      while (lo < hi && (line[lo] == '[' || line[lo] == ']'))
        lo++;
      while (hi > lo && (line[hi - 1] == '[' || line[hi - 1] == ']'))
        hi--;
      section = line + lo;
      section_len = hi - lo;
      continue;
    }
    if (!section) /* lines before any section are dropped unparsed */
      continue;
    const char *eq = memchr(line, '=', len);
    if (!eq) {
      /* Pair.parse: cls(*text.split("=", 1)) lacks 'value': TypeError */
      if (bad_line)
        *bad_line = it.lineno;
      return 1;
    }
    ep_parsed_entry e = {.group = section,
                         .group_len = section_len,
                         .name = line,
                         .name_len = (size_t)(eq - line),
                         .value = eq + 1,
                         .value_len = len - (size_t)(eq - line) - 1,
                         .line = it.lineno};
    strip(&e.name, &e.name_len);
    strip(&e.value, &e.value_len);
    int rc = cb(ctx, &e);
    if (rc)
      return rc;
  }
  return 0;
}

/* ---- lowercase and normalisation ---------------------------------------- */

static uint32_t lower1(uint32_t cp) {
  if (cp < 0x80)
    return (cp >= 'A' && cp <= 'Z') ? cp + 32 : cp;
  size_t lo = 0, hi = COUNT(ep_lower1);
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (cp < ep_lower1[mid][0])
      hi = mid;
    else if (cp > ep_lower1[mid][0])
      lo = mid + 1;
    else
      return ep_lower1[mid][1];
  }
  return cp;
}

static bool is_cased(uint32_t cp) {
  return in_ranges(ep_cased, COUNT(ep_cased), cp);
}
static bool is_case_ignorable(uint32_t cp) {
  return in_ranges(ep_case_ignorable, COUNT(ep_case_ignorable), cp);
}

/* CPython's handle_capital_sigma(): U+03A3 lowers to final sigma after a
 * cased letter (skipping case-ignorables) not followed by one. The text is
 * decoded into cps[] first. */
static uint32_t lower_sigma(const uint32_t *cps, size_t n, size_t i) {
  size_t j = i;
  uint32_t c = 0;
  bool final = false;
  while (j > 0) {
    c = cps[--j];
    if (!is_case_ignorable(c)) {
      final = is_cased(c);
      break;
    }
  }
  if (final) {
    for (j = i + 1; j < n; j++) {
      c = cps[j];
      if (!is_case_ignorable(c))
        break;
    }
    final = j == n || !is_cased(c);
  }
  return final ? 0x3C2 : 0x3C3;
}

/* Invalid bytes are kept as negative values (surrogate escapes). */
static int decode_all(const char *s, size_t n, int32_t **out, size_t *count) {
  int32_t *cps = malloc((n + 1) * sizeof(*cps));
  if (!cps)
    return EPINDEX_ENOMEM;
  size_t i = 0, k = 0;
  while (i < n) {
    size_t at = i;
    int32_t cp = utf8_next((const unsigned char *)s, n, &i);
    if (cp < 0) {
      cp = -(int32_t)(unsigned char)s[at];
      i = at + 1;
    }
    cps[k++] = cp;
  }
  *out = cps;
  *count = k;
  return EPINDEX_OK;
}

int ep_lower(ep_buf *out, const char *s, size_t n) {
  out->len = 0;
  if (ep_buf_reserve(out, n * 3 + 1))
    return EPINDEX_ENOMEM;
  bool ascii = true;
  for (size_t i = 0; i < n && ascii; i++)
    ascii = (unsigned char)s[i] < 0x80;
  if (ascii) {
    for (size_t i = 0; i < n; i++)
      out->data[i] = (char)lower1((unsigned char)s[i]);
    out->len = n;
    out->data[n] = '\0';
    return EPINDEX_OK;
  }
  int32_t *cps;
  size_t count;
  if (decode_all(s, n, &cps, &count))
    return EPINDEX_ENOMEM;
  for (size_t i = 0; i < count; i++) {
    char *o = out->data + out->len;
    if (cps[i] < 0) {
      *o = (char)(unsigned char)(-cps[i]);
      out->len++;
      continue;
    }
    uint32_t cp = (uint32_t)cps[i];
    if (cp == 0x3A3) {
      out->len += utf8_put(o, lower_sigma((const uint32_t *)cps, count, i));
      continue;
    }
    bool multi = false;
    for (size_t m = 0; m < COUNT(ep_lowerN); m++) {
      if (ep_lowerN[m][0] == cp) {
        for (uint32_t k = 0; k < ep_lowerN[m][1]; k++)
          out->len += utf8_put(out->data + out->len, ep_lowerN[m][2 + k]);
        multi = true;
      }
    }
    if (!multi)
      out->len += utf8_put(o, lower1(cp));
  }
  out->data[out->len] = '\0';
  free(cps);
  return EPINDEX_OK;
}

static bool is_sep(char c) { return c == '-' || c == '_' || c == '.'; }

/* re.sub(r"[-_.]+", sep, s[:n]) into out (which it replaces); with lower,
 * ASCII letters are lowered on the way. */
static int collapse(ep_buf *out, const char *s, size_t n, char sep,
                    bool lower) {
  out->len = 0;
  if (ep_buf_reserve(out, n))
    return EPINDEX_ENOMEM;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    if (is_sep(c)) {
      while (i + 1 < n && is_sep(s[i + 1]))
        i++;
      c = sep;
    } else if (lower && c >= 'A' && c <= 'Z') {
      c = (char)(c + 32);
    }
    out->data[out->len++] = c;
  }
  out->data[out->len] = '\0';
  return EPINDEX_OK;
}

int ep_normalize(ep_buf *out, const char *s, size_t n) {
  bool ascii = true;
  for (size_t i = 0; i < n && ascii; i++)
    ascii = (unsigned char)s[i] < 0x80;
  if (ascii) /* the usual case: one pass, one buffer */
    return collapse(out, s, n, '_', true);
  /* re.sub(r"[-_.]+", "-", name) first: Unicode lower() must see the '-' */
  ep_buf tmp = {0};
  int rc = collapse(&tmp, s, n, '-', false);
  if (!rc)
    rc = ep_lower(out, tmp.data, tmp.len);
  ep_buf_free(&tmp);
  if (rc)
    return rc;
  for (size_t i = 0; i < out->len; i++)
    if (out->data[i] == '-')
      out->data[i] = '_';
  return EPINDEX_OK;
}

/* ---- METADATA headers (email, compat32 policy) ----------------------------
 */

size_t ep_universal_newlines(char *s, size_t n) {
  size_t w = 0;
  for (size_t r = 0; r < n; r++) {
    if (s[r] == '\r') {
      s[w++] = '\n';
      if (r + 1 < n && s[r + 1] == '\n')
        r++;
    } else {
      s[w++] = s[r];
    }
  }
  return w;
}

/* feedparser.headerRE: ^(From |[\041-\071\073-\176]*:|[\t ]) */
static bool is_header_line(const char *l, size_t n) {
  if (n >= 5 && memcmp(l, "From ", 5) == 0)
    return true;
  if (n && (l[0] == ' ' || l[0] == '\t'))
    return true;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)l[i];
    if (c == ':')
      return true;
    if (c < 041 || c > 0176)
      return false;
  }
  return false;
}

typedef struct hline {
  const char *p;
  size_t n; /* including its '\n', if any */
} hline;

/* textwrap.dedent(' ' * 8 + value), as _adapters.Message applies to values
 * that span lines: blank out lines of only spaces/tabs, then remove the
 * longest common leading [ \t]* of the lines that have content. */
static int dedent8(ep_buf *out, const char *v, size_t vn) {
  ep_buf text = {0};
  if (ep_buf_append(&text, "        ", 8) || ep_buf_append(&text, v, vn)) {
    ep_buf_free(&text);
    return EPINDEX_ENOMEM;
  }
  const char *t = text.data, *margin = NULL;
  size_t mlen = 0;
  for (size_t i = 0; i <= text.len;) { /* find the margin */
    const char *nl = memchr(t + i, '\n', text.len - i);
    size_t end = nl ? (size_t)(nl - t) : text.len, ind = i;
    while (ind < end && (t[ind] == ' ' || t[ind] == '\t'))
      ind++;
    if (ind < end) {
      size_t k = 0, il = ind - i;
      if (!margin) {
        margin = t + i, mlen = il;
      } else {
        while (k < mlen && k < il && margin[k] == t[i + k])
          k++;
        mlen = k;
      }
    }
    i = end + 1;
  }
  out->len = 0;
  int rc = ep_buf_append(out, "", 0);
  for (size_t i = 0; i <= text.len && !rc;) { /* rewrite line by line */
    const char *nl = memchr(t + i, '\n', text.len - i);
    size_t end = nl ? (size_t)(nl - t) : text.len, ind = i;
    while (ind < end && (t[ind] == ' ' || t[ind] == '\t'))
      ind++;
    size_t from = i;
    if (ind == end)
      from = end; /* whitespace-only line becomes empty */
    else if (mlen && end - i >= mlen && memcmp(t + i, margin, mlen) == 0)
      from = i + mlen;
    rc = ep_buf_append(out, t + from, end - from);
    if (!rc && nl)
      rc = ep_buf_append(out, "\n", 1);
    i = end + 1;
  }
  ep_buf_free(&text);
  return rc;
}

static bool name_is(const char *a, size_t an, const char *field) {
  size_t fn = strlen(field);
  if (an != fn)
    return false;
  for (size_t i = 0; i < an; i++) {
    char x = a[i], y = field[i];
    if (x >= 'A' && x <= 'Z')
      x = (char)(x + 32);
    if (y >= 'A' && y <= 'Z')
      y = (char)(y + 32);
    if (x != y)
      return false;
  }
  return true;
}

/* policy.header_source_parse(): value after the first ':', lstrip(' \t'),
 * continuation lines joined as they are, rstrip('\r\n'). */
static int header_value(const hline *lines, size_t count, ep_buf *out) {
  const char *colon = memchr(lines[0].p, ':', lines[0].n);
  const char *v = colon + 1, *end = lines[0].p + lines[0].n;
  while (v < end && (*v == ' ' || *v == '\t'))
    v++;
  ep_buf raw = {0};
  int rc = ep_buf_append(&raw, v, (size_t)(end - v));
  for (size_t k = 1; k < count && !rc; k++)
    rc = ep_buf_append(&raw, lines[k].p, lines[k].n);
  if (rc)
    return rc;
  while (raw.len &&
         (raw.data[raw.len - 1] == '\n' || raw.data[raw.len - 1] == '\r'))
    raw.len--;
  if (memchr(raw.data, '\n', raw.len)) {
    rc = dedent8(out, raw.data, raw.len);
  } else {
    out->len = 0;
    rc = ep_buf_append(out, raw.data, raw.len);
  }
  ep_buf_free(&raw);
  return rc;
}

int ep_header_value(const char *text, size_t n, const char *field,
                    ep_buf *out) {
  /* Collect the header block: lines while headerRE matches. */
  hline *lines = NULL;
  size_t count = 0, cap = 0, i = 0;
  int rc = 0;
  while (i < n) {
    const char *nl = memchr(text + i, '\n', n - i);
    size_t end = nl ? (size_t)(nl - text) + 1 : n;
    if (!is_header_line(text + i, end - i))
      break;
    if (ep_grow(&lines, &cap, count, sizeof(*lines), 32)) {
      free(lines);
      return EPINDEX_ENOMEM;
    }
    lines[count++] = (hline){text + i, end - i};
    i = end;
  }
  /* FeedParser._parse_headers(), keeping only the first matching header */
  size_t start = 0;
  bool open = false;
  for (size_t k = 0; k < count && rc == 0; k++) {
    const hline *l = &lines[k];
    if (l->p[0] == ' ' || l->p[0] == '\t')
      continue; /* continuation (or a defect before any header) */
    if (open) {
      rc =
          header_value(lines + start, k - start, out) == 0 ? 1 : EPINDEX_ENOMEM;
      open = false;
      if (rc)
        break;
    }
    if (l->n >= 5 && memcmp(l->p, "From ", 5) == 0) {
      if (k == count - 1 && k != 0)
        break;  /* pushed back to the body */
      continue; /* unix-from, or a misplaced one */
    }
    const char *colon = memchr(l->p, ':', l->n);
    if (colon == l->p)
      continue; /* "Missing header name." defect */
    if (name_is(l->p, (size_t)(colon - l->p), field))
      open = true, start = k;
  }
  if (rc == 0 && open)
    rc = header_value(lines + start, count - start, out) == 0 ? 1
                                                              : EPINDEX_ENOMEM;
  free(lines);
  return rc;
}

/* ---- EntryPoint.pattern (importlib.metadata of Python 3.15+) ----------- */

typedef struct scanner {
  const unsigned char *s;
  size_t n, i;
} scanner;

static int32_t peek(const scanner *sc, size_t *next) {
  *next = sc->i;
  return sc->i < sc->n ? utf8_next(sc->s, sc->n, next) : -1;
}

/* Consume [\w.]* (or \s* with space); how many code points. */
static size_t take_while(scanner *sc, bool space) {
  size_t count = 0, next;
  int32_t cp;
  while (
      (cp = peek(sc, &next)) >= 0 &&
      (space ? is_space((uint32_t)cp) : cp == '.' || is_word((uint32_t)cp))) {
    sc->i = next;
    count++;
  }
  return count;
}

bool ep_value_is_object_ref(const char *value, size_t n) {
  /* re.match(r'(?P<module>[\w.]+)\s*(:\s*(?P<attr>[\w.]+)\s*)?'
   *          r'((?P<extras>\[.*\])\s*)?$', value), without backtracking:
   * no shorter module or attr could let the rest match, and greedy .*
   * within the brackets can end only at the last ']'. */
  scanner sc = {(const unsigned char *)value, n, 0};
  size_t next;
  if (take_while(&sc, false) == 0)
    return false;
  take_while(&sc, true);
  if (peek(&sc, &next) == ':') {
    sc.i = next;
    take_while(&sc, true);
    if (take_while(&sc, false) == 0)
      return false;
    take_while(&sc, true);
  }
  if (sc.i == n)
    return true;
  if (value[sc.i] != '[')
    return false;
  const char *close = NULL;
  for (size_t k = sc.i + 1; k < n; k++)
    if (value[k] == ']')
      close = value + k;
  if (!close)
    return false;
  sc.i = (size_t)(close - value) + 1;
  take_while(&sc, true);
  return sc.i == n;
}
