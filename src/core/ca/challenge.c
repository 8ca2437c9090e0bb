/* One-time challenges, as NDES's admin page hands them out: 16 upper-case hex digits, valid for
 * an hour, used once. The store keeps their digests only (identity.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "ca/ca_int.h"
#include "ca/store.h"

char *sceplab_ca_challenge_new(sceplab_ca *ca, int minutes, sceplab_error *err)
{
  sceplab_store *s = ca->store;
  unsigned char b[8];
  char *hex = malloc(17), digest[CA_CHALLENGE_DIGEST_LEN];
  int64_t now = ca_now(NULL);
  int i;
  if(!hex || RAND_bytes(b, sizeof(b)) != 1) {
    free(hex);
    return (void)sceplab_err_set(err, SCEPLAB_E_CRYPTO, "no random bytes"), NULL;
  }
  /* NDES's one-time passwords: 16 upper-case hex digits */
  for(i = 0; i < 8; i++)
    snprintf(hex + 2 * i, 3, "%02X", b[i]);
  OPENSSL_cleanse(b, sizeof(b));
  ca_challenge_digest(hex, digest);
  if(s->ops->challenge_add(s, digest, now, now + 60LL * (minutes > 0 ? minutes : 60), err) != 0) {
    OPENSSL_cleanse(hex, 17);
    free(hex);
    return NULL;
  }
  return hex;
}

int sceplab_ca_challenge_use(sceplab_ca *ca, const char *challenge, sceplab_error *err)
{
  sceplab_store *s = ca->store;
  char digest[CA_CHALLENGE_DIGEST_LEN];
  int rc;
  ca_challenge_digest(challenge, digest);
  rc = s->ops->challenge_use(s, digest, ca_now(NULL), err);
  return rc == STORE_ERROR ? -1 : rc == STORE_FOUND;
}

int sceplab_ca_challenge_outstanding(sceplab_ca *ca, sceplab_error *err)
{
  sceplab_store *s = ca->store;
  int64_t n = 0;
  if(s->ops->challenge_outstanding(s, ca_now(NULL), &n, err) != 0)
    return -1;
  return n > 0x7fffffff ? 0x7fffffff : (int)n;
}
