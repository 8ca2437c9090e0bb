/* A bundle's date-less and zone-less logs placed by the records of its dated logs.
 *
 * An iOS Console copy writes times of day only; Android, Event Viewer exports and syslog write local
 * times without a zone. The file's modification time (in a zip or a copied folder, the day it was
 * copied) and UTC are guesses. What the bundle itself proves is better: the device's requests
 * reached the server, and IIS logged them in UTC; the device's records name the request or the
 * transaction that NDES's records name. So the merge keeps, before any filter, the proven moments
 * of the bundle (IIS's device requests, the ids of records whose time is written whole), and a log
 * lacking a date or a zone is read first in a second reader: the date and the offset under which
 * the most of its device records meet that evidence, clear of what chance gives any other, are
 * the log's.
 * Part of the log bundle (src/core/logs/bundle/): see logs_int.h and bundle.h. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "logs/bundle/bundle.h"

#define REQS_MAX (1u << 20)     /* proven requests kept (16 MB): past it, a busy server proves nothing */
#define IDS_MAX (1u << 18)      /* proven ids kept */
#define ITEMS_MAX 256           /* a log's own records matched */
#define WINDOW_S 180            /* a device's record of a request and the server's line: within 3 minutes */
#define ID_WINDOW_S (6 * 3600)  /* records naming one request or transaction: within hours */
#define TEXT_MAX (64u << 20)    /* a log read ahead whole to be placed before it is read */
#define WORK_MAX (20u << 20)    /* candidate x record tests: past it, nothing is proven */

enum { OP_NONE = 0, OP_CAPS, OP_CACERT, OP_PKI };
enum { PL_ANY = 0, PL_WINDOWS, PL_ANDROID, PL_IOS };

typedef struct ev_req { int64_t t; unsigned char op, plat; uint16_t input; } ev_req;
typedef struct ev_id { uint64_t h; int64_t t; uint16_t input; } ev_id;

struct logs_evidence {
  ev_req *reqs;
  size_t nreqs, capreqs;
  ev_id *ids;
  size_t nids, capids;
  int sorted;
  const char **inputs; /* the merge's paths, which outlive the evidence */
  size_t ninputs, capinputs;
  int truncated;
};

/* The offsets that exist (minutes east), past and present: a rounded difference is one of them. */
static const int offsets[] = {-720, -660, -600, -570, -540, -480, -420, -360, -300, -240, -210, -180, -150, -120, -60,
                              0, 60, 120, 180, 210, 240, 270, 300, 330, 345, 360, 390, 420, 480, 525, 540, 570,
                              600, 630, 660, 720, 765, 780, 825, 840};
#define NOFFSETS (sizeof(offsets) / sizeof(offsets[0]))

logs_evidence *logs_evidence_new(void)
{
  return calloc(1, sizeof(logs_evidence));
}

void logs_evidence_free(logs_evidence *ev)
{
  if(!ev)
    return;
  free(ev->reqs);
  free(ev->ids);
  free(ev->inputs);
  free(ev);
}

static int op_of(sceplab_str s)
{
  if(s.n == 9 && strncasecmp(s.p, "GetCACaps", 9) == 0)
    return OP_CAPS;
  if(s.n == 9 && strncasecmp(s.p, "GetCACert", 9) == 0)
    return OP_CACERT;
  if(s.n == 12 && strncasecmp(s.p, "PKIOperation", 12) == 0)
    return OP_PKI;
  return OP_NONE;
}

static int plat_named(sceplab_str s)
{
  if(s.n == 7 && strncmp(s.p, "windows", 7) == 0)
    return PL_WINDOWS;
  if(s.n == 7 && strncmp(s.p, "android", 7) == 0)
    return PL_ANDROID;
  if(s.n == 3 && strncmp(s.p, "ios", 3) == 0)
    return PL_IOS;
  return PL_ANY;
}

static uint64_t hash_id(const char *s)
{
  uint64_t h = 1469598103934665603ULL;
  for(; *s; s++)
    h = (h ^ (unsigned char)tolower((unsigned char)*s)) * 1099511628211ULL;
  return h;
}

