-- After the enrollment: a Wi-Fi or VPN server (NPS, FreeRADIUS) checks the revocation of the
-- device's new certificate and cannot. NPS denies the device (Security event 6273, reason code 258
-- or 259, CRYPT_E_REVOCATION_OFFLINE 0x80092013 in CAPI2's chain for it); CAPI2's "Retrieve Object
-- from Network" events and FreeRADIUS's log say which publication failed: the CRL distribution
-- point does not answer, the CRL there is past its nextUpdate, or the OCSP responder is silent.
local WINHTTP_DOWN = { 0x80072EFD, 0x80072EFE, 0x80072EE7, 0x80072F78 } -- cannot connect, closed, name, invalid response
local WINHTTP_TIMEOUT = 0x80072EE2

-- Whether a CAPI2 record is NDES's own (its policy module runs in w3wp.exe): ndes-host.lua's.
local function on_ndes(ctx, r)
  return ctx.text(r, "ProcessName=w3wp.exe")
end

-- The URL a CAPI2 "Retrieve Object from Network" event fetched, lower-cased, or nil.
local function fetched_url(r)
  local m = r.message or ""
  if not m:find("CryptRetrieveObjectByUrlWire", 1, true) then return nil end
  return (m:match("URL scheme=%a+ (%S+)") or m:match("(https?://%S+)") or ""):lower()
end

