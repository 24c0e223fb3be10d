/*
 * text.h -- CPython's str rules: UTF-8, lower, normalise, universal newlines;
 * the entry_points.txt parser and the METADATA header reader. Layer 2.
 */
#ifndef EPINDEX_TEXT_H
#define EPINDEX_TEXT_H

#include "util.h"

/* Strict UTF-8 validation, as Python's "utf-8" codec decodes. On failure
 * *bad_at receives the offset of the first invalid byte. */
bool ep_utf8_valid(const char *s, size_t n, size_t *bad_at);

/* Python str.lower() of UTF-8 text, including Final_Sigma. Bytes that are
 * not valid UTF-8 are copied unchanged (like surrogate escapes). */
int ep_lower(ep_buf *out, const char *s, size_t n);

/* importlib.metadata Prepared.normalize():
 *   re.sub(r"[-_.]+", "-", name).lower().replace('-', '_') */
int ep_normalize(ep_buf *out, const char *s, size_t n);

/* One parsed entry point, pointing into the parsed text. */
typedef struct ep_parsed_entry {
  const char *group, *name, *value;
  size_t group_len, name_len, value_len;
  uint32_t line; /* 1-based physical line number */
} ep_parsed_entry;

typedef int (*ep_entry_cb)(void *ctx, const ep_parsed_entry *e);

/*
 * Parse entry_points.txt text (already validated UTF-8) with the rules of
 * importlib.metadata.Sectioned and Pair.parse. Calls cb for each entry in
 * order. Returns 0, a callback's non-zero result, or 1 with *bad_line set
 * when a line in a section has no '=' (importlib raises TypeError there).
 */
int ep_parse_entry_points(const char *text, size_t n, ep_entry_cb cb, void *ctx,
                          uint32_t *bad_line);

/*
 * The value of header `field` (ASCII, case-insensitive) in METADATA/PKG-INFO
 * text, as importlib.metadata's metadata[field] returns it (email compat32
 * parsing, then _adapters.Message's re-indentation). Universal newlines must
 * already be applied. Returns 1 and fills out when found, 0 when absent,
 * negative EPINDEX code on ENOMEM.
 */
int ep_header_value(const char *text, size_t n, const char *field, ep_buf *out);

/* Is value (valid UTF-8) an object reference by EntryPoint.pattern, which
 * importlib.metadata of Python 3.15+ (importlib_metadata 8.7+) checks when
 * an entry point is constructed? (\w and \s as re has them for str.) */
bool ep_value_is_object_ref(const char *value, size_t n);

/* Translate "\r\n" and "\r" to "\n" in place (Python's universal newlines);
 * returns the new length. */
size_t ep_universal_newlines(char *s, size_t n);

#endif /* EPINDEX_TEXT_H */
