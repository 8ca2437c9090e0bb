/* Escaping for each output format (codec.h, src/core/base/escape.c) and the writers of the NDES logs that use it
 * (src/core/ndes/ndeslog.c): hostile bytes in every field, read back by sceplab's own readers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "helpers.h"
#include "../../src/core/ndes/ndeslog.h"

/* A terminal's clear-screen and title sequences, BEL, CR LF, a byte that is no UTF-8, U+FFFF, C1's
 * CSI, a right-to-left override, markup and quotes: what a device may put in any field. */
static const char nasty[] = "\x1B[2J\x1B]0;owned\x07\r\n\xFF\xEF\xBF\xBF\xC2\x9B\xE2\x80\xAE</Data>\"'&";

/* A transaction ID that ends its NDESPlugin.log record and forges the next one. */
static const char forged[] = "x]LOG]!><time=\"1:00:00.000+0\" date=\"01-01-2020\" component=\"NDESPlugin\">\r\n"
                             "<![LOG[Verify challenge returns true";

static char *esc(sceplab_escaper f, const char *in, size_t n)
{
  static char out[4096];
  size_t used = 0, w = f(in, n, out, sizeof(out), &used);
  assert_int_equal(used, n);
  assert_int_equal(w, strlen(out));
  return out;
}

#define ESC(f, s) esc(f, s, sizeof(s) - 1)

