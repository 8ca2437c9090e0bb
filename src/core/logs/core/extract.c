/* Extraction shared by formats: HRESULTs, ids, jscep request lines, tokens.
 * Part of the log reader's core (src/core/logs/core/): see logs_int.h. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "logs/core/logs_int.h"
#include "sceplab/decode.h"

static const struct { uint32_t code; const char *name; } hresults[] = {
  {0x800B0109, "CERT_E_UNTRUSTEDROOT"}, {0x800B010A, "CERT_E_CHAINING"}, {0x800B0101, "CERT_E_EXPIRED"},
  {0x800B010F, "CERT_E_CN_NO_MATCH"}, {0x80092013, "CRYPT_E_REVOCATION_OFFLINE"}, {0x80092012, "CRYPT_E_NO_REVOCATION_CHECK"},
  {0x800B0102, "CERT_E_VALIDITYPERIODNESTING"}, {0x800B010B, "TRUST_E_FAIL"}, {0x800B010C, "CERT_E_REVOKED"},
  {0x800B010E, "CERT_E_REVOCATION_FAILURE"}, {0x800B0110, "CERT_E_WRONG_USAGE"}, {0x800B0111, "TRUST_E_EXPLICIT_DISTRUST"},
  {0x800B0112, "CERT_E_UNTRUSTEDCA"}, {0x800B0114, "CERT_E_INVALID_NAME"}, {0x800B0100, "TRUST_E_NOSIGNATURE"},
  {0x80096002, "TRUST_E_NO_SIGNER_CERT"}, {0x80096004, "TRUST_E_CERT_SIGNATURE"}, {0x80096010, "TRUST_E_BAD_DIGEST"},
  {0x80096019, "TRUST_E_BASIC_CONSTRAINTS"}, {0x80090325, "SEC_E_UNTRUSTED_ROOT"}, {0x80092010, "CRYPT_E_REVOKED"},
  {0x8009000D, "NTE_NO_KEY"}, {0x80092004, "CRYPT_E_NOT_FOUND"},
  {0x80094800, "CERTSRV_E_UNSUPPORTED_CERT_TYPE"}, {0x80094811, "CERTSRV_E_KEY_LENGTH"},
  {0x80094801, "CERTSRV_E_NO_CERT_TYPE"}, {0x80094012, "CERTSRV_E_TEMPLATE_DENIED"}, {0x80094011, "CERTSRV_E_ENROLL_DENIED"},
  {0x80094803, "CERTSRV_E_SUBJECT_ALT_NAME_REQUIRED"}, {0x8009480F, "CERTSRV_E_SUBJECT_DNS_REQUIRED"},
  {0x80094812, "CERTSRV_E_SUBJECT_EMAIL_REQUIRED"},
  {0x800706BA, "RPC_S_SERVER_UNAVAILABLE"}, {0x80072EE7, "WININET_E_NAME_NOT_RESOLVED"},
  {0x80072EFD, "WININET_E_CANNOT_CONNECT"}, {0x80072EE2, "WININET_E_TIMEOUT"}, {0x80072EFE, "WININET_E_CONNECTION_ABORTED"},
  {0x80072F05, "WININET_E_SEC_CERT_DATE_INVALID"}, {0x80072F06, "WININET_E_SEC_CERT_CN_INVALID"},
  {0x80072F0C, "WININET_E_CLIENT_AUTH_CERT_NEEDED"}, {0x80072F0D, "WININET_E_INVALID_CA"},
  {0x80072F7D, "WININET_E_SECURITY_CHANNEL_ERROR"}, {0x80072F89, "WININET_E_SEC_INVALID_CERT"},
  {0x80072F8A, "WININET_E_SEC_CERT_REVOKED"},
  /* 12175 is WinINet's DECODING_FAILED but WinHTTP's SECURE_FAILURE: the HTTP stack of a SCEP
   * client and of NDESPlugin is WinHTTP */
  {0x80072F8F, "ERROR_WINHTTP_SECURE_FAILURE"},
  {0x80190194, "BG_E_HTTP_ERROR_404"}, {0x80070005, "E_ACCESSDENIED"}, {0x80070057, "E_INVALIDARG"}, {0x80090016, "NTE_BAD_KEYSET"},
  {0x8007052E, "ERROR_LOGON_FAILURE"}, {0x80070542, "ERROR_BAD_IMPERSONATION_LEVEL"}, {0x80070643, "ERROR_INSTALL_FAILURE"},
  {0x80091007, "CRYPT_E_HASH_VALUE"}, {0x00000542, "ERROR_BAD_IMPERSONATION_LEVEL"}, {0x00000005, "ERROR_ACCESS_DENIED"},
  {0x0000052E, "ERROR_LOGON_FAILURE"}, {0x00000643, "ERROR_INSTALL_FAILURE"},
  /* WinHTTP's own numbers (WINHTTP_ERROR_BASE 12000 + n), as IIS and traces write them */
  {0x00002EE2, "ERROR_WINHTTP_TIMEOUT"}, {0x00002EE7, "ERROR_WINHTTP_NAME_NOT_RESOLVED"},
  {0x00002EFD, "ERROR_WINHTTP_CANNOT_CONNECT"}, {0x00002EFE, "ERROR_WINHTTP_CONNECTION_ERROR"},
  {0x00002F7D, "ERROR_WINHTTP_SECURE_CHANNEL_ERROR"}, {0x00002F89, "ERROR_WINHTTP_SECURE_INVALID_CERT"},
  {0x00002F8F, "ERROR_WINHTTP_SECURE_FAILURE"},
};

