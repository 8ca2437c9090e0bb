-- The Android device: Company Portal enrolling through jscep (GET only), as its OMADM log shows
-- it. What happens is decided here; the OMADMLog lines are written in C, beside their reader
-- (sceplab.core.artifacts, src/core/logs/formats).
local artifacts = require "sceplab.core.artifacts"

local M = {
  log = artifacts.device_file("android"), retries = 1, cacert_first = true,
  client = { method = "get", no_post_retry = true },
}

local MANAGER = "com.microsoft.omadm.platforms.android.certmgr.CertificateEnrollmentManager"
local TRANSPORT = "org.jscep.transport.UrlConnectionGetTransport"
local TRANSACTION = "org.jscep.transaction.EnrollmentTransaction"
local INSTALL = "com.microsoft.omadm.platforms.android.certmgr.state.NativeScepCertInstallStateMachine"

local function line(d, level, component, text) d:record("android", { level = level, component = component, text = text }) end

function M.deploy(d)
  line(d, "VERB", MANAGER, "Trying to enroll certificate request: " .. d.request_id:gsub("/", "%%2F"))
end

local REASONS = { [200] = "OK", [403] = "Forbidden", [404] = "Not Found", [414] = "Request-URI Too Long",
                  [500] = "Internal Server Error", [502] = "Bad Gateway", [503] = "Service Unavailable",
                  [504] = "Gateway Timeout" }

function M.exchange(d, ex)
  local op = ex.operation == "PKIOperation" and "PkiOperation" or (ex.operation .. "(ca)")
  line(d, "VERB", TRANSPORT, ("Sending %s to %s"):format(op, ex.url))
  if ex.status then
    line(d, "VERB", TRANSPORT, ("Received '%d %s' when sending %s to %s"):format(ex.status, REASONS[ex.status] or "Error",
      op, ex.url))
  end
end

function M.success(d, r)
  line(d, "VERB", TRANSACTION,
    ("Response: org.jscep.message.CertRep@3150777b[failInfo=<null>,pkiStatus=SUCCESS,messageType=CERT_REP,transId=%s]")
      :format(r.transaction_id or ""))
  line(d, "INFO", INSTALL, ("SCEP cert '%s' state changed from CERT_ACCESS_REQUESTED to CERT_ACCESS_GRANTED")
    :format(d.request_id:gsub("/", "%%2F")))
end

function M.failure(d, r)
  if not r then return end -- no CertRep came back: the transport lines say what did
  line(d, "VERB", TRANSACTION,
    ("Response: org.jscep.message.CertRep@3150777b[failInfo=%s,pkiStatus=FAILURE,messageType=CERT_REP,transId=%s]")
      :format(r and r.fail_info or "<null>", r and r.transaction_id or ""))
end

return M
