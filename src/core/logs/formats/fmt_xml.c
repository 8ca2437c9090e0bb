/* XML record formats: WCF .svclog and Windows event XML (also what .evtx records are read as).
 * Part of the log reader (src/core/logs/): see logs_int.h for how the pieces fit. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libxml/parser.h>

#include "logs_int.h"

static char *xml_attr(const xmlNode *n, const char *name)
{
  return n ? (char *)xmlGetProp((xmlNode *)n, (const xmlChar *)name) : NULL;
}

/* UserData (CAPI2 and others) nests elements with attributes: "Name a=v b=w Child ... text". */
static void flatten(sceplab_log *lg, size_t *len, const xmlNode *n, int depth)
{
  const xmlNode *c;
  const xmlAttr *a;
  if(depth > 16 || *len > 8192)
    return;
  if(*len)
    logs_msg_append(lg, len, " ", 1);
  logs_msg_append(lg, len, (const char *)n->name, strlen((const char *)n->name));
  for(a = n->properties; a; a = a->next) {
    xmlChar *v = xmlNodeListGetString(n->doc, a->children, 1);
    logs_msg_append(lg, len, " ", 1);
    logs_msg_append(lg, len, (const char *)a->name, strlen((const char *)a->name));
    logs_msg_append(lg, len, "=", 1);
    if(v)
      logs_msg_append(lg, len, (const char *)v, strlen((const char *)v));
    xmlFree(v);
  }
  for(c = n->children; c; c = c->next) {
    if(c->type == XML_ELEMENT_NODE)
      flatten(lg, len, c, depth + 1);
    else if(c->type == XML_TEXT_NODE && c->content) {
      const char *t = (const char *)c->content;
      size_t tl = strlen(t);
      while(tl && isspace((unsigned char)*t)) { t++; tl--; }
      while(tl && isspace((unsigned char)t[tl - 1]))
        tl--;
      if(tl) {
        logs_msg_append(lg, len, " ", 1);
        logs_msg_append(lg, len, t, tl);
      }
    }
  }
}

/* Appends the text under n, whitespace runs folded to one space, a space between text nodes. */
static void text_folded(sceplab_log *lg, size_t *len, const xmlNode *n, int depth)
{
  const xmlNode *c;
  if(depth > 16 || *len > 8192)
    return;
  for(c = n->children; c; c = c->next) {
    if(c->type == XML_ELEMENT_NODE)
      text_folded(lg, len, c, depth + 1);
    else if((c->type == XML_TEXT_NODE || c->type == XML_CDATA_SECTION_NODE) && c->content) {
      const char *t = (const char *)c->content;
      while(*t) {
        const char *w;
        while(*t && isspace((unsigned char)*t))
          t++;
        if(!*t)
          break;
        for(w = t; *w && !isspace((unsigned char)*w); w++)
          ;
        if(*len && lg->msg[*len - 1] != ' ')
          logs_msg_append(lg, len, " ", 1);
        logs_msg_append(lg, len, t, (size_t)(w - t));
        t = w;
      }
    }
  }
}

static const xmlNode *child_path(const xmlNode *n, const char *const *names)
{
  for(; n && *names; names++)
    n = sceplab_xml_child(n, *names);
  return n;
}

/* A WCF trace's ApplicationData. The usual form is a TraceRecord: the Description ("Handling an
 * exception.") and the exception as .NET prints it (ExceptionString: type, message, stack), which
 * is what support engineers search for; TraceIdentifier (a URL) and AppDomain are left out of the
 * text, the AppDomain names the service (CertificateRegistrationSvc: step 3). Other elements give
 * their text joined by spaces; plain text is kept as written. */
static void svclog_message(sceplab_log *lg, size_t *len, const xmlNode *appdata, sceplab_record *r)
{
  static const char *const path[] = {"TraceData", "DataItem", "TraceRecord", NULL};
  const xmlNode *tr = child_path(appdata, path), *c;
  if(!appdata)
    return;
  if(!tr) {
    /* plain text stays as written (line breaks included); elements are joined by spaces */
    for(c = appdata->children; c && c->type != XML_ELEMENT_NODE; c = c->next)
      ;
    if(c)
      text_folded(lg, len, appdata, 0);
    else {
      char *t = sceplab_xml_text(appdata);
      if(t)
        logs_msg_append(lg, len, t, strlen(t));
      free(t);
    }
    return;
  }
  for(c = tr->children; c; c = c->next) {
    const char *name = (const char *)c->name;
    if(c->type != XML_ELEMENT_NODE || !strcmp(name, "TraceIdentifier"))
      continue;
    if(!strcmp(name, "AppDomain")) {
      char *d = sceplab_xml_text(c);
      if(d && strstr(d, "CertificateRegistration"))
        r->step = 3;
      free(d);
      continue;
    }
    if(!strcmp(name, "Exception")) {
      const xmlNode *es = sceplab_xml_child(c, "ExceptionString");
      if(es) {
        text_folded(lg, len, es, 0);
        continue;
      }
    }
    text_folded(lg, len, c, 0);
  }
}

