/* The fault table (src/core/ndes/faults.[ch]): every fault has one stage, a stage plays its faults
 * in the order the real system settles them, each fault plays as the real system shows it (its
 * answer, its events), and none plays where it is not on. */
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>

#include "helpers.h"
#include "../../src/core/ndes/ndes_int.h"

/* The events a stage told, as an observer sees them. */
#define MAX_SEEN 16
static ndes_event seen[MAX_SEEN];
static int nseen;

static void record(void *ud, const ndes_event *ev)
{
  (void)ud;
  if(nseen < MAX_SEEN)
    seen[nseen++] = *ev;
}

static ndes_server server;

static int fresh(void **state)
{
  (void)state;
  memset(&server, 0, sizeof(server));
  snprintf(server.bind, sizeof(server.bind), "127.0.0.1");
  server.obs.o[0].event = record;
  server.obs.n = 1;
  nseen = 0;
  return 0;
}

static void each_fault_has_one_stage(void **state)
{
  static const char *const stages[] = {"start-up", "request", "verify-request", "ca-submit", "reply", "publish"};
  size_t n, i, j;
  const sceplab_fault_info *f = sceplab_serve_faults(&n);
  unsigned bits = 0;
  (void)state;
  assert_int_equal(n, 27);
  for(i = 0; i < n; i++) {
    int known = 0;
    for(j = 0; j < 6; j++)
      known |= !strcmp(f[i].stage, stages[j]);
    assert_true(known);
    assert_int_equal(ndes_fault_stage(f[i].name) >= 0, 1);
    assert_string_equal(ndes_stage_name((ndes_stage)ndes_fault_stage(f[i].name)), f[i].stage);
    assert_int_equal(bits & f[i].bit, 0); /* one bit each */
    bits |= f[i].bit;
    for(j = 0; j < i; j++)
      assert_string_not_equal(f[i].name, f[j].name);
  }
  assert_int_equal(ndes_fault_stage("no-such-fault"), -1);
}

static void request(sceplab_httpd_req *rq, sceplab_httpd_resp *resp, ndes_fault_ctx *c, sceplab_httpd_method m,
                    const char *query, size_t body_len)
{
  memset(rq, 0, sizeof(*rq));
  memset(resp, 0, sizeof(*resp));
  memset(c, 0, sizeof(*c));
  rq->method = m;
  rq->query = query;
  rq->body_len = body_len;
  c->s = &server;
  c->rq = rq;
  c->resp = resp;
}

static void request_faults_in_iis_order(void **state)
{
  sceplab_httpd_req rq;
  sceplab_httpd_resp resp;
  ndes_fault_ctx c;
  char longq[2100];
  (void)state;
  /* none on: none plays */
  request(&rq, &resp, &c, SCEPLAB_HTTPD_GET, "operation=GetCACaps", 0);
  assert_int_equal(ndes_faults_play(0, NDES_STAGE_REQUEST, &c), 0);
  assert_int_equal(resp.status, 0);
  /* a missing application answers before a proxy's 502, the proxy before the stopped pool */
  request(&rq, &resp, &c, SCEPLAB_HTTPD_GET, "operation=GetCACaps", 0);
  assert_int_equal(ndes_faults_play(SCEPLAB_FAULT_APP_POOL_STOPPED | SCEPLAB_FAULT_PROXY_502 | SCEPLAB_FAULT_SCEP_404,
                                    NDES_STAGE_REQUEST, &c), 1);
  assert_int_equal(resp.status, 404);
  free(resp.body);
  request(&rq, &resp, &c, SCEPLAB_HTTPD_GET, "operation=GetCACaps", 0);
  assert_int_equal(ndes_faults_play(SCEPLAB_FAULT_APP_POOL_STOPPED | SCEPLAB_FAULT_PROXY_502, NDES_STAGE_REQUEST, &c), 1);
  assert_int_equal(resp.status, 502);
  free(resp.body);
  /* the impersonation fault: 500 with win32 1346, for IIS's log */
  request(&rq, &resp, &c, SCEPLAB_HTTPD_GET, "operation=GetCACaps", 0);
  assert_int_equal(ndes_faults_play(SCEPLAB_FAULT_IMPERSONATION, NDES_STAGE_REQUEST, &c), 1);
  assert_int_equal(resp.status, 500);
  assert_int_equal(resp.win32, 1346);
  free(resp.body);
  /* request filtering plays only for what it filters: a POST over 2 KB, a query over 2048 */
  request(&rq, &resp, &c, SCEPLAB_HTTPD_POST, "operation=PKIOperation", 2000);
  assert_int_equal(ndes_faults_play(SCEPLAB_FAULT_BODY_413 | SCEPLAB_FAULT_QUERY_LIMIT, NDES_STAGE_REQUEST, &c), 0);
  request(&rq, &resp, &c, SCEPLAB_HTTPD_POST, "operation=PKIOperation", 3000);
  assert_int_equal(ndes_faults_play(SCEPLAB_FAULT_BODY_413, NDES_STAGE_REQUEST, &c), 1);
  assert_int_equal(resp.status, 413);
  free(resp.body);
  memset(longq, 'a', sizeof(longq) - 1);
  longq[sizeof(longq) - 1] = '\0';
  request(&rq, &resp, &c, SCEPLAB_HTTPD_GET, longq, 0);
  assert_int_equal(ndes_faults_play(SCEPLAB_FAULT_QUERY_LIMIT, NDES_STAGE_REQUEST, &c), 1);
  assert_int_equal(resp.status, 414);
  free(resp.body);
  /* a fault of another stage does not play here */
  request(&rq, &resp, &c, SCEPLAB_HTTPD_GET, "operation=GetCACaps", 0);
  assert_int_equal(ndes_faults_play(SCEPLAB_FAULT_CA_DOWN | SCEPLAB_FAULT_UPLOAD, NDES_STAGE_REQUEST, &c), 0);
  assert_int_equal(nseen, 0);
}

