/* SyncML: the seed 002 profile with every ClientCertificateInstall node, namespaces, thumbprint
 * checks and malformed documents. */
#include <stdlib.h>
#include <string.h>

#include "helpers.h"

#define E "scep_enrollments.0."

static sceplab_val *parse_fixture(const char *rel, int show)
{
  return decode_fixture(sceplab_syncml_parse, rel, show);
}

static void every_csp_node(void **state)
{
  sceplab_val *v = parse_fixture("decode/syncml-scep.xml", 0);
  (void)state;
  assert_string_equal(str_at(v, "namespace"), "SYNCML:SYNCML1.2");
  assert_string_equal(str_at(v, "header.session_id"), "5");
  assert_int_equal(int_at(v, "command_count"), 22);
  assert_string_equal(str_at(v, "commands.2.command"), "Atomic");
  assert_string_equal(str_at(v, "commands.3.parent"), "19");
  assert_string_equal(str_at(v, E "scope"), "user");
  assert_string_equal(str_at(v, E "request.canonical"),
                      "AC_d70bf40e-1822-44b4-9ee5-0cc777c5bf70/LogicalName_3b597a2d_27d2_45ff_bca6_57d2db6f17fb;Hash=1399397888");
  assert_string_equal(str_at(v, E "server_urls.1"), "https://ndes.joymalya.xyz/certsrv/mscep/mscep.dll");
  assert_string_equal(str_at(v, E "eku.0.oid"), "1.3.6.1.5.5.7.3.2");
  assert_string_equal(str_at(v, E "eku.1.oid"), "1.3.6.1.4.1.311.20.2.2");
  assert_int_equal(int_at(v, E "key_usage.value"), 160);
  assert_string_equal(str_at(v, E "key_usage.bits.0"), "digitalSignature");
  assert_string_equal(str_at(v, E "key_usage.bits.1"), "keyEncipherment");
  assert_string_equal(str_at(v, E "subject_name"), "CN=joymalya");
  assert_string_equal(str_at(v, E "sans.0.type"), "upn");
  assert_int_equal(int_at(v, E "sans.0.code"), 11);
  assert_string_equal(str_at(v, E "sans.1.type"), "email");
  assert_string_equal(str_at(v, E "sans.2.type"), "dns");
  assert_string_equal(str_at(v, E "sans.3.type"), "uri");
  assert_int_equal(int_at(v, E "key_protection.value"), 2);
  assert_int_equal(int_at(v, E "key_length"), 2048);
  assert_string_equal(str_at(v, E "hash_algorithms.0"), "SHA-2");
  assert_int_equal(int_at(v, E "retry_count"), 3);
  assert_int_equal(int_at(v, E "retry_delay"), 1);
  assert_string_equal(str_at(v, E "template_name"), "IntuneSCEP");
  assert_string_equal(str_at(v, E "valid_period"), "Years");
  assert_int_equal(int_at(v, E "valid_period_units"), 1);
  assert_string_equal(str_at(v, E "container_name"), "joymalya-scep");
  assert_string_equal(str_at(v, E "custom_text"), "Enroll your Wi-Fi certificate");
  assert_string_equal(str_at(v, E "aad_key_identifiers.1"), "e5f6a7b8");
  assert_true(bool_at(v, E "enroll_executed"));
  assert_string_equal(str_at(v, E "ca_thumbprint_check.status"), "matches-root");
  assert_string_equal(str_at(v, "trusted_certificates.0.store"), "Root");
  assert_true(bool_at(v, "trusted_certificates.0.thumbprint_matches_uri"));
  assert_null(sceplab_path(v, E "missing_nodes.0"));
  /* The challenge is decoded as a token and never shown in clear by default. */
  assert_string_equal(str_at(v, E "challenge.kind"), "intune-token");
  assert_string_equal(str_at(v, E "challenge.token.device_id"), "58c120b7-a22a-428f-89de-7b0856e0c43e");
  assert_non_null(strstr(str_at(v, E "challenge.value"), "redacted"));
  assert_non_null(strstr(str_at(v, E "nodes.Challenge"), "redacted"));
  assert_non_null(strstr(str_at(v, "commands.4.items.0.data"), "redacted"));
  assert_false(has_warning(v, NULL, "CAThumbprint"));
  sceplab_val_free(v);
}

static void secrets_on_request(void **state)
{
  sceplab_val *v = parse_fixture("decode/syncml-scep.xml", 1);
  (void)state;
  assert_non_null(strstr(str_at(v, E "challenge.value"), "PENlcnRFbnJvbGxUb2tlbj4"));
  sceplab_val_free(v);
}

static void namespace_optional(void **state)
{
  sceplab_val *a = parse_fixture("decode/syncml-scep.xml", 0);
  sceplab_val *b = parse_fixture("decode/syncml-scep-nons.xml", 0);
  (void)state;
  assert_null(str_at(b, "namespace"));
  assert_int_equal(int_at(a, "command_count"), int_at(b, "command_count"));
  assert_string_equal(str_at(a, E "subject_name"), str_at(b, E "subject_name"));
  assert_string_equal(str_at(b, E "ca_thumbprint_check.status"), "matches-root");
  sceplab_val_free(a);
  sceplab_val_free(b);
}

