/* Windows' system messages and the HRESULT each stands for.
 * Part of the log reader's core (src/core/logs/core/): see logs_int.h.
 *
 * Windows often writes an error as its message text alone: the MDM client's "SCEP: Certificate
 * enroll failed. Result: (The hash value is not correct.)", a CryptographicException in the
 * connector's traces, Get-AuthenticodeSignature's StatusMessage. A record whose message holds one
 * of these texts, and no code beside it, carries the code the text stands for, so a playbook
 * matches one field (hresult) whichever way the error was written.
 *
 * The texts are Windows' own wording, as FormatMessage prints them (winerror.h's MessageText, the
 * WinINet/WinHTTP message table) and, where MS-ERREF words one differently, that form too; never
 * paraphrases. Matching is case-insensitive, a space matches any run of white space (a line broken
 * where a page wrapped it), an apostrophe any form of one (sceplab_match_text's rule), and the text
 * must be the whole message: it starts a word and no sentence goes on after it. Win32 errors are
 * given as their HRESULT (0x8007xxxx). */
#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "logs/core/logs_int.h"

static const struct winmsg { uint32_t code; const char *text; } messages[] = {
  /* certificates and trust (winerror.h; MS-ERREF's wording where it differs) */
  {0x800B0101, "A required certificate is not within its validity period when verifying against the current system clock or the timestamp in the signed file"},
  {0x800B0101, "A required certificate is not within its validity period when verifying against the current system clock or the time stamp in the signed file"},
  {0x800B0102, "The validity periods of the certification chain do not nest correctly"},
  {0x800B0109, "A certificate chain processed, but terminated in a root certificate which is not trusted by the trust provider"},
  {0x800B0109, "A certificate chain processed, but terminated in a root certificate that is not trusted by the trust provider"},
  {0x800B010A, "A certificate chain could not be built to a trusted root authority"},
  {0x800B010A, "An internal certificate chaining error has occurred"},
  {0x800B010B, "Generic trust failure"},
  {0x800B010C, "A certificate was explicitly revoked by its issuer"},
  {0x800B010E, "The revocation process could not continue - the certificate(s) could not be checked"},
  {0x800B010E, "The revocation process could not continue-the certificates could not be checked"},
  {0x800B010F, "The certificate's CN name does not match the passed value"},
  {0x800B0110, "The certificate is not valid for the requested usage"},
  {0x800B0111, "The certificate was explicitly marked as untrusted by the user"},
  {0x800B0112, "A certification chain processed correctly, but one of the CA certificates is not trusted by the policy provider"},
  {0x800B0114, "The certificate has an invalid name. The name is not included in the permitted list or is explicitly excluded"},
  {0x800B0100, "No signature was present in the subject"},
  {0x80096002, "The certificate for the signer of the message is invalid or not found"},
  {0x80096004, "The signature of the certificate cannot be verified"},
  {0x80096010, "The digital signature of the object did not verify"},
  {0x80096019, "A certificate's basic constraint extension has not been observed"},
  {0x80090325, "The certificate chain was issued by an authority that is not trusted"},
  /* revocation */
  {0x80092010, "The certificate is revoked"},
  {0x80092012, "The revocation function was unable to check revocation for the certificate"},
  {0x80092013, "The revocation function was unable to check revocation because the revocation server was offline"},
  /* keys, hashes, stores (CertEnroll, the MDM client) */
  {0x80091007, "The hash value is not correct"},
  {0x80090016, "Keyset does not exist"},
  {0x80090016, "Key set does not exist"},
  {0x8009000D, "Key does not exist"},
  {0x80092004, "Cannot find object or property"},
  /* the CA (certsrv), as NDES and CertEnroll print its refusals */
  {0x80094800, "The requested certificate template is not supported by this CA"},
  {0x80094801, "The request contains no certificate template information"},
  {0x80094012, "The permissions on the certificate template do not allow the current user to enroll for this type of certificate"},
  {0x80094011, "The permissions on this CA do not allow the current user to enroll for certificates"},
  {0x80094811, "The public key does not meet the minimum size required by the specified certificate template"},
  {0x80094803, "The request is missing a required Subject Alternate name extension"},
  {0x8009480F, "The Domain Name System (DNS) name is unavailable and cannot be added to the Subject Alternate name"},
  {0x80094812, "The email name is unavailable and cannot be added to the Subject or Subject Alternate name"},
  /* WinHTTP and WinINet (the device's and NDESPlugin's HTTP stacks): 12002, 12007, 12029, 12030,
   * 12037, 12038, 12044, 12045, 12157, 12169, 12170, and WinHTTP's 12175 */
  {0x80072EE2, "The operation timed out"},
  {0x80072EE7, "The server name or address could not be resolved"},
  {0x80072EFD, "A connection with the server could not be established"},
  {0x80072EFE, "The connection with the server was terminated abnormally"},
  {0x80072F05, "The date in the certificate is invalid or has expired"},
  {0x80072F06, "The host name in the certificate is invalid or does not match"},
  {0x80072F0C, "A certificate is required to complete client authentication"},
  {0x80072F0D, "The certificate authority is invalid or incorrect"},
  {0x80072F7D, "An error occurred in the secure channel support"},
  {0x80072F89, "The supplied certificate is invalid"},
  {0x80072F8A, "The supplied certificate has been revoked"},
  {0x80072F8F, "A security error occurred"},
  /* Win32, as HRESULTs: 5, 87, 1326, 1346, 1603, 1722 */
  {0x80070005, "Access is denied"},
  {0x80070005, "General access denied error"},
  {0x80070057, "The parameter is incorrect"},
  {0x8007052E, "The user name or password is incorrect"},
  {0x8007052E, "Logon failure: unknown user name or bad password"},
  {0x80070542, "Either a required impersonation level was not provided, or the provided impersonation level is invalid"},
  {0x80070643, "Fatal error during installation"},
  {0x800706BA, "The RPC server is unavailable"},
};
#define NMESSAGES (sizeof(messages) / sizeof(messages[0]))

