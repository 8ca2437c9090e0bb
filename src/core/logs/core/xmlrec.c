/* XML event records (rendered event XML, the CRP's E2ETraceEvent records, .evtx records) parsed
 * into records: a service of the reader's core to the formats whose records are XML (fmt_xml.c,
 * fmt_evtx.c), so that no format calls another.
 * Part of the log reader's core (src/core/logs/core/): see logs_int.h. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libxml/parser.h>

#include "decode/decode_int.h"
#include "logs/core/logs_int.h"

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
