/* Codecs: the tolerant base64, hex, URL decoding and UTF-16 conversion every decoder relies on. */
#include <stdlib.h>
#include <string.h>

#include "helpers.h"

static void b64_tolerates_breaks_and_missing_padding(void **state)
{
  const char *in = "PENlcnRF\r\n bnJvbGxU\tb2tlbj4";
  size_t n = 0;
  unsigned char *out = sceplab_b64_decode(in, strlen(in), &n, NULL);
  (void)state;
  assert_non_null(out);
  assert_int_equal(n, 17);
  assert_memory_equal(out, "<CertEnrollToken>", 17);
  free(out);
  /* URL-safe alphabet */
  out = sceplab_b64_decode("-_8", 3, &n, NULL);
  assert_non_null(out);
  assert_int_equal(n, 2);
  assert_int_equal(out[0], 0xfb);
  assert_int_equal(out[1], 0xff);
  free(out);
}

static void b64_rejects_garbage_with_offset(void **state)
{
  size_t n = 0, bad = 0;
  (void)state;
  assert_null(sceplab_b64_decode("QUJD$EVG", 8, &n, &bad));
  assert_int_equal(bad, 4);
  assert_null(sceplab_b64_decode("QUJD=QUJD", 9, &n, &bad)); /* data after padding */
  assert_null(sceplab_b64_decode("QUJDR", 5, &n, &bad));     /* a dangling sextet */
}

static void b64_round_trip(void **state)
{
  const unsigned char in[] = {0, 1, 2, 250, 251, 252, 253};
  size_t i, n;
  (void)state;
  for(i = 0; i <= sizeof(in); i++) {
    char *enc = sceplab_b64_encode(in, i);
    unsigned char *dec = sceplab_b64_decode(enc, strlen(enc), &n, NULL);
    assert_non_null(dec);
    assert_int_equal(n, i);
    assert_memory_equal(dec, in, i);
    free(enc);
    free(dec);
  }
}

static void hex_and_url(void **state)
{
  size_t n;
  unsigned char *h = sceplab_hex_decode("0c:93 E3", 8, &n);
  char *u;
  (void)state;
  assert_non_null(h);
  assert_int_equal(n, 3);
  assert_int_equal(h[2], 0xe3);
  free(h);
  assert_null(sceplab_hex_decode("0c9", 3, &n));
  assert_null(sceplab_hex_decode("zz", 2, &n));
  u = sceplab_url_decode("a%2Bb%2fc+d%", 12, &n, 0);
  assert_string_equal(u, "a+b/c+d%");
  free(u);
  u = sceplab_url_decode("a+b", 3, &n, 1);
  assert_string_equal(u, "a b");
  free(u);
}

static void utf16_to_utf8(void **state)
{
  const unsigned char le[] = {0xFF, 0xFE, '<', 0, 'a', 0, 0xE9, 0, '>', 0};
  const unsigned char be[] = {0xFE, 0xFF, 0, '<', 0xD8, 0x3D, 0xDE, 0x00};
  const unsigned char bom8[] = {0xEF, 0xBB, 0xBF, '<'};
  size_t n, skip;
  unsigned char *o = sceplab_to_utf8(le, sizeof(le), &n, &skip);
  (void)state;
  assert_non_null(o);
  assert_string_equal((char *)o, "<a\xC3\xA9>");
  free(o);
  o = sceplab_to_utf8(be, sizeof(be), &n, &skip);
  assert_non_null(o);
  assert_string_equal((char *)o, "<\xF0\x9F\x98\x80"); /* surrogate pair */
  free(o);
  assert_null(sceplab_to_utf8(bom8, sizeof(bom8), &n, &skip));
  assert_int_equal(skip, 3);
  assert_null(sceplab_to_utf8((const unsigned char *)"plain", 5, &n, &skip));
  assert_int_equal(skip, 0);
}

/* Every apostrophe a pasted log can carry matches the straight one; UTF-8 characters whose last
 * byte is 0x92 (the Windows-1252 apostrophe) stay intact. */
