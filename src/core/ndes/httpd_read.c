/* The request of one connection as it arrives (httpd_conn.c calls these): the request line and
 * headers, then the body (Content-Length or chunked), each within the server's limits; what breaks
 * them is answered with the status to refuse it with (httpd_conn.c refuses). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>

#include "ndes/httpd_int.h"
#include "base/optlib.h"

/* Takes one line off the input: 1 with *line (malloc'd, without its end), 0 when none is complete
 * yet, -1 when more than max bytes came without one. */
static int take_line(conn *c, struct evbuffer *in, size_t max, char **line, size_t *len)
{
  size_t avail = evbuffer_get_length(in), eol = 0;
  struct evbuffer_ptr start, at;
  *line = NULL;
  if(c->scanned < avail && evbuffer_ptr_set(in, &start, c->scanned, EVBUFFER_PTR_SET) == 0)
    at = evbuffer_search_eol(in, &start, &eol, EVBUFFER_EOL_CRLF);
  else
    at.pos = -1;
  if(at.pos < 0) {
    /* searched up to here; one byte back, in case it is the CR of a CRLF cut in two */
    c->scanned = avail ? avail - 1 : 0;
    return avail > max ? -1 : 0;
  }
  if((size_t)at.pos > max)
    return -1;
  *len = (size_t)at.pos;
  if(!(*line = malloc(*len + 1)))
    return -1;
  evbuffer_remove(in, *line, *len);
  (*line)[*len] = '\0';
  evbuffer_drain(in, eol);
  c->scanned = 0;
  c->head_len += *len + eol;
  return 1;
}

static int is_tchar(int ch)
{
  return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
         (ch && strchr("!#$%&'*+-.^_`|~", ch));
}

/* "METHOD SP target SP HTTP/1.x": 0, or the status refusing it. */
static int parse_line(conn *c, char *line, size_t len)
{
  char *sp1 = memchr(line, ' ', len), *sp2, *p;
  if(!sp1 || sp1 == line || !(sp2 = strchr(sp1 + 1, ' ')) || sp2 == sp1 + 1)
    return 400;
  for(p = line; p < sp1; p++)
    if(!is_tchar((unsigned char)*p))
      return 400;
  for(p = sp1 + 1; p < sp2; p++)
    if((unsigned char)*p <= 0x20 || *p == 0x7f)
      return 400;
  if(strncmp(sp2 + 1, "HTTP/", 5) != 0)
    return 400;
  if(strcmp(sp2 + 1, "HTTP/1.1") == 0 || strcmp(sp2 + 1, "HTTP/1.0") == 0)
    c->minor = sp2[8] - '0';
  else
    return 505;
  c->method = strndup(line, (size_t)(sp1 - line));
  c->target = strndup(sp1 + 1, (size_t)(sp2 - sp1 - 1));
  if(!c->method || !c->target)
    return 500;
  c->m = !strcmp(c->method, "GET") ? SCEPLAB_HTTPD_GET : !strcmp(c->method, "POST") ? SCEPLAB_HTTPD_POST
       : !strcmp(c->method, "HEAD") ? SCEPLAB_HTTPD_HEAD : SCEPLAB_HTTPD_OTHER;
  c->keep_alive = c->minor >= 1;
  return 0;
}

/* "Name: value": 0, or the status refusing it. */
static int parse_header(conn *c, char *line, size_t len)
{
  char *colon = memchr(line, ':', len), *v, *end, *p, **grown;
  if(line[0] == ' ' || line[0] == '\t')
    return 400; /* obsolete line folding: refused, as RFC 9112 5.2 allows */
  if(!colon || colon == line)
    return 400;
  for(p = line; p < colon; p++)
    if(!is_tchar((unsigned char)*p))
      return 400;
  for(v = colon + 1; *v == ' ' || *v == '\t'; v++)
    ;
  for(end = line + len; end > v && (end[-1] == ' ' || end[-1] == '\t'); end--)
    ;
  for(p = v; p < end; p++)
    if(((unsigned char)*p < 0x20 && *p != '\t') || *p == 0x7f)
      return 400;
  if(c->nhdr >= MAX_HEADERS)
    return 431;
  if(!(grown = realloc(c->hdr, (2 * c->nhdr + 2) * sizeof(*grown))))
    return 500;
  c->hdr = grown;
  c->hdr[2 * c->nhdr] = strndup(line, (size_t)(colon - line));
  c->hdr[2 * c->nhdr + 1] = strndup(v, (size_t)(end - v));
  c->nhdr++;
  if(!c->hdr[2 * c->nhdr - 2] || !c->hdr[2 * c->nhdr - 1])
    return 500;
  return 0;
}

/* Whether the comma-separated list v holds token (case-insensitive). */
static int has_token(const char *v, const char *token)
{
  size_t n = strlen(token);
  while(*v) {
    while(*v == ' ' || *v == '\t' || *v == ',')
      v++;
    if(!strncasecmp(v, token, n) && (v[n] == '\0' || v[n] == ',' || v[n] == ' ' || v[n] == '\t'))
      return 1;
    while(*v && *v != ',')
      v++;
  }
  return 0;
}

