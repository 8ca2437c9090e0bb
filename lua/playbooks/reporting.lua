-- Step 6, reporting: CRS files left in Processing (the connector service is stopped) or moved to Failed.
return {
  description = "Certificate request status (CRS) files show the connector's upload to Intune failing or not happening.",
  references = { "https://learn.microsoft.com/troubleshoot/mem/intune/certificates/troubleshoot-scep-certificate-reporting" },
  step = 6,
  severity = "warning",
  findings = {
    ["connector-upload-failed"] = { title = "Certificate request status files in Failed",
      cause = "The connector moved CRS files to Failed: the request failed at NDES or the CA, or the upload to Intune failed.",
      fix = { "Read the HResult of each CRS file (sceplab decode FILE) and the NDESConnector .svclog around its time.",
              "Check the connector's connection to Intune (proxy, firewall) and restart the Intune Connector Service." } },
    ["connector-service-stopped"] = { title = "Certificate request status files stuck in Processing",
      cause = "CRS files stay in Processing: the Intune Connector Service that uploads them is stopped.",
      fix = { "Start the Intune Connector Service (services.msc) and set it to Automatic." } },
  },
  -- it judges kinds of records: of a flood of one kind (a failing NDES's 500s) the first 20 and the
  -- last, the rest counted
  sample = true,
  match = { sources = { "crs" }, contains = { "CRS in Failed", "CRS in Processing" }, min_level = "warning" },
  check = function(records, ctx)
    local failed, processing = {}, {}
    for _, r in ipairs(records) do
      if r.component == "Failed" then failed[#failed + 1] = r end
      if r.component == "Processing" then processing[#processing + 1] = r end
    end
    local out = {}
    if #failed > 0 then out[#out + 1] = { id = "connector-upload-failed", evidence = failed } end
    if #processing > 0 then out[#out + 1] = { id = "connector-service-stopped", evidence = processing } end
    return out
  end,
}
