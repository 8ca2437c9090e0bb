/* The NDES server's own logs as `sceplab serve` writes them, record by record: see ndeslog.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "base/clock.h"
#include "ndes/ndeslog.h"
#include "pki/pki_int.h"

int sceplab_art_mkdir(const char *dir)
{
  struct stat st;
  if(mkdir(dir, 0750) != 0 && errno != EEXIST)
    return -1;
  /* mkdir's mode is what the umask leaves of it, and an existing directory keeps what it had:
   * whatever others may do beyond 0750 is taken away */
  if(stat(dir, &st) == 0 && S_ISDIR(st.st_mode) && (st.st_mode & 07027) && st.st_uid == geteuid() &&
     chmod(dir, st.st_mode & 0750) != 0)
    return -1;
  return 0;
}

FILE *sceplab_art_fopen(const char *path, const char *mode)
{
  int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW | (mode[0] == 'a' ? O_APPEND : O_TRUNC), 0640);
  struct stat st;
  FILE *f;
  if(fd < 0)
    return NULL;
  if(fstat(fd, &st) == 0 && (st.st_mode & 07137) && st.st_uid == geteuid() && fchmod(fd, st.st_mode & 0640) != 0) {
    close(fd);
    return NULL;
  }
  if(!(f = fdopen(fd, mode)))
    close(fd);
  return f;
}

void sceplab_art_init(sceplab_art *a, const char *dir, const char *host)
{
  memset(a, 0, sizeof(*a));
  snprintf(a->dir, sizeof(a->dir), "%s", dir ? dir : "");
  snprintf(a->host, sizeof(a->host), "%s", host && *host ? host : "NDES01");
  a->pid = (unsigned)getpid();
  a->record = 1000;
}

void sceplab_art_close(sceplab_art *a)
{
  if(a->plugin)
    fclose(a->plugin);
  if(a->crp)
    fclose(a->crp);
  if(a->events)
    fclose(a->events);
  if(a->system)
    fclose(a->system);
  if(a->capi2)
    fclose(a->capi2);
  a->plugin = a->crp = a->events = a->system = a->capi2 = NULL;
}

static FILE *open_log(sceplab_art *a, const char *name)
{
  char path[4200];
  if(!a->dir[0])
    return NULL;
  if(snprintf(path, sizeof(path), "%s/%s", a->dir, name) >= (int)sizeof(path))
    return NULL;
  return sceplab_art_fopen(path, "a");
}

/* XML text or an attribute value: whatever a device put in it, escaped (codec.h). */
static void put_xml(FILE *f, const char *s) { sceplab_esc_fputs(f, sceplab_esc_xml, s); }

/* Now, on the (possibly virtual) clock: real time plus the offset a replay set. */
static void clock_now(const sceplab_art *a, struct timeval *tv)
{
  (void)a;
  gettimeofday(tv, NULL);
  tv->tv_sec += (time_t)sceplab_clock_offset();
}

static void utc_now(const sceplab_art *a, struct timeval *tv, struct tm *tm)
{
  time_t t;
  clock_now(a, tv);
  t = tv->tv_sec;
  gmtime_r(&t, tm);
}

/* A CRS file's time is its modification time (the connector writes no time inside): on the
 * virtual clock, so a replayed bundle's CRS files sit on the day their story does. */
static void stamp(const sceplab_art *a, const char *path)
{
  struct timespec ts[2];
  struct timeval tv;
  if(!sceplab_clock_offset())
    return;
  clock_now(a, &tv);
  ts[0].tv_sec = ts[1].tv_sec = tv.tv_sec;
  ts[0].tv_nsec = ts[1].tv_nsec = (long)tv.tv_usec * 1000;
  utimensat(AT_FDCWD, path, ts, 0);
}

void sceplab_art_plugin(sceplab_art *a, int type, unsigned thread, const char *fmt, ...)
{
  struct timeval tv;
  struct tm tm;
  time_t t;
  char msg[1024];
  va_list ap;
  if(!a->plugin && !(a->plugin = open_log(a, "NDESPlugin.log")))
    return;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  /* CMTrace: local time and the Windows bias (UTC = local + bias minutes) */
  clock_now(a, &tv);
  t = tv.tv_sec;
  localtime_r(&t, &tm);
  /* the message carries what devices chose (a transaction ID): it must not end the record */
  fputs("<![LOG[", a->plugin);
  sceplab_esc_fputs(a->plugin, sceplab_esc_cmtrace, msg);
  fprintf(a->plugin,
          "]LOG]!><time=\"%d:%02d:%02d.%03ld%+ld\" date=\"%02d-%02d-%04d\" component=\"NDESPlugin\" context=\"\" "
          "type=\"%d\" thread=\"%u\" file=\"\">\n",
          tm.tm_hour, tm.tm_min, tm.tm_sec, (long)(tv.tv_usec / 1000), -(long)tm.tm_gmtoff / 60, tm.tm_mon + 1,
          tm.tm_mday, tm.tm_year + 1900, type, thread);
  fflush(a->plugin);
}

