/* CertEnrollToken made and verified over a CA in a scratch directory: what the connector's phases
 * 1 and 2 must refuse (a changed byte anywhere it matters, another signer, expiry), and what they
 * must pass (the token as issued, also when given as its XML). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "helpers.h"

static char dir[] = "/tmp/sceplab-test-intune-XXXXXX";
static sceplab_ca *ca;
static sceplab_intune_keys keys;

static int setup(void **state)
{
  (void)state;
  if(!(ca = scratch_ca(dir)))
    return -1;
  sceplab_ca_intune_keys(ca, &keys);
  return 0;
}

static int teardown(void **state)
{
  (void)state;
  return scratch_ca_remove(ca, dir);
}

static char *issue(int64_t issued_at, int minutes)
{
  static const char *const san[] = {"upn:alice@contoso.com"};
  static const char *const ekus[] = {"clientAuth"};
  sceplab_intune_claims c;
  sceplab_error err;
  char *tok;
  memset(&c, 0, sizeof(c));
  c.device_id = "58c120b7-a22a-428f-89de-7b0856e0c43e";
  c.user_id = "alice@contoso.com";
  c.subject = "CN=Doe\\, John,O=Contoso";
  c.san = san;
  c.nsan = 1;
  c.ekus = ekus;
  c.nekus = 1;
  c.key_bits = 2048;
  c.issued_at = issued_at;
  c.minutes = minutes;
  tok = sceplab_intune_token(&keys, &c, &err);
  assert_non_null(tok);
  return tok;
}

static void passes_as_issued(void **state)
{
  char *tok = issue(0, 0), *xml;
  size_t n = 0;
  sceplab_intune_failure f;
  sceplab_error err;
  sceplab_val *v = sceplab_intune_verify(&keys, tok, strlen(tok), 0, &f, &err);
  (void)state;
  assert_non_null(v);
  assert_string_equal(str_at(v, "device_id"), "58c120b7-a22a-428f-89de-7b0856e0c43e");
  assert_string_equal(str_at(v, "subject"), "CN=Doe\\, John,O=Contoso");
  assert_string_equal(str_at(v, "subject_rdns.0.value"), "Doe, John"); /* the escaped comma stays in the CN */
  assert_string_equal(str_at(v, "san.0.type"), "upn");
  assert_string_equal(str_at(v, "ekus.0"), "1.3.6.1.5.5.7.3.2");
  assert_int_equal(int_at(v, "key_bits"), 2048);
  assert_null(sceplab_path(v, "key_usage")); /* none asked: any (not an empty list that allows none) */
  sceplab_val_free(v);
  /* the same token as its XML (what a log or a decoder shows) */
  xml = (char *)sceplab_b64_decode(tok, strlen(tok), &n, NULL);
  assert_non_null(xml);
  v = sceplab_intune_verify(&keys, xml, n, 0, &f, &err);
  assert_non_null(v);
  sceplab_val_free(v);
  free(xml);
  free(tok);
}

/* Changes one character inside the element named, in the decoded XML, and verifies the result. */
static void tamper(const char *tok, const char *elem, int want_phase, const char *want_code)
{
  size_t n = 0;
  char *xml = (char *)sceplab_b64_decode(tok, strlen(tok), &n, NULL), *p, open[64];
  sceplab_intune_failure f;
  sceplab_error err;
  snprintf(open, sizeof(open), "<%s>", elem);
  assert_non_null(xml);
  p = strstr(xml, open);
  assert_non_null(p);
  p += strlen(open) + 40;
  *p = *p == 'A' ? 'B' : 'A';
  assert_null(sceplab_intune_verify(&keys, xml, n, 0, &f, &err));
  assert_int_equal(f.phase, want_phase);
  assert_string_equal(f.code, want_code);
  assert_non_null(err.msg[0] ? err.msg : NULL);
  free(xml);
}

static void refuses_any_change(void **state)
{
  char *tok = issue(0, 0);
  (void)state;
  tamper(tok, "CertEnrollChallenge", 1, "SignatureVerificationFailed"); /* the signed content */
  tamper(tok, "Signature", 1, "SignatureVerificationFailed");
  tamper(tok, "SignerThumbprint", 1, "SignatureVerificationFailed");
  free(tok);
}

static void refuses_expired_and_garbage(void **state)
{
  char *tok = issue((int64_t)time(NULL) - 3600, 30);
  sceplab_intune_failure f;
  sceplab_error err;
  (void)state;
  assert_null(sceplab_intune_verify(&keys, tok, strlen(tok), 0, &f, &err));
  assert_int_equal(f.phase, 2);
  assert_string_equal(f.code, "ChallengeExpired");
  assert_int_equal(f.hresult, 0x411);
  /* valid at a time inside its window (a replay's virtual clock) */
  sceplab_val_free(sceplab_intune_verify(&keys, tok, strlen(tok), (int64_t)time(NULL) - 3000, &f, &err));
  assert_int_equal(f.phase, 0);
  free(tok);
  assert_null(sceplab_intune_verify(&keys, "s3cret", 6, 0, &f, &err));
  assert_int_equal(f.phase, 1);
  assert_string_equal(f.code, "ChallengeMalformed");
  assert_null(sceplab_intune_verify(&keys, "<Data></Data>", 13, 0, &f, &err));
  assert_string_equal(f.code, "SignatureVerificationFailed");
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(passes_as_issued),
    cmocka_unit_test(refuses_any_change),
    cmocka_unit_test(refuses_expired_and_garbage),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
