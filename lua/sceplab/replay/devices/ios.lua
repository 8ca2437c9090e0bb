-- The iOS device: profiled installing Intune's SCEP payload (GET with base64 that is not
-- percent-encoded), as a Console copy shows it. Its lines follow what profiled's SCEP payload
-- handler logs (its format strings, levels and MCSCEPErrorDomain codes: 22003 invalid RA
-- response, 22004 no usable CA certificate, 22005 network error, 22013 the PKIOperation answer is
-- no certificate); an NSError is printed as its verbose description, on one line. What happens is
-- decided here; the Console lines are written in C, beside their reader (sceplab.core.artifacts,
-- src/core/logs/formats).
local artifacts = require "sceplab.core.artifacts"

local M = {
  log = artifacts.device_file("ios"), retries = 1, needs_date = true, cacert_first = true,
  client = { method = "get", raw_base64 = true, no_post_retry = true },
}

local function line(d, level, text) d:record("ios", { level = level, text = text }) end

local function ios_error(code, desc, under)
  return ("NSError: Desc   : %s US Desc: %s Domain : MCSCEPErrorDomain Code   : %d Type   : MCFatalError%s")
    :format(desc, desc, code, under and (" Underlying error: " .. under) or "")
end
local IOS_CODES = { [22003] = "The Registration Authority's response is invalid.",
                    [22004] = "The SCEP server's certificate configuration is not supported.",
                    [22005] = "A network error occurred while contacting the SCEP server.",
                    [22013] = "The SCEP server returned an invalid response." }

function M.deploy(d)
  line(d, "default", ('Beginning installation of profile "www.windowsintune.com.SCEP.%s"'):format(d.request_id))
end

function M.exchange(d, ex)
  local url = ex.url
  if ex.operation == "PKIOperation" then
    line(d, "default", "Attempting to retrieve issued certificate...")
    line(d, "debug", "Sending CSR via GET.")
    if #url > 160 then url = url:sub(1, 160) .. "..." end
  end
  line(d, "debug", "Performing synchronous URL request: " .. url)
  if ex.status then
    -- an HTTP error status is no NSURLSession error: profiled reads the body it got
    line(d, "debug", "URL request succeeded.")
  else
    line(d, "error", ("URL request to %s failed. Error: %s"):format(url, d.url_error))
    line(d, "debug", "URL request failed. Status code: 0")
  end
end

function M.success(d)
  line(d, "default", "Issued certificate received.")
  line(d, "default", ('Profile "www.windowsintune.com.SCEP.%s" installed.'):format(d.request_id))
end

function M.failure(d, r, _, err)
  local code
  local e = tostring(err or "")
  if e:match("CAThumbprint") then
    code = 22003 -- the RA's certificate chains to no root the device has
  elseif r then
    -- a CertRep FAILURE: SecSCEPVerifyReply's error, then 22013
    line(d, "error", ("Certificate retrieval reported error: failInfo %s (pkiStatus FAILURE)"):format(r.fail_info or "badRequest"))
    code = 22013
    line(d, "default", "Could not retrieve issued certificate: " .. ios_error(code, IOS_CODES[code]))
  elseif e:match("HTTP %d%d%d") then
    -- an error page instead of the CA certificates (GetCACert) or of a CertRep (PKIOperation)
    code = e:match("^PKIOperation") and 22013 or 22004
    if code == 22013 then
      line(d, "default", "Could not retrieve issued certificate: " .. ios_error(code, IOS_CODES[code]))
    end
  else
    code = 22005
  end
  line(d, "error", "Cannot retrieve SCEP identity: " .. ios_error(code, IOS_CODES[code], code == 22005 and d.url_error or nil))
  line(d, "error", "Profile installation failed. Error: " .. ios_error(code, IOS_CODES[code]))
end

return M
