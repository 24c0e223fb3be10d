/* test_text.c -- the text rules of importlib.metadata (reader/text.c).
 * Every expected value here was produced by CPython's importlib.metadata
 * (EntryPoints._from_text, Prepared.normalize, _adapters.Message). */
#include "support.h"

#include "text.h"

#include <stdlib.h>
#include <string.h>

typedef struct collect {
  ep_buf out;
} collect;

static int collect_cb(void *ctx, const ep_parsed_entry *e) {
  collect *c = ctx;
  if (c->out.len)
    ep_buf_append(&c->out, ";", 1);
  ep_buf_append(&c->out, e->group, e->group_len);
  ep_buf_append(&c->out, "|", 1);
  ep_buf_append(&c->out, e->name, e->name_len);
  ep_buf_append(&c->out, "|", 1);
  ep_buf_append(&c->out, e->value, e->value_len);
  return 0;
}

/* Parse text of n bytes; compare the "group|name|value;..." rendering. */
static void expect_parse(const char *text, size_t n, const char *want,
                         size_t want_len) {
  collect c = {0};
  ep_buf_append(&c.out, "", 0);
  assert_true(ep_utf8_valid(text, n, NULL));
  assert_int_equal(ep_parse_entry_points(text, n, collect_cb, &c, NULL), 0);
  assert_int_equal(c.out.len, want_len);
  assert_memory_equal(c.out.data, want, want_len);
  ep_buf_free(&c.out);
}
#define PARSE(text, want)                                                      \
  expect_parse(text, sizeof(text) - 1, want, sizeof(want) - 1)

static void test_basic(void **state) {
  (void)state;
  PARSE("[console_scripts]\nfoo = foo.cli:main\nbar=bar:run\n",
        "console_scripts|foo|foo.cli:main;console_scripts|bar|bar:run");
}

static void test_comments_and_blank_lines(void **state) {
  (void)state;
  PARSE("# top\n\n[g]\n  # indented comment\n\na = b # not a comment\n",
        "g|a|b # not a comment");
  PARSE("[g]\n#a = 1\nb = #2\n", "g|b|#2");
}

static void test_lines_before_any_section_are_ignored(void **state) {
  (void)state;
  PARSE("orphan line without equals\nx = y\n[g]\nk = v\n", "g|k|v");
}

static void test_split_on_first_equals(void **state) {
  (void)state;
  PARSE("[g]\na = b = c\n=novalue\nempty =\n", "g|a|b = c;g||novalue;g|empty|");
}

static void test_section_header_strips_brackets(void **state) {
  (void)state;
  PARSE("[[g]]\na = 1\n[]\nb = 2\n[ sp ]\nc = 3\n[x]y]\nd = 4\n",
        "g|a|1;|b|2; sp |c|3;x]y|d|4");
  PARSE("\t[g]\t\n\ta\t=\tb\t\n", "g|a|b");
  PARSE("[g]\na = 1\n[h]\nb = 2\n[g]\nc = 3\n", "g|a|1;h|b|2;g|c|3");
}

static void test_splitlines_boundaries(void **state) {
  (void)state;
  PARSE("[g]\r\na = 1\rb = 2\r\n", "g|a|1;g|b|2");
  PARSE("[g]\x0b"
        "a = 1\x0c"
        "b = 2\x1c"
        "c = 3\x1d"
        "d = 4\x1e"
        "e = 5\xc2\x85"
        "f = 6\xe2\x80\xa8"
        "h = 7\xe2\x80\xa9"
        "i = 8\n",
        "g|a|1;g|b|2;g|c|3;g|d|4;g|e|5;g|f|6;g|h|7;g|i|8");
  /* U+001F is whitespace to strip() but not a line boundary */
  PARSE("[g]\na = 1\x1f"
        "b\n",
        "g|a|1\x1f"
        "b");
}

static void test_unicode_whitespace_is_stripped(void **state) {
  (void)state;
  PARSE("[g]\n\xe3\x80\x80"
        "a\xc2\xa0=\xe2\x80\x83"
        "b\xe2\x80\xaf\n\x1f"
        "c = d\x1f\n",
        "g|a|b;g|c|d");
}

static void test_bom_is_not_stripped(void **state) {
  (void)state;
  /* "\ufeff[g]" is not a section header: its lines belong to no section */
  PARSE("\xef\xbb\xbf[g]\na = 1\n[h]\nb = 2\n", "h|b|2");
}