/* CERT_TRUST_* error bits as CAPI2 names them in an ErrorStatus element. */
static void trust_status(FILE *f, unsigned error)
{
  static const struct { unsigned bit; const char *name; } names[] = {
    {0x1, "CERT_TRUST_IS_NOT_TIME_VALID"}, {0x8, "CERT_TRUST_IS_NOT_SIGNATURE_VALID"},
    {0x20, "CERT_TRUST_IS_UNTRUSTED_ROOT"}, {0x40, "CERT_TRUST_REVOCATION_STATUS_UNKNOWN"},
    {0x10000, "CERT_TRUST_IS_PARTIAL_CHAIN"}, {0x1000000, "CERT_TRUST_IS_OFFLINE_REVOCATION"}};
  size_t i;
  fprintf(f, "<TrustStatus><ErrorStatus value=\"%X\"", error);
  for(i = 0; i < sizeof(names) / sizeof(names[0]); i++)
    if(error & names[i].bit)
      fprintf(f, " %s=\"true\"", names[i].name);
  fputs("/></TrustStatus>", f);
}

/* The System part of a CAPI2 Operational event, as `wevtutil qe Microsoft-Windows-CAPI2/Operational`
 * prints it (one event a line here); the caller writes UserData. NULL when the log cannot open. */
static FILE *capi2_begin(sceplab_art *a, unsigned id, unsigned opcode, const char *keywords, int error, struct tm *tm)
{
  struct timeval tv;
  if(!a->capi2 && !(a->capi2 = open_log(a, "NDES-CAPI2.xml")))
    return NULL;
  utc_now(a, &tv, tm);
  fprintf(a->capi2,
          "<Event xmlns=\"http://schemas.microsoft.com/win/2004/08/events/event\"><System>"
          "<Provider Name=\"Microsoft-Windows-CAPI2\" Guid=\"{5bbca4a8-b209-48dc-a8c7-b23d3e5216fb}\"/>"
          "<EventID>%u</EventID><Version>0</Version><Level>%d</Level><Task>%u</Task><Opcode>%u</Opcode>"
          "<Keywords>%s</Keywords><TimeCreated SystemTime=\"%04d-%02d-%02dT%02d:%02d:%02d.%06ld000Z\"/>"
          "<EventRecordID>%lu</EventRecordID><Correlation/><Execution ProcessID=\"%u\" ThreadID=\"1\"/>"
          "<Channel>Microsoft-Windows-CAPI2/Operational</Channel><Computer>",
          id, error ? 2 : 4, id, opcode, keywords, tm->tm_year + 1900, tm->tm_mon + 1, tm->tm_mday, tm->tm_hour,
          tm->tm_min, tm->tm_sec, (long)tv.tv_usec, ++a->record, a->pid);
  put_xml(a->capi2, a->host);
  fputs("</Computer><Security UserID=\"S-1-5-20\"/></System><UserData>", a->capi2);
  return a->capi2;
}

static void capi2_cert(FILE *f, const sceplab_art_cert *c)
{
  fputs("<Certificate fileRef=\"", f);
  put_xml(f, c->thumbprint ? c->thumbprint : "");
  fputs(".cer\" subjectName=\"", f);
  put_xml(f, c->subject ? c->subject : "");
  fputs("\"/>", f);
}

static void capi2_end(FILE *f, const char *process, const char *task, unsigned result, const char *result_text)
{
  fputs("<EventAuxInfo ProcessName=\"", f);
  put_xml(f, process);
  fprintf(f, "\"/><CorrelationAuxInfo TaskId=\"%s\" SeqNumber=\"1\"/><Result value=\"%X\">", task, result);
  put_xml(f, result && result_text ? result_text : "");
  fputs("</Result>", f);
}