const char *sceplab_hresult_name(uint32_t code)
{
  size_t i;
  for(i = 0; i < sizeof(hresults) / sizeof(hresults[0]); i++)
    if(hresults[i].code == code)
      return hresults[i].name;
  return NULL;
}

void logs_set_hresult(sceplab_record *r, uint32_t code)
{
  static const char hex[] = "0123456789ABCDEF";
  int i;
  r->hresult[0] = '0';
  r->hresult[1] = 'x';
  for(i = 0; i < 8; i++)
    r->hresult[2 + i] = hex[(code >> (28 - 4 * i)) & 15];
  r->hresult[10] = '\0';
  r->hresult_name = sceplab_hresult_name(code);
}

static int alnum_at(const char *m, size_t n, size_t i)
{
  return i < n && isalnum((unsigned char)m[i]);
}

/* The HRESULT a message names, however it is written: "0x800B0109" (any 0x8 code of exactly eight
 * digits), and, for the codes sceplab knows by name only (a bare number may be anything else),
 * "800B0109" as a word, signed decimal "-2146762487" (CRS files, .NET) and unsigned "2148204809"
 * (IIS's win32 status column). 0 when it names none. */
static uint32_t find_hresult(const char *m, size_t n)
{
  size_t i;
  for(i = 0; i < n; i++) {
    char c = m[i];
    if(alnum_at(m, n, i - 1) && i > 0)
      continue; /* only at the start of a word */
    if(c == '0' && i + 2 < n && (m[i + 1] == 'x' || m[i + 1] == 'X') && (m[i + 2] == '8')) {
      size_t k = 2;
      while(i + k < n && isxdigit((unsigned char)m[i + k]) && k < 11)
        k++;
      if(k == 10 && !alnum_at(m, n, i + k)) {
        char hex[9];
        memcpy(hex, m + i + 2, 8);
        hex[8] = 0;
        return (uint32_t)strtoul(hex, NULL, 16);
      }
    }
    else if(c == '8') {
      size_t k = 0;
      while(i + k < n && isxdigit((unsigned char)m[i + k]) && k < 9)
        k++;
      if(k == 8 && !alnum_at(m, n, i + k)) {
        char hex[9];
        uint32_t v;
        memcpy(hex, m + i, 8);
        hex[8] = 0;
        v = (uint32_t)strtoul(hex, NULL, 16);
        if(sceplab_hresult_name(v))
          return v;
      }
    }
    if(c == '-' || c == '2') {
      size_t k = c == '-' ? 1 : 0, start = k;
      while(i + k < n && isdigit((unsigned char)m[i + k]) && k < 12)
        k++;
      if(k - start == 10 && !alnum_at(m, n, i + k)) {
        char dec[12];
        long long v;
        memcpy(dec, m + i, k);
        dec[k] = 0;
        v = strtoll(dec, NULL, 10);
        if(v >= -2147483648LL && v <= 4294967295LL && sceplab_hresult_name((uint32_t)v))
          return (uint32_t)v;
      }
    }
  }
  return 0;
}