static uint16_t input_index(logs_evidence *ev, const char *input)
{
  if(ev->ninputs && ev->inputs[ev->ninputs - 1] == input)
    return (uint16_t)(ev->ninputs - 1);
  if(ev->ninputs == 65535)
    return 65535;
  if(ev->ninputs == ev->capinputs) {
    size_t cap = ev->capinputs ? ev->capinputs * 2 : 16;
    const char **a = realloc(ev->inputs, cap * sizeof(*a));
    if(!a)
      return 65535;
    ev->inputs = a;
    ev->capinputs = cap;
  }
  ev->inputs[ev->ninputs] = input;
  return (uint16_t)ev->ninputs++;
}

static void add_id(logs_evidence *ev, const char *id, int64_t t, uint16_t input)
{
  if(!id[0])
    return;
  if(ev->nids == ev->capids) {
    size_t cap = ev->capids ? ev->capids * 2 : 256;
    ev_id *a;
    if(cap > IDS_MAX || !(a = realloc(ev->ids, cap * sizeof(*a)))) {
      ev->truncated = 1;
      return;
    }
    ev->ids = a;
    ev->capids = cap;
  }
  ev->ids[ev->nids].h = hash_id(id);
  ev->ids[ev->nids].t = t;
  ev->ids[ev->nids].input = input;
  ev->nids++;
  ev->sorted = 0;
}

void logs_evidence_add(logs_evidence *ev, const sceplab_record *r, const char *input)
{
  int op, plat;
  uint16_t in;
  if(!logs_time_proven(r))
    return;
  op = op_of(r->scep_operation);
  plat = plat_named(r->platform);
  if((!op || plat == PL_ANY) && !r->request_id[0] && !r->transaction_id[0])
    return;
  in = input_index(ev, input);
  if(op && plat != PL_ANY) {
    if(ev->nreqs == ev->capreqs) {
      size_t cap = ev->capreqs ? ev->capreqs * 2 : 1024;
      ev_req *a;
      if(cap > REQS_MAX || !(a = realloc(ev->reqs, cap * sizeof(*a)))) {
        ev->truncated = 1;
        return;
      }
      ev->reqs = a;
      ev->capreqs = cap;
    }
    ev->reqs[ev->nreqs].t = r->time_us;
    ev->reqs[ev->nreqs].op = (unsigned char)op;
    ev->reqs[ev->nreqs].plat = (unsigned char)plat;
    ev->reqs[ev->nreqs].input = in;
    ev->nreqs++;
    ev->sorted = 0;
  }
  add_id(ev, r->request_id, r->time_us, in);
  add_id(ev, r->transaction_id, r->time_us, in);
}

static int by_req_time(const void *a, const void *b)
{
  const ev_req *x = a, *y = b;
  return x->t < y->t ? -1 : x->t > y->t;
}

static int by_id_hash(const void *a, const void *b)
{
  const ev_id *x = a, *y = b;
  if(x->h != y->h)
    return x->h < y->h ? -1 : 1;
  return x->t < y->t ? -1 : x->t > y->t;
}

static void sort_evidence(logs_evidence *ev)
{
  if(ev->sorted)
    return;
  if(ev->nreqs > 1)
    qsort(ev->reqs, ev->nreqs, sizeof(*ev->reqs), by_req_time);
  if(ev->nids > 1)
    qsort(ev->ids, ev->nids, sizeof(*ev->ids), by_id_hash);
  ev->sorted = 1;
}

int logs_wants_bundle_time(sceplab_log *lg, sceplab_error *err)
{
  logs_clock *c = &lg->clock;
  int need_date, need_offset;
  logs_clock_prepare(lg);
  need_date = (lg->ft->flags & (LOGS_DATELESS | LOGS_YEARLESS)) && c->date_src != LOGS_TS_OPTION;
  need_offset = (lg->ft->flags & LOGS_ZONELESS) && !c->zone && c->offset_src == LOGS_TS_ASSUMED && !c->nlearnt;
  if(!need_date && !need_offset)
    return 0;
  /* the whole text, so that a second reader reads it first; a larger log is read as it stands */
  if(logs_lookahead(lg, TEXT_MAX, err) != 1)
    return 0;
  return lg->end > lg->start;
}

/* ---- the log's own records -------------------------------------------------------------------- */