static void quotes_normalised(void **state)
{
  static const char *const same[] = {"Authority's", "Authority\xE2\x80\x99s", "Authority\xE2\x80\x98s",
    "Authority\xC3\xA2\xE2\x82\xAC\xE2\x84\xA2s", "Authority\x92s", "Authority&apos;s", "Authority&#39;s", NULL};
  char out[64];
  size_t i, n;
  (void)state;
  for(i = 0; same[i]; i++) {
    n = sceplab_normalize_quotes(same[i], strlen(same[i]), out);
    out[n] = '\0';
    assert_string_equal(out, "Authority's");
    assert_int_equal(sceplab_match_text(same[i], strlen(same[i]), "AUTHORITY'S"), strlen(same[i]));
  }
  /* "Ò" is C3 92: not an apostrophe */
  n = sceplab_normalize_quotes("\xC3\x92x", 3, out);
  assert_int_equal(n, 3);
  assert_memory_equal(out, "\xC3\x92x", 3);
  n = sceplab_normalize_quotes("\x93quoted\x94", 8, out);
  out[n] = '\0';
  assert_string_equal(out, "\"quoted\"");
  assert_int_equal(sceplab_match_text("Authority s", 11, "Authority's"), 0);
}

/* Ill-formed UTF-8 becomes one U+FFFD per maximal subpart; well-formed text is left as it is. */
static void utf8_repaired(void **state)
{
  static const struct { const char *in, *out; } cases[] = {
    {"plain ascii", "plain ascii"},
    {"caf\xC3\xA9 \xE2\x80\x99", "caf\xC3\xA9 \xE2\x80\x99"}, /* é and ’ stay */
    {"a\xFF" "b", "a\xEF\xBF\xBD" "b"}, /* a byte that starts nothing */
    {"a\xE2\x82 b", "a\xEF\xBF\xBD b"}, /* a 3-byte sequence cut short: one */
    {"\xC0\xAF", "\xEF\xBF\xBD\xEF\xBF\xBD"}, /* an overlong '/' */
    {"\xED\xA0\x80", "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"}, /* a surrogate */
    {"x\x80", "x\xEF\xBF\xBD"}, /* a stray continuation byte */
  };
  char out[64];
  size_t i, n;
  (void)state;
  for(i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    n = sceplab_utf8_repair(cases[i].in, strlen(cases[i].in), out);
    out[n] = '\0';
    assert_string_equal(out, cases[i].out);
    assert_int_equal(sceplab_utf8_valid(out, n), n);
  }
  assert_int_equal(sceplab_utf8_valid("ab\xFF" "cd", 5), 2);
  /* a reader holds the start of a character the chunk's end cut, never a bad byte */
  assert_int_equal(sceplab_utf8_cut_tail("ab\xE2\x80", 4), 2);
  assert_int_equal(sceplab_utf8_cut_tail("ab\xF0", 3), 1);
  assert_int_equal(sceplab_utf8_cut_tail("ab\xFF", 3), 0);
  assert_int_equal(sceplab_utf8_cut_tail("ab\xC3\xA9", 4), 0);
  /* a cut at 4 bytes keeps "ab" and the whole é, never half of ’ */
  assert_int_equal(sceplab_utf8_boundary("ab\xC3\xA9\xE2\x80\x99", 7, 5), 4);
  assert_int_equal(sceplab_utf8_boundary("abc", 3, 10), 3);
}

/* An apostrophe inside a word, as pastes mangle it: one to three non-letters, not white space alone. */
static void apostrophes_as_pasted(void **state)
{
  static const char *const match[] = {"Authority...s", "Authority?s", "Authority\\u2019s", "Authority\xEF\xBF\xBD" "s",
                                      "Authority\\'92s", "Authority&rsquo;s", "Authority .s", NULL};
  static const char *const no[] = {"Authority....s", "Authority s", "Authoritys", "Authority.\ns", "Authority??", NULL};
  size_t i;
  (void)state;
  for(i = 0; match[i]; i++)
    assert_int_equal(sceplab_match_text(match[i], strlen(match[i]), "authority's"), strlen(match[i]));
  for(i = 0; no[i]; i++)
    assert_int_equal(sceplab_match_text(no[i], strlen(no[i]), "authority's"), 0);
  /* a quote that is no apostrophe inside a word keeps to its known forms */
  assert_int_equal(sceplab_match_text("say ?x?", 7, "say 'x'"), 0);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(utf8_repaired),
    cmocka_unit_test(apostrophes_as_pasted),
    cmocka_unit_test(b64_tolerates_breaks_and_missing_padding),
    cmocka_unit_test(b64_rejects_garbage_with_offset),
    cmocka_unit_test(b64_round_trip),
    cmocka_unit_test(hex_and_url),
    cmocka_unit_test(utf16_to_utf8),
    cmocka_unit_test(quotes_normalised),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
