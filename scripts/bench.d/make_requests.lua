-- scripts/bench server: the PKCSReq pkiMessages of the light load, made before the timed part.
-- arg: url, challenge, key directory (k1.pem ...), n, output directory, tag (in each subject).
-- GetCACert and GetCACaps once, as a device does, then per key a CSR with the challenge, a
-- self-signed signer and the pkiMessage enveloped for the server's RA certificate, written to
-- DIR/rI.der, and a curl config (DIR/curl.in) that POSTs each one to @URL@ (the server's
-- PKIOperation URL, put in by the run: a server with the same CA may listen elsewhere), its answer
-- in DIR/aI.der.
local sceplab = require "sceplab"
local core = require "sceplab.core.scep"
local url, challenge, dir, n, out, tag = arg[1], arg[2], arg[3], tonumber(arg[4]), arg[5], arg[6]
local c = sceplab.scep.client{ url = url }
local alg = assert(c:algorithms())
local cas = assert(c:ca_certs())
local cfg = assert(io.open(out .. "/curl.in", "w"))
local function q(s) return '"' .. s:gsub('[\\"]', "\\%0") .. '"' end
for i = 1, n do
  local f = assert(io.open(("%s/k%d.pem"):format(dir, i), "rb"))
  local key = assert(sceplab.scep.pkey.load(f:read("a")))
  f:close()
  local subject = ("CN=load-%s-%d"):format(tag, i)
  local csr = assert(core.csr(key, { subject = subject, challenge = challenge, digest = alg.digest }))
  local signer = assert(core.selfsigned(key, subject, alg.digest))
  local msg = assert(core.build{
    type = core.PKCSREQ, content = csr, recipient = cas.recipient, cipher = alg.cipher, digest = alg.digest,
    signer_cert = signer, signer_key = key, transaction_id = key:transaction_id(), nonce = core.nonce(),
  })
  local r = ("%s/r%d.der"):format(out, i)
  local w = assert(io.open(r, "wb"))
  w:write(msg)
  w:close()
  -- "next" between transfers: options are per transfer, and a trailing one is a transfer without a URL
  if i > 1 then cfg:write("next\n") end
  cfg:write(("silent\nurl = %s\ndata-binary = %s\nheader = \"Content-Type: application/x-pki-message\"\nheader = \"Expect:\"\n"):format('"@URL@"', q("@" .. r)),
    ("output = %s\nwrite-out = \"%%{http_code}\\n\"\n"):format(q(("%s/a%d.der"):format(out, i))))
end
cfg:close()
print(("%s %s, %s"):format(alg.cipher, alg.digest, cas.recipient and "RA certificate" or "CA certificate"))
return 0
