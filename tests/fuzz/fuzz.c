/* libFuzzer targets, one per decoder: the same file is compiled once per FUZZ_<name> definition.
 * Every input must come back as a document or an error with a message; never a crash, leak or hang. */
#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <openssl/x509.h>

#include "sceplab/sceplab.h"
#include "../../src/core/base/optlib.h"
#if defined(FUZZ_escape)
#include <strings.h>
#endif

#if defined(FUZZ_escape)
/* Each format's escaping of hostile text, written in pieces as small as out allows: the pieces
 * make the text the whole run makes, and what each format promises holds. The first byte
 * chooses the size of the pieces. */
static int utf8_ok(const unsigned char *p, size_t n, int nonchars)
{
  size_t i = 0, len, k;
  while(i < n) {
    unsigned long cp;
    if(p[i] < 0x80) { i++; continue; }
    if(p[i] >= 0xC2 && p[i] <= 0xDF) { len = 2; cp = p[i] & 0x1F; }
    else if(p[i] >= 0xE0 && p[i] <= 0xEF) { len = 3; cp = p[i] & 0x0F; }
    else if(p[i] >= 0xF0 && p[i] <= 0xF4) { len = 4; cp = p[i] & 0x07; }
    else return 0;
    if(i + len > n)
      return 0;
    for(k = 1; k < len; k++) {
      if((p[i + k] & 0xC0) != 0x80)
        return 0;
      cp = cp << 6 | (p[i + k] & 0x3F);
    }
    if((len == 3 && (cp < 0x800 || (cp >= 0xD800 && cp < 0xE000))) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
       (cp >= 0x80 && cp <= 0x9F) || (!nonchars && (cp & 0xFFFE) == 0xFFFE))
      return 0;
    i += len;
  }
  return 1;
}

static void escape_check(sceplab_escaper f, int which, const char *in, size_t n, size_t outlen)
{
  char *whole = malloc(n * 13 + 16), piece[256];
  size_t used = 0, w = f(in, n, whole, n * 13 + 16, &used), i, o = 0;
  /* a terminal shows U+FFFF as it is; the files replace it */
  if(used != n || strlen(whole) != w || !utf8_ok((unsigned char *)whole, w, which == 3))
    abort();
  for(i = 0; i < w; i++) {
    unsigned char c = (unsigned char)whole[i];
    if(c == 0x7F || c < 0x20)
      abort();                                              /* one line, no control byte */
    if(which == 0 && i + 7 <= w && strncasecmp(whole + i, "]LOG]!>", 7) == 0)
      abort();                                              /* CMTrace: no terminator */
    if(which == 1 && c == ' ')
      abort();                                              /* W3C: no field separator */
    if(which == 2 && strchr("<>\"'", c))
      abort();                                              /* XML: no markup */
  }
  for(i = 0; n && i < n; i += used) {
    size_t pw = f(in + i, n - i, piece, outlen, &used);
    if(!used || pw >= outlen || o + pw > w || memcmp(whole + o, piece, pw) != 0)
      abort();
    o += pw;
  }
  if(n && o != w)
    abort();
  free(whole);
}

static size_t visible_line(const char *in, size_t n, char *out, size_t outlen, size_t *consumed)
{
  return sceplab_visible_line(in, n, out, outlen, consumed);
}
#endif

#if defined(FUZZ_intune_token)
/* The CA the token target verifies against: made once per process in a scratch directory,
 * removed at exit. */
static char ca_dir[] = "/tmp/sceplab-fuzz-ca-XXXXXX";

static void remove_ca(void)
{
  static const char *const files[] = {"root.pem", "root.key", "ca.pem", "ca.key", "ra-sign.pem", "ra-sign.key",
                                      "ra-encrypt.pem", "ra-encrypt.key", "intune-sign.pem", "intune-sign.key",
                                      "ca.db", "ca.db-wal", "ca.db-shm", NULL};
  char p[256];
  size_t i;
  for(i = 0; files[i]; i++) {
    snprintf(p, sizeof(p), "%s/%s", ca_dir, files[i]);
    unlink(p);
  }
  rmdir(ca_dir);
}
#endif