return {
  description = "A RADIUS server (NPS, FreeRADIUS) cannot check the revocation of the device's certificate.",
  references = { "https://learn.microsoft.com/previous-versions/windows/it-pro/windows-server-2008-r2-and-2008/dd197582(v=ws.10)",
                 "https://learn.microsoft.com/windows/security/threat-protection/auditing/event-6273" },
  step = 5,
  severity = "error",
  findings = {
    ["radius-revocation-offline"] = { title = "The RADIUS server cannot check the device certificate's revocation",
      cause = "NPS denied the device (event 6273, reason code 258 or 259: 'the revocation function was unable to check revocation because the revocation server was offline', CRYPT_E_REVOCATION_OFFLINE 0x80092013 in CAPI2's chain for the device's certificate): neither the CRL distribution point nor the OCSP responder the certificate names gave it an answer it could use. The enrollment itself succeeded.",
      fix = { "On the RADIUS server, run certutil -verify -urlfetch on the device's certificate: it lists the CDP, AIA and OCSP URLs the certificate carries and what each answered.",
              "Publish the CRL where the certificate's CDP points (sceplab serve answers PUBLIC-URL/CertEnroll/NAME.crl; with another CA, its CDP) and let the RADIUS server reach it over plain HTTP (port 80, no proxy authentication).",
              "Certificates issued before a CDP was configured carry none: re-issue them (sceplab serve --public-url) rather than turning revocation checking off." } },
    ["cdp-unreachable"] = { title = "The CRL distribution point does not answer",
      cause = "The RADIUS server's download of the CRL from the certificate's CDP failed: the connection was refused or closed with no answer (WinHTTP 12029/12030, 0x80072EFD/0x80072EFE in CAPI2's 'Retrieve Object from Network'; FreeRADIUS: OpenSSL's 'unable to get certificate CRL'). Without a CRL and without OCSP, the revocation check is offline (0x80092013).",
      fix = { "Browse from the RADIUS server to the CDP URL in the certificate (certutil -url CERT.cer, or curl -v URL): the web server behind it must be up and answer the .crl file.",
              "sceplab serve answers the CDP itself: give --public-url an address the RADIUS server reaches, and keep serve running (or copy the CRL to a web server that is).",
              "FreeRADIUS reads CRLs from its ca_path: fetch the CRL there on a schedule (and c_rehash) before nextUpdate." },
      explains = { "radius-revocation-offline" } },
    ["crl-expired"] = { title = "The CRL the CDP serves is past its nextUpdate",
      cause = "The CRL was downloaded but its nextUpdate has passed (OpenSSL error 12 'CRL has expired' in FreeRADIUS's log; CAPI2 rejects a CRL that is no longer time-valid and reports the revocation check offline, 0x80092013): nobody re-signs and publishes it any more.",
      fix = { "Publish a fresh CRL now (sceplab serve re-signs its CRL before nextUpdate on its own; with a copy on another web server, copy it again), and schedule the copy well inside the CRL's validity.",
              "Check the CA's clock and the RADIUS server's clock: a clock far ahead sees every CRL expired." },
      explains = { "radius-revocation-offline" } },
    ["ocsp-no-response"] = { title = "The OCSP responder accepts requests and never answers",
      cause = "The RADIUS server's OCSP request to the responder in the certificate's AIA timed out (FreeRADIUS: 'ocsp: Response timed out', then 'Unable to check certificate, failing'; CAPI2: 'Retrieve Object from Network' for the OCSP URL with ERROR_WINHTTP_TIMEOUT 0x80072EE2, after which CryptoAPI falls back to the CRL, and reports 0x80092013 when that fails too).",
      fix = { "Send the responder a request by hand from the RADIUS server: openssl ocsp -issuer CA.pem -cert DEVICE.pem -url URL -timeout 5 must say good within seconds.",
              "Restart the responder (sceplab serve answers /ocsp itself) or fix what holds its answers (a proxy, a firewall that drops the reply); FreeRADIUS's ocsp { softfail = yes } lets devices in while the responder is down, at the cost of not checking." },
      explains = { "radius-revocation-offline" } },
  },
  -- it judges kinds of records: of a flood of refusals (every device, every retry) a sample is enough
  sample = true,
  match = { hresults = { 0x80092013, 0x80092012, WINHTTP_TIMEOUT, table.unpack(WINHTTP_DOWN) }, event_ids = { 6273 },
            contains = { "CRL has expired", "unable to get certificate CRL", "ocsp: Response timed out",
                         "ocsp: Couldn't get OCSP response", "ocsp: Couldn't connect to OCSP responder",
                         "Unable to check certificate, failing", "CryptRetrieveObjectByUrlWire",
                         "revocation server was offline", "unable to check revocation" } },
  check = function(records, ctx)
    local offline, cdp, expired, ocsp = {}, {}, {}, {}
    for _, r in ipairs(records) do
      local url = fetched_url(r)
      local capi2 = (r.component or ""):find("CAPI2", 1, true) and not on_ndes(ctx, r)
      if r.event_id == 6273 and (ctx.text(r, "revocation") or ctx.code(r, 258) or ctx.code(r, 259)) then
        offline[#offline + 1] = r
      elseif capi2 and not url and (ctx.code(r, 0x80092013) or ctx.code(r, 0x80092012)) and ctx.text(r, "ProcessName=svchost.exe") then
        -- NPS checks EAP-TLS certificates in its IAS service, hosted by svchost.exe
        offline[#offline + 1] = r
      end
      if url then
        local down = false
        for _, c in ipairs(WINHTTP_DOWN) do down = down or ctx.code(r, c) end
        if down and url:find("%.crl") then cdp[#cdp + 1] = r end
        if ctx.code(r, WINHTTP_TIMEOUT) and (url:find("ocsp", 1, true) or ctx.text(r, "CONTEXT_OID_OCSP_RESP")) then
          ocsp[#ocsp + 1] = r
        end
      end
      if r.source == "freeradius" then
        if ctx.text(r, "CRL has expired") then expired[#expired + 1] = r end
        if ctx.text(r, "unable to get certificate CRL") then cdp[#cdp + 1] = r end
        if ctx.text(r, "ocsp: Response timed out") or ctx.text(r, "ocsp: Couldn't get OCSP response") or
           ctx.text(r, "ocsp: Couldn't connect to OCSP responder") or ctx.text(r, "Unable to check certificate, failing") then
          ocsp[#ocsp + 1] = r
        end
      end
    end
    local out = {}
    if #cdp > 0 then out[#out + 1] = { id = "cdp-unreachable", evidence = cdp } end
    if #expired > 0 then out[#out + 1] = { id = "crl-expired", evidence = expired } end
    if #ocsp > 0 then out[#out + 1] = { id = "ocsp-no-response", evidence = ocsp } end
    if #offline > 0 then out[#out + 1] = { id = "radius-revocation-offline", evidence = offline } end
    return out
  end,
}
