-- Prints the substrings of every bundled playbook's match, one per line (grep -F -f input).
local diagnose = require "sceplab.diagnose"
local seen = {}
for _, pb in ipairs(assert(diagnose.load_all())) do
  for _, c in ipairs(pb.match and pb.match.contains or {}) do
    if not seen[c] then seen[c] = true print(c) end
  end
end