/* What the headers say about the body and the connection: 0, or the status refusing them. */
static int headers_done(conn *c)
{
  size_t i;
  int have_len = 0, chunked = 0;
  unsigned long long len = 0;
  for(i = 0; i < c->nhdr; i++) {
    const char *name = c->hdr[2 * i], *v = c->hdr[2 * i + 1];
    if(!strcasecmp(name, "Content-Length")) {
      /* one value, however often repeated (RFC 9110 8.6); two different ones are a request
       * smuggling attempt or a broken client: refused */
      const char *p = v;
      do {
        unsigned long long x = 0;
        int digits = 0;
        while(*p == ' ' || *p == '\t')
          p++;
        for(; *p >= '0' && *p <= '9'; p++, digits++) {
          if(x > (~0ULL - 9) / 10)
            return 413;
          x = x * 10 + (unsigned)(*p - '0');
        }
        while(*p == ' ' || *p == '\t')
          p++;
        if(!digits || (*p && *p != ',') || (have_len && x != len))
          return 400;
        len = x;
        have_len = 1;
      } while(*p++ == ',');
    }
    else if(!strcasecmp(name, "Transfer-Encoding")) {
      if(c->minor < 1 || strcasecmp(v, "chunked") != 0 || chunked)
        return strcasecmp(v, "chunked") != 0 && c->minor >= 1 ? 501 : 400;
      chunked = 1;
    }
    else if(!strcasecmp(name, "Connection")) {
      if(has_token(v, "close"))
        c->keep_alive = 0;
      else if(has_token(v, "keep-alive") && c->minor == 0)
        c->keep_alive = 1;
    }
    else if(!strcasecmp(name, "Expect")) {
      if(strcasecmp(v, "100-continue") != 0)
        return 417;
      c->expect_continue = c->minor >= 1;
    }
  }
  if(chunked && have_len)
    return 400;
  if(chunked)
    c->body_kind = BODY_CHUNKED;
  else if(have_len && len > 0) {
    if(len > c->h->p.max_body)
      return 413;
    c->body_kind = BODY_LENGTH;
    c->want = (size_t)len;
  }
  return 0;
}

/* Request line and headers: 1 when read, 0 for more, -status when to be refused. */
int httpd_read_head(conn *c, struct evbuffer *in)
{
  size_t max = c->h->p.max_head;
  for(;;) {
    char *line;
    size_t len = 0;
    int rc = take_line(c, in, max > c->head_len ? max - c->head_len : 0, &line, &len), st = 0;
    if(rc < 0)
      return -(c->have_line ? 431 : 414);
    if(rc == 0)
      return 0;
    if(c->head_len > max)
      st = c->have_line ? 431 : 414;
    else if(memchr(line, '\0', len))
      st = 400;
    else if(!c->have_line) {
      if(len) { /* empty lines before a request are skipped (RFC 9112 2.2) */
        st = parse_line(c, line, len);
        c->have_line = 1;
      }
    }
    else if(!len) {
      free(line);
      return (st = headers_done(c)) != 0 ? -st : 1;
    }
    else
      st = parse_header(c, line, len);
    free(line);
    if(st)
      return -st;
  }
}

/* The body: 1 when read, 0 for more, -status when to be refused. */
int httpd_read_body(conn *c, struct evbuffer *in)
{
  size_t max = c->h->p.max_body;
  for(;;) {
    size_t avail = evbuffer_get_length(in), n;
    char *line;
    size_t len = 0;
    int rc;
    if(c->body_kind == BODY_LENGTH || (c->body_kind == BODY_CHUNKED && c->chunk_state == CH_DATA)) {
      n = avail < c->want ? avail : c->want;
      if(n)
        evbuffer_remove_buffer(in, c->body, n);
      c->want -= n;
      if(c->want)
        return 0;
      if(c->body_kind == BODY_LENGTH)
        return 1;
      c->chunk_state = CH_DATA_END;
      continue;
    }
    /* chunked: a size line, the data and its CRLF, ..., a zero size, trailers, an empty line */
    rc = take_line(c, in, c->chunk_state == CH_TRAILER ? c->h->p.max_head : 256, &line, &len);
    if(rc < 0 || (c->chunk_state == CH_TRAILER && c->head_len > c->h->p.max_head))
      return free(line), -(c->chunk_state == CH_TRAILER ? 431 : 400);
    if(rc == 0)
      return 0;
    if(c->chunk_state == CH_DATA_END) {
      rc = len == 0;
      c->chunk_state = CH_SIZE;
    }
    else if(c->chunk_state == CH_SIZE) {
      unsigned long long size = 0;
      char *p = line;
      int digits = 0;
      for(; isxdigit((unsigned char)*p) && digits < 16; p++, digits++)
        size = size * 16 + (unsigned)(*p <= '9' ? *p - '0' : (*p | 0x20) - 'a' + 10);
      rc = digits > 0 && (*p == '\0' || *p == ';' || *p == ' ' || *p == '\t');
      if(rc && size > max - evbuffer_get_length(c->body)) {
        free(line);
        return -413;
      }
      c->want = (size_t)size;
      c->chunk_state = size ? CH_DATA : CH_TRAILER;
    }
    else { /* a trailer line, or the empty one that ends the request */
      free(line);
      if(!len)
        return 1;
      continue;
    }
    free(line);
    if(!rc)
      return -400;
  }
}
