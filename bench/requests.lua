-- wrk script: send whole requests (method, path, headers, body) cycling through a file.
--
-- Usage: wrk ... -s bench/requests.lua URL -- REQUESTS_FILE
-- REQUESTS_FILE holds one request per line, its fields separated by tabs:
--   METHOD <tab> PATH <tab> BODY <tab> Name: value <tab> Name: value ...
-- (a header-signed request: the body is one line of JSON, with no tab in it). Requests
-- are formatted once in init, so the generator spends its time sending.

local requests = {}
local count = 0
local next_index = 0

function init(args)
  local path = args[1]
  if path == nil then
    error("requests.lua needs the requests file: wrk ... -s requests.lua URL -- FILE")
  end
  for line in io.lines(path) do
    if #line > 0 then
      local fields = {}
      for field in string.gmatch(line, "[^\t]+") do
        fields[#fields + 1] = field
      end
      local headers = {}
      for i = 4, #fields do
        local name, value = string.match(fields[i], "^([^:]+): (.*)$")
        headers[name] = value
      end
      count = count + 1
      requests[count] = wrk.format(fields[1], fields[2], headers, fields[3])
    end
  end
  if count == 0 then
    error("requests.lua: no requests in " .. path)
  end
  next_index = math.random(0, count - 1)
end

function request()
  next_index = next_index % count + 1
  return requests[next_index]
end