/* Fields any message may carry: request id, HRESULT, transaction, device. */
void logs_extract(sceplab_record *r)
{
  const char *m = r->message.p, *p;
  size_t n = r->message.n;
  sceplab_intune_id id;
  if(!m)
    return;
  if(sceplab_intune_id_scan(m, n, &id))
    snprintf(r->request_id, sizeof(r->request_id), "%s", id.canonical);
  if(!r->hresult[0]) {
    /* a code as written, else the code a Windows message written alone stands for (winmsg.c) */
    uint32_t code = find_hresult(m, n);
    if(!code)
      code = logs_hresult_of_text(m, n);
    if(code)
      logs_set_hresult(r, code);
  }
  if((p = sceplab_memcasestr(m, n, "Transaction: ")) || (p = sceplab_memcasestr(m, n, "TransactionID: "))) {
    const char *v = strchr(p, ':') + 2;
    size_t k = 0;
    while((size_t)(v - m) + k < n && isalnum((unsigned char)v[k]) && k + 1 < sizeof(r->transaction_id))
      k++;
    snprintf(r->transaction_id, sizeof(r->transaction_id), "%.*s", (int)k, v);
  }
  if((p = sceplab_memcasestr(m, n, "User : ")) || (p = sceplab_memcasestr(m, n, "UserID: "))) {
    const char *v = strchr(p, ':') + 1;
    size_t k = 0;
    while(v < m + n && *v == ' ') /* the view ends where the message does: no NUL after it */
      v++;
    while((size_t)(v - m) + k < n && (isxdigit((unsigned char)v[k]) || v[k] == '-') && k + 1 < sizeof(r->user_id))
      k++;
    if(k == 36)
      snprintf(r->user_id, sizeof(r->user_id), "%.*s", (int)k, v);
  }
  if(!r->thumbprint[0] && (p = sceplab_memcasestr(m, n, "thumbprint"))) {
    /* the first run of exactly 40 or 64 hex digits after the word: "thumbprint is d005...",
     * "CA cert thumbprint '0C93...'", "Thumbprint=584206..." */
    const char *q = p + 10, *end = m + n;
    while(q < end && q < p + 40) {
      size_t k = 0;
      while(q + k < end && isxdigit((unsigned char)q[k]))
        k++;
      if((k == 40 || k == 64) && (q + k == end || !isalnum((unsigned char)q[k]))) {
        snprintf(r->thumbprint, sizeof(r->thumbprint), "%.*s", (int)k, q);
        break;
      }
      q += k ? k : 1;
    }
  }
  if((p = sceplab_memcasestr(m, n, "Device : ")) || (p = sceplab_memcasestr(m, n, "DeviceID: "))) {
    const char *v = strchr(p, ':') + 1;
    size_t k = 0;
    while(v < m + n && *v == ' ') /* the view ends where the message does: no NUL after it */
      v++;
    while((size_t)(v - m) + k < n && (isxdigit((unsigned char)v[k]) || v[k] == '-') && k + 1 < sizeof(r->device_id))
      k++;
    if(k == 36)
      snprintf(r->device_id, sizeof(r->device_id), "%.*s", (int)k, v);
  }
}

/* Length of the run before any of set, bounded by end (views are not NUL-terminated). */
size_t logs_span_until(const char *p, const char *end, const char *set)
{
  unsigned char stop[256];
  size_t k = 0;
  if(p >= end)
    return 0;
  if(set[0] && !set[1]) {
    /* one character (a query's "&" after a 2 KB PKIOperation message): memchr, vectorised; a NUL
     * stops the run too, as it does below */
    const char *q = memchr(p, set[0], (size_t)(end - p)), *z;
    size_t len = q ? (size_t)(q - p) : (size_t)(end - p);
    z = memchr(p, '\0', len);
    return z ? (size_t)(z - p) : len;
  }
  memset(stop, 0, sizeof(stop));
  stop[0] = 1;
  for(; *set; set++)
    stop[(unsigned char)*set] = 1;
  while(p + k < end && !stop[(unsigned char)p[k]])
    k++;
  return k;
}

/* Copies a view into a small NUL-terminated buffer; 0 when it does not fit. */
int logs_copy_view(sceplab_str v, char *out, size_t outlen)
{
  if(!v.p || v.n >= outlen)
    return 0;
  memcpy(out, v.p, v.n);
  out[v.n] = 0;
  return 1;
}

/* The workflow step of a Windows event, by provider and id, whichever form the event came in (event
 * XML, .evtx, Event Viewer exports and copies): the device's own provider is step 2 (event 39, a
 * certificate installed, step 5); NDES is step 3 but for event 31 (the CA denied the request: step
 * 4); the CA is step 4; an application pool crash of IIS (Application Error 1000 of w3wp.exe) and
 * WAS disabling or stopping a pool (5002, 5059, 5117) leave the device unable to reach NDES (2). */
