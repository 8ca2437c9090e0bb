/* Every path into an optional library (libxml2, libarchive, libevtx) taken in a process that has
 * not used the library yet: refusals before parsing, malformed input, cleanup on error. Each case
 * starts with sceplab_optlib_forget(), as a fresh process would. A call through an unresolved
 * pointer is a crash here (a CertEnrollToken with <!ENTITY once was). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "helpers.h"
#include "../../src/core/base/optlib.h"

typedef sceplab_val *(*plain_fn)(const unsigned char *, size_t, sceplab_error *);

static const char *const hostile_xml[] = {
  "<CertEnrollToken><!ENTITY x \"y\"><CertEnrollChallenge>abc</CertEnrollChallenge></CertEnrollToken>",
  "<!DOCTYPE a [<!ENTITY x \"y\">]><SyncML>&x;</SyncML>",
  "<CertRequestStatus><!ENTITY a 'b'></CertRequestStatus>",
  "<?xml version=\"1.0\"?><plist><dict><key>a</key><!ENTITY b 'c'></dict></plist>",
  "<CertEnrollToken><CertEnrollChallenge>abc</CertEnrollChallenge>",
  "<SyncML><SyncBody><Add><Item></SyncML>",
  "<CertRequestStatus><HResult>1</HResult>",
  "<plist><dict><key>",
  "",
};

/* A hostile or cut document is refused as bad input with a one-line reason, or read by a tolerant
 * decoder (the token's string matching) that says in a warning what was wrong: never decoded in
 * silence, never "out of memory" (what an allocation path broken by the lazy load would say). */
static void refused_with_reason(const sceplab_val *v, const sceplab_error *err, const char *input)
{
  if(v) {
    if(!sceplab_obj_get(v, "warnings"))
      fail_msg("decoded without a word of what was wrong: %s", input);
    return;
  }
  assert_int_equal(err->code, SCEPLAB_E_INPUT);
  assert_true(err->msg[0] != '\0');
  assert_null(strchr(err->msg, '\n'));
}

static void decoders_before_load(void **state)
{
  static const decoder_fn with_opts[] = {sceplab_token_parse, sceplab_syncml_parse, sceplab_mobileconfig_parse,
                                         sceplab_decode};
  sceplab_decode_opts opts;
  size_t i, j;
  (void)state;
  memset(&opts, 0, sizeof(opts));
  for(i = 0; i < sizeof(hostile_xml) / sizeof(hostile_xml[0]); i++) {
    const unsigned char *b = (const unsigned char *)hostile_xml[i];
    size_t n = strlen(hostile_xml[i]);
    sceplab_error err;
    sceplab_val *v;
    for(j = 0; j < sizeof(with_opts) / sizeof(with_opts[0]); j++) {
      sceplab_optlib_forget();
      sceplab_err_clear(&err);
      v = with_opts[j](b, n, &opts, &err);
      refused_with_reason(v, &err, hostile_xml[i]);
      sceplab_val_free(v);
    }
    sceplab_optlib_forget();
    sceplab_err_clear(&err);
    v = sceplab_crs_parse(b, n, &err);
    refused_with_reason(v, &err, hostile_xml[i]);
    sceplab_val_free(v);
  }
}

/* The entity token, base64-wrapped, through the generic decoder: it decodes (tolerant reader) and
 * says why the XML was refused. */
static void entity_token_is_refused_not_fatal(void **state)
{
  const char *b64 = "PENlcnRFbnJvbGxUb2tlbj48IUVOVElUWSB4ICJ5Ij48Q2VydEVucm9sbENoYWxsZW5nZT5hYmM8L0NlcnRFbnJvbGxD"
                    "aGFsbGVuZ2U+PC9DZXJ0RW5yb2xsVG9rZW4+";
  sceplab_decode_opts opts;
  sceplab_error err;
  sceplab_val *v;
  (void)state;
  memset(&opts, 0, sizeof(opts));
  sceplab_optlib_forget();
  v = sceplab_decode((const unsigned char *)b64, strlen(b64), &opts, &err);
  assert_non_null(v);
  assert_true(has_warning(v, "", "entity declarations are not accepted"));
  sceplab_val_free(v);
}

static char *temp_with(const char *data, size_t n)
{
  char *path = strdup("/tmp/sceplab-optlib-XXXXXX");
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  assert_int_equal(write(fd, data, n), (ssize_t)n);
  close(fd);
  return path;
}

static void logs_before_load(void **state)
{
  static const struct { const char *data; size_t n; } files[] = {
    {"<E2ETraceEvent><!ENTITY x 'y'></E2ETraceEvent>\n", 0},
    {"<Event xmlns='x'><System><TimeCreated SystemTime='bad'/></System></Event>\n", 0},
    {"ElfFile\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 24},
    {"PK\3\4 this is no zip", 0},
    {"PK\3\4\24\0\0\0\10\0", 10},
  };
  size_t i;
  (void)state;
  for(i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
    size_t n = files[i].n ? files[i].n : strlen(files[i].data);
    char *path = temp_with(files[i].data, n);
    sceplab_error err;
    sceplab_log *lg;
    sceplab_record r;
    int rc = 0, records = 0;
    sceplab_optlib_forget();
    sceplab_err_clear(&err);
    lg = sceplab_log_open(path, NULL, NULL, &err);
    while(lg && (rc = sceplab_log_next(lg, &r, &err)) > 0)
      records++;
    /* nothing in these is a record; each is refused or skipped with what it is, never an error
     * without a message */
    assert_int_equal(records, 0);
    if(!lg || rc < 0) {
      assert_int_not_equal(err.code, SCEPLAB_OK);
      assert_non_null(strstr(err.msg, path));
    }
    sceplab_log_close(lg);
    sceplab_optlib_forget();
    sceplab_err_clear(&err);
    if(sceplab_archive_members(path, NULL, NULL, &err) < 0)
      assert_non_null(strstr(err.msg, path));
    sceplab_optlib_forget();
    sceplab_err_clear(&err);
    lg = sceplab_log_open_member(path, 0, NULL, NULL, &err);
    if(!lg)
      assert_true(err.msg[0] != '\0');
    sceplab_log_close(lg);
    unlink(path);
    free(path);
  }
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(decoders_before_load),
    cmocka_unit_test(entity_token_is_refused_not_fatal),
    cmocka_unit_test(logs_before_load),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