typedef struct item {
  int64_t local_us;     /* the time as written, read as UTC, on the date the reader assumed */
  int rec_off;          /* the offset the reader applied (the record's own, or the assumed one) */
  unsigned char op, plat, request;
  uint64_t ids[3];
  int nids;
} item;

typedef struct items {
  item v[ITEMS_MAX];
  size_t n;
  int with_op;
} items;

static int device_plat(const sceplab_record *r)
{
  int p = plat_named(r->platform);
  if(p != PL_ANY)
    return p;
  if(strcmp(r->source, "android") == 0)
    return PL_ANDROID;
  if(strcmp(r->source, "ios") == 0 || strcmp(r->source, "syslog") == 0)
    return PL_IOS;
  if(r->component.n && (sceplab_memcasestr(r->component.p, r->component.n, "DeviceManagement") ||
                        sceplab_memcasestr(r->component.p, r->component.n, "CertEnroll") ||
                        sceplab_memcasestr(r->component.p, r->component.n, "CertificateServicesClient")))
    return PL_WINDOWS;
  return PL_ANY;
}

static void collect(void *ud, const sceplab_record *r)
{
  items *it = ud;
  item *x;
  int op, plat;
  if(r->time_us == SCEPLAB_TIME_UNKNOWN || r->time_inferred || it->n == ITEMS_MAX)
    return;
  op = op_of(r->scep_operation);
  if(op == OP_NONE && r->url.n) {
    /* jscep's "Sending PkiOperation to https://...?operation=PKIOperation": the URL names it */
    const char *q = sceplab_memcasestr(r->url.p, r->url.n, "operation=");
    if(q) {
      sceplab_str v;
      v.p = q + 10;
      v.n = logs_span_until(v.p, r->url.p + r->url.n, "&");
      op = op_of(v);
    }
  }
  plat = device_plat(r);
  x = &it->v[it->n];
  memset(x, 0, sizeof(*x));
  /* a request the device made (its operation named), or the device's own record of reaching NDES */
  x->request = (unsigned char)(op != OP_NONE || (r->step == 2 && plat != PL_ANY));
  /* a request or transaction id names one attempt; a device id names many (never matched) */
  if(r->request_id[0])
    x->ids[x->nids++] = hash_id(r->request_id);
  if(r->transaction_id[0])
    x->ids[x->nids++] = hash_id(r->transaction_id);
  if(!x->request && !x->nids)
    return;
  x->op = (unsigned char)op;
  x->plat = (unsigned char)plat;
  x->rec_off = r->utc_offset_min;
  x->local_us = r->time_us + (int64_t)r->utc_offset_min * LOGS_MIN_US;
  it->with_op += op != OP_NONE;
  it->n++;
}

/* ---- candidates ------------------------------------------------------------------------------- */

typedef struct cand { int64_t shift; int off; int has_off; unsigned support, idvotes; uint16_t input; } cand;
typedef struct place {
  int dateless, yearless, need_offset;
  int base_year;  /* year-less: the year the reader assumed */
} place;

/* The days an item moves when its year-less date is read dy years later; *ok 0 when that date
 * does not exist then (29 February). */
static int64_t year_shift(const item *x, int dy, int *ok)
{
  int64_t day = x->local_us / LOGS_DAY_US - (x->local_us % LOGS_DAY_US < 0);
  int y, m, d;
  logs_civil_from_days(day, &y, &m, &d);
  *ok = d <= logs_days_in_month(y + dy, m);
  return *ok ? logs_days_from_civil(y + dy, (unsigned)m, (unsigned)d) - day : 0;
}

/* The UTC time of an item under a candidate; INT64_MIN when the candidate cannot read it. */
static int64_t item_utc(const place *pl, const item *x, const cand *c)
{
  int64_t days = 0;
  if(pl->yearless) {
    int ok;
    days = year_shift(x, (int)c->shift, &ok);
    if(!ok)
      return INT64_MIN;
  }
  else if(pl->dateless)
    days = c->shift;
  return x->local_us + days * LOGS_DAY_US - (int64_t)(c->has_off ? c->off : x->rec_off) * LOGS_MIN_US;
}