static void verify_faults_deny_before_the_policy(void **state)
{
  sceplab_policy_answer ans;
  ndes_fault_ctx c;
  (void)state;
  memset(&ans, 0, sizeof(ans));
  memset(&c, 0, sizeof(c));
  c.s = &server;
  c.answer = &ans;
  c.activity = "{00000000-0000-4000-8000-000000000000}";
  c.started_ms = ndes_now_ms();
  /* intermediates in the root store: 403.16 with CERT_E_UNTRUSTEDROOT, over the client-auth 403 */
  assert_int_equal(ndes_faults_play(SCEPLAB_FAULT_ROOT_STORE | SCEPLAB_FAULT_CLIENT_AUTH, NDES_STAGE_VERIFY, &c), 1);
  assert_int_equal(ans.decision, SCEPLAB_POLICY_DENY);
  assert_string_equal(ans.reason, "VerifyRequest answered 403.16");
  assert_int_equal(nseen, 2);
  assert_int_equal(seen[0].kind, NDES_EV_HTTP);
  assert_string_equal(seen[0].stem, "/CertificateRegistrationSvc/Certificate/VerifyRequest");
  assert_int_equal(seen[0].status, 403);
  assert_int_equal(seen[0].substatus, 16);
  assert_int_equal(seen[0].win32, 0x800B0109u);
  assert_string_equal(seen[0].user_agent, "NDES_Plugin");
  assert_int_equal(seen[1].kind, NDES_EV_VERIFY_FAILED);
  assert_int_equal(seen[1].verify, NDES_VERIFY_FORBIDDEN);
  /* the CRP's pool cannot write TEMP: 500, and WAS's and ASP.NET's events in the System log */
  nseen = 0;
  memset(&ans, 0, sizeof(ans));
  assert_int_equal(ndes_faults_play(SCEPLAB_FAULT_CRP_TEMP, NDES_STAGE_VERIFY, &c), 1);
  assert_int_equal(nseen, 3);
  assert_int_equal(seen[0].status, 500);
  assert_int_equal(seen[1].kind, NDES_EV_SYSTEM_EVENT);
  assert_int_equal(seen[1].id, 5009);
  assert_int_equal(seen[2].id, 1310);
  /* none on: the policy decides */
  nseen = 0;
  memset(&ans, 0, sizeof(ans));
  assert_int_equal(ndes_faults_play(SCEPLAB_FAULT_SLOW_CA | SCEPLAB_FAULT_PROXY_502, NDES_STAGE_VERIFY, &c), 0);
  assert_int_equal(ans.decision, SCEPLAB_POLICY_ALLOW);
  assert_int_equal(nseen, 0);
}