static void thumbprint_checks(void **state)
{
  sceplab_val *m = parse_fixture("decode/syncml-thumb-mismatch.xml", 0);
  sceplab_val *i = parse_fixture("decode/syncml-thumb-intermediate.xml", 0);
  (void)state;
  assert_string_equal(str_at(m, E "ca_thumbprint_check.status"), "no-match");
  assert_true(has_warning(m, "scep_enrollments.0", "hash value is not correct"));
  assert_true(has_warning(m, NULL, "CAThumbprint matches no delivered"));
  /* a multi-tier PKI whose profile names the issuing CA, delivered to the CA store */
  assert_string_equal(str_at(i, E "ca_thumbprint_check.status"), "matches-intermediate");
  assert_string_equal(str_at(i, E "ca_thumbprint_check.store"), "CA");
  assert_false(has_warning(i, NULL, "CAThumbprint"));
  sceplab_val_free(m);
  sceplab_val_free(i);
}

static sceplab_val *parse_text(const char *xml, sceplab_error *err)
{
  return sceplab_syncml_parse((const unsigned char *)xml, strlen(xml), NULL, err);
}

static void node_values_checked(void **state)
{
  sceplab_error err;
  const char *xml =
    "<SyncML><SyncBody><Replace><CmdID>1</CmdID><Item><Target><LocURI>./Device/Vendor/MSFT/ClientCertificateInstall/"
    "SCEP/abc/Install/KeyUsage</LocURI></Target><Data>64</Data></Item></Replace>"
    "<Replace><CmdID>2</CmdID><Item><Target><LocURI>./Device/Vendor/MSFT/ClientCertificateInstall/SCEP/abc/Install/"
    "SubjectAlternativeNames</LocURI></Target><Data>user@x;99+y</Data></Item></Replace>"
    "<Replace><CmdID>3</CmdID><Item><Target><LocURI>./Device/Vendor/MSFT/ClientCertificateInstall/SCEP/abc/Install/"
    "KeyLength</LocURI></Target><Data>big</Data></Item></Replace>"
    "<Exec><CmdID>4</CmdID><Item><Target><LocURI>./Device/Vendor/MSFT/ClientCertificateInstall/SCEP/abc/Install/"
    "Enroll</LocURI></Target></Item></Exec></SyncBody></SyncML>";
  sceplab_val *v = parse_text(xml, &err);
  (void)state;
  assert_non_null(v);
  assert_string_equal(str_at(v, E "scope"), "device");
  assert_true(has_warning(v, "scep_enrollments.0", "neither digitalSignature"));
  assert_true(has_warning(v, "scep_enrollments.0", "no 'format+' prefix"));
  assert_true(has_warning(v, "scep_enrollments.0", "unknown name format 99"));
  assert_true(has_warning(v, "scep_enrollments.0", "KeyLength 'big'"));
  assert_true(has_warning(v, "scep_enrollments.0", "required node(s) were not set"));
  assert_string_equal(str_at(v, E "missing_nodes.0"), "ServerURL");
  assert_string_equal(str_at(v, E "ca_thumbprint_check.status"), "no-ca-thumbprint");
  sceplab_val_free(v);
}

static void malformed_documents(void **state)
{
  sceplab_error err;
  size_t n;
  unsigned char *buf = fixture("decode/syncml-scep.xml", &n);
  (void)state;
  assert_null(sceplab_syncml_parse(buf, n / 2, NULL, &err)); /* truncated */
  assert_int_equal(err.code, SCEPLAB_E_INPUT);
  assert_non_null(strstr(err.msg, "invalid XML at line"));
  free(buf);
  assert_null(parse_text("<SyncML><SyncBody></SyncHdr></SyncML>", &err));
  assert_non_null(strstr(err.msg, "line 1"));
  assert_null(parse_text("<Foo/>", &err));
  assert_non_null(strstr(err.msg, "expected <SyncML>"));
  assert_null(parse_text("<!DOCTYPE x [<!ENTITY a \"aaaa\"><!ENTITY b \"&a;&a;&a;\">]><SyncML>&b;</SyncML>", &err));
  assert_non_null(strstr(err.msg, "entity"));
  assert_null(sceplab_syncml_parse((const unsigned char *)"\x00\x01\xff\xfe garbage", 12, NULL, &err));
  assert_null(parse_text("", &err));
}

static void oversized_field(void **state)
{
  /* A 3 MiB Data field still decodes; the command list keeps the first MiB and says so. */
  size_t big = 3u << 20;
  const char *head = "<SyncML><SyncBody><Add><CmdID>1</CmdID><Item><Target><LocURI>./Vendor/MSFT/x</LocURI></Target><Data>";
  const char *tail = "</Data></Item></Add></SyncBody></SyncML>";
  char *xml = malloc(strlen(head) + big + strlen(tail) + 1);
  sceplab_error err;
  sceplab_val *v;
  (void)state;
  strcpy(xml, head);
  memset(xml + strlen(head), 'A', big);
  strcpy(xml + strlen(head) + big, tail);
  v = parse_text(xml, &err);
  assert_non_null(v);
  assert_int_equal(int_at(v, "commands.0.items.0.data_length"), (int64_t)big);
  assert_true(bool_at(v, "commands.0.items.0.data_truncated"));
  sceplab_val_free(v);
  free(xml);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(every_csp_node),
    cmocka_unit_test(secrets_on_request),
    cmocka_unit_test(namespace_optional),
    cmocka_unit_test(thumbprint_checks),
    cmocka_unit_test(node_values_checked),
    cmocka_unit_test(malformed_documents),
    cmocka_unit_test(oversized_field),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
