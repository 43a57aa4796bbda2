-- wrk script: send GET requests cycling through a file of request targets.
--
-- Usage: wrk ... -s bench/cycle.lua URL -- TARGETS_FILE
-- TARGETS_FILE holds one path-and-query per line (a pre-signed URL without its
-- scheme and host). Requests are formatted once in init (with any -H headers), so the
-- generator spends its time sending, not building strings.

local requests = {}
local count = 0
local next_index = 0

function init(args)
  local path = args[1]
  if path == nil then
    error("cycle.lua needs the targets file: wrk ... -s cycle.lua URL -- FILE")
  end
  for line in io.lines(path) do
    if #line > 0 then
      count = count + 1
      requests[count] = wrk.format("GET", line)
    end
  end
  if count == 0 then
    error("cycle.lua: no request targets in " .. path)
  end
  -- threads start at different offsets so two threads never march in step
  next_index = math.random(0, count - 1)
end

function request()
  next_index = next_index % count + 1
  return requests[next_index]
end
