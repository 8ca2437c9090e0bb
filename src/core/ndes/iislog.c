/* IIS as the server's files share it: its text answers, the connector's calls to the CRP as IIS
 * logs them (HTTP events), and two observers of the HTTP events: IIS's W3C log as NDES's IIS
 * writes it (one file per UTC day, flushed line by line) and the console's copy of it
 * (`sceplab serve -v`). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <stdint.h>

#include "base/base_int.h"
#include "base/clock.h"
#include "ndes/ndes_int.h"

typedef struct iislog {
  char dir[4096];
  char bind[64];
  unsigned port;
  FILE *f;
  char name[32];
  void (*logged)(void *ud, const char *line);
  void *ud;
} iislog;

static const char iis_fields[] =
  "#Fields: date time s-ip cs-method cs-uri-stem cs-uri-query s-port cs-username c-ip cs(User-Agent) cs(Referer)"
  " sc-status sc-substatus sc-win32-status time-taken\n";

/* A field as IIS writes it ('+' for a space, '-' for nothing), cut to out: a device chose it. */
static void iis_field(char *out, size_t outlen, const char *v)
{
  size_t used;
  sceplab_esc_w3c(v ? v : "", v ? strlen(v) : 0, out, outlen, &used);
}

static void iis_line(const iislog *l, const ndes_event *ev, const struct tm *tm, char *line, size_t n)
{
  char f_stem[1024], f_query[8192], f_ua[512];
  iis_field(f_stem, sizeof(f_stem), ev->stem);
  iis_field(f_query, sizeof(f_query), ev->query);
  iis_field(f_ua, sizeof(f_ua), ev->user_agent);
  snprintf(line, n, "%04d-%02d-%02d %02d:%02d:%02d %s %s %s %s %u - %s %s - %d %d %u %ld\n", tm->tm_year + 1900,
           tm->tm_mon + 1, tm->tm_mday, tm->tm_hour, tm->tm_min, tm->tm_sec, l->bind, ev->method, f_stem, f_query, l->port,
           ev->client ? ev->client : "-", f_ua, ev->status, ev->substatus, ev->win32, ev->taken_ms);
}

static void now_tm(struct tm *tm)
{
  time_t t = (time_t)sceplab_clock_now();
  gmtime_r(&t, tm);
}

static void file_event(void *ud, const ndes_event *ev)
{
  iislog *l = ud;
  struct tm tm;
  char name[32], line[12288];
  if(ev->kind != NDES_EV_HTTP)
    return;
  now_tm(&tm);
  iis_line(l, ev, &tm, line, sizeof(line));
  snprintf(name, sizeof(name), "u_ex%02d%02d%02d.log", tm.tm_year % 100, tm.tm_mon + 1, tm.tm_mday);
  if(!l->f || strcmp(name, l->name) != 0) {
    char path[4200];
    struct stat st;
    int fresh;
    if(l->f)
      fclose(l->f);
    snprintf(path, sizeof(path), "%s/%s", l->dir, name);
    fresh = stat(path, &st) != 0 || st.st_size == 0;
    l->f = sceplab_art_fopen(path, "a");
    snprintf(l->name, sizeof(l->name), "%s", name);
    if(l->f && fresh)
      fprintf(l->f, "#Software: Microsoft Internet Information Services 10.0\n#Version: 1.0\n"
                    "#Date: %04d-%02d-%02d %02d:%02d:%02d\n%s",
              tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, iis_fields);
  }
  if(l->f) {
    fputs(line, l->f);
    fflush(l->f);
  }
}

static void console_event(void *ud, const ndes_event *ev)
{
  iislog *l = ud;
  char line[12288];
  struct tm tm;
  if(ev->kind == NDES_EV_HTTP) {
    now_tm(&tm);
    iis_line(l, ev, &tm, line, sizeof(line));
  }
  else if(ev->kind == NDES_EV_REFUSED)
    snprintf(line, sizeof(line), "sceplab: %s %s refused with %s: %s\n", ev->message_type ? ev->message_type : "request",
             ev->transaction_id, ev->fail_info ? ev->fail_info : "?", ev->text ? ev->text : "");
  else
    return;
  l->logged(l->ud, line);
}

static void iis_close(void *ud)
{
  iislog *l = ud;
  if(l->f)
    fclose(l->f);
  free(l);
}

static int add(ndes_observers *obs, void (*event)(void *, const ndes_event *), const char *dir, const char *bind,
               unsigned port, void (*logged)(void *, const char *), void *ud)
{
  iislog *l;
  if(obs->n >= NDES_OBSERVERS_MAX || !(l = calloc(1, sizeof(*l))))
    return -1;
  snprintf(l->dir, sizeof(l->dir), "%s", dir ? dir : "");
  snprintf(l->bind, sizeof(l->bind), "%s", bind);
  l->port = port;
  l->logged = logged;
  l->ud = ud;
  obs->o[obs->n].event = event;
  obs->o[obs->n].close = iis_close;
  obs->o[obs->n].ud = l;
  obs->n++;
  return 0;
}

int ndes_iis_observer(ndes_observers *obs, const char *dir, const char *bind, unsigned port)
{
  return add(obs, file_event, dir, bind, port, NULL, NULL);
}

int ndes_console_observer(ndes_observers *obs, void (*logged)(void *ud, const char *line), void *ud, const char *bind,
                          unsigned port)
{
  return add(obs, console_event, NULL, bind, port, logged, ud);
}

void ndes_emit(const ndes_observers *obs, const ndes_event *ev)
{
  size_t i;
  for(i = 0; i < obs->n; i++)
    obs->o[i].event(obs->o[i].ud, ev);
}

void ndes_observers_close(ndes_observers *obs)
{
  size_t i;
  for(i = 0; i < obs->n; i++)
    if(obs->o[i].close)
      obs->o[i].close(obs->o[i].ud);
  obs->n = 0;
}

/* ---- answers ---------------------------------------------------------------------------------- */

void ndes_text(sceplab_httpd_resp *r, int status, const char *text)
{
  r->status = status;
  r->type = "text/plain";
  r->body = (unsigned char *)strdup(text);
  r->len = r->body ? strlen(text) : 0;
}

double ndes_now_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

/* The connector's own calls to the CRP, as the CRP's IIS (the same server) logs them. */
void ndes_crp_http(ndes_server *s, const char *stem, int status, int substatus, unsigned win32, double started_ms)
{
  ndes_event ev;
  memset(&ev, 0, sizeof(ev));
  ev.kind = NDES_EV_HTTP;
  ev.method = "POST";
  ev.stem = stem;
  ev.client = s->bind;
  ev.user_agent = "NDES_Plugin";
  ev.status = status;
  ev.substatus = substatus;
  ev.win32 = win32;
  ev.taken_ms = (long)(ndes_now_ms() - started_ms + 0.5);
  ndes_emit(&s->obs, &ev);
}

void ndes_verify_http(ndes_server *s, int status, int substatus, unsigned win32, double started_ms)
{
  ndes_crp_http(s, "/CertificateRegistrationSvc/Certificate/VerifyRequest", status, substatus, win32, started_ms);
}