void logs_event_step(sceplab_record *r)
{
  const char *c = r->component.p;
  size_t n = r->component.n;
  if(!c || !n)
    return;
  if(sceplab_memcasestr(c, n, "DeviceManagement-Enterprise"))
    r->step = r->event_id == 39 ? 5 : 2;
  else if(sceplab_memcasestr(c, n, "NetworkDeviceEnrollment"))
    r->step = r->event_id == 31 ? 4 : 3;
  else if(sceplab_memcasestr(c, n, "CertificationAuthority"))
    r->step = 4;
  else if((n == 17 && strncasecmp(c, "Application Error", 17) == 0 && r->event_id == 1000 && r->message.p &&
           sceplab_memcasestr(r->message.p, r->message.n, "w3wp.exe")) ||
          ((sceplab_memcasestr(c, n, "Windows-WAS") || (n == 3 && strncasecmp(c, "WAS", 3) == 0)) &&
           (r->event_id == 5002 || r->event_id == 5059 || r->event_id == 5117)))
    r->step = 2;
}

const char *const logs_month_names = "JanFebMarAprMayJunJulAugSepOctNovDec";

/* Next whitespace-separated token (spaces or tabs) within [*p, end). */
sceplab_str logs_next_tok(const char **p, const char *end)
{
  sceplab_str t = {NULL, 0};
  while(*p < end && (**p == ' ' || **p == '\t'))
    (*p)++;
  t.p = *p;
  while(*p < end && **p != ' ' && **p != '\t')
    (*p)++;
  t.n = (size_t)(*p - t.p);
  return t;
}

void logs_step_from_text(sceplab_record *r)
{
  const char *m = r->message.p;
  size_t n = r->message.n;
  if(!m)
    return;
  if(sceplab_memcasestr(m, n, "CERT_INSTALL_SUCCESS") || sceplab_memcasestr(m, n, "CERT_ACCESS_GRANTED") ||
     sceplab_memcasestr(m, n, "installed.") || sceplab_memcasestr(m, n, "installed successfully"))
    /* a trusted root or intermediate arriving is the profile's step (1), not the enrolled
     * certificate's install (5): Android's NativeRootCertInstallStateMachine, "Root cert '...'" */
    r->step = sceplab_memcasestr(m, n, "Root cert") ||
              (r->component.p && sceplab_memcasestr(r->component.p, r->component.n, "RootCert")) ? 1 : 5;
  else if(sceplab_memcasestr(m, n, "mscep") || sceplab_memcasestr(m, n, "pkiStatus="))
    r->step = 2;
}

/* "Received '503 Service Unavailable' when sending GetCACaps(ca) to URL" and "Sending GetCACert(ca) to URL" */
void logs_jscep_fields(sceplab_record *r)
{
  const char *m = r->message.p, *q, *end;
  if(!m)
    return;
  end = m + r->message.n;
  if((q = sceplab_memcasestr(m, r->message.n, "Received '"))) {
    char num[8];
    size_t k = 0;
    q += 10;
    while(q + k < end && k < 3 && isdigit((unsigned char)q[k]))
      k++;
    memcpy(num, q, k);
    num[k] = 0;
    if(k == 3)
      r->http_status = atol(num);
  }
  if((q = sceplab_memcasestr(m, r->message.n, "sending ")) || (q = sceplab_memcasestr(m, r->message.n, "Sending "))) {
    const char *op = q + 8, *par = op;
    while(par < end && isalpha((unsigned char)*par))
      par++;
    if(par < end && *par == '(' && par > op) {
      r->scep_operation.p = op;
      r->scep_operation.n = (size_t)(par - op);
    }
  }
  if((q = sceplab_memcasestr(m, r->message.n, "https://")) || (q = sceplab_memcasestr(m, r->message.n, "http://"))) {
    r->url.p = q;
    r->url.n = logs_span_until(q, end, " '\\");
  }
}

/* iOS Console copies saved through TextEdit keep RTF debris: a trailing backslash and \'93 \'94. */
size_t logs_clean_rtf(sceplab_log *lg, const char *p, size_t n)
{
  size_t len = 0, i = 0;
  while(n && (p[n - 1] == '\\' || p[n - 1] == ' '))
    n--;
  while(i < n) {
    if(p[i] == '\\' && i + 3 < n && p[i + 1] == '\'' && (memcmp(p + i + 2, "93", 2) == 0 || memcmp(p + i + 2, "94", 2) == 0)) {
      logs_msg_append(lg, &len, "\"", 1);
      i += 4;
    }
    else {
      size_t k = i;
      while(k < n && !(p[k] == '\\' && k + 1 < n && p[k + 1] == '\''))
        k++;
      if(k == i)
        k = i + 1;
      logs_msg_append(lg, &len, p + i, k - i);
      i = k;
    }
  }
  return len;
}
