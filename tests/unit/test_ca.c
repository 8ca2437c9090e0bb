/* The certificates the CA makes from names it is given: the Microsoft template name written the
 * same by the client's CSR and by the CA (UTF-16 of the whole UTF-8 name), and a TLS or host name
 * that is one common name and one SAN whatever characters it holds. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "helpers.h"

static char dir[] = "/tmp/sceplab-test-ca-XXXXXX";
static sceplab_ca *ca;

static int setup(void **state)
{
  (void)state;
  if(!(ca = scratch_ca(dir)))
    return -1;
  return 0;
}

static int teardown(void **state)
{
  (void)state;
  return scratch_ca_remove(ca, dir);
}

/* The value of the template name extension (1.3.6.1.4.1.311.20.2) in exts, DER (malloc'd). */
static unsigned char *template_value(const STACK_OF(X509_EXTENSION) *exts, int *len)
{
  ASN1_OBJECT *oid = OBJ_txt2obj("1.3.6.1.4.1.311.20.2", 1);
  int i = X509v3_get_ext_by_OBJ(exts, oid, -1);
  unsigned char *out = NULL;
  ASN1_OBJECT_free(oid);
  assert_true(i >= 0);
  {
    ASN1_OCTET_STRING *v = X509_EXTENSION_get_data(X509v3_get_ext(exts, i));
    *len = ASN1_STRING_length(v);
    out = malloc((size_t)*len);
    assert_non_null(out);
    memcpy(out, ASN1_STRING_get0_data(v), (size_t)*len);
  }
  return out;
}

/* Before: the client wrote each byte of the UTF-8 name as one UTF-16 unit, so "Zürich" reached
 * the CA as "ZÃ¼rich" and matched no template; the CA's copy was right. */
static void template_name_is_the_same_from_client_and_ca(void **state)
{
  static const char name[] = "Wi-Fi Z\xc3\xbcrich \xe2\x82\xac"; /* "Wi-Fi Zürich €" */
  static const unsigned char bmp[] = {0x1e, 0x1c, 0, 'W', 0, 'i', 0, '-', 0, 'F', 0, 'i', 0, ' ', 0, 'Z', 0, 0xfc, 0, 'r',
                                      0, 'i', 0, 'c', 0, 'h', 0, ' ', 0x20, 0xac};
  sceplab_csr_params p;
  sceplab_issue_params ip;
  sceplab_req_id id;
  sceplab_error err;
  EVP_PKEY *key;
  unsigned char *der, *from_csr, *from_ca;
  const unsigned char *q;
  size_t len;
  int n1, n2;
  X509_REQ *req;
  X509 *x;
  STACK_OF(X509_EXTENSION) *exts;
  (void)state;
  memset(&p, 0, sizeof(p));
  p.subject = "CN=template";
  p.template_name = name;
  key = sceplab_key_generate("ec:p256", &err);
  assert_non_null(key);
  der = sceplab_csr_build(&p, key, &len, &err);
  assert_non_null(der);
  q = der;
  req = d2i_X509_REQ(NULL, &q, (long)len);
  assert_non_null(req);
  exts = X509_REQ_get_extensions(req);
  from_csr = template_value(exts, &n1);
  sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
  assert_int_equal(n1, (int)sizeof(bmp));
  assert_memory_equal(from_csr, bmp, sizeof(bmp));
  memset(&ip, 0, sizeof(ip));
  ip.template_name = name;
  assert_int_equal(sceplab_req_id_make(&id, "tx-template", "PKCSReq", req, der, len, key, &err), 0);
  x = sceplab_ca_issue_req(ca, req, der, len, &id, &ip, NULL, &err);
  assert_non_null(x);
  from_ca = template_value(X509_get0_extensions(x), &n2);
  assert_int_equal(n1, n2);
  assert_memory_equal(from_csr, from_ca, (size_t)n1);
  /* a name that is no UTF-8 is refused, not written as something else */
  p.template_name = "Z\xfcrich";
  sceplab_err_clear(&err);
  assert_null(sceplab_csr_build(&p, key, &len, &err));
  assert_int_equal(err.code, SCEPLAB_E_INPUT);
  free(from_csr);
  free(from_ca);
  free(der);
  X509_free(x);
  X509_REQ_free(req);
  EVP_PKEY_free(key);
}

static X509 *pem_cert(const char *pem)
{
  BIO *b = BIO_new_mem_buf(pem, -1);
  X509 *x = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
  BIO_free(b);
  return x;
}

/* Before: the names were joined into OpenSSL's "DNS:a,DNS:b" text, so a comma in one added SANs
 * (and the common name went through the DN parser, where a comma starts another attribute). */
static void a_tls_name_is_one_name(void **state)
{
  static const char *const names[] = {"ndes.contoso.com,DNS:evil.example,IP:10.0.0.1", "192.0.2.7"};
  static const char *const spaced[] = {"ndes contoso"};
  sceplab_error err;
  char *cert = NULL, *key = NULL, cn[256];
  GENERAL_NAMES *sans;
  X509 *x;
  const GENERAL_NAME *gn;
  (void)state;
  assert_int_equal(sceplab_ca_tls_server(ca, names, 2, 30, &cert, &key, &err), 0);
  x = pem_cert(cert);
  assert_non_null(x);
  sans = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
  assert_non_null(sans);
  assert_int_equal(sk_GENERAL_NAME_num(sans), 2);
  gn = sk_GENERAL_NAME_value(sans, 0);
  assert_int_equal(gn->type, GEN_DNS);
  assert_int_equal(ASN1_STRING_length(gn->d.dNSName), (int)strlen(names[0]));
  assert_memory_equal(ASN1_STRING_get0_data(gn->d.dNSName), names[0], strlen(names[0]));
  assert_int_equal(sk_GENERAL_NAME_value(sans, 1)->type, GEN_IPADD);
  assert_int_equal(X509_NAME_entry_count(X509_get_subject_name(x)), 1);
  assert_true(X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, cn, sizeof(cn)) > 0);
  assert_string_equal(cn, names[0]);
  GENERAL_NAMES_free(sans);
  X509_free(x);
  free(cert);
  free(key);
  /* what no client could ask for is refused with the reason */
  sceplab_err_clear(&err);
  assert_int_equal(sceplab_ca_tls_server(ca, spaced, 1, 30, &cert, &key, &err), -1);
  assert_int_equal(err.code, SCEPLAB_E_USAGE);
  assert_non_null(strstr(err.msg, "TLS name 1"));
}

static void a_host_name_is_one_common_name(void **state)
{
  sceplab_error err;
  X509 *x;
  char cn[128];
  (void)state;
  x = sceplab_ca_policy_cert(ca, "NDES01,O=Evil", 0, 30, &err);
  assert_non_null(x);
  assert_int_equal(X509_NAME_entry_count(X509_get_subject_name(x)), 1);
  assert_true(X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, cn, sizeof(cn)) > 0);
  assert_string_equal(cn, "NDES01,O=Evil");
  X509_free(x);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(template_name_is_the_same_from_client_and_ca),
    cmocka_unit_test(a_tls_name_is_one_name),
    cmocka_unit_test(a_host_name_is_one_common_name),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