void sceplab_art_capi2_chain(sceplab_art *a, const sceplab_art_cert *chain, size_t n, const char *process,
                             unsigned result, const char *result_text)
{
  struct tm tm;
  unsigned all = 0, worst = result;
  size_t i;
  char guid[48];
  FILE *f;
  for(i = 0; i < n; i++) {
    all |= chain[i].error;
    if(chain[i].revocation)
      worst = worst ? worst : chain[i].revocation;
  }
  if(!n || sceplab_art_activity(guid, sizeof(guid)) != 0 || !(f = capi2_begin(a, 11, 2, "0x4000000000000003", worst != 0, &tm)))
    return;
  fputs("<CertGetCertificateChain>", f);
  capi2_cert(f, &chain[0]);
  fprintf(f, "<ValidationTime>%04d-%02d-%02dT%02d:%02d:%02dZ</ValidationTime>"
          "<Flags value=\"40000000\" CERT_CHAIN_REVOCATION_CHECK_CHAIN_EXCLUDE_ROOT=\"true\"/>"
          "<ChainEngineInfo context=\"machine\"/><CertificateChain chainRef=\"%s\">", tm.tm_year + 1900, tm.tm_mon + 1,
          tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, guid);
  trust_status(f, all);
  for(i = 0; i < n; i++) {
    fputs("<ChainElement>", f);
    capi2_cert(f, &chain[i]);
    trust_status(f, chain[i].error);
    if(chain[i].revocation) {
      /* the CRL could not be had: the result and its text, as the sample's RevocationInfo shows */
      fprintf(f, "<RevocationInfo><RevocationResult value=\"%X\">", chain[i].revocation);
      put_xml(f, chain[i].revocation_text ? chain[i].revocation_text : "");
      fputs("</RevocationResult></RevocationInfo>", f);
    }
    fputs("</ChainElement>", f);
  }
  fputs("</CertificateChain>", f);
  capi2_end(f, process, guid, result, result_text);
  fputs("</CertGetCertificateChain></UserData></Event>\n", f);
  fflush(f);
}

void sceplab_art_capi2_policy(sceplab_art *a, const sceplab_art_cert *end, const char *process, unsigned result,
                              const char *result_text)
{
  struct tm tm;
  char guid[48];
  FILE *f;
  if(sceplab_art_activity(guid, sizeof(guid)) != 0 || !(f = capi2_begin(a, 30, 0, "0x4000000000000001", result != 0, &tm)))
    return;
  fputs("<CertVerifyCertificateChainPolicy><Policy type=\"CERT_CHAIN_POLICY_BASE\" constant=\"1\"/>", f);
  capi2_cert(f, end);
  fprintf(f, "<CertificateChain chainRef=\"%s\"/><Flags value=\"0\"/><Status chainIndex=\"%d\" elementIndex=\"%d\"/>",
          guid, result ? 0 : -1, result ? 0 : -1);
  capi2_end(f, process, guid, result, result_text);
  fputs("</CertVerifyCertificateChainPolicy></UserData></Event>\n", f);
  fflush(f);
}

void sceplab_art_setup_failed(sceplab_art *a)
{
  static const char product[] = "Microsoft Intune Connector", version[] = "6.2301.1.0";
  struct timeval tv;
  struct tm tm;
  time_t t;
  FILE *f = open_log(a, "SetupMsi.log");
  if(!f)
    return;
  clock_now(a, &tv);
  t = tv.tv_sec - 14; /* the setup ran a little before the server started */
  localtime_r(&t, &tm);
  /* msiexec's header gives the date its lines lack; "(c)" is the client side, where setup ends */
  fprintf(f, "=== Verbose logging started: %d/%d/%04d  %d:%02d:%02d  Build type: SHIP UNICODE 5.00.10011.00  Calling process: "
          "C:\\Windows\\system32\\msiexec.exe ===\n", tm.tm_mon + 1, tm.tm_mday, tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
          tm.tm_sec);
  fprintf(f, "MSI (c) (1C:20) [%02d:%02d:%02d:%03d]: Note: 1: 1708 \n", tm.tm_hour, tm.tm_min, tm.tm_sec, 118);
  fprintf(f, "MSI (c) (1C:20) [%02d:%02d:%02d:%03d]: Product: %s -- Installation failed.\n\n", tm.tm_hour, tm.tm_min, tm.tm_sec,
          120, product);
  fprintf(f, "MSI (c) (1C:20) [%02d:%02d:%02d:%03d]: Windows Installer installed the product. Product Name: %s. Product Version: "
          "%s. Product Language: 1033. Manufacturer: Microsoft Corporation. Installation success or error status: 1603.\n\n",
          tm.tm_hour, tm.tm_min, tm.tm_sec, 125, product, version);
  fprintf(f, "=== Verbose logging stopped: %d/%d/%04d  %d:%02d:%02d ===\n", tm.tm_mon + 1, tm.tm_mday, tm.tm_year + 1900,
          tm.tm_hour, tm.tm_min, tm.tm_sec);
  fclose(f);
}

