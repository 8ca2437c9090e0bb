/* One HTTP request on a thread of its own (http.h's jobs): the caller's loop goes on serving while
 * it runs, and learns that it ended from a descriptor it watches (an eventfd written once). The
 * request's strings are copied: the job owns everything it reads. */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "scep/scep_int.h"

struct sceplab_http_job {
  pthread_t thread;
  int started, notify_fd;
  unsigned delay_ms;
  sceplab_http_opts o;
  char *strs[7];                /* method, url, content type, proxy, cacert, user agent, headers */
  unsigned char *body;
  size_t body_len;
  sceplab_http_resp resp;
  sceplab_error err;
  int rc;
  int done;                     /* set (atomically) once resp, err and rc are final */
};

static char *dup0(const char *s) { return s ? strdup(s) : NULL; }

static void *run(void *arg)
{
  sceplab_http_job *j = arg;
  uint64_t one = 1;
  if(j->delay_ms) {
    struct timespec ts = {(time_t)(j->delay_ms / 1000), (long)(j->delay_ms % 1000) * 1000000L};
    while(nanosleep(&ts, &ts) != 0)
      ;
  }
  sceplab_err_clear(&j->err);
  j->rc = j->strs[1] ? sceplab_http_request(&j->o, j->strs[0], j->strs[1], j->body, j->body_len, j->strs[2], &j->resp,
                                           &j->err)
                     : 0; /* no URL: a timer (a retry's backoff) */
  sceplab_pki_threads(-1); /* done with OpenSSL (pki/rsa_decode.c) */
  __atomic_store_n(&j->done, 1, __ATOMIC_RELEASE);
  if(j->notify_fd >= 0 && write(j->notify_fd, &one, sizeof(one)) < 0) {
    /* an eventfd does not refuse a write; the loop checks done whenever it is woken */
  }
  return NULL;
}

sceplab_http_job *sceplab_http_job_start(const sceplab_http_opts *o, const char *method, const char *url,
                                         const unsigned char *body, size_t body_len, const char *content_type,
                                         unsigned delay_ms, int notify_fd, sceplab_error *err)
{
  sceplab_http_job *j = calloc(1, sizeof(*j));
  size_t i;
  if(!j)
    return sceplab_err_set(err, SCEPLAB_E_NOMEM, "out of memory"), NULL;
  j->notify_fd = notify_fd;
  j->delay_ms = delay_ms;
  if(o)
    j->o = *o;
  j->strs[0] = dup0(method ? method : "GET");
  j->strs[1] = dup0(url);
  j->strs[2] = dup0(content_type);
  j->strs[3] = dup0(j->o.proxy);
  j->strs[4] = dup0(j->o.cacert);
  j->strs[5] = dup0(j->o.user_agent);
  j->strs[6] = dup0(j->o.headers);
  j->o.proxy = j->strs[3];
  j->o.cacert = j->strs[4];
  j->o.user_agent = j->strs[5];
  j->o.headers = j->strs[6];
  j->o.pin_sha256 = NULL; /* not carried: a job is for APIs, trusted by their CA */
  if(body_len && (j->body = malloc(body_len)) != NULL) {
    memcpy(j->body, body, body_len);
    j->body_len = body_len;
  }
  for(i = 0; i < 7; i++)
    if(!j->strs[i] && ((i == 0) || (i == 1 && url) || (i == 2 && content_type) || (i == 3 && o && o->proxy) ||
                       (i == 4 && o && o->cacert) || (i == 5 && o && o->user_agent) || (i == 6 && o && o->headers)))
      break;
  if(i < 7 || (body_len && !j->body))
    goto fail;
  sceplab_pki_threads(1); /* this thread's TLS uses OpenSSL beside the loop's (pki/rsa_decode.c) */
  if(pthread_create(&j->thread, NULL, run, j) != 0) {
    sceplab_pki_threads(-1);
  fail:
    sceplab_http_job_free(j);
    return sceplab_err_set(err, SCEPLAB_E_NOMEM, "cannot start an HTTP job"), NULL;
  }
  j->started = 1;
  return j;
}

int sceplab_http_job_done(const sceplab_http_job *j)
{
  return __atomic_load_n(&j->done, __ATOMIC_ACQUIRE);
}

int sceplab_http_job_result(sceplab_http_job *j, sceplab_http_resp *resp, sceplab_error *err)
{
  if(!sceplab_http_job_done(j))
    return sceplab_err_set(err, SCEPLAB_E_USAGE, "the HTTP job is still running"), -1;
  *resp = j->resp;
  memset(&j->resp, 0, sizeof(j->resp));
  *err = j->err;
  return j->rc;
}

void sceplab_http_job_free(sceplab_http_job *j)
{
  size_t i;
  if(!j)
    return;
  if(j->started)
    pthread_join(j->thread, NULL); /* a job is bounded by its timeouts */
  sceplab_http_resp_free(&j->resp);
  for(i = 0; i < 7; i++)
    free(j->strs[i]);
  free(j->body);
  free(j);
}
