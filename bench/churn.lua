-- churn.lua: wrk script: merge-patches the same 1,000 ConfigMaps over and
-- over (the shape of node heartbeats), to show the store does not grow.
local counter = 0
local threads = {}

function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end

function request()
  counter = counter + 1
  local i = (counter * 7 + tid * 131) % 1000
  local body = string.format('{"data":{"beat":"%d-%d"}}', tid, counter)
  return wrk.format("PATCH", string.format("/api/v1/namespaces/default/configmaps/churn-%d", i),
    {["Content-Type"] = "application/merge-patch+json"}, body)
end
