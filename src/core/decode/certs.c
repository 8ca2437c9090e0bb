/* The certificate and certification request decoders (decode.h): the description is pki's
 * (x509.c), the chain facts and the redaction of secrets are the decoder's. */
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "pki/pki_int.h"
#include "sceplab/decode.h"

/* Order-independent chain facts: which certificate issued which. */
static void chain_links(sceplab_val *list, STACK_OF(X509) *sk)
{
  int i, j;
  for(i = 0; i < sk_X509_num(sk); i++) {
    X509 *x = sk_X509_value(sk, i);
    sceplab_val *c = (sceplab_val *)list->u.c.items[i];
    for(j = 0; j < sk_X509_num(sk); j++) {
      X509 *issuer = sk_X509_value(sk, j);
      if(i != j && X509_check_issued(issuer, x) == X509_V_OK) {
        EVP_PKEY *ipk = X509_get0_pubkey(issuer);
        sceplab_obj_set_int(c, "issued_by", j);
        sceplab_obj_set_bool(c, "issuer_signature_valid", ipk && X509_verify(x, ipk) == 1);
        break;
      }
    }
  }
  ERR_clear_error();
}

sceplab_val *sceplab_certs_parse(const unsigned char *buf, size_t n, sceplab_error *err)
{
  char problem[160];
  STACK_OF(X509) *sk = sceplab_read_certs_noted(buf, n, problem, sizeof(problem), err);
  sceplab_val *v, *list;
  int i;
  if(!sk)
    return NULL;
  v = sceplab_val_obj();
  if(problem[0])
    sceplab_warn(v, "%s", problem);
  list = sceplab_val_arr();
  for(i = 0; i < sk_X509_num(sk); i++)
    sceplab_arr_push(list, sceplab_x509_describe(sk_X509_value(sk, i)));
  if(!sceplab_val_failed(list))
    chain_links(list, sk);
  sceplab_obj_set_int(v, "count", sk_X509_num(sk));
  sceplab_obj_set(v, "certificates", list);
  sk_X509_pop_free(sk, X509_free);
  return sceplab_done(v, err);
}

sceplab_val *sceplab_csr_parse(const unsigned char *buf, size_t n, const sceplab_decode_opts *opts,
                               sceplab_error *err)
{
  X509_REQ *req = NULL;
  sceplab_val *v;
  int fast;
  if(n > 0x7fffffff)
    return (void)sceplab_err_set(err, SCEPLAB_E_INPUT, "request too large"), NULL;
  fast = sceplab_pki_rsa_decode_enter(); /* a key only described: pki/rsa_decode.c */
  if(sceplab_is_pem(buf, n)) {
    BIO *b = BIO_new_mem_buf(buf, (int)n);
    req = b ? PEM_read_bio_X509_REQ(b, NULL, NULL, NULL) : NULL;
    BIO_free(b);
  }
  else {
    const unsigned char *p = buf;
    req = d2i_X509_REQ(NULL, &p, (long)n);
  }
  sceplab_pki_rsa_decode_leave(fast);
  if(!req) {
    sceplab_err_openssl(err, SCEPLAB_E_INPUT, "not a PKCS#10 certificate request");
    return NULL;
  }
  v = sceplab_x509_req_describe(req, opts && opts->show_secrets);
  X509_REQ_free(req);
  return sceplab_done(v, err);
}

sceplab_val *sceplab_csr_describe(X509_REQ *req, const sceplab_decode_opts *opts)
{
  return sceplab_x509_req_describe(req, opts && opts->show_secrets);
}