void sceplab_art_crp(sceplab_art *a, int error, const char *activity, const char *fmt, ...)
{
  struct timeval tv;
  struct tm tm;
  char msg[1024];
  va_list ap;
  utc_now(a, &tv, &tm);
  if(!a->crp) {
    char name[96];
    snprintf(name, sizeof(name), "CertificateRegistrationPoint_%04d-%02d-%02d_%02d%02d%02d.svclog", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
    if(!(a->crp = open_log(a, name)))
      return;
  }
  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  fprintf(a->crp,
          "<E2ETraceEvent xmlns=\"http://schemas.microsoft.com/2004/06/E2ETraceEvent\"><System xmlns=\"http://schemas.microsoft.com/2004/06/windows/eventlog/system\">"
          "<EventID>0</EventID><Type>3</Type><SubType Name=\"%s\">0</SubType><Level>%d</Level>"
          "<TimeCreated SystemTime=\"%04d-%02d-%02dT%02d:%02d:%02d.%06ld0Z\" /><Source Name=\"CertificateRegistrationPoint\" />"
          "<Correlation ActivityID=\"%s\" /><Execution ProcessName=\"w3wp\" ProcessID=\"%u\" ThreadID=\"1\" /><Channel />"
          "<Computer>",
          error ? "Error" : "Information", error ? 2 : 8, tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
          tm.tm_min, tm.tm_sec, (long)tv.tv_usec, activity, a->pid);
  put_xml(a->crp, a->host);
  fputs("</Computer></System><ApplicationData>", a->crp);
  put_xml(a->crp, msg);
  fputs("</ApplicationData></E2ETraceEvent>\n", a->crp);
  fflush(a->crp);
}

void sceplab_art_event(sceplab_art *a, unsigned id, int error, const char *message)
{
  struct timeval tv;
  struct tm tm;
  if(!a->events && !(a->events = open_log(a, "NDES-Application.xml")))
    return;
  utc_now(a, &tv, &tm);
  /* as `wevtutil qe Application /f:RenderedXml` prints it, one event a line */
  fprintf(a->events,
          "<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System>"
          "<Provider Name='Microsoft-Windows-NetworkDeviceEnrollmentService' Guid='{7acfd5ae-0e1d-4e08-9c36-55f7d5d2d1a6}' EventSourceName='NetworkDeviceEnrollmentService'/>"
          "<EventID Qualifiers='%u'>%u</EventID><Level>%d</Level><TimeCreated SystemTime='%04d-%02d-%02dT%02d:%02d:%02d.%06ld0Z'/>"
          "<EventRecordID>%lu</EventRecordID><Channel>Application</Channel><Computer>",
          error ? 49152u : 16384u, id, error ? 2 : 4, tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
          tm.tm_sec, (long)tv.tv_usec, ++a->record);
  put_xml(a->events, a->host);
  fputs("</Computer></System><EventData><Data>", a->events);
  put_xml(a->events, message);
  fprintf(a->events, "</Data></EventData><RenderingInfo Culture='en-US'><Message>");
  put_xml(a->events, message);
  fprintf(a->events, "</Message><Level>%s</Level></RenderingInfo></Event>\n", error ? "Error" : "Information");
  fflush(a->events);
}

void sceplab_art_system_event(sceplab_art *a, const char *provider, unsigned id, int level, const char *message)
{
  struct timeval tv;
  struct tm tm;
  static const char *const names[] = {"", "Critical", "Error", "Warning", "Information"};
  if(!a->system && !(a->system = open_log(a, "NDES-System.xml")))
    return;
  utc_now(a, &tv, &tm);
  fputs("<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System><Provider Name='", a->system);
  put_xml(a->system, provider);
  fprintf(a->system, "'/><EventID>%u</EventID><Level>%d</Level><TimeCreated SystemTime='%04d-%02d-%02dT%02d:%02d:%02d.%06ld0Z'/>"
          "<EventRecordID>%lu</EventRecordID><Channel>System</Channel><Computer>",
          id, level, tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (long)tv.tv_usec,
          ++a->record);
  put_xml(a->system, a->host);
  fputs("</Computer></System><EventData><Data>", a->system);
  put_xml(a->system, message);
  fputs("</Data></EventData><RenderingInfo Culture='en-US'><Message>", a->system);
  put_xml(a->system, message);
  fprintf(a->system, "</Message><Level>%s</Level></RenderingInfo></Event>\n", level >= 1 && level <= 4 ? names[level] : "");
  fflush(a->system);
}

int sceplab_art_activity(char *out, size_t n) { return sceplab_guid(out, n, '-', 1); }

static int crs_path(const sceplab_art *a, const char *folder, const char *name, char *out, size_t n)
{
  char d[4200];
  if(snprintf(d, sizeof(d), "%s/CertificateRequestStatus", a->dir) >= (int)sizeof(d))
    return -1;
  if(sceplab_art_mkdir(d) != 0)
    return -1;
  if(snprintf(out, n, "%s/%s", d, folder) >= (int)n || sceplab_art_mkdir(out) != 0)
    return -1;
  if(name && snprintf(out, n, "%s/%s/%s", d, folder, name) >= (int)n)
    return -1;
  return 0;
}

static void crs_elem(FILE *f, const char *name, const char *v)
{
  fprintf(f, "  <%s>", name);
  put_xml(f, v ? v : "");
  fprintf(f, "</%s>\r\n", name);
}

int sceplab_art_crs_write(sceplab_art *a, const sceplab_art_crs *c, char *name, size_t namelen)
{
  unsigned char b[16];
  char path[4400], exp[40], num[16];
  struct tm tm;
  time_t t = (time_t)c->not_after;
  FILE *f;
  int i, h;
  if(!a->dir[0] || namelen < 37)
    return -1;
  if(RAND_bytes(b, sizeof(b)) != 1)
    return -1;
  for(i = 0; i < 16; i++)
    snprintf(name + 2 * i, 3, "%02X", b[i]);
  snprintf(name + 32, namelen - 32, ".CRS");
  if(crs_path(a, "Processing", name, path, sizeof(path)) != 0 || !(f = sceplab_art_fopen(path, "w")))
    return -1;
  gmtime_r(&t, &tm);
  h = tm.tm_hour % 12 ? tm.tm_hour % 12 : 12;
  /* the connector's .NET DateTime.ToString() in en-US */
  snprintf(exp, sizeof(exp), "%d/%d/%04d %d:%02d:%02d %s", tm.tm_mon + 1, tm.tm_mday, tm.tm_year + 1900, h, tm.tm_min,
           tm.tm_sec, tm.tm_hour < 12 ? "AM" : "PM");
  fputs("\xEF\xBB\xBF<?xml version=\"1.0\" encoding=\"utf-8\"?>\r\n<CertRequestStatus xmlns:xsd=\"http://www.w3.org/2001/XMLSchema\" "
        "xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\">\r\n", f);
  crs_elem(f, "Version", "9");
  crs_elem(f, "CertSerialNumber", c->serial_hex);
  crs_elem(f, "UserID", c->user_id);
  crs_elem(f, "DeviceID", c->device_id);
  crs_elem(f, "IssuerCA", c->issuer_ca);
  snprintf(num, sizeof(num), "%d", c->upload_attempts > 0 ? c->upload_attempts : 1);
  crs_elem(f, "UploadAttempt", num);
  crs_elem(f, "UploadStatus", "2");
  crs_elem(f, "Thumbprint", c->thumbprint);
  crs_elem(f, "CertificateRequestID", c->request_id);
  crs_elem(f, "TransactionID", c->transaction_id);
  crs_elem(f, "CertExpirationDate", c->not_after ? exp : "");
  snprintf(num, sizeof(num), "%d", c->status);
  crs_elem(f, "Status", num);
  snprintf(num, sizeof(num), "%d", (int)c->hresult); /* .NET writes the HRESULT as a signed Int32 */
  crs_elem(f, "HResult", num);
  fputs("</CertRequestStatus>", f);
  if(fclose(f) != 0)
    return -1;
  stamp(a, path);
  return 0;
}

int sceplab_art_crs_move(sceplab_art *a, const char *name, const char *folder)
{
  char from[4400], to[4400];
  if(crs_path(a, "Processing", name, from, sizeof(from)) != 0 || crs_path(a, folder, name, to, sizeof(to)) != 0)
    return -1;
  if(rename(from, to) != 0)
    return -1;
  stamp(a, to);
  return 0;
}