int logs_parse_fragment(sceplab_log *lg, const char *frag, size_t n, sceplab_record *r)
{
  xmlDoc *doc;
  xmlNode *root, *sys, *c;
  char *t;
  doc = xmlReadMemory(frag, (int)n, NULL, NULL, XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
  root = doc ? xmlDocGetRootElement(doc) : NULL;
  if(!root) {
    xmlFreeDoc(doc);
    logs_skip(lg, r->line, lg->fmt == FMT_SVCLOG ? "E2ETraceEvent is not well-formed XML" : "Event is not well-formed XML");
    return 0;
  }
  sys = sceplab_xml_child(root, "System");
  t = xml_attr(sceplab_xml_child(sys, "TimeCreated"), "SystemTime");
  if(logs_iso_time(t, r) != 0) {
    xmlFree(t);
    xmlFreeDoc(doc);
    logs_skip(lg, r->line, "no readable TimeCreated SystemTime");
    return 0;
  }
  r->time_text = logs_arena_str(lg, t);
  logs_time_sources(r, LOGS_TS_RECORD, r->zone_assumed ? LOGS_TS_ASSUMED : LOGS_TS_RECORD);
  xmlFree(t);
  {
    char *comp = sceplab_xml_text(sceplab_xml_child(sys, "Computer"));
    r->host = logs_arena_str(lg, comp);
    free(comp);
  }
  {
    xmlNode *ex = sceplab_xml_child(sys, "Execution");
    char *tid = xml_attr(ex, "ThreadID");
    r->thread = logs_arena_str(lg, tid);
    xmlFree(tid);
  }
  if(lg->fmt == FMT_SVCLOG) {
    char *src = xml_attr(sceplab_xml_child(sys, "Source"), "Name");
    char *lvl = sceplab_xml_text(sceplab_xml_child(sys, "Level"));
    char *act = xml_attr(sceplab_xml_child(sys, "Correlation"), "ActivityID");
    size_t len = 0;
    int level = lvl ? atoi(lvl) : 0;
    r->component = logs_arena_str(lg, src);
    r->context = logs_arena_str(lg, act);
    r->level = level == 1 ? SCEPLAB_LVL_CRITICAL : level == 2 ? SCEPLAB_LVL_ERROR : level == 4 ? SCEPLAB_LVL_WARNING
             : level == 16 ? SCEPLAB_LVL_VERBOSE : SCEPLAB_LVL_INFO;
    svclog_message(lg, &len, sceplab_xml_child(root, "ApplicationData"), r);
    r->message.p = lg->msg;
    r->message.n = len;
    if(src && (strstr(src, "CertificateRegistration") || strstr(src, "NDES")))
      r->step = strstr(src, "Connector") ? 6 : 3;
    xmlFree(src);
    free(lvl);
    xmlFree(act);
  }
  else {
    char *prov = xml_attr(sceplab_xml_child(sys, "Provider"), "Name");
    char *eid = sceplab_xml_text(sceplab_xml_child(sys, "EventID"));
    char *lvl = sceplab_xml_text(sceplab_xml_child(sys, "Level"));
    xmlNode *ri = sceplab_xml_child(root, "RenderingInfo");
    char *rendered = ri ? sceplab_xml_text(sceplab_xml_child(ri, "Message")) : NULL;
    int level = lvl ? atoi(lvl) : 0;
    size_t len = 0;
    r->component = logs_arena_str(lg, prov);
    r->event_id = eid && *eid ? strtol(eid, NULL, 10) : -1;
    r->level = level == 1 ? SCEPLAB_LVL_CRITICAL : level == 2 ? SCEPLAB_LVL_ERROR : level == 3 ? SCEPLAB_LVL_WARNING
             : level == 5 ? SCEPLAB_LVL_VERBOSE : SCEPLAB_LVL_INFO;
    if(rendered && *rendered)
      logs_msg_append(lg, &len, rendered, strlen(rendered));
    else {
      /* /f:xml carries no text: the EventData values, named, stand in for it */
      xmlNode *ed = sceplab_xml_child(root, "EventData");
      xmlNode *ud = sceplab_xml_child(root, "UserData");
      for(c = ud && !ed ? ud->children : NULL; c; c = c->next)
        if(c->type == XML_ELEMENT_NODE)
          flatten(lg, &len, c, 0);
      for(c = ed ? ed->children : NULL; c; c = c->next) {
        char *name, *val;
        if(c->type != XML_ELEMENT_NODE)
          continue;
        name = xml_attr(c, "Name");
        val = sceplab_xml_text(c);
        if(len)
          logs_msg_append(lg, &len, "; ", 2);
        if(name) {
          logs_msg_append(lg, &len, name, strlen(name));
          logs_msg_append(lg, &len, "=", 1);
        }
        if(val)
          logs_msg_append(lg, &len, val, strlen(val));
        xmlFree(name);
        free(val);
      }
    }
    r->message.p = lg->msg;
    r->message.n = len;
    logs_event_step(r);
    xmlFree(prov);
    free(eid);
    free(lvl);
    free(rendered);
  }
  xmlFreeDoc(doc);
  return 1;
}

static int pend_append(sceplab_log *lg, const char *p, size_t n)
{
  if(lg->pendlen + n + 2 > lg->pendcap) {
    size_t cap = lg->pendcap ? lg->pendcap : 8192;
    char *np;
    while(cap < lg->pendlen + n + 2)
      cap *= 2;
    np = realloc(lg->pending, cap);
    if(!np)
      return -1;
    lg->pending = np;
    lg->pendcap = cap;
  }
  memcpy(lg->pending + lg->pendlen, p, n);
  lg->pendlen += n;
  lg->pending[lg->pendlen++] = '\n';
  return 0;
}

/* Cuts the next <tag ...>...</tag> out of the stream, reading lines as needed. 1, 0 at end, -1. */
static int logs_parse_xml_record(sceplab_log *lg, sceplab_record *r, sceplab_error *err)
{
  const char *open_tag = lg->fmt == FMT_SVCLOG ? "<E2ETraceEvent" : "<Event", *close_tag;
  close_tag = lg->fmt == FMT_SVCLOG ? "</E2ETraceEvent>" : "</Event>";
  for(;;) {
    const char *o = lg->pendlen ? sceplab_memcasestr(lg->pending, lg->pendlen, open_tag) : NULL;
    /* "<Event" must not match "<EventData" or "<EventID" */
    while(o && lg->fmt == FMT_EVENTXML && o[6] != ' ' && o[6] != '>')
      o = sceplab_memcasestr(o + 1, lg->pendlen - (size_t)(o + 1 - lg->pending), open_tag);
    if(o) {
      const char *c = sceplab_memcasestr(o, lg->pendlen - (size_t)(o - lg->pending), close_tag);
      if(c) {
        size_t end = (size_t)(c - lg->pending) + strlen(close_tag);
        const char *q;
        int got;
        /* the record's line: count the newlines before its start */
        r->line = lg->pend_line;
        r->offset = lg->pend_offset;
        for(q = lg->pending; q < o; q++)
          if(*q == '\n')
            r->line++;
        lg->arena_used = 0;
        got = logs_parse_fragment(lg, o, end - (size_t)(o - lg->pending), r);
        for(q = lg->pending; q < lg->pending + end; q++)
          if(*q == '\n')
            lg->pend_line++;
        memmove(lg->pending, lg->pending + end, lg->pendlen - end);
        lg->pendlen -= end;
        if(got)
          return 1;
        continue;
      }
      if(lg->pendlen > MAX_FRAGMENT) {
        logs_skip(lg, lg->pend_line, "record larger than 4 MiB");
        lg->pendlen = 0;
      }
    }
    else if(lg->pendlen > 65536) {
      /* text outside any record: drop it, keep the line count right */
      const char *q;
      for(q = lg->pending; q < lg->pending + lg->pendlen; q++)
        if(*q == '\n')
          lg->pend_line++;
      lg->pendlen = 0;
    }
    {
      const char *p;
      size_t n;
      int rc = logs_next_line(lg, &p, &n, err);
      if(rc <= 0) {
        if(rc == 0 && o)
          logs_skip(lg, lg->pend_line, "record never closed at the end of the file");
        return rc;
      }
      if(lg->pendlen == 0) {
        lg->pend_line = lg->line - 1;
        lg->pend_offset = lg->line_start;
      }
      if(pend_append(lg, p, n) != 0)
        return sceplab_err_set(err, SCEPLAB_E_NOMEM, "out of memory"), -1;
    }
  }
}

static const char *detect_svclog(const char *p, size_t n)
{
  return sceplab_memcasestr(p, n, "<E2ETraceEvent") ? "WCF trace (.svclog: <E2ETraceEvent> fragments)" : NULL;
}

static const char *detect_eventxml(const char *p, size_t n)
{
  if(sceplab_memcasestr(p, n, "<Event xmlns=") || sceplab_memcasestr(p, n, "<Event xmlns:"))
    return "Windows event XML (wevtutil qe /f:xml or /f:RenderedXml)";
  return NULL;
}

const logs_format logs_fmt_svclog = {.id = FMT_SVCLOG, .name = "svclog", .flags = LOGS_XML2 | LOGS_FORCEABLE,
  .detect = detect_svclog, .record = logs_parse_xml_record};
const logs_format logs_fmt_eventxml = {.id = FMT_EVENTXML, .name = "eventxml", .flags = LOGS_XML2 | LOGS_FORCEABLE,
  .detect = detect_eventxml, .record = logs_parse_xml_record};
