/* Where the CA's keys and certificates are kept: the key keeper's seam. Certificates are PEM
 * files in the state directory; a key is kept by one of two backends: a PEM file beside its
 * certificate (NAME.key, 0600, never written over), or a PKCS#11 token (keys_pkcs11.c: made and
 * used inside it; the state directory holds NAME.p11, the key's URI without its PIN). Every key the
 * CA makes, loads, saves or retires goes through here. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#include "ca/ca_int.h"

char *ca_path(const char *dir, const char *name, const char *ext)
{
  size_t n = strlen(dir) + strlen(name) + strlen(ext) + 3;
  char *p = malloc(n);
  if(p)
    snprintf(p, n, "%s/%s%s", dir, name, ext);
  return p;
}

/* Writes a new file (never over an existing one) with mode. */
static int write_new(const char *path, const char *data, size_t n, mode_t mode, sceplab_error *err)
{
  int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  size_t off = 0;
  if(fd < 0) {
    sceplab_err_set(err, SCEPLAB_E_FAILED, "%s: %s", path, strerror(errno));
    return -1;
  }
  while(off < n) {
    ssize_t w = write(fd, data + off, n - off);
    if(w < 0 && errno == EINTR)
      continue;
    if(w <= 0) {
      int e = errno;
      close(fd);
      sceplab_err_set(err, SCEPLAB_E_FAILED, "%s: %s", path, strerror(e));
      return -1;
    }
    off += (size_t)w;
  }
  if(fsync(fd) != 0 || close(fd) != 0) {
    sceplab_err_set(err, SCEPLAB_E_FAILED, "%s: %s", path, strerror(errno));
    return -1;
  }
  return 0;
}

int ca_narrow_mode(const char *path, mode_t keep, sceplab_error *err)
{
  struct stat st;
  if(lstat(path, &st) != 0 || S_ISLNK(st.st_mode) || st.st_uid != geteuid() || !(st.st_mode & 07777 & ~keep))
    return 0;
  if(chmod(path, st.st_mode & keep) != 0)
    return sceplab_err_set(err, SCEPLAB_E_FAILED, "%s: %s", path, strerror(errno)), -1;
  return 0;
}

EVP_PKEY *ca_key_new(const char *spec, sceplab_error *err)
{
  return sceplab_key_generate(spec, err);
}

/* ---- which backend keeps a key: a token's key carries its URI -------------------------------- */

static CRYPTO_ONCE ref_once = CRYPTO_ONCE_STATIC_INIT;
static int ref_index = -1;

static void ref_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
  (void)parent;
  (void)ad;
  (void)idx;
  (void)argl;
  (void)argp;
  free(ptr);
}

static void ref_init(void) { ref_index = CRYPTO_get_ex_new_index(CRYPTO_EX_INDEX_EVP_PKEY, 0, NULL, NULL, NULL, ref_free); }

/* The token URI of a key a token keeps, or NULL (a key in a file). */
static const char *key_ref(EVP_PKEY *k)
{
  return CRYPTO_THREAD_run_once(&ref_once, ref_init) && ref_index >= 0 ? EVP_PKEY_get_ex_data(k, ref_index) : NULL;
}

static int key_ref_set(EVP_PKEY *k, char *uri)
{
  if(!CRYPTO_THREAD_run_once(&ref_once, ref_init) || ref_index < 0 || !EVP_PKEY_set_ex_data(k, ref_index, uri)) {
    free(uri);
    return -1;
  }
  return 0;
}

EVP_PKEY *ca_key_make(const char *keeper, const char *name, const char *spec, sceplab_error *err)
{
  char *uri = NULL;
  EVP_PKEY *k;
  if(!keeper)
    return sceplab_key_generate(spec, err);
  if((k = ca_p11_generate(keeper, name, spec, &uri, err)) != NULL && key_ref_set(k, uri) != 0) {
    EVP_PKEY_free(k);
    return (void)sceplab_err_set(err, SCEPLAB_E_NOMEM, "out of memory"), NULL;
  }
  return k;
}

