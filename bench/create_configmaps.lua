-- create_configmaps.lua: wrk script. Each request creates a ConfigMap with a
-- unique name and a 1 KiB value, on keep-alive connections. Names are unique
-- across threads and runs (thread id + counter + a run prefix from the env).
local counter = 0
local threads = {}
local prefix = os.getenv("BENCH_PREFIX") or tostring(os.time())
local value = string.rep("v", 1024)

function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end

function init(args)
  counter = 0
end

function request()
  counter = counter + 1
  local body = string.format(
    '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"b-%s-%d-%d"},"data":{"v":"%s"}}',
    prefix, tid, counter, value)
  return wrk.format("POST", "/api/v1/namespaces/default/configmaps",
    {["Content-Type"] = "application/json"}, body)
end

function response(status, headers, body)
  if status ~= 201 then
    io.stderr:write("unexpected status " .. status .. ": " .. body:sub(1, 200) .. "\n")
  end
end
