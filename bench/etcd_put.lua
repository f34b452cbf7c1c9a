-- etcd_put.lua: wrk script for etcd's v3 JSON gateway: unique-key puts of a
-- 1 KiB value, the peer baseline to bench/create_configmaps.lua.
local counter = 0
local threads = {}
local value = string.rep("v", 1024)
local b64chars = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'

local function b64(data)
  return ((data:gsub('.', function(x)
    local r, b = '', x:byte()
    for i = 8, 1, -1 do r = r .. (b % 2 ^ i - b % 2 ^ (i - 1) > 0 and '1' or '0') end
    return r
  end) .. '0000'):gsub('%d%d%d?%d?%d?%d?', function(x)
    if #x < 6 then return '' end
    local c = 0
    for i = 1, 6 do c = c + (x:sub(i, i) == '1' and 2 ^ (6 - i) or 0) end
    return b64chars:sub(c + 1, c + 1)
  end) .. ({ '', '==', '=' })[#data % 3 + 1])
end

local encoded_value = b64(value)

function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end

function request()
  counter = counter + 1
  local key = b64(string.format("/bench/%d/%d/%d", os.time(), tid, counter))
  return wrk.format("POST", "/v3/kv/put", {["Content-Type"] = "application/json"},
    string.format('{"key":"%s","value":"%s"}', key, encoded_value))
end