/* A PKCS#11 URI without its pin-value (what the state directory may keep): malloc'd. */
static char *without_pin(const char *uri)
{
  char *out = strdup(uri), *p;
  if(out && (p = strstr(out, "pin-value=")) != NULL && p > out && (p[-1] == '?' || p[-1] == '&' || p[-1] == ';')) {
    char *end = p + strcspn(p, "&;");
    if(*end)
      memmove(p, end + 1, strlen(end + 1) + 1);
    else
      p[-1] = '\0'; /* the last attribute: its separator goes too */
  }
  return out;
}

int ca_keeper_save(const char *dir, const char *keeper, sceplab_error *err)
{
  char *path, *uri;
  int rc = -1;
  if(!keeper)
    return 0;
  path = ca_path(dir, "pkcs11-token", "");
  uri = without_pin(keeper);
  if(path && uri) {
    size_t n = strlen(uri);
    uri[n] = '\n';
    rc = write_new(path, uri, n + 1, 0600, err);
  }
  else
    sceplab_err_set(err, SCEPLAB_E_NOMEM, "out of memory");
  free(path);
  free(uri);
  return rc;
}

/* The first line of a small text file (malloc'd), or NULL when it is not there (ENOENT) or err. */
static char *first_line(const char *path, int *missing, sceplab_error *err)
{
  FILE *f = fopen(path, "r");
  char buf[2048], *out = NULL;
  *missing = 0;
  if(!f) {
    if(errno == ENOENT)
      *missing = 1;
    else
      sceplab_err_set(err, SCEPLAB_E_FAILED, "%s: %s", path, strerror(errno));
    return NULL;
  }
  if(fgets(buf, sizeof(buf), f)) {
    buf[strcspn(buf, "\r\n")] = '\0';
    out = strdup(buf);
  }
  if(!out)
    sceplab_err_set(err, SCEPLAB_E_INPUT, "%s: empty", path);
  fclose(f);
  return out;
}

char *ca_keeper_load(const char *dir, sceplab_error *err)
{
  char *path = ca_path(dir, "pkcs11-token", ""), *uri;
  int missing = 0;
  if(!path)
    return (void)sceplab_err_set(err, SCEPLAB_E_NOMEM, "out of memory"), NULL;
  uri = first_line(path, &missing, err);
  free(path);
  return uri;
}

void ca_key_spec(EVP_PKEY *k, char *out, size_t n)
{
  char group[64] = "";
  size_t gl = 0;
  if(EVP_PKEY_get_base_id(k) == EVP_PKEY_EC && EVP_PKEY_get_group_name(k, group, sizeof(group), &gl))
    snprintf(out, n, "ec:%s", !strcmp(group, "secp384r1") ? "p384" : "p256");
  else
    snprintf(out, n, "rsa:%d", EVP_PKEY_get_bits(k));
}

int ca_pair_save(const char *dir, const char *name, X509 *x, EVP_PKEY *k, sceplab_error *err)
{
  const char *ref = key_ref(k);
  char *cp = ca_path(dir, name, ".pem"), *kp = ca_path(dir, name, ref ? ".p11" : ".key");
  char *pem = sceplab_cert_pem(x);
  size_t klen = 0;
  /* a token's key: its URI (no PIN) is what the state directory keeps, never the key */
  char *kpem = ref ? NULL : sceplab_key_pem(k, 0, &klen);
  int rc = -1;
  if(ref && (kpem = malloc(strlen(ref) + 2)) != NULL)
    klen = (size_t)sprintf(kpem, "%s\n", ref);
  if(cp && kp && pem && kpem && write_new(kp, kpem, klen, 0600, err) == 0 && write_new(cp, pem, strlen(pem), 0644, err) == 0)
    rc = 0;
  else if(!err->msg[0])
    sceplab_err_set(err, SCEPLAB_E_NOMEM, "out of memory");
  if(kpem)
    OPENSSL_cleanse(kpem, klen);
  free(kpem);
  free(pem);
  free(cp);
  free(kp);
  return rc;
}

