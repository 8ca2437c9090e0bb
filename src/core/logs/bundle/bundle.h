/* The log bundle's private header: archives (archive.c), the times a bundle proves (infer.c) and
 * its inputs (inputs.c), for the merged timeline (merge.c). The bundle calls the reader's core
 * (logs_int.h); the core never calls it. */
#ifndef SCEPLAB_LOGS_BUNDLE_H
#define SCEPLAB_LOGS_BUNDLE_H

#include "logs/core/logs_int.h"

/* archive.c: zip and cab archives (libarchive) */
struct archive;
struct archive_entry;
int logs_archive_magic(const unsigned char *p, size_t n);      /* 1 zip, 2 cab, 0 neither */
struct archive *logs_archive_new(int kind, sceplab_error *err); /* a reader for that kind */
void logs_member_name(char *out, size_t outlen, const char *outer, struct archive_entry *e); /* "outer!member", UTF-8 */

/* infer.c: the bundle's evidence of times, and what it proves of a log without them */
typedef struct logs_evidence logs_evidence;
logs_evidence *logs_evidence_new(void);
void logs_evidence_free(logs_evidence *ev);
/* A record seen (before the filter) in the input named input: kept when its time is proven. */
void logs_evidence_add(logs_evidence *ev, const sceplab_record *r, const char *input);
/* Whether lg (opened, nothing read) has date-less or zone-less records that nothing proves; its
 * text is then read ahead whole (up to a bound) so that logs_infer can read it first. */
int logs_wants_bundle_time(sceplab_log *lg, sceplab_error *err);
/* Reads lg's text in a second reader, matches its device records with the evidence and, when the
 * evidence proves it, sets lg's date and/or offset (source "correlated"). 1 set, 0 not. */
int logs_infer(logs_evidence *ev, sceplab_log *lg);

#endif
