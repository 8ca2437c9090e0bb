-- Every sceplab command line the README and docs/*.md show is one the CLI takes: each is read out
-- of the code blocks as a shell would split it and parsed by the same parser that runs it, so a
-- renamed command or option fails here rather than in a reader's terminal. The examples that run
-- offline (the README's diagnose verdict, the `sceplab run` script) are run and compared too.
local h = require "helper"
local cli = require "sceplab.cli"
local util = require "sceplab.cli.util"

-- A synopsis ("sceplab ca list [--dir DIR] [--json]") is not a command line: its command words must
-- name a command and every option it shows must be one of that command's (or a global one).
local function synopsis_problem(argv)
  local p = cli.build_parser(nil)
  local path = {}
  for _, w in ipairs(argv) do
    if not w:match("^[%l][%l%-]*$") then break end
    path[#path + 1] = w
  end
  local cmd = util.find_command(p, path)
  while not cmd and #path > 0 do -- "replay SCENARIO": the words after the command are arguments
    path[#path] = nil
    cmd = util.find_command(p, path)
  end
  if #path == 0 then cmd = p end -- "sceplab [--config FILE] ...": the top level
  if not cmd then return "names no command" end
  for _, w in ipairs(argv) do
    for opt in w:gmatch("(%-%-?[%a][%w%-]*)") do
      if not util.find_option(cmd, opt) and not util.find_option(p, opt) then
        return ("'%s' is not an option of sceplab%s"):format(opt, #path > 0 and " " .. table.concat(path, " ") or "")
      end
    end
  end
end

local function is_synopsis(argv)
  for _, w in ipairs(argv) do
    if w:match("^[%[(]") or w:match("%]$") or w:match("%.%.%.$") then return true end
  end
  return false
end

-- A shell line's words, up to what ends the command (| > < & ; and a # comment). Quotes join words;
-- "$(...)" and "$VAR" stay as text, which is enough for parsing.
local function words(line)
  local out, cur, i, q = {}, nil, 1, nil
  while i <= #line do
    local c = line:sub(i, i)
    if q then
      if c == q then q = nil else cur = (cur or "") .. c end
    elseif c == "'" or c == '"' then
      q, cur = c, cur or ""
    elseif c:match("%s") then
      if cur then out[#out + 1], cur = cur, nil end
    elseif (c == "#" and not cur) or c == "|" or c == ">" or c == "<" or c == "&" or c == ";" then
      break
    elseif c == "\\" and i < #line then
      cur, i = (cur or "") .. line:sub(i + 1, i + 1), i + 1
    else
      cur = (cur or "") .. c
    end
    i = i + 1
  end
  if cur then out[#out + 1] = cur end
  return out
end

-- { file, line, argv } for each command line naming sceplab in a fenced block of text.
local function commands(file, text)
  local found, inblock, lang, n, pending = {}, false, nil, 0, nil
  for line in (text .. "\n"):gmatch("(.-)\n") do
    n = n + 1
    local fence = line:match("^%s*```(%w*)")
    if fence then
      inblock, lang, pending = not inblock, fence, nil
    elseif inblock and lang ~= "lua" and lang ~= "ini" and lang ~= "json" and lang ~= "cfg" then
      local cmdline = pending and (pending.text .. " " .. line) or line
      local start = pending and pending.line or n
      if cmdline:match("\\%s*$") then
        pending = { text = cmdline:gsub("\\%s*$", ""), line = start }
      else
        pending = nil
        local w = words((cmdline:gsub("^%s*%$%s+", "")))
        local k = 1
        while w[k] and w[k]:match("^[%u_][%w_]*=") do k = k + 1 end -- VAR=value before the command
        if w[k] == "sceplab" and not cmdline:match("^%s*#") then
          local argv = {}
          for j = k + 1, #w do argv[#argv + 1] = w[j] end
          found[#found + 1] = { file = file, line = start, argv = argv }
        end
      end
    end
  end
  return found
end

local docs = { "README.md" }
for name in io.popen("ls " .. h.shquote(h.root .. "/docs")):lines() do
  if name:match("%.md$") then docs[#docs + 1] = "docs/" .. name end
end

describe("the command lines the docs show", function()
  it("are all taken by the CLI's parser", function()
    local total, bad = 0, {}
    for _, doc in ipairs(docs) do
      for _, c in ipairs(commands(doc, h.read(h.root .. "/" .. doc))) do
        total = total + 1
        if #c.argv > 0 and is_synopsis(c.argv) then
          local problem = synopsis_problem(c.argv)
          if problem then
            bad[#bad + 1] = ("%s:%d: sceplab %s: %s"):format(c.file, c.line, table.concat(c.argv, " "), problem)
          end
        elseif #c.argv > 0 then
          local args, msg = cli.parse_only(c.argv)
          if not args then
            bad[#bad + 1] = ("%s:%d: sceplab %s: %s"):format(c.file, c.line, table.concat(c.argv, " "), msg)
          end
        end
      end
    end
    assert.is_true(total >= 60, total .. " command lines found")
    assert.are.same({}, bad)
  end)

  it("catch a renamed option (the check can fail)", function()
    local found = commands("x.md", "```sh\nsceplab timeline bundle/ --min-levl warning\n```\n")
    assert.are.equal(1, #found)
    assert.is_nil((cli.parse_only(found[1].argv)))
    local ok = commands("x.md", "```\nSCEPLAB_CHALLENGE=x sceplab enroll --url \"http://h/a b\" \\\n  --subject CN=a # note\n```\n")
    assert.are.same({ "enroll", "--url", "http://h/a b", "--subject", "CN=a" }, ok[1].argv)
    assert.is_table((cli.parse_only(ok[1].argv)))
    -- a synopsis with an option the command lost
    assert.is_nil(synopsis_problem({ "ca", "list", "[--dir", "DIR]", "[--json]" }))
    assert.matches("'%-%-jsn' is not an option of sceplab ca list", synopsis_problem({ "ca", "list", "[--jsn]" }))
  end)
end)

describe("the README's examples that run offline", function()
  local readme = h.read(h.root .. "/README.md")

  it("the diagnose verdict is what sceplab prints for the bundled case", function()
    local shown = readme:match("\n%$ sceplab diagnose tests/fixtures/bundles/ndes%-bundle%.zip\n(.-)\n%.%.%.\n")
    assert.is_string(shown, "README has no diagnose example")
    local code, out = h.sceplab({ "diagnose", "--color", "never", h.root .. "/tests/fixtures/bundles/ndes-bundle.zip" })
    assert.are.equal(1, code)
    out = out:gsub((h.root .. "/"):gsub("%p", "%%%0"), "") -- the README runs it from the checkout
    for line in shown:gmatch("[^\n]+") do
      assert.is_truthy(out:find(line, 1, true), "README line not printed: " .. line)
    end
  end)

  it("the `sceplab run` script lists a profile's CAThumbprint verdict", function()
    local script = readme:match("```lua\n(%-%- my%-check%.lua:.-)\n```")
    assert.is_string(script, "README has no my-check.lua")
    local dir = h.tmpdir()
    local path = h.write(dir .. "/my-check.lua", script .. "\n")
    local sample = h.root .. "/docs/samples/intune-scep-profile.xml"
    local code, out, err = h.sceplab({ "run", path, sample })
    assert.are.equal(0, code, err)
    assert.matches(sample:gsub("%p", "%%%0") .. "\t%S+\t%a+", out)
  end)
end)