static unsigned char fold(unsigned char c)
{
  return c >= 'A' && c <= 'Z' ? (unsigned char)(c + 32) : c;
}

static int space(char c)
{
  return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* The length of text at p that says msg, or 0. */
static size_t says(const char *p, size_t n, const char *msg)
{
  size_t i = 0, k;
  const char *start = msg;
  for(; *msg; msg++) {
    if(*msg == ' ') {
      if(i >= n || !space(p[i]))
        return 0;
      while(i < n && space(p[i]))
        i++;
    }
    else if(*msg == '\'') {
      k = sceplab_quote_at(p + i, n - i, '\'');
      if(!k && msg > start && isalpha((unsigned char)msg[-1]) && isalpha((unsigned char)msg[1]))
        k = sceplab_mangled_apostrophe(p + i, n - i);
      if(!k)
        return 0;
      i += k;
    }
    else if(i >= n || fold((unsigned char)p[i]) != fold((unsigned char)*msg))
      return 0;
    else
      i++;
  }
  /* the whole message: "The operation timed out" is not "... timed outright", and "Access is
   * denied" is not IIS's "Access is denied due to invalid credentials" */
  {
    size_t j = i;
    if(j < n && isalnum((unsigned char)p[j]))
      return 0;
    while(j < n && (p[j] == ' ' || p[j] == '\t'))
      j++;
    if(j < n && j > i && p[j] >= 'a' && p[j] <= 'z')
      return 0;
  }
  return i;
}

/* IIS's own status pages ("403 - Forbidden: Access is denied.", "401 - Unauthorized: Access is
 * denied due to invalid credentials.") borrow Win32's words for an HTTP status: the status is the
 * record's evidence there, not a Win32 error. */
static int iis_status_page(const char *m, size_t j)
{
  static const char *const titles[] = {"Forbidden: ", "Unauthorized: ", NULL};
  int i;
  for(i = 0; titles[i]; i++) {
    size_t k = strlen(titles[i]);
    if(j >= k && strncmp(m + j - k, titles[i], k) == 0)
      return 1;
  }
  return 0;
}

/* The messages by their first two characters (folded, a space for white space), so each word of a
 * record is compared with the few that start as it does: built once, before any reader runs. */
#define PAIRS 64
static unsigned char pair_of(unsigned char a, unsigned char b)
{
  return (unsigned char)(((a & 31) << 1 ^ (b & 31) ^ (b == ' ')) & (PAIRS - 1));
}

static struct { unsigned char n; unsigned char at[NMESSAGES]; } by_pair[PAIRS];
static pthread_once_t indexed = PTHREAD_ONCE_INIT;

static void index_messages(void)
{
  size_t i;
  for(i = 0; i < NMESSAGES; i++) {
    const char *t = messages[i].text;
    unsigned char k = pair_of(fold((unsigned char)t[0]), t[1] == ' ' ? ' ' : fold((unsigned char)t[1]));
    by_pair[k].at[by_pair[k].n++] = (unsigned char)i;
  }
}

uint32_t logs_hresult_of_text(const char *m, size_t n)
{
  size_t j, i;
  pthread_once(&indexed, index_messages);
  for(j = 0; j + 1 < n; j++) {
    unsigned char a, b, k;
    if(!isalpha((unsigned char)m[j]) || (j && isalnum((unsigned char)m[j - 1])))
      continue; /* a message starts a word */
    a = fold((unsigned char)m[j]);
    b = space(m[j + 1]) ? ' ' : fold((unsigned char)m[j + 1]);
    k = pair_of(a, b);
    for(i = 0; i < by_pair[k].n; i++) {
      const struct winmsg *w = &messages[by_pair[k].at[i]];
      if(fold((unsigned char)w->text[0]) == a && (w->text[1] == ' ' ? ' ' : fold((unsigned char)w->text[1])) == b &&
         !iis_status_page(m, j) && says(m + j, n - j, w->text))
        return w->code;
    }
  }
  return 0;
}