static void test_nul_is_text(void **state) {
  (void)state;
  PARSE("[g]\na\0b = c\0d\n", "g|a\0b|c\0d");
}

static void test_missing_equals_is_an_error(void **state) {
  (void)state;
  collect c = {0};
  uint32_t line = 0;
  const char t1[] = "[g]\na = 1\nnoequals\n";
  assert_int_equal(
      ep_parse_entry_points(t1, sizeof(t1) - 1, collect_cb, &c, &line), 1);
  assert_int_equal(line, 3);
  const char t2[] = "[g]\n\n\nb\n";
  assert_int_equal(
      ep_parse_entry_points(t2, sizeof(t2) - 1, collect_cb, &c, &line), 1);
  assert_int_equal(line, 4);
  ep_buf_free(&c.out);
}

static void test_utf8_strict(void **state) {
  (void)state;
  size_t bad = 99;
  assert_true(ep_utf8_valid("h\xc3\xa9", 3, NULL));
  assert_true(ep_utf8_valid("\xf4\x8f\xbf\xbf", 4, NULL)); /* U+10FFFF */
  assert_false(ep_utf8_valid("ab\xc0\xaf", 4, &bad));      /* overlong */
  assert_int_equal(bad, 2);
  assert_false(ep_utf8_valid("\xed\xa0\x80", 3, NULL));     /* surrogate */
  assert_false(ep_utf8_valid("\xf4\x90\x80\x80", 4, NULL)); /* > U+10FFFF */
  assert_false(ep_utf8_valid("\xe2\x82", 2, NULL));         /* truncated */
  assert_false(ep_utf8_valid("\xff", 1, NULL));
}

static void expect_norm(const char *in, const char *want) {
  ep_buf b = {0};
  assert_int_equal(ep_normalize(&b, in, strlen(in)), 0);
  assert_string_equal(b.data, want);
  ep_buf_free(&b);
}

static void test_normalize(void **state) {
  (void)state;
  expect_norm("Foo.Bar--baz_", "foo_bar_baz_");
  expect_norm("a_-.b", "a_b");
  expect_norm("\xc3\x89"
              "COLE",
              "\xc3\xa9"
              "cole");                                 /* ÉCOLE */
  expect_norm("\xc4\xb0x", "i\xcc\x87x");              /* İ: 1:2 */
  expect_norm("\xc7\x84", "\xc7\x86");                 /* Ǆ */
  expect_norm("\xe1\xba\x9e", "\xc3\x9f");             /* ẞ */
  expect_norm("\xe2\x84\xaa", "k");                    /* Kelvin */
  expect_norm("\xce\x91\xce\xa3", "\xce\xb1\xcf\x82"); /* ΑΣ: final */
  expect_norm("\xce\x91\xce\xa3-b", "\xce\xb1\xcf\x82_b");
  /* '.' is case-ignorable, but the '-' substituted for it is not */
  expect_norm("\xce\x91\xce\xa3.b", "\xce\xb1\xcf\x82_b");
}

static void expect_header(const char *text, const char *field,
                          const char *want) {
  ep_buf b = {0};
  int found = ep_header_value(text, strlen(text), field, &b);
  if (!want) {
    assert_int_equal(found, 0);
  } else {
    assert_int_equal(found, 1);
    assert_string_equal(b.data, want);
  }
  ep_buf_free(&b);
}

static void test_metadata_headers(void **state) {
  (void)state;
  expect_header("Name: foo\nVersion: 1\n", "Name", "foo");
  expect_header("Name: foo\nVersion: 1\n", "Version", "1");
  expect_header("name:   foo  \n", "Name", "foo  ");
  expect_header("NAME: a\nName: b\n", "Name", "a");
  expect_header("From x\nName: y\n", "Name", "y");
  expect_header("Summary: s\nName : x\nName: z\n", "Name", NULL);
  expect_header("Name:x:y\n", "Name", "x:y");
  expect_header("X: 1\n\nName: body\n", "Name", NULL);
  expect_header("Name: \xc3\xa9t\xc3\xa9\n", "Name", "\xc3\xa9t\xc3\xa9");
  expect_header(": nothing\nName: n\n", "Name", "n");
  expect_header("  cont\nName: n\n", "Name", "n");
  expect_header("Version: 1\nFrom z\n", "Name", NULL);
  expect_header("Version: 1\nFrom z\n", "Version", "1");
  expect_header("From z\n", "Name", NULL);
}