static sceplab_val *run(const uint8_t *d, size_t n, sceplab_error *err)
{
  static const sceplab_decode_opts opts = {0};
  (void)opts;
#if defined(FUZZ_decode)
  return sceplab_decode(d, n, &opts, err);
#elif defined(FUZZ_syncml)
  return sceplab_syncml_parse(d, n, &opts, err);
#elif defined(FUZZ_token)
  return sceplab_token_parse(d, n, &opts, err);
#elif defined(FUZZ_certs)
  return sceplab_certs_parse(d, n, err);
#elif defined(FUZZ_csr)
  return sceplab_csr_parse(d, n, &opts, err);
#elif defined(FUZZ_pkimsg)
  return sceplab_pkimsg_parse(d, n, &opts, err);
#elif defined(FUZZ_crs)
  return sceplab_crs_parse(d, n, err);
#elif defined(FUZZ_mobileconfig)
  return sceplab_mobileconfig_parse(d, n, &opts, err);
#elif defined(FUZZ_intune_id)
  return sceplab_intune_id_parse((const char *)d, n, err);
#elif defined(FUZZ_caps)
  (void)err;
  return sceplab_caps_parse((const char *)d, n);
#elif defined(FUZZ_ca_select)
  return sceplab_ca_select(d, n, (int)(n & 1), err);
#elif defined(FUZZ_dn)
  {
    /* profile subjects: NUL-terminated text */
    char *s = malloc(n + 1);
    X509_NAME *name;
    memcpy(s, d, n);
    s[n] = '\0';
    name = sceplab_dn_parse(s, err);
    free(s);
    if(!name)
      return NULL;
    X509_NAME_free(name);
    return sceplab_val_null();
  }
#elif defined(FUZZ_logs)
  {
    /* the streaming reader takes files: every record must parse or be skipped and counted */
    static char path[64];
    FILE *f;
    sceplab_log *lg;
    sceplab_record r;
    int rc;
    if(!path[0]) {
      int fd;
      snprintf(path, sizeof(path), "/tmp/sceplab-fuzz-logs-XXXXXX");
      fd = mkstemp(path);
      if(fd >= 0)
        close(fd);
    }
    f = fopen(path, "wb");
    if(!f)
      return sceplab_val_null();
    fwrite(d, 1, n, f);
    fclose(f);
#ifdef FUZZ_FORMAT
    {
      /* one target per parser: the format is forced, so every input reaches it */
      sceplab_log_opts o;
      memset(&o, 0, sizeof(o));
      o.format = FUZZ_FORMAT;
      o.date = "2020-05-24";
      lg = sceplab_log_open(path, NULL, &o, err);
    }
#else
    lg = sceplab_log_open(path, NULL, NULL, err);
#endif
    if(!lg)
      return NULL;
    while((rc = sceplab_log_next(lg, &r, err)) > 0)
      if(r.message.n && !r.message.p)
        abort();
    sceplab_log_close(lg);
    return rc < 0 ? NULL : sceplab_val_null();
  }
#elif defined(FUZZ_bundle)
  {
    /* a bundle as the merge reads it: a zip (or cab) whose members may be archives themselves,
     * evtx, images or text; every input is read, refused or listed with why, and every name,
     * record and message is UTF-8 */
    static char path[64];
    const char *paths[1];
    FILE *f;
    sceplab_merge *m;
    const sceplab_record *r;
    const char *file;
    size_t i;
    if(!path[0]) {
      int fd;
      snprintf(path, sizeof(path), "/tmp/sceplab-fuzz-bundle-XXXXXX");
      fd = mkstemp(path);
      if(fd >= 0)
        close(fd);
    }
    f = fopen(path, "wb");
    if(!f)
      return sceplab_val_null();
    fwrite(d, 1, n, f);
    fclose(f);
    paths[0] = path;
    m = sceplab_merge_open(paths, 1, NULL, NULL, err);
    if(!m)
      return NULL;
    while(sceplab_merge_next(m, &r, &file, err) > 0)
      if((r->message.n && !r->message.p) || sceplab_utf8_valid(r->message.p ? r->message.p : "", r->message.n) != r->message.n ||
         sceplab_utf8_valid(file, strlen(file)) != strlen(file))
        abort();
    for(i = 0; i < sceplab_merge_count(m); i++) {
      const sceplab_merge_input *in = sceplab_merge_input_at(m, i);
      if(sceplab_utf8_valid(in->path, strlen(in->path)) != strlen(in->path) ||
         (in->error && sceplab_utf8_valid(in->error, strlen(in->error)) != strlen(in->error)))
        abort();
    }
    sceplab_merge_close(m);
    return sceplab_val_null();
  }
#elif defined(FUZZ_reply)
  {
    /* a server's CertRep, verified against a fixed expectation: must be refused or answered */
    static EVP_PKEY *key;
    static const unsigned char nonce[SCEPLAB_NONCE_LEN];
    sceplab_reply_expect x;
    if(!key)
      key = sceplab_key_generate("rsa:1024", err);
    memset(&x, 0, sizeof(x));
    x.transaction_id = "T";
    x.sender_nonce = nonce;
    x.key = key;
    return sceplab_reply_verify(d, n, &x, err);
  }
#elif defined(FUZZ_key)
  {
    /* --key FILE: PEM (typed fast path or general), DER, encrypted with a wrong passphrase */
    EVP_PKEY *k = sceplab_key_load(d, n, "fuzz", err);
    EVP_PKEY_free(k);
    return k ? sceplab_val_null() : NULL;
  }
#elif defined(FUZZ_next_ca)
  {
    /* a GetNextCACert answer, checked against a fixed CA: must be refused or answered */
    static STACK_OF(X509) *signers;
    if(!signers) {
      EVP_PKEY *k = sceplab_key_generate("rsa:1024", err);
      X509 *ca = X509_new();
      X509_set_version(ca, 2);
      X509_NAME_add_entry_by_txt(X509_get_subject_name(ca), "CN", MBSTRING_ASC, (const unsigned char *)"fuzz CA", -1, -1, 0);
      X509_set_issuer_name(ca, X509_get_subject_name(ca));
      X509_gmtime_adj(X509_getm_notBefore(ca), 0);
      X509_gmtime_adj(X509_getm_notAfter(ca), 86400);
      X509_set_pubkey(ca, k);
      X509_sign(ca, k, EVP_sha256());
      EVP_PKEY_free(k);
      signers = sk_X509_new_null();
      sk_X509_push(signers, ca);
    }
    return sceplab_next_ca_verify(d, n, signers, err);
  }
#elif defined(FUZZ_scep_request)
  {
    /* the server's request path: a PKIOperation body opened with an RA key (micromdm's CA key,
     * which the committed pkcsreq.der is enveloped to), then answered as sceplab serve answers */
    static EVP_PKEY *key;
    static X509 *cert;
    sceplab_scep_request rq;
    unsigned char *reply;
    size_t len = 0;
    if(!key) {
      FILE *f = fopen(SCEPLAB_FIXTURES "/scep/scepserver-ca.key", "rb");
      unsigned char buf[8192];
      size_t kn = f ? fread(buf, 1, sizeof(buf), f) : 0;
      if(f)
        fclose(f);
      key = sceplab_key_load(buf, kn, NULL, err);
      f = fopen(SCEPLAB_FIXTURES "/scep/scepserver-ca.pem", "rb");
      kn = f ? fread(buf, 1, sizeof(buf), f) : 0;
      if(f)
        fclose(f);
      cert = sceplab_cert_load(buf, kn, err);
      if(!key || !cert)
        abort();
    }
    if(sceplab_scep_request_open(d, n, key, cert, SCEPLAB_SCEP_ALLOW_DES, &rq, err) != 0)
      return NULL;
    reply = sceplab_scep_reply(&rq, rq.fail_info >= 0 ? SCEPLAB_STATUS_FAILURE : SCEPLAB_STATUS_PENDING,
                               rq.fail_info >= 0 ? rq.fail_info : -1, NULL, 0, cert, key, &len, err);
    sceplab_scep_request_free(&rq);
    if(!reply)
      return NULL;
    free(reply);
    return sceplab_val_null();
  }
#elif defined(FUZZ_escape)
  {
    size_t outlen = n ? 16 + d[0] % 200 : 16;
    (void)err;
    escape_check(sceplab_esc_cmtrace, 0, (const char *)d, n, outlen);
    escape_check(sceplab_esc_w3c, 1, (const char *)d, n, outlen);
    escape_check(sceplab_esc_xml, 2, (const char *)d, n, outlen);
    escape_check(visible_line, 3, (const char *)d, n, outlen);
    return sceplab_val_null();
  }
#elif defined(FUZZ_intune_token)
  {
    /* the challenge a device sends to an `intune` policy: phases 1 and 2 on untrusted text */
    static sceplab_ca *ca;
    static sceplab_intune_keys keys;
    sceplab_intune_failure f;
    if(!ca) {
      if(!mkdtemp(ca_dir))
        abort();
      atexit(remove_ca);
      if(sceplab_ca_init(ca_dir, NULL, err) != 0 || !(ca = sceplab_ca_open(ca_dir, err)))
        abort();
      sceplab_ca_intune_keys(ca, &keys);
    }
    return sceplab_intune_verify(&keys, (const char *)d, n, 0, &f, err);
  }
#else
#error "define FUZZ_<target>"
#endif
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  sceplab_error err;
  sceplab_val *v;
  sceplab_err_clear(&err);
  /* every input starts as in a fresh process: libxml2, libarchive and libevtx not yet resolved, so
   * the paths that run before (or instead of) their first use are fuzzed too */
  sceplab_optlib_forget();
  v = run(data, size, &err);
  if(!v && (err.msg[0] == '\0' || strchr(err.msg, '\n')))
    abort(); /* every failure must carry a one-line reason */
  sceplab_val_free(v);
  return 0;
}