static unsigned char *slurp(const char *path, size_t *n, sceplab_error *err)
{
  FILE *f = fopen(path, "rb");
  unsigned char *buf = NULL;
  long len;
  if(!f)
    return (void)sceplab_err_set(err, SCEPLAB_E_FAILED, "%s: %s", path, strerror(errno)), NULL;
  if(fseek(f, 0, SEEK_END) == 0 && (len = ftell(f)) >= 0 && len < (1 << 20) && fseek(f, 0, SEEK_SET) == 0 &&
     (buf = malloc((size_t)len + 1)) != NULL && fread(buf, 1, (size_t)len, f) == (size_t)len)
    *n = (size_t)len;
  else {
    free(buf);
    buf = NULL;
    sceplab_err_set(err, SCEPLAB_E_FAILED, "%s: cannot read", path);
  }
  fclose(f);
  return buf;
}

/* Whether err says something more precise than "missing" (a file that is there but unreadable
 * or damaged). */
static int missing_reported(const sceplab_error *err)
{
  return err->code != SCEPLAB_E_FAILED || !strstr(err->msg, strerror(ENOENT));
}

int ca_pair_load(const char *dir, const char *name, X509 **x, EVP_PKEY **k, sceplab_error *err)
{
  char *cp = ca_path(dir, name, ".pem"), *kp = ca_path(dir, name, ".key"), *pp = ca_path(dir, name, ".p11");
  size_t n = 0;
  unsigned char *b = cp ? slurp(cp, &n, err) : NULL;
  char *ref = NULL;
  int missing = 1;
  *x = NULL;
  *k = NULL;
  if(b && pp)
    ref = first_line(pp, &missing, err);
  if(b && !missing) {
    /* kept in a token */
    *x = sceplab_cert_load(b, n, err);
    free(b);
    b = NULL;
    if(ref && (*k = ca_p11_load(ref, err)) != NULL && key_ref_set(*k, ref) == 0)
      ref = NULL;
    else if(*k) {
      EVP_PKEY_free(*k);
      *k = NULL;
    }
    free(ref);
    free(pp);
    pp = NULL;
    if(!*k && !err->msg[0])
      sceplab_err_set(err, SCEPLAB_E_NOMEM, "out of memory");
  }
  else if(b) {
    *x = sceplab_cert_load(b, n, err);
    free(b);
    b = kp ? slurp(kp, &n, err) : NULL;
    if(b) {
      *k = sceplab_key_load(b, n, NULL, err);
      OPENSSL_cleanse(b, n);
      free(b);
    }
  }
  free(cp);
  free(kp);
  free(pp);
  if(*x && *k)
    return 1;
  X509_free(*x);
  EVP_PKEY_free(*k);
  *x = NULL;
  *k = NULL;
  ERR_clear_error();
  return missing_reported(err) ? -1 : 0;
}

int ca_pair_retire(const char *dir, const char *name, X509 *x, sceplab_error *err)
{
  char *serial = sceplab_serial_hex(X509_get0_serialNumber(x)), old[96];
  if(!serial)
    return sceplab_err_set(err, SCEPLAB_E_NOMEM, "out of memory"), -1;
  snprintf(old, sizeof(old), "%s-previous-%.40s", name, serial);
  free(serial);
  return ca_pair_rename(dir, name, old, err);
}

int ca_pair_rename(const char *dir, const char *from_name, const char *to_name, sceplab_error *err)
{
  int i, rc = 0;
  char *p11 = ca_path(dir, from_name, ".p11");
  struct stat st;
  /* the key's file: the key itself, or a token's reference to it */
  const char *kext = p11 && stat(p11, &st) == 0 ? ".p11" : ".key";
  free(p11);
  for(i = 0; i < 2 && rc == 0; i++) {
    char *from = ca_path(dir, from_name, i ? kext : ".pem"), *to = ca_path(dir, to_name, i ? kext : ".pem");
    if(!from || !to || rename(from, to) != 0) {
      sceplab_err_set(err, SCEPLAB_E_FAILED, "%s: %s", from ? from : dir, strerror(errno));
      rc = -1;
    }
    free(from);
    free(to);
  }
  return rc;
}

int ca_pair_exists(const char *dir, const char *name)
{
  char *p = ca_path(dir, name, ".key"), *q = ca_path(dir, name, ".p11");
  struct stat st;
  int there = (p && stat(p, &st) == 0) || (q && stat(q, &st) == 0);
  free(p);
  free(q);
  return there;
}