static void test_folded_headers_are_dedented(void **state) {
  (void)state;
  expect_header("Name: a\n  b\n\tc\nVersion: 2\n", "Name",
                "        a\n  b\n\tc");
  expect_header("Name: a\n    \n  b\n", "Name", "      a\n\nb");
  expect_header("Name: a\n Name: b\n", "Name", "       a\nName: b");
}

static void test_universal_newlines(void **state) {
  (void)state;
  char s[] = "a\r\nb\rc\n";
  size_t n = ep_universal_newlines(s, sizeof(s) - 1);
  assert_int_equal(n, 6);
  assert_memory_equal(s, "a\nb\nc\n", 6);
}

/* EntryPoint.pattern of importlib.metadata (Python 3.15+): expected values
 * from Python's re on the same strings (\w is str.isalnum() or '_'; \s is
 * str.isspace()). */
static void test_value_is_object_ref(void **state) {
  (void)state;
  static const struct {
    const char *value;
    bool ok;
  } cases[] = {
      {"pkg", true},
      {"pkg.mod", true},
      {"pkg.mod:attr", true},
      {"pkg.mod:obj.attr", true},
      {"pkg.mod:attr [extra1, extra2]", true},
      {"invalid-name", false},
      {"a:", false},
      {":b", false},
      {"a : b", true},
      {"a :b [x]", true},
      {"a[x]", true},
      {"a [x] ", true},
      {"a [x] y", false},
      {"a [x]]", true},
      {"a [[x]", true},
      {"a [x", false},
      {"a ]", false},
      {"mod\xc3"
       "\xb6"
       "d:f\xc3"
       "\xbc"
       "nc",
       true},
      {"m\xc2"
       "\xb2"
       ":x",
       true},
      {"m\xd9"
       "\xa0"
       ":x",
       true},
      {"\xe4"
       "\xb8"
       "\xad"
       "\xe6"
       "\x96"
       "\x87"
       ":\xe5"
       "\x87"
       "\xbd"
       "\xe6"
       "\x95"
       "\xb0",
       true},
      {"a\xe3"
       "\x80"
       "\x80"
       ":\xe3"
       "\x80"
       "\x80"
       "b",
       true},
      {"a\xc2"
       "\xa0"
       "[x]\xe2"
       "\x80"
       "\x83",
       true},
      {"a/b", false},
      {"a b", false},
      {"a:b:c", false},
      {".", true},
      {"..:.", true},
      {"a: [x]", false},
      {"a:b [", false},
      {"x\xe2"
       "\x80"
       "\x8b"
       "z",
       false},
      {"a\xc2"
       "\x85",
       true},
      {"_:_", true},
      {"a\xe2"
       "\x80"
       "\xa8",
       true},
      {"1:2", true},
      {"a:b[]", true},
      {"a:b []  ", true},
      {"", false},
      {"a.b-c:d", false},
      {"\xc2"
       "\xbd"
       ":x",
       true},
      {"a\xcc"
       "\x81"
       ":b",
       false},
      {"caf\xc3"
       "\xa9"
       ":m\xc3"
       "\xb6"
       "d",
       true},
      {"\xf0"
       "\x9d"
       "\x90"
       "\x80"
       ":x",
       true},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
    if (ep_value_is_object_ref(cases[i].value, strlen(cases[i].value)) !=
        cases[i].ok)
      fail_msg("case %zu (%s): expected %s", i, cases[i].value,
               cases[i].ok ? "valid" : "invalid");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_basic),
      cmocka_unit_test(test_comments_and_blank_lines),
      cmocka_unit_test(test_lines_before_any_section_are_ignored),
      cmocka_unit_test(test_split_on_first_equals),
      cmocka_unit_test(test_section_header_strips_brackets),
      cmocka_unit_test(test_splitlines_boundaries),
      cmocka_unit_test(test_unicode_whitespace_is_stripped),
      cmocka_unit_test(test_bom_is_not_stripped),
      cmocka_unit_test(test_nul_is_text),
      cmocka_unit_test(test_missing_equals_is_an_error),
      cmocka_unit_test(test_utf8_strict),
      cmocka_unit_test(test_normalize),
      cmocka_unit_test(test_metadata_headers),
      cmocka_unit_test(test_folded_headers_are_dedented),
      cmocka_unit_test(test_universal_newlines),
      cmocka_unit_test(test_value_is_object_ref),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
