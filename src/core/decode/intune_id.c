/* Intune request identifiers. The same enrollment is named three ways across the workflow (Windows
 * CSP UniqueID, the CertificateRequestId of the challenge and CRS files, and the URL-encoded form in
 * Android and iOS logs); parsing them into one canonical string lets the timeline join them. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decode/decode_int.h"

/* Matches a literal case-sensitively at s[i]; returns the length consumed or 0. */
static size_t lit(const char *s, size_t n, size_t i, const char *l)
{
  size_t m = strlen(l);
  return (i + m <= n && memcmp(s + i, l, m) == 0) ? m : 0;
}

/* An elision as logs print it: "..." or the UTF-8 ellipsis. */
static size_t ellipsis(const char *s, size_t n, size_t i)
{
  size_t m = lit(s, n, i, "...");
  return m ? m : lit(s, n, i, "\xE2\x80\xA6");
}

/* A path separator between the account and LogicalName: '/', "%2F" or '_'. */
static size_t sep(const char *s, size_t n, size_t i, int *encoded)
{
  size_t m;
  if(i < n && (s[i] == '/' || s[i] == '_'))
    return 1;
  if((m = lit(s, n, i, "%2F")) || (m = lit(s, n, i, "%2f"))) {
    *encoded = 1;
    return m;
  }
  return 0;
}

static int try_at(const char *s, size_t n, size_t i, sceplab_intune_id *id)
{
  size_t start = i, m, k;
  int windows, encoded = 0;
  char digits[24];
  memset(id, 0, sizeof(*id));
  id->version = -1;
  if(!(m = lit(s, n, i, "ModelName")))
    return 0;
  i += m;
  if(i >= n || (s[i] != '_' && s[i] != '='))
    return 0;
  windows = s[i] == '_';
  i++;
  if(!(m = lit(s, n, i, "AC_")))
    return 0;
  i += m;
  /* account guid, possibly elided */
  for(k = 0; i < n && (isxdigit((unsigned char)s[i]) || s[i] == '-') && k + 1 < sizeof(id->account); i++)
    id->account[k++] = (char)tolower((unsigned char)s[i]);
  id->account[k] = '\0';
  if(k == 0)
    return 0;
  if((m = ellipsis(s, n, i))) {
    id->truncated = 1;
    i += m;
  }
  if(!(m = sep(s, n, i, &encoded)))
    return 0;
  i += m;
  if(!(m = lit(s, n, i, "LogicalName_")))
    return 0;
  i += m;
  /* The logical id contains underscores, so in the Windows form it ends where "_Hash_" starts. */
  for(k = 0; i < n && (isalnum((unsigned char)s[i]) || s[i] == '_' || s[i] == '-'); i++) {
    if(windows && lit(s, n, i, "_Hash_"))
      break;
    if(k + 1 >= sizeof(id->logical))
      return 0;
    id->logical[k++] = s[i];
  }
  id->logical[k] = '\0';
  if(k == 0)
    return 0;
  if((m = ellipsis(s, n, i))) {
    id->truncated = 1;
    i += m;
  }
  if(windows) {
    if(!(m = lit(s, n, i, "_Hash_")))
      return 0;
    i += m;
    snprintf(id->form, sizeof(id->form), "windows-uniqueid");
  }
  else {
    if((m = lit(s, n, i, ";Version="))) {
      size_t d0;
      i += m;
      /* bounded by n: the text scanned is not NUL-terminated */
      for(d0 = i, id->version = 0; i < n && isdigit((unsigned char)s[i]) && i - d0 < 9; i++)
        id->version = id->version * 10 + (s[i] - '0');
      if(i == d0)
        return 0;
    }
    if(!(m = lit(s, n, i, ";Hash=")))
      return 0;
    i += m;
    snprintf(id->form, sizeof(id->form), "%s", encoded ? "url-encoded" : "request-id");
  }
  for(k = 0; i < n && k + 1 < sizeof(digits) && (isdigit((unsigned char)s[i]) || (k == 0 && s[i] == '-')); i++)
    digits[k++] = s[i];
  digits[k] = '\0';
  if(k == 0 || (k == 1 && digits[0] == '-'))
    return 0;
  id->hash = strtoll(digits, NULL, 10);
  id->start = start;
  id->end = i;
  snprintf(id->canonical, sizeof(id->canonical), "AC_%s/LogicalName_%s;Hash=%lld", id->account,
           id->logical, (long long)id->hash);
  return 1;
}

int sceplab_intune_id_scan(const char *s, size_t n, sceplab_intune_id *out)
{
  size_t i;
  const char *p = s;
  while(p && (size_t)(p - s) < n) {
    p = memchr(p, 'M', n - (size_t)(p - s));
    if(!p)
      break;
    i = (size_t)(p - s);
    if(try_at(s, n, i, out))
      return 1;
    p++;
  }
  return 0;
}

sceplab_val *sceplab_intune_id_to_val(const sceplab_intune_id *id)
{
  sceplab_val *v = sceplab_val_obj();
  sceplab_obj_set_str(v, "form", id->form);
  sceplab_obj_set_str(v, "account", id->account);
  sceplab_obj_set_str(v, "logical_name", id->logical);
  if(id->version >= 0)
    sceplab_obj_set_int(v, "version", id->version);
  sceplab_obj_set_int(v, "hash", id->hash);
  sceplab_obj_set_bool(v, "truncated", id->truncated);
  sceplab_obj_set_str(v, "canonical", id->canonical);
  return v;
}

sceplab_val *sceplab_intune_id_parse(const char *s, size_t n, sceplab_error *err)
{
  sceplab_intune_id id;
  sceplab_val *v;
  if(!sceplab_intune_id_scan(s, n, &id)) {
    sceplab_err_set(err, SCEPLAB_E_INPUT,
                    "not an Intune request identifier (expected ModelName_AC_..._LogicalName_..._Hash_N "
                    "or ModelName=AC_.../LogicalName_...;Hash=N)");
    return NULL;
  }
  v = sceplab_intune_id_to_val(&id);
  if(sceplab_val_failed(v)) {
    sceplab_val_free(v);
    sceplab_err_set(err, SCEPLAB_E_NOMEM, "out of memory");
    return NULL;
  }
  sceplab_obj_set_strn(v, "text", s + id.start, id.end - id.start);
  return v;
}