/* A proven request within the window of t that the item could be: its input, or -1. */
static int request_near(const logs_evidence *ev, const item *x, int64_t t)
{
  size_t lo = 0, hi = ev->nreqs, i;
  int64_t from = t - (int64_t)WINDOW_S * 1000000, to = t + (int64_t)WINDOW_S * 1000000;
  while(lo < hi) {
    size_t mid = (lo + hi) / 2;
    if(ev->reqs[mid].t < from)
      lo = mid + 1;
    else
      hi = mid;
  }
  for(i = lo; i < ev->nreqs && ev->reqs[i].t <= to && i < lo + 256; i++) {
    const ev_req *q = &ev->reqs[i];
    if((x->op == OP_NONE || q->op == x->op) && (x->plat == PL_ANY || q->plat == x->plat))
      return q->input;
  }
  return -1;
}

/* The proven records naming one of the item's ids within hours of t: how many, and an input. */
static int id_near(const logs_evidence *ev, const item *x, int64_t t, uint16_t *input)
{
  int k;
  for(k = 0; k < x->nids; k++) {
    size_t lo = 0, hi = ev->nids, i;
    while(lo < hi) {
      size_t mid = (lo + hi) / 2;
      if(ev->ids[mid].h < x->ids[k])
        lo = mid + 1;
      else
        hi = mid;
    }
    for(i = lo; i < ev->nids && ev->ids[i].h == x->ids[k] && i < lo + 64; i++) {
      int64_t d = ev->ids[i].t - t;
      if(d < 0)
        d = -d;
      if(d <= (int64_t)ID_WINDOW_S * 1000000) {
        *input = ev->ids[i].input;
        return 1;
      }
    }
  }
  return 0;
}

static int add_cand(cand **cs, size_t *n, size_t *cap, int64_t shift, int off, int has_off)
{
  if(*n == *cap) {
    size_t nc = *cap ? *cap * 2 : 64;
    cand *a = realloc(*cs, nc * sizeof(*a));
    if(!a)
      return -1;
    *cs = a;
    *cap = nc;
  }
  memset(&(*cs)[*n], 0, sizeof(**cs));
  (*cs)[*n].shift = shift;
  (*cs)[*n].off = off;
  (*cs)[*n].has_off = has_off;
  (*n)++;
  return 0;
}

static int by_int64(const void *a, const void *b)
{
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return x < y ? -1 : x > y;
}

/* Sorts and removes repeats: the count left. */
static size_t unique(int64_t *v, size_t n)
{
  size_t i, k = 0;
  if(n > 1)
    qsort(v, n, sizeof(*v), by_int64);
  for(i = 0; i < n; i++)
    if(!k || v[k - 1] != v[i])
      v[k++] = v[i];
  return k;
}

#define DAYS_MAX 4096

/* The date shifts worth testing: those that bring one of the log's records onto a day (a year,
 * for syslog) the evidence has, give or take one. */
static int date_shifts(const logs_evidence *ev, const place *pl, const items *it, int64_t **out, size_t *nout)
{
  size_t i, j, n = 0, ndays = 0;
  int64_t *days = malloc((ev->nreqs + ev->nids + 1) * sizeof(*days)), *s;
  if(!days)
    return -1;
  for(i = 0; i < ev->nreqs; i++)
    days[ndays++] = ev->reqs[i].t / LOGS_DAY_US;
  for(i = 0; i < ev->nids; i++)
    days[ndays++] = ev->ids[i].t / LOGS_DAY_US;
  ndays = unique(days, ndays);
  if(ndays > DAYS_MAX || !(s = malloc((it->n * ndays * 3 + 1) * sizeof(*s)))) {
    free(days);
    return -1; /* evidence over years of days proves no single one */
  }
  for(i = 0; i < it->n; i++) {
    int64_t own = it->v[i].local_us / LOGS_DAY_US;
    int y, m, d;
    logs_civil_from_days(own, &y, &m, &d);
    for(j = 0; j < ndays; j++) {
      int64_t k;
      for(k = -1; k <= 1; k++) {
        if(pl->yearless) {
          int y2, m2, d2;
          logs_civil_from_days(days[j], &y2, &m2, &d2);
          s[n++] = y2 - y + k;
        }
        else
          s[n++] = days[j] - own + k;
      }
    }
  }
  free(days);
  *out = s;
  *nout = unique(s, n);
  return 0;
}

