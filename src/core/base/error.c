/* Error helpers: one-line messages, with OpenSSL's error queue drained into them. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>

#include "sceplab/error.h"

/* Errors are printed as one line: libxml2 and OpenSSL texts may carry line breaks. */
static void one_line(char *msg)
{
  const char *in = msg;
  char *out = msg;
  int pending_space = 0;
  for(; *in; in++) {
    unsigned char c = (unsigned char)*in;
    if(c < 0x20 || c == 0x7f) {
      pending_space = out != msg;
      continue;
    }
    if(pending_space && c != ' ')
      *out++ = ' ';
    pending_space = 0;
    *out++ = (char)c;
  }
  while(out > msg && out[-1] == ' ')
    out--;
  *out = '\0';
}

#if defined(__GNUC__)
__attribute__((format(printf, 3, 0)))
#endif
static void vset(sceplab_error *err, sceplab_code code, const char *fmt, va_list ap)
{
  err->code = code;
  vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
  one_line(err->msg);
}

int sceplab_err_set(sceplab_error *err, sceplab_code code, const char *fmt, ...)
{
  if(err) {
    va_list ap;
    va_start(ap, fmt);
    vset(err, code, fmt, ap);
    va_end(ap);
  }
  return (int)code;
}

int sceplab_err_openssl(sceplab_error *err, sceplab_code code, const char *fmt, ...)
{
  unsigned long e;
  if(!err) {
    ERR_clear_error();
    return (int)code;
  }
  va_list ap;
  va_start(ap, fmt);
  vset(err, code, fmt, ap);
  va_end(ap);
  /* Append each queued reason once; the queue is left empty for the next caller. */
  while((e = ERR_get_error()) != 0) {
    size_t used = strlen(err->msg);
    const char *reason = ERR_reason_error_string(e);
    char buf[160];
    if(!reason) {
      snprintf(buf, sizeof(buf), "error:%08lX", e);
      reason = buf;
    }
    if(strstr(err->msg, reason))
      continue;
    if(used + 3 < sizeof(err->msg))
      snprintf(err->msg + used, sizeof(err->msg) - used, ": %s", reason);
  }
  one_line(err->msg);
  return (int)code;
}

void sceplab_err_clear(sceplab_error *err)
{
  if(err) {
    err->code = SCEPLAB_OK;
    err->msg[0] = '\0';
  }
}

const char *sceplab_code_name(sceplab_code code)
{
  switch(code) {
  case SCEPLAB_OK: return "ok";
  case SCEPLAB_E_FAILED: return "failed";
  case SCEPLAB_E_USAGE: return "usage";
  case SCEPLAB_E_INPUT: return "input";
  case SCEPLAB_E_NETWORK: return "network";
  case SCEPLAB_E_NOMEM: return "nomem";
  case SCEPLAB_E_CRYPTO: return "crypto";
  }
  return "unknown";
}
