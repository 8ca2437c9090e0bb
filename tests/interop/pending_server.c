/* A SCEP responder that answers PENDING a set number of times before issuing, for the tests of
 * CertPoll, --state and --resume (no Debian SCEP server ever answers PENDING). Loopback only.
 *   pending_server CA.pem CA.key N   -> prints its port, serves until killed */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <microhttpd.h>
#include <openssl/bio.h>
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/pkcs7.h>
#include <openssl/x509.h>

#include "sceplab/sceplab.h"

static X509 *ca;
static EVP_PKEY *cakey;
static int pending_times;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

typedef struct txn { char id[160]; int polls; X509_REQ *req; struct txn *next; } txn;
static txn *txns;
static long serial = 1000;

typedef struct body { unsigned char *p; size_t n; } body;

static int attr(CMS_SignerInfo *si, const char *oid, unsigned char *out, size_t outlen, size_t *len)
{
  ASN1_OBJECT *o = OBJ_txt2obj(oid, 1);
  int idx = CMS_signed_get_attr_by_OBJ(si, o, -1);
  ASN1_TYPE *t;
  ASN1_OBJECT_free(o);
  if(idx < 0)
    return -1;
  t = X509_ATTRIBUTE_get0_type(CMS_signed_get_attr(si, idx), 0);
  *len = (size_t)ASN1_STRING_length(t->value.asn1_string);
  if(*len >= outlen)
    return -1;
  memcpy(out, ASN1_STRING_get0_data(t->value.asn1_string), *len);
  out[*len] = 0;
  return 0;
}