static void offset_text(char *out, size_t n, int min)
{
  int a = min < 0 ? -min : min;
  snprintf(out, n, "%c%02d:%02d", min < 0 ? '-' : '+', a / 60, a % 60);
}

/* The short name of an input for a note: what follows its last '/' or '!'. */
static const char *short_name(const logs_evidence *ev, uint16_t input)
{
  const char *p, *s;
  if(input >= ev->ninputs)
    return "the bundle";
  p = ev->inputs[input];
  s = strrchr(p, '/');
  if(strrchr(p, '!') > s)
    s = strrchr(p, '!');
  return s ? s + 1 : p;
}

int logs_infer(logs_evidence *ev, sceplab_log *lg)
{
  logs_clock *c = &lg->clock;
  items *it;
  place pl;
  sceplab_log *copy;
  sceplab_log_opts o;
  sceplab_error e;
  sceplab_record r;
  FILE *f;
  cand *cs = NULL;
  size_t ncs = 0, capcs = 0, i, j;
  int64_t base_day;
  int use_op, result = 0;
  memset(&pl, 0, sizeof(pl));
  pl.dateless = (lg->ft->flags & LOGS_DATELESS) && c->date_src != LOGS_TS_OPTION;
  pl.yearless = (lg->ft->flags & LOGS_YEARLESS) && c->date_src != LOGS_TS_OPTION;
  pl.need_offset = (lg->ft->flags & LOGS_ZONELESS) && !c->zone && c->offset_src == LOGS_TS_ASSUMED && !c->nlearnt;
  if(!pl.dateless && !pl.yearless && !pl.need_offset)
    return 0;
  /* a second reader over the text read ahead: the same format, options and file time */
  f = lg->end > lg->start ? fmemopen(lg->buf + lg->start, lg->end - lg->start, "r") : NULL;
  if(!f || !(it = calloc(1, sizeof(*it)))) {
    if(f)
      fclose(f);
    return 0;
  }
  memset(&o, 0, sizeof(o));
  o.format = lg->ft->name;
  o.date = c->opt_date[0] ? c->opt_date : NULL;
  o.zone = c->opt_zone[0] ? c->opt_zone : NULL;
  o.has_offset = c->opt_offset_set;
  o.offset_min = c->opt_offset;
  o.has_bias = lg->bias_set;
  o.bias = lg->bias;
  o.observe = collect;
  o.observe_ud = it;
  sceplab_err_clear(&e);
  copy = logs_open_stream(f, lg->path, &e);
  if(copy)
    copy = logs_finish_open(copy, lg->path, NULL, &o, c->origin_s == INT64_MIN ? -1 : c->origin_s, NULL, &e);
  if(!copy) {
    free(it);
    return 0;
  }
  copy->clock.origin_src = c->origin_src;
  if(copy->clock.date_src == LOGS_TS_ZIP || copy->clock.date_src == LOGS_TS_MTIME)
    copy->clock.date_src = c->origin_src;
  while(sceplab_log_next(copy, &r, &e) > 0)
    ;
  base_day = copy->clock.base_day;
  pl.base_year = copy->clock.base_year;
  sceplab_log_close(copy);
  sort_evidence(ev);
  use_op = it->with_op > 0;
  /* the candidates: the date shifts the evidence allows, and the offsets that exist */
  {
    int64_t *shifts = NULL;
    size_t nshifts = 0, k;
    if(pl.dateless || pl.yearless) {
      if(date_shifts(ev, &pl, it, &shifts, &nshifts) != 0)
        goto done;
    }
    else {
      shifts = malloc(sizeof(*shifts));
      if(!shifts)
        goto done;
      shifts[0] = 0;
      nshifts = 1;
    }
    for(k = 0; k < nshifts; k++) {
      if(pl.need_offset) {
        for(j = 0; j < NOFFSETS; j++)
          if(add_cand(&cs, &ncs, &capcs, shifts[k], offsets[j], 1) != 0)
            break;
      }
      else if(add_cand(&cs, &ncs, &capcs, shifts[k], 0, 0) != 0)
        break;
    }
    free(shifts);
  }
  if(!ncs || ncs * it->n > WORK_MAX)
    goto done;
  /* each candidate's support: the log's records it places on a proven request (or id) */
  for(i = 0; i < ncs; i++) {
    unsigned from[64];
    memset(from, 0, sizeof(from));
    for(j = 0; j < it->n; j++) {
      const item *x = &it->v[j];
      int64_t t = item_utc(&pl, x, &cs[i]);
      uint16_t in;
      int got;
      if(t == INT64_MIN)
        continue;
      if(x->request && (!use_op || x->op != OP_NONE) && (got = request_near(ev, x, t)) >= 0) {
        cs[i].support++;
        from[got % 64]++;
      }
      /* ids place a record within hours: they tell days apart, never offsets */
      if(!pl.need_offset && x->nids && id_near(ev, x, t, &in)) {
        cs[i].idvotes++;
        from[in % 64]++;
      }
    }
    for(j = 0; j < 64; j++)
      if(from[j] > from[cs[i].input % 64])
        cs[i].input = (uint16_t)j;
  }
  {
    /* The best, when it stands clear of chance: a busy server logs a request every few seconds, so
     * any reading meets some of them. Ids name one attempt: one record naming the same request or
     * transaction proves a day, twice as many as any other day's. Requests: at least two of the
     * log's records, and twice as many as under any other reading. */
    cand *best = NULL;
    unsigned second = 0;
    int by_ids = 0, ambiguous = 0;
    for(i = 0; i < ncs; i++)
      by_ids |= cs[i].idvotes > 0;
    for(i = 0; i < ncs; i++) {
      unsigned v = by_ids ? cs[i].idvotes : cs[i].support;
      unsigned bv = best ? (by_ids ? best->idvotes : best->support) : 0;
      if(v > bv) {
        second = bv;
        best = &cs[i];
      }
      else if(v > second)
        second = v;
    }
    if(best && (by_ids ? best->idvotes : best->support) < (by_ids ? 1u : 2u))
      best = NULL;
    if(best && (by_ids ? best->idvotes : best->support) < 2 * second) {
      best = NULL;
      ambiguous = 1;
    }
    if(best) {
      char what[160];
      size_t total = 0;
      for(j = 0; j < it->n; j++)
        total += it->v[j].request && (!use_op || it->v[j].op != OP_NONE);
      if(best->idvotes)
        snprintf(what, sizeof(what), "%u of its records name a request or transaction that %s names within hours",
                 best->idvotes, short_name(ev, best->input));
      else
        snprintf(what, sizeof(what), "%u of its %zu device records fall within %d minutes of requests %s logged", best->support,
                 total, WINDOW_S / 60, short_name(ev, best->input));
      if(pl.dateless || pl.yearless) {
        char day[16];
        int y, m, d;
        if(pl.yearless)
          c->base_year = pl.base_year + (int)best->shift;
        else
          c->base_day = base_day + best->shift;
        c->base_set = 1;
        c->date_src = LOGS_TS_CORRELATED;
        c->day_roll = c->year_roll = 0;
        c->have_prev = 0;
        logs_civil_from_days(base_day + (pl.yearless ? 0 : best->shift), &y, &m, &d);
        if(pl.yearless)
          snprintf(day, sizeof(day), "%04d", c->base_year);
        else
          snprintf(day, sizeof(day), "%04d-%02d-%02d", y, m, d);
        snprintf(c->date_note, sizeof(c->date_note), "%s, correlated: %s", day, what);
      }
      if(pl.need_offset) {
        char off[16];
        c->offset_set = 1;
        c->offset_min = best->off;
        c->offset_src = LOGS_TS_CORRELATED;
        offset_text(off, sizeof(off), best->off);
        snprintf(c->offset_note, sizeof(c->offset_note), "%s, correlated: %s (in UTC)", off, what);
      }
      result = 1;
    }
    else if(pl.need_offset && (ev->nreqs || ev->nids))
      snprintf(c->offset_note, sizeof(c->offset_note), "local times without a zone, and nothing in the bundle proves one (%s): read as UTC",
               ambiguous ? "its records meet the server's requests under more than one reading alike"
                      : "too few of its records meet a request the server logged");
  }
done:
  free(cs);
  free(it);
  return result;
}
