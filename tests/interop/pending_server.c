/* A SCEP responder for what Debian's SCEP server (micromdm) does not do: PENDING a set number of
 * times before issuing (CertPoll, --state, --resume), GetCert, GetCRL and GetNextCACert. Built on
 * OpenSSL directly; its artifacts (certificates, the CRL) are checked with the openssl tool by the
 * specs. Loopback only.
 *   pending_server CA.pem CA.key N [NEXT-CA.pem]   -> prints its port, serves until killed */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>
#include <openssl/bio.h>
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/pkcs7.h>
#include <openssl/x509.h>

#include "sceplab/sceplab.h"

static X509 *ca, *next_ca;
static EVP_PKEY *cakey;
static STACK_OF(X509) *issued_certs; /* GetCert answers from these */
#define REVOKED_SERIAL 0xBAD           /* the one entry of the CRL GetCRL answers with */
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

/* A degenerate (certificates-only) PKCS#7 holding cert or crl, DER. */
static unsigned char *degenerate(X509 *cert, X509_CRL *crl, size_t *len)
{
  PKCS7 *p7 = PKCS7_new();
  unsigned char *der = NULL, *out;
  int n;
  PKCS7_set_type(p7, NID_pkcs7_signed);
  PKCS7_content_new(p7, NID_pkcs7_data);
  if(cert)
    PKCS7_add_certificate(p7, cert);
  if(crl)
    PKCS7_add_crl(p7, crl);
  n = i2d_PKCS7(p7, &der);
  out = malloc((size_t)n);
  memcpy(out, der, (size_t)n);
  *len = (size_t)n;
  OPENSSL_free(der);
  PKCS7_free(p7);
  return out;
}

