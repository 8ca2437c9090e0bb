-- Binary .evtx through libevtx, compared with evtxexport (Debian libevtx-utils) on the real samples
-- in tests/fixtures/evtx (copied from the team's ../shared/fixtures/evtx).
local h = require "helper"
local sceplab = require "sceplab"

local samples = h.fixture("evtx/")

-- evtxexport's event identifiers, in order, and whether it read the whole file.
local function reference(file)
  local p = io.popen(h.CLEAN .. "evtxexport " .. h.shquote(samples .. file) .. " 2>/dev/null; echo EXIT=$?")
  local ids, exit = {}, nil
  for line in p:lines() do
    local id = line:match("^Event identifier%s*:%s*0x%x+ %((%d+)%)")
    if id then ids[#ids + 1] = tonumber(id) end
    exit = line:match("^EXIT=(%d+)") or exit
  end
  p:close()
  return ids, exit == "0"
end

local function ours(file)
  local lg = assert(sceplab.logs.open(samples .. file))
  local ids, recs = {}, {}
  for r in lg:records() do
    ids[#ids + 1] = r.event_id
    recs[#recs + 1] = r
  end
  local stats = lg:stats()
  lg:close()
  return ids, stats, recs
end

describe(".evtx", function()
  for _, file in ipairs({ "Application_no_crc32.evtx", "Security_short_selected.evtx",
                          "sample-with-zero-data-size-event.evtx", "sample_with_a_bad_chunk_magic.evtx" }) do
    it("reads " .. file .. " record for record as evtxexport does", function()
      local want, complete = reference(file)
      assert.is_true(complete)
      local got, stats = ours(file)
      assert.are.equal("evtx", stats.format)
      assert.are.equal(#want, #got)
      assert.are.same(want, got)
    end)
  end

  it("reads past the CAPI2 record evtxexport gives up on, and counts what it skips", function()
    local file = "E_Windows_system32_winevt_logs_Microsoft-Windows-CAPI2-Operational.evtx"
    local want, complete = reference(file)
    assert.is_false(complete) -- evtxexport stops at record 25: an unsupported binary XML token
    local got, stats, recs = ours(file)
    assert.are.same(want, { table.unpack(got, 1, #want) })
    assert.is_true(#got > #want)
    assert.are.equal(3, stats.skipped)
    assert.matches("^line 25: record unreadable", stats.examples[1])
    assert.are.equal("Microsoft-Windows-CAPI2", recs[1].component)
    assert.are.equal("2017-05-19T02:02:36Z", recs[1].time)
    local err, revocation = 0, 0
    for _, r in ipairs(recs) do
      if r.level == "error" then
        err = err + 1
        assert.is_true(#(r.message or "") > 0, "error record " .. r.line .. " has no message")
        if r.message:match("CertRejectedRevocationInfo") then revocation = revocation + 1 end
      end
    end
    assert.is_true(err > 0 and revocation > 0) -- CAPI2's UserData, flattened into the message
  end)

  it("explains the format", function()
    assert.matches("^evtx: binary Windows event log",
      sceplab.logs.explain(samples .. "Security_short_selected.evtx"))
  end)
end)