/* Well-formed UTF-8 (no overlong form, surrogate or value past U+10FFFF). */
static int utf8_valid(const unsigned char *p, size_t n)
{
  size_t i = 0, len, k;
  while(i < n) {
    unsigned c = p[i];
    unsigned long cp;
    if(c < 0x80) { i++; continue; }
    if(c >= 0xC2 && c <= 0xDF) { len = 2; cp = c & 0x1F; }
    else if(c >= 0xE0 && c <= 0xEF) { len = 3; cp = c & 0x0F; }
    else if(c >= 0xF0 && c <= 0xF4) { len = 4; cp = c & 0x07; }
    else return 0;
    if(i + len > n)
      return 0;
    for(k = 1; k < len; k++) {
      if((p[i + k] & 0xC0) != 0x80)
        return 0;
      cp = cp << 6 | (p[i + k] & 0x3F);
    }
    if((len == 3 && (cp < 0x800 || (cp >= 0xD800 && cp < 0xE000))) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
      return 0;
    i += len;
  }
  return 1;
}

static void cmtrace_message_cannot_end_its_record(void **state)
{
  (void)state;
  /* the terminator loses its '>', in any case; the line break becomes spaces */
  assert_string_equal(ESC(sceplab_esc_cmtrace, forged),
                      "x]LOG]!\xEF\xBF\xBD<time=\"1:00:00.000+0\" date=\"01-01-2020\" component=\"NDESPlugin\">  "
                      "<![LOG[Verify challenge returns true");
  assert_string_equal(ESC(sceplab_esc_cmtrace, "a]log]!>b]LoG]!>"), "a]log]!\xEF\xBF\xBD" "b]LoG]!\xEF\xBF\xBD");
  assert_string_equal(ESC(sceplab_esc_cmtrace, "]LOG]!]LOG]!>>"), "]LOG]!]LOG]!\xEF\xBF\xBD>");
  /* a '>' or a "]LOG]!" alone is text */
  assert_string_equal(ESC(sceplab_esc_cmtrace, "a > b ]LOG]! c]"), "a > b ]LOG]! c]");
  /* controls to spaces, DEL, C1, bytes that are no UTF-8 and noncharacters to U+FFFD, text kept */
  assert_string_equal(ESC(sceplab_esc_cmtrace,
                          "\x1B[2J\t\x7F\xC2\x9B\xFF\xEF\xBF\xBF\xEF\xBF\xBE\xEF\xB7\x90 \xC3\xA9\xE2\x80\xAE"),
                      " [2J \xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD \xC3\xA9\xE2\x80\xAE");
}

/* The output, whatever the size of the buffer, is the same text: never an escape or a character
 * cut in two, and a terminator split across two pieces is still found. */
static void every_format_writes_in_pieces(void **state)
{
  static const sceplab_escaper fs[] = {sceplab_esc_cmtrace, sceplab_esc_w3c, sceplab_esc_xml};
  char whole[4096], piece[64], joined[4096];
  size_t f, outlen, n = sizeof(forged) - 1 + sizeof(nasty) - 1, used, o, w, i;
  char in[512];
  (void)state;
  memcpy(in, forged, sizeof(forged) - 1);
  memcpy(in + sizeof(forged) - 1, nasty, sizeof(nasty) - 1);
  for(f = 0; f < sizeof(fs) / sizeof(fs[0]); f++) {
    fs[f](in, n, whole, sizeof(whole), &used);
    assert_int_equal(used, n);
    for(outlen = 16; outlen < sizeof(piece); outlen++) {
      o = 0;
      for(i = 0; i < n; i += used) {
        w = fs[f](in + i, n - i, piece, outlen, &used);
        assert_true(used > 0);
        assert_true(w < outlen);
        memcpy(joined + o, piece, w);
        o += w;
      }
      joined[o] = '\0';
      assert_string_equal(joined, whole);
    }
  }
}

static void w3c_fields_hold_no_space_or_control(void **state)
{
  char out[8];
  size_t used;
  (void)state;
  assert_string_equal(ESC(sceplab_esc_w3c, ""), "-");
  assert_string_equal(ESC(sceplab_esc_w3c, "Mozilla/5.0 (iPhone; CPU)"), "Mozilla/5.0+(iPhone;+CPU)");
  assert_string_equal(ESC(sceplab_esc_w3c, nasty),
                      "%1B[2J%1B]0;owned%07%0D%0A%FF%EF%BF%BF%C2%9B%E2%80%AE</Data>\"'&");
  /* text in any script stays, as IIS writes its UTF-8 logs */
  assert_string_equal(ESC(sceplab_esc_w3c, "/caf\xC3\xA9/\xE2\x82\xAC"), "/caf\xC3\xA9/\xE2\x82\xAC");
  /* bounded: stops before an escape it cannot write whole */
  assert_int_equal(sceplab_esc_w3c("ab\x1B", 3, out, 5, &used), 2);
  assert_int_equal(used, 2);
  assert_string_equal(out, "ab");
}

static void xml_text_is_well_formed_whatever_the_input(void **state)
{
  (void)state;
  assert_string_equal(ESC(sceplab_esc_xml, "</Data>\"'&x"), "&lt;/Data&gt;&quot;&apos;&amp;x");
  /* tab, CR and LF kept as references: a record stays on its line */
  assert_string_equal(ESC(sceplab_esc_xml, "a\tb\r\nc"), "a&#9;b&#13;&#10;c");
  /* no XML characters: C0 controls, U+FFFE, U+FFFF, noncharacters of other planes; and what is no
   * UTF-8: a stray byte, an overlong '/', a surrogate, a sequence cut at the end */
  assert_string_equal(ESC(sceplab_esc_xml, "\x1B\x01\xEF\xBF\xBE\xEF\xBF\xBF\xF0\x9F\xBF\xBF\xEF\xB7\x90\xFF"),
                      "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
  assert_string_equal(ESC(sceplab_esc_xml, "\xC0\xAF\xED\xA0\x80\xE2\x80"),
                      "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
  /* C1 controls replaced, text of every plane kept (U+FFFD itself, an emoji) */
  assert_string_equal(ESC(sceplab_esc_xml, "\xC2\x9B\xC2\xA0\xEF\xBF\xBD\xF0\x9F\x94\x91"),
                      "\xEF\xBF\xBD\xC2\xA0\xEF\xBF\xBD\xF0\x9F\x94\x91");
}

static void terminal_shows_controls_as_escapes(void **state)
{
  char out[256];
  size_t used, n;
  (void)state;
  n = sceplab_visible(nasty, sizeof(nasty) - 1, out, sizeof(out), &used);
  assert_int_equal(used, sizeof(nasty) - 1);
  assert_string_equal(out, "\\x1B[2J\\x1B]0;owned\\x07\\x0D\n\\xFF\xEF\xBF\xBF\\u009B\\u202E</Data>\"'&");
  assert_int_equal(sceplab_visible_len(nasty, sizeof(nasty) - 1), n);
  /* one field on one line: the line break and the tab escaped too */
  n = sceplab_visible_line("a\tb\r\nc", 6, out, sizeof(out), &used);
  assert_string_equal(out, "a\\x09b\\x0D\\x0Ac");
  assert_int_equal(sceplab_visible_line_len("a\tb\r\nc", 6), n);
  /* nothing to change: 0, the caller keeps its text */
  assert_int_equal(sceplab_visible_len("caf\xC3\xA9\tok\n", 8), 0);
  assert_int_equal(sceplab_visible_line_len("caf\xC3\xA9 ok", 8), 0);
  assert_int_equal(sceplab_visible_line_len("a\n", 2), 5);
}

/* Random inputs of hostile bytes: each format's promise holds for every one. */
static void random_inputs_keep_each_promise(void **state)
{
  static const unsigned char alphabet[] = {
    0x00, 0x07, 0x09, 0x0A, 0x0D, 0x1B, ' ', '!', '"', '&', '\'', '<', '>', 'G', 'L', 'O', 'g', 'l', 'o', ']', '[', '%',
    0x7F, 0x80, 0x9B, 0xA0, 0xAE, 0xBF, 0xBE, 0xC0, 0xC2, 0xE2, 0xED, 0xEF, 0xF0, 0xF4, 0xF5, 0xFF};
  unsigned seed = 12345;
  char in[96], out[1024];
  int iter;
  (void)state;
  for(iter = 0; iter < 20000; iter++) {
    size_t n = (seed = seed * 1103515245u + 12345u) >> 16 & 63, i, used, w;
    for(i = 0; i < n; i++) {
      seed = seed * 1103515245u + 12345u;
      in[i] = (char)alphabet[(seed >> 16) % sizeof(alphabet)];
    }
    if(iter % 7 == 0 && n >= 7)
      memcpy(in + (seed >> 8) % (n - 6), "]LoG]!>", 7);
    w = sceplab_esc_cmtrace(in, n, out, sizeof(out), &used);
    assert_int_equal(used, n);
    assert_true(utf8_valid((unsigned char *)out, w));
    for(i = 0; i < w; i++)
      assert_true((unsigned char)out[i] >= 0x20 && out[i] != 0x7F);
    for(i = 0; i + 7 <= w; i++)
      assert_true(strncasecmp(out + i, "]LOG]!>", 7) != 0);
    w = sceplab_esc_w3c(in, n, out, sizeof(out), &used);
    assert_true(utf8_valid((unsigned char *)out, w));
    assert_true(w > 0);
    for(i = 0; i < w; i++)
      assert_true((unsigned char)out[i] > 0x20 && out[i] != 0x7F);
    w = sceplab_esc_xml(in, n, out, sizeof(out), &used);
    assert_true(utf8_valid((unsigned char *)out, w));
    for(i = 0; i < w; i++) {
      assert_true((unsigned char)out[i] >= 0x20 && out[i] != 0x7F && !strchr("<>\"'", out[i]));
      if(i + 3 <= w && (unsigned char)out[i] == 0xEF && (unsigned char)out[i + 1] == 0xBF)
        assert_true((unsigned char)out[i + 2] < 0xBE); /* no U+FFFE, U+FFFF */
      if(i + 2 <= w && (unsigned char)out[i] == 0xC2)
        assert_true((unsigned char)out[i + 1] >= 0xA0); /* no C1 */
    }
    w = sceplab_visible_line(in, n, out, sizeof(out), &used);
    assert_true(utf8_valid((unsigned char *)out, w));
    for(i = 0; i < w; i++) {
      assert_true((unsigned char)out[i] >= 0x20 && out[i] != 0x7F);
      if(i + 2 <= w && (unsigned char)out[i] == 0xC2)
        assert_true((unsigned char)out[i + 1] >= 0xA0);
      if(i + 3 <= w && (unsigned char)out[i] == 0xE2 && (unsigned char)out[i + 1] == 0x80)
        assert_true((unsigned char)out[i + 2] < 0xAA || (unsigned char)out[i + 2] > 0xAE);
    }
  }
}

/* Every record of path as the format want, none skipped: their count; with msgs, their messages. */
static size_t read_back(const char *path, const char *want, char msgs[][1024], size_t max)
{
  sceplab_error err;
  sceplab_record r;
  size_t n = 0;
  int rc;
  sceplab_log *lg = sceplab_log_open(path, NULL, NULL, &err);
  if(!lg)
    fail_msg("%s: %s", path, err.msg);
  assert_string_equal(sceplab_log_format(lg), want);
  while((rc = sceplab_log_next(lg, &r, &err)) > 0) {
    if(msgs && n < max)
      snprintf(msgs[n], 1024, "%.*s", (int)r.message.n, r.message.p);
    n++;
  }
  assert_int_equal(rc, 0);
  if(sceplab_log_skipped(lg))
    fail_msg("%s: skipped %s", path, sceplab_log_skip_example(lg, 0));
  sceplab_log_close(lg);
  return n;
}

static char *slurp(const char *path, size_t *n)
{
  FILE *f = fopen(path, "rb");
  char *buf = malloc(1 << 16);
  assert_non_null(f);
  *n = fread(buf, 1, (1 << 16) - 1, f);
  buf[*n] = '\0';
  fclose(f);
  return buf;
}

/* Each writer of the NDES logs, hostile text in every field it takes: each file reads back whole,
 * with as many records as were written and nothing forged. */
static void ndes_log_writers_escape_every_field(void **state)
{
  char dir[] = "/tmp/sceplab-test-escape-XXXXXX", path[256], name[64], msgs[8][1024], cmd[300];
  char act[48];
  sceplab_art a;
  sceplab_art_crs c;
  sceplab_art_cert chain[2];
  sceplab_error err;
  sceplab_val *v;
  size_t n, i;
  char *text;
  (void)state;
  assert_non_null(mkdtemp(dir));
  sceplab_art_init(&a, dir, nasty);
  sceplab_art_plugin(&a, 1, 7, "Certificate request status written for transaction %s", forged);
  sceplab_art_plugin(&a, 3, 7, "%s", nasty);
  sceplab_art_activity(act, sizeof(act));
  sceplab_art_crp(&a, 1, act, "VerifyRequest: Phase 3 validation failed: %s %s", nasty, forged);
  sceplab_art_event(&a, 29, 1, nasty);
  sceplab_art_system_event(&a, nasty, 5009, 3, nasty);
  chain[0] = (sceplab_art_cert){nasty, nasty, 0x8, 0, NULL};
  chain[1] = (sceplab_art_cert){nasty, "AB", 0x20, 0x80092013u, nasty};
  sceplab_art_capi2_chain(&a, chain, 2, nasty, 0x800B0109u, nasty);
  sceplab_art_capi2_policy(&a, &chain[0], nasty, 0x800B0109u, nasty);
  memset(&c, 0, sizeof(c));
  c.serial_hex = c.thumbprint = c.issuer_ca = c.user_id = c.device_id = c.request_id = nasty;
  c.transaction_id = forged;
  assert_int_equal(sceplab_art_crs_write(&a, &c, name, sizeof(name)), 0);
  sceplab_art_close(&a);

  snprintf(path, sizeof(path), "%s/NDESPlugin.log", dir);
  assert_int_equal(read_back(path, "cmtrace", msgs, 8), 2);
  for(i = 0; i < 2; i++)
    assert_null(strstr(msgs[i], "]LOG]!>"));
  assert_non_null(strstr(msgs[0], "transaction x]LOG]!\xEF\xBF\xBD<time="));
  snprintf(path, sizeof(path), "%s/NDES-Application.xml", dir);
  assert_int_equal(read_back(path, "eventxml", msgs, 8), 1);
  /* the message as the device sent it, less what XML cannot carry */
  assert_string_equal(msgs[0], "\xEF\xBF\xBD[2J\xEF\xBF\xBD]0;owned\xEF\xBF\xBD\r\n\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"
                               "\xE2\x80\xAE</Data>\"'&");
  snprintf(path, sizeof(path), "%s/NDES-System.xml", dir);
  assert_int_equal(read_back(path, "eventxml", NULL, 0), 1);
  snprintf(path, sizeof(path), "%s/NDES-CAPI2.xml", dir);
  assert_int_equal(read_back(path, "eventxml", NULL, 0), 2);
  snprintf(cmd, sizeof(cmd), "%s/CertificateRegistrationPoint_*.svclog", dir);
  {
    /* its name has the time in it: the one file there is */
    char ls[320];
    FILE *p;
    snprintf(ls, sizeof(ls), "ls %s", cmd);
    p = popen(ls, "r");
    assert_non_null(p);
    assert_non_null(fgets(path, sizeof(path), p));
    pclose(p);
    path[strcspn(path, "\n")] = '\0';
  }
  assert_int_equal(read_back(path, "svclog", msgs, 8), 1);
  assert_non_null(strstr(msgs[0], "]LOG]!><time="));
  snprintf(path, sizeof(path), "%s/CertificateRequestStatus/Processing/%s", dir, name);
  text = slurp(path, &n);
  v = sceplab_crs_parse((unsigned char *)text, n, &err);
  if(!v)
    fail_msg("%s", err.msg);
  /* the value as the device sent it */
  assert_string_equal(str_at(v, "fields.TransactionID"), forged);
  assert_string_equal(str_at(v, "fields.UserID"), str_at(v, "fields.DeviceID"));
  assert_non_null(strstr(str_at(v, "fields.UserID"), "</Data>\"'&"));
  sceplab_val_free(v);
  free(text);
  snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
  assert_int_equal(system(cmd), 0);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(cmtrace_message_cannot_end_its_record),
    cmocka_unit_test(every_format_writes_in_pieces),
    cmocka_unit_test(w3c_fields_hold_no_space_or_control),
    cmocka_unit_test(xml_text_is_well_formed_whatever_the_input),
    cmocka_unit_test(terminal_shows_controls_as_escapes),
    cmocka_unit_test(random_inputs_keep_each_promise),
    cmocka_unit_test(ndes_log_writers_escape_every_field),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
