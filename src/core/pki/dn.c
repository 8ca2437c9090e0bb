/* Distinguished names as profiles and admins write them (RFC 4514 with quotes and '+'). */
#include <ctype.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509.h>

#include "pki/pki_int.h"

static int hexv(int c)
{
  return isdigit(c) ? c - '0' : isxdigit(c) ? tolower(c) - 'a' + 10 : -1;
}

X509_NAME *sceplab_dn_parse(const char *dn, sceplab_error *err)
{
  X509_NAME *name = X509_NAME_new();
  const char *p = dn ? dn : "";
  char type[64], value[1024];
  int plus = 0;
  if(!name) {
    sceplab_err_set(err, SCEPLAB_E_NOMEM, "out of memory");
    return NULL;
  }
  while(*p == ' ')
    p++;
  while(*p) {
    size_t t = 0, v = 0;
    int quoted = 0;
    while(*p == ' ')
      p++;
    while(*p && *p != '=' && t + 1 < sizeof(type))
      type[t++] = *p++;
    while(t && type[t - 1] == ' ')
      t--;
    type[t] = '\0';
    if(*p != '=' || !t) {
      sceplab_err_set(err, SCEPLAB_E_INPUT, "subject '%s': expected TYPE=value at offset %ld", dn, (long)(p - dn));
      goto fail;
    }
    p++;
    while(*p == ' ')
      p++;
    if(*p == '"') {
      quoted = 1;
      p++;
    }
    for(;;) {
      if(!*p) {
        if(quoted) {
          sceplab_err_set(err, SCEPLAB_E_INPUT, "subject '%s': unterminated quote", dn);
          goto fail;
        }
        break;
      }
      if(quoted && *p == '"') {
        p++;
        while(*p == ' ')
          p++;
        break;
      }
      if(!quoted && (*p == ',' || *p == ';' || *p == '+'))
        break;
      if(*p == '\\' && p[1]) {
        if(hexv((unsigned char)p[1]) >= 0 && p[2] && hexv((unsigned char)p[2]) >= 0) {
          if(v + 1 < sizeof(value))
            value[v++] = (char)(hexv((unsigned char)p[1]) << 4 | hexv((unsigned char)p[2]));
          p += 3;
        }
        else {
          if(v + 1 < sizeof(value))
            value[v++] = p[1];
          p += 2;
        }
        continue;
      }
      if(v + 1 < sizeof(value))
        value[v++] = *p;
      p++;
    }
    if(!quoted)
      while(v && value[v - 1] == ' ')
        v--;
    value[v] = '\0';
    /* '+' continues the RDN just added; anything else starts a new one at the end. */
    if(!X509_NAME_add_entry_by_txt(name, type, MBSTRING_UTF8, (const unsigned char *)value, (int)v, -1, plus ? -1 : 0)) {
      sceplab_err_openssl(err, SCEPLAB_E_INPUT, "subject '%s': unknown attribute type '%s'", dn, type);
      goto fail;
    }
    plus = *p == '+';
    if(*p == ',' || *p == ';' || *p == '+')
      p++;
  }
  return name;
fail:
  X509_NAME_free(name);
  return NULL;
}
