/* decode/: content detection and the decoders (the public side is sceplab/decode.h). This is its
 * private header: the XML helpers every XML decoder uses. */
#ifndef SCEPLAB_DECODE_INT_H
#define SCEPLAB_DECODE_INT_H

#include <libxml/tree.h>

#include "base/base_int.h"
#include "base/optlib.h"
#include "pki/pki_int.h"
#include "sceplab/decode.h"

/* XML: parse with the network off and no entity expansion; element names are matched by local
 * name so documents with and without a default namespace read the same. */
xmlDoc *sceplab_xml_read(const unsigned char *buf, size_t n, const char *what, sceplab_error *err);
int sceplab_xml_is(const xmlNode *node, const char *local);
xmlNode *sceplab_xml_child(const xmlNode *parent, const char *local);
xmlNode *sceplab_xml_path(const xmlNode *node, const char *slash_path);
/* Trimmed text content, malloc'd (never NULL unless out of memory). */
char *sceplab_xml_text(const xmlNode *node);
/* The root element when it is named name; else NULL with "<what>: root element is <x>, expected <name>". */
xmlNode *sceplab_xml_root(xmlDoc *doc, const char *name, const char *what, sceplab_error *err);

#endif
