-- Step 4, the CA: the template NDES asks for is not issued by this CA (0x80094800), in NDESPlugin,
-- NDES events or CRS files.
return {
  id = "ca-template-unsupported",
  title = "The CA does not issue the template NDES requests",
  step = 4,
  severity = "error",
  description = "The CA refused the request with CERTSRV_E_UNSUPPORTED_CERT_TYPE (0x80094800).",
  references = { "https://learn.microsoft.com/troubleshoot/mem/intune/certificates/troubleshoot-scep-certificate-ndes-policy-module" },
  match = { contains = { "0x80094800", "-2146875392" }, event_ids = { 31 } },
  check = function(records, ctx)
    local ev = {}
    for _, r in ipairs(records) do
      if r.hresult == "0x80094800" or ctx.text(r, "0x80094800") then ev[#ev + 1] = r end
    end
    if #ev == 0 then return {} end
    return { {
      cause = "The MSCEP registry values (EncryptionTemplate, GeneralPurposeTemplate, SignatureTemplate) name a certificate template this CA does not publish, or NDES's account cannot enroll for it.",
      fix = { "Compare HKLM\\SOFTWARE\\Microsoft\\Cryptography\\MSCEP template values with the templates the CA issues (certsrv.msc, Certificate Templates).",
              "Publish the template on the CA and give the NDES service account Read and Enroll on it; restart IIS." },
      evidence = { table.unpack(ev, 1, math.min(#ev, 5)) },
    } }
  end,
}