static unsigned char *issue(X509_REQ *req, size_t *len)
{
  X509 *x = X509_new();
  PKCS7 *p7 = PKCS7_new();
  unsigned char *der = NULL, *out;
  int n;
  X509_set_version(x, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
  X509_set_subject_name(x, X509_REQ_get_subject_name(req));
  X509_set_issuer_name(x, X509_get_subject_name(ca));
  X509_gmtime_adj(X509_getm_notBefore(x), 0);
  X509_gmtime_adj(X509_getm_notAfter(x), 86400 * 30);
  X509_set_pubkey(x, X509_REQ_get0_pubkey(req));
  X509_sign(x, cakey, EVP_sha256());
  PKCS7_set_type(p7, NID_pkcs7_signed);
  PKCS7_content_new(p7, NID_pkcs7_data);
  PKCS7_add_certificate(p7, x);
  n = i2d_PKCS7(p7, &der);
  out = malloc((size_t)n);
  memcpy(out, der, (size_t)n);
  *len = (size_t)n;
  OPENSSL_free(der);
  PKCS7_free(p7);
  X509_free(x);
  return out;
}

/* Answers one PKIOperation: PENDING until the transaction has been polled pending_times times. */
static unsigned char *pkioperation(const unsigned char *msg, size_t n, size_t *outlen)
{
  const unsigned char *p = msg;
  CMS_ContentInfo *cms = d2i_CMS_ContentInfo(NULL, &p, (long)n);
  BIO *content = BIO_new(BIO_s_mem());
  CMS_SignerInfo *si;
  STACK_OF(X509) *signers;
  unsigned char txid[160], nonce[64], mt[8], rnonce[SCEPLAB_NONCE_LEN], *reply = NULL, *issued = NULL;
  size_t l1, l2, l3, ilen = 0;
  txn *t;
  sceplab_pkimsg_params rp;
  sceplab_error err;
  if(!cms || !CMS_verify(cms, NULL, NULL, NULL, content, CMS_NO_SIGNER_CERT_VERIFY | CMS_BINARY))
    goto done;
  si = sk_CMS_SignerInfo_value(CMS_get0_SignerInfos(cms), 0);
  signers = CMS_get0_signers(cms);
  if(attr(si, "2.16.840.1.113733.1.9.7", txid, sizeof(txid), &l1) || attr(si, "2.16.840.1.113733.1.9.5", nonce, sizeof(nonce), &l2) ||
     attr(si, "2.16.840.1.113733.1.9.2", mt, sizeof(mt), &l3) || l2 != SCEPLAB_NONCE_LEN)
    goto done;
  for(t = txns; t && strcmp(t->id, (char *)txid) != 0; t = t->next)
    ;
  if(!t) {
    t = calloc(1, sizeof(*t));
    snprintf(t->id, sizeof(t->id), "%s", txid);
    t->next = txns;
    txns = t;
  }
  if(atoi((char *)mt) == 19) {
    /* PKCSReq: open the envelope for the CSR */
    char *env = NULL;
    long envlen = BIO_get_mem_data(content, &env);
    const unsigned char *q = (const unsigned char *)env;
    CMS_ContentInfo *e = d2i_CMS_ContentInfo(NULL, &q, envlen);
    BIO *csr = BIO_new(BIO_s_mem());
    if(e && CMS_decrypt(e, cakey, ca, NULL, csr, CMS_BINARY)) {
      char *d = NULL;
      long dl = BIO_get_mem_data(csr, &d);
      const unsigned char *r = (const unsigned char *)d;
      X509_REQ_free(t->req);
      t->req = d2i_X509_REQ(NULL, &r, dl);
    }
    BIO_free(csr);
    CMS_ContentInfo_free(e);
  }
  else
    t->polls++;
  memset(&rp, 0, sizeof(rp));
  memset(rnonce, 0x42, sizeof(rnonce));
  rp.message_type = SCEPLAB_MSG_CERTREP;
  rp.recipient = sk_X509_value(signers, 0);
  rp.cipher = "aes128";
  rp.digest = "sha256";
  rp.signer_cert = ca;
  rp.signer_key = cakey;
  rp.transaction_id = (char *)txid;
  rp.sender_nonce = rnonce;
  rp.recipient_nonce = nonce;
  rp.fail_info = -1;
  if(!t->req) {
    rp.pki_status = 2;
    rp.fail_info = 2;
    rp.no_content = 1;
  }
  else if(t->polls < pending_times) {
    rp.pki_status = 3;
    rp.no_content = 1;
  }
  else {
    issued = issue(t->req, &ilen);
    rp.pki_status = 0;
    rp.content = issued;
    rp.content_len = ilen;
  }
  reply = sceplab_pkimsg_build(&rp, outlen, &err);
  sk_X509_free(signers);
done:
  free(issued);
  BIO_free(content);
  CMS_ContentInfo_free(cms);
  ERR_clear_error();
  return reply;
}

static enum MHD_Result send_bytes(struct MHD_Connection *c, int status, const char *ctype, void *data, size_t n)
{
  struct MHD_Response *r = MHD_create_response_from_buffer(n, data, MHD_RESPMEM_MUST_FREE);
  enum MHD_Result ret;
  MHD_add_response_header(r, "Content-Type", ctype);
  ret = MHD_queue_response(c, (unsigned)status, r);
  MHD_destroy_response(r);
  return ret;
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                               const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
  body *b = *con_cls;
  const char *op = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "operation");
  (void)cls; (void)url; (void)version;
  if(!b) {
    *con_cls = b = calloc(1, sizeof(*b));
    return MHD_YES;
  }
  if(*upload_size) {
    b->p = realloc(b->p, b->n + *upload_size);
    memcpy(b->p + b->n, upload, *upload_size);
    b->n += *upload_size;
    *upload_size = 0;
    return MHD_YES;
  }
  if(op && strcmp(op, "GetCACaps") == 0) {
    char *caps = strdup("POSTPKIOperation\nSHA-256\nAES\nRenewal\n");
    return send_bytes(c, 200, "text/plain", caps, strlen(caps));
  }
  if(op && strcmp(op, "GetCACert") == 0) {
    unsigned char *der = NULL;
    int n = i2d_X509(ca, &der);
    void *copy = malloc((size_t)n);
    memcpy(copy, der, (size_t)n);
    OPENSSL_free(der);
    return send_bytes(c, 200, "application/x-x509-ca-cert", copy, (size_t)n);
  }
  if(op && strcmp(op, "PKIOperation") == 0 && strcmp(method, "POST") == 0) {
    size_t n = 0;
    unsigned char *reply;
    pthread_mutex_lock(&lock);
    reply = pkioperation(b->p, b->n, &n);
    pthread_mutex_unlock(&lock);
    if(reply)
      return send_bytes(c, 200, "application/x-pki-message", reply, n);
  }
  return send_bytes(c, 400, "text/plain", strdup("bad request"), 11);
}

static void done_cb(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode t)
{
  body *b = *con_cls;
  (void)cls; (void)c; (void)t;
  if(b) {
    free(b->p);
    free(b);
  }
}

int main(int argc, char **argv)
{
  FILE *f;
  struct MHD_Daemon *d;
  const union MHD_DaemonInfo *info;
  if(argc != 4) {
    fprintf(stderr, "usage: pending_server CA.pem CA.key N\n");
    return 2;
  }
  f = fopen(argv[1], "r");
  ca = f ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;
  if(f)
    fclose(f);
  f = fopen(argv[2], "r");
  cakey = f ? PEM_read_PrivateKey(f, NULL, NULL, NULL) : NULL;
  if(f)
    fclose(f);
  pending_times = atoi(argv[3]);
  if(!ca || !cakey)
    return 2;
  d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL, handler, NULL,
                       MHD_OPTION_NOTIFY_COMPLETED, done_cb, NULL,
                       MHD_OPTION_SOCK_ADDR, NULL, MHD_OPTION_END);
  if(!d)
    return 1;
  info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
  printf("%u\n", (unsigned)info->port);
  fflush(stdout);
  for(;;)
    pause();
}
