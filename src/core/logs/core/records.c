/* What is said of any record, whatever its format: its level's name, whether its time is proven
 * by what it says, and whether its ids are worth extracting for a bundle's evidence of times.
 * Part of the log reader's core (src/core/logs/core/): see logs_int.h. */
#include <stdint.h>
#include <string.h>

#include "logs/core/logs_int.h"

/* A time the record's own text gives whole: date and offset written, or UTC by the format. */
void logs_rebase(sceplab_record *r, const char *old, size_t len, const char *now)
{
  sceplab_str *views[] = {&r->time_text, &r->host, &r->component, &r->message, &r->method, &r->url, &r->query,
                          &r->client_ip, &r->user_agent, &r->scep_operation, &r->platform, &r->thread, &r->context,
                          &r->file_attr, &r->origin};
  uintptr_t from = (uintptr_t)old;
  size_t i;
  /* compared as numbers: old no longer points at anything */
  for(i = 0; old != now && i < sizeof(views) / sizeof(views[0]); i++) {
    uintptr_t at = (uintptr_t)views[i]->p;
    if(views[i]->p && at >= from && at < from + len)
      views[i]->p = now + (at - from);
  }
}

int logs_time_proven(const sceplab_record *r)
{
  return r->time_us != SCEPLAB_TIME_UNKNOWN && !r->time_inferred && r->date_source == logs_tsrc_name(LOGS_TS_RECORD) &&
         (r->offset_source == logs_tsrc_name(LOGS_TS_RECORD) || r->offset_source == logs_tsrc_name(LOGS_TS_FORMAT));
}

int logs_evidence_wants_fields(const sceplab_record *r)
{
  if(!logs_time_proven(r))
    return 1; /* a log being placed: its own ids are what it is matched by */
  /* a dated record's ids are worth extracting only when its text names one (cheap tests first) */
  return r->message.n &&
         (sceplab_memcasestr(r->message.p, r->message.n, "LogicalName") ||
          sceplab_memcasestr(r->message.p, r->message.n, "Transaction"));
}

const char *sceplab_level_name(sceplab_level l)
{
  static const char *const names[] = {"unknown", "verbose", "info", "warning", "error", "critical"};
  return (unsigned)l < 6 ? names[l] : "unknown";
}
