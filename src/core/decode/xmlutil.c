/* libxml2 helpers. Documents are parsed from memory with the network off, entities unexpanded and
 * libxml2's own error printing silenced: the first error becomes our one-line message. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>

#include "decode/decode_int.h"

xmlDoc *sceplab_xml_read(const unsigned char *buf, size_t n, const char *what, sceplab_error *err)
{
  xmlParserCtxtPtr ctxt;
  xmlDoc *doc;
  if(n > (size_t)0x7fffffff) {
    sceplab_err_set(err, SCEPLAB_E_INPUT, "%s: document too large", what);
    return NULL;
  }
  /* Documents of ours never declare entities; refusing them keeps expansion attacks out. */
  if(sceplab_memcasestr((const char *)buf, n, "<!ENTITY")) {
    sceplab_err_set(err, SCEPLAB_E_INPUT, "%s: entity declarations are not accepted", what);
    return NULL;
  }
  if(sceplab_optlib_need(SCEPLAB_LIB_XML2, err) != 0)
    return NULL;
  ctxt = xmlNewParserCtxt();
  if(!ctxt) {
    sceplab_err_set(err, SCEPLAB_E_NOMEM, "out of memory");
    return NULL;
  }
  doc = xmlCtxtReadMemory(ctxt, (const char *)buf, (int)n, NULL, NULL,
                          XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING |
                          XML_PARSE_NOCDATA);
  if(!doc || !ctxt->wellFormed) {
    const xmlError *e = &ctxt->lastError;
    char msg[200];
    size_t len;
    snprintf(msg, sizeof(msg), "%s", e->message ? e->message : "malformed XML");
    len = strlen(msg);
    while(len && (msg[len - 1] == '\n' || msg[len - 1] == ' '))
      msg[--len] = '\0';
    sceplab_err_set(err, SCEPLAB_E_INPUT, "%s: invalid XML at line %d: %s", what, e->line, msg);
    if(doc)
      xmlFreeDoc(doc);
    doc = NULL;
  }
  xmlFreeParserCtxt(ctxt);
  return doc;
}

int sceplab_xml_is(const xmlNode *node, const char *local)
{
  return node && node->type == XML_ELEMENT_NODE && strcmp((const char *)node->name, local) == 0;
}

xmlNode *sceplab_xml_child(const xmlNode *parent, const char *local)
{
  xmlNode *c;
  if(!parent)
    return NULL;
  for(c = parent->children; c; c = c->next)
    if(sceplab_xml_is(c, local))
      return c;
  return NULL;
}

xmlNode *sceplab_xml_path(const xmlNode *node, const char *slash_path)
{
  char part[64];
  const char *p = slash_path;
  xmlNode *cur = (xmlNode *)node;
  while(cur && *p) {
    size_t len = strcspn(p, "/");
    if(len >= sizeof(part))
      return NULL;
    memcpy(part, p, len);
    part[len] = '\0';
    cur = sceplab_xml_child(cur, part);
    p += len;
    if(*p == '/')
      p++;
  }
  return cur;
}

char *sceplab_xml_text(const xmlNode *node)
{
  xmlChar *c = node ? xmlNodeGetContent(node) : NULL;
  const char *s = c ? (const char *)c : "";
  size_t start = 0, end = strlen(s);
  char *out;
  while(start < end && isspace((unsigned char)s[start]))
    start++;
  while(end > start && isspace((unsigned char)s[end - 1]))
    end--;
  out = malloc(end - start + 1);
  if(out) {
    memcpy(out, s + start, end - start);
    out[end - start] = '\0';
  }
  xmlFree(c);
  return out;
}

xmlNode *sceplab_xml_root(xmlDoc *doc, const char *name, const char *what, sceplab_error *err)
{
  xmlNode *root = xmlDocGetRootElement(doc);
  if(!sceplab_xml_is(root, name)) {
    sceplab_err_set(err, SCEPLAB_E_INPUT, "%s: root element is <%s>, expected <%s>", what,
                    root ? (const char *)root->name : "(none)", name);
    return NULL;
  }
  return root;
}