static void ca_faults_refuse_with_the_cas_code(void **state)
{
  ndes_fault_ctx c;
  (void)state;
  memset(&c, 0, sizeof(c));
  c.s = &server;
  /* the CA down answers before the template's refusal */
  assert_int_equal(ndes_faults_play(SCEPLAB_FAULT_TEMPLATE | SCEPLAB_FAULT_CA_DOWN, NDES_STAGE_CA, &c), 1);
  assert_int_equal(c.refusal, 0x800706BAu);
  assert_int_equal(nseen, 1);
  assert_int_equal(seen[0].kind, NDES_EV_APP_EVENT);
  assert_int_equal(seen[0].id, 31);
  assert_non_null(strstr(seen[0].text, "0x800706ba"));
  /* the template's refusal, with the HRESULT as NDES words it (signed decimal) */
  nseen = 0;
  memset(&c, 0, sizeof(c));
  c.s = &server;
  assert_int_equal(ndes_faults_play(SCEPLAB_FAULT_TEMPLATE, NDES_STAGE_CA, &c), 1);
  assert_int_equal(c.refusal, 0x80094800u);
  assert_non_null(strstr(seen[0].text, "(-2146875392)"));
}

static void reply_and_start_faults_set_what_they_change(void **state)
{
  ndes_fault_ctx c;
  (void)state;
  memset(&c, 0, sizeof(c));
  c.s = &server;
  c.upload_attempts = 1;
  assert_int_equal(ndes_faults_play(SCEPLAB_FAULT_UPLOAD | SCEPLAB_FAULT_CONNECTOR_STOPPED, NDES_STAGE_REPLY, &c), 0);
  assert_int_equal(c.upload_attempts, 3);
  assert_int_equal(c.upload_failed, 1);
  assert_int_equal(c.stays_processing, 1);
  memset(&c, 0, sizeof(c));
  c.s = &server;
  c.installed = c.trust_root = 1;
  assert_int_equal(ndes_faults_play(SCEPLAB_FAULT_NOT_INSTALLED | SCEPLAB_FAULT_RA_UNTRUSTED | SCEPLAB_FAULT_POLICY_EXPIRED |
                                    SCEPLAB_FAULT_CRL_OFFLINE, NDES_STAGE_START, &c), 0);
  assert_int_equal(c.installed, 0);
  assert_int_equal(c.trust_root, 0);
  assert_int_equal(c.policy_backdate_days, 400);
  assert_int_equal(c.policy_crl, 0x80092013u);
  assert_int_equal(nseen, 1);
  assert_int_equal(seen[0].kind, NDES_EV_SETUP_FAILED);
}

/* The publish stage: each fault acts on what it names (the CDP, the CA certificate, OCSP), and
 * lets the others through. */
static void publish_faults_act_on_what_they_name(void **state)
{
  static const char *const what[] = {"crl", "crt", "ocsp"};
  sceplab_httpd_req rq;
  sceplab_httpd_resp resp;
  ndes_fault_ctx c;
  int i;
  (void)state;
  for(i = 0; i < 3; i++) {
    request(&rq, &resp, &c, SCEPLAB_HTTPD_GET, NULL, 0);
    c.published = what[i];
    assert_int_equal(ndes_faults_play(SCEPLAB_FAULT_CRL_EXPIRED, NDES_STAGE_PUBLISH, &c), 0);
    assert_int_equal(c.crl_expired, i == 0);
    request(&rq, &resp, &c, SCEPLAB_HTTPD_GET, NULL, 0);
    c.published = what[i];
    assert_int_equal(ndes_faults_play(SCEPLAB_FAULT_CDP_DOWN, NDES_STAGE_PUBLISH, &c), i < 2);
    assert_int_equal(resp.drop, i < 2);
    assert_int_equal(resp.delay_ms, 0);
    request(&rq, &resp, &c, SCEPLAB_HTTPD_POST, NULL, 0);
    c.published = what[i];
    assert_int_equal(ndes_faults_play(SCEPLAB_FAULT_OCSP_SILENT, NDES_STAGE_PUBLISH, &c), i == 2);
    assert_int_equal(resp.drop, i == 2);
    assert_true(i < 2 || resp.delay_ms >= 60000); /* longer than any client waits */
  }
  /* not played at another stage */
  request(&rq, &resp, &c, SCEPLAB_HTTPD_GET, NULL, 0);
  assert_int_equal(ndes_faults_play(SCEPLAB_FAULT_CDP_DOWN | SCEPLAB_FAULT_OCSP_SILENT, NDES_STAGE_REQUEST, &c), 0);
  assert_int_equal(resp.drop, 0);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup(each_fault_has_one_stage, fresh),
    cmocka_unit_test_setup(request_faults_in_iis_order, fresh),
    cmocka_unit_test_setup(verify_faults_deny_before_the_policy, fresh),
    cmocka_unit_test_setup(ca_faults_refuse_with_the_cas_code, fresh),
    cmocka_unit_test_setup(reply_and_start_faults_set_what_they_change, fresh),
    cmocka_unit_test_setup(publish_faults_act_on_what_they_name, fresh),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
