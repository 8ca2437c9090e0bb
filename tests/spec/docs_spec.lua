-- The examples of the docs, run: each block marked `<!-- doc-example: NAME -->` in docs/*.md is
-- taken out as the file NAME and used as the doc says, so a doc that drifts from the code fails.
local h = require "helper"
local cjson = require "cjson"

local function example(doc, name)
  local text = h.read(h.root .. "/docs/" .. doc)
  local block = text:match("<!%-%- doc%-example: " .. name:gsub("%p", "%%%0") .. " %-%->\n```%w*\n(.-)\n```")
  assert(block, ("docs/%s has no example %s"):format(doc, name))
  local dir = h.tmpdir()
  return h.write(dir .. "/" .. name, block .. "\n"), dir
end

describe("the docs' examples", function()
  it("docs/cli.md: the settings file is read as it says", function()
    local conf = example("cli.md", "sceplab.conf")
    local code, out, err = h.sceplab({ "config", "show", "--config", conf })
    assert.are.equal(0, code, err)
    local _, serve = h.sceplab({ "config", "show", "serve", "--config", conf })
    assert.matches("\nbind +%= 0%.0%.0%.0 +# ", serve)
    assert.matches("\nset +%= days=30 +# ", serve)
    assert.matches("\ncolor +%= never +# ", serve)
    local _, list = h.sceplab({ "config", "show", "ca", "list", "--config", conf })
    assert.matches("\ndir +%= /var/lib/sceplab +# ", list)
    local _, tl = h.sceplab({ "config", "show", "timeline", "--config", conf })
    assert.matches("\ntz +%= Europe/Berlin +# ", tl)
    assert.matches("\nmin%-level +%= warning +# ", tl)
    assert.matches("%[diagnose%]\nformat = md", out)
  end)

  it("docs/deploy.md: the service's settings file, and the one the package ships", function()
    local conf = example("deploy.md", "deploy.conf")
    local code, out, err = h.sceplab({ "config", "show", "serve", "--config", conf })
    assert.are.equal(0, code, err)
    assert.matches("\nport +%= 80 +# ", out)
    assert.matches("\npolicy +%= ndes%-otp +# ", out)
    local code2, out2, err2 = h.sceplab({ "config", "show", "--config", h.root .. "/packaging/sceplab.conf" })
    assert.are.equal(0, code2, err2)
    assert.matches("no settings", out2) -- every line of the shipped file is a comment
  end)

  it("docs/playbooks.md: a match on sources and operations takes every record with min_level verbose", function()
    local _, dir = example("playbooks.md", "every-getcacert.lua")
    local code, out, err = h.sceplab({ "diagnose", "--json", "--playbooks", dir, h.fixture("logs/u_ex200524.log") })
    assert.are.equal(1, code, err) -- the IIS log has errors of its own
    local ids = {}
    for _, f in ipairs(cjson.decode(out).findings) do ids[f.id] = true end
    assert.is_true(ids["getcacert-seen"], out)
    -- and without min_level it is refused, as the doc says
    local pb = h.read(dir .. "/every-getcacert.lua"):gsub(', min_level = "verbose"', "")
    h.write(dir .. "/every-getcacert.lua", pb)
    local code2, _, err2 = h.sceplab({ "diagnose", "--playbooks", dir, h.fixture("logs/u_ex200524.log") })
    assert.are.equal(3, code2)
    assert.matches("field 'match' needs statuses, event_ids, hresults, contains or min_level", err2)
  end)
end)