static unsigned char *issue(X509_REQ *req, size_t *len)
{
  X509 *x = X509_new();
  X509_set_version(x, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
  X509_set_subject_name(x, X509_REQ_get_subject_name(req));
  X509_set_issuer_name(x, X509_get_subject_name(ca));
  X509_gmtime_adj(X509_getm_notBefore(x), 0);
  X509_gmtime_adj(X509_getm_notAfter(x), 86400 * 30);
  X509_set_pubkey(x, X509_REQ_get0_pubkey(req));
  X509_sign(x, cakey, EVP_sha256());
  sk_X509_push(issued_certs, x);
  return degenerate(x, NULL, len);
}

/* The CA's CRL: one revoked serial, valid for a day, signed with SHA-256. */
static X509_CRL *make_crl(void)
{
  X509_CRL *crl = X509_CRL_new();
  X509_REVOKED *r = X509_REVOKED_new();
  ASN1_INTEGER *sn = ASN1_INTEGER_new();
  ASN1_TIME *now = ASN1_TIME_adj(NULL, time(NULL), 0, 0), *next = ASN1_TIME_adj(NULL, time(NULL), 1, 0);
  X509_CRL_set_version(crl, 1);
  X509_CRL_set_issuer_name(crl, X509_get_subject_name(ca));
  X509_CRL_set1_lastUpdate(crl, now);
  X509_CRL_set1_nextUpdate(crl, next);
  ASN1_INTEGER_set(sn, REVOKED_SERIAL);
  X509_REVOKED_set_serialNumber(r, sn);
  X509_REVOKED_set_revocationDate(r, now);
  X509_CRL_add0_revoked(crl, r);
  X509_CRL_sort(crl);
  X509_CRL_sign(crl, cakey, EVP_sha256());
  ASN1_INTEGER_free(sn);
  ASN1_TIME_free(now);
  ASN1_TIME_free(next);
  return crl;
}

/* GetCert: the issued certificate with the serial of the IssuerAndSerialNumber in content. */
static X509 *find_issued(const unsigned char *content, size_t n)
{
  const unsigned char *p = content;
  PKCS7_ISSUER_AND_SERIAL *ias = d2i_PKCS7_ISSUER_AND_SERIAL(NULL, &p, (long)n);
  X509 *found = NULL;
  int i;
  for(i = 0; ias && i < sk_X509_num(issued_certs) && !found; i++) {
    X509 *x = sk_X509_value(issued_certs, i);
    if(!ASN1_INTEGER_cmp(X509_get0_serialNumber(x), ias->serial) && !X509_NAME_cmp(X509_get_issuer_name(x), ias->issuer))
      found = x;
  }
  PKCS7_ISSUER_AND_SERIAL_free(ias);
  return found;
}

/* Opens the request's envelope (encrypted to the CA): its content, DER, in a BIO the caller frees. */
static BIO *open_envelope(BIO *content)
{
  char *env = NULL;
  long envlen = BIO_get_mem_data(content, &env);
  const unsigned char *q = (const unsigned char *)env;
  CMS_ContentInfo *e = d2i_CMS_ContentInfo(NULL, &q, envlen);
  BIO *out = BIO_new(BIO_s_mem());
  if(!e || !CMS_decrypt(e, cakey, ca, NULL, out, CMS_BINARY)) {
    BIO_free(out);
    out = NULL;
  }
  CMS_ContentInfo_free(e);
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
  if(atoi((char *)mt) == SCEPLAB_MSG_GETCERT || atoi((char *)mt) == SCEPLAB_MSG_GETCRL) {
    BIO *inner = open_envelope(content);
    char *d = NULL;
    long dl = inner ? BIO_get_mem_data(inner, &d) : 0;
    X509 *x = NULL;
    X509_CRL *crl = NULL;
    if(atoi((char *)mt) == SCEPLAB_MSG_GETCERT)
      x = inner ? find_issued((const unsigned char *)d, (size_t)dl) : NULL;
    else
      crl = inner ? make_crl() : NULL;
    if(x || crl) {
      issued = degenerate(x, crl, &ilen);
      rp.pki_status = 0;
      rp.content = issued;
      rp.content_len = ilen;
    }
    else {
      rp.pki_status = 2;
      rp.fail_info = inner ? 4 : 2; /* badCertId, or badRequest when the envelope did not open */
      rp.no_content = 1;
    }
    X509_CRL_free(crl);
    BIO_free(inner);
    goto reply;
  }
  if(atoi((char *)mt) == SCEPLAB_MSG_PKCSREQ) {
    /* PKCSReq: open the envelope for the CSR */
    BIO *csr = open_envelope(content);
    if(csr) {
      char *d = NULL;
      long dl = BIO_get_mem_data(csr, &d);
      const unsigned char *r = (const unsigned char *)d;
      X509_REQ_free(t->req);
      t->req = d2i_X509_REQ(NULL, &r, dl);
    }
    BIO_free(csr);
  }
  else
    t->polls++;
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
reply:
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
    char *caps = strdup(next_ca ? "POSTPKIOperation\nSHA-256\nAES\nRenewal\nGetNextCACert\n"
                                : "POSTPKIOperation\nSHA-256\nAES\nRenewal\n");
    return send_bytes(c, 200, "text/plain", caps, strlen(caps));
  }
  if(op && strcmp(op, "GetNextCACert") == 0 && next_ca) {
    /* RFC 8894 4.7: the new CA certificate in a certificates-only PKCS#7, signed by the current CA. */
    size_t n = 0;
    unsigned char *inner = degenerate(next_ca, NULL, &n), *der = NULL;
    BIO *in = BIO_new_mem_buf(inner, (int)n);
    CMS_ContentInfo *signed_ = CMS_sign(ca, cakey, NULL, in, CMS_BINARY | CMS_NOSMIMECAP);
    int len = signed_ ? i2d_CMS_ContentInfo(signed_, &der) : -1;
    void *copy = len > 0 ? malloc((size_t)len) : NULL;
    if(copy)
      memcpy(copy, der, (size_t)len);
    OPENSSL_free(der);
    CMS_ContentInfo_free(signed_);
    BIO_free(in);
    free(inner);
    if(copy)
      return send_bytes(c, 200, "application/x-x509-next-ca-cert", copy, (size_t)len);
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
  struct sockaddr_in loopback;
  const union MHD_DaemonInfo *info;
  if(argc != 4 && argc != 5) {
    fprintf(stderr, "usage: pending_server CA.pem CA.key N [NEXT-CA.pem]\n");
    return 2;
  }
  if(argc == 5) {
    f = fopen(argv[4], "r");
    next_ca = f ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;
    if(f)
      fclose(f);
    if(!next_ca)
      return 2;
  }
  issued_certs = sk_X509_new_null();
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
  /* loopback only: a test server is never reachable from the network */
  memset(&loopback, 0, sizeof(loopback));
  loopback.sin_family = AF_INET;
  loopback.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  loopback.sin_port = 0;
  d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL, handler, NULL,
                       MHD_OPTION_NOTIFY_COMPLETED, done_cb, NULL,
                       MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&loopback, MHD_OPTION_END);
  if(!d)
    return 1;
  info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
  printf("%u\n", (unsigned)info->port);
  fflush(stdout);
  for(;;)
    pause();
}
