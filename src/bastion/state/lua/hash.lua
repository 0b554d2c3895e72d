-- Hash with one TTL for the whole key (a CRS persistent collection). The logical deadline is the
-- reserved field "\0e"; PEXPIRE (ttl + grace) only reclaims memory.
-- KEYS[1] hash
-- ARGV: op (all|set|incr|del), now ("" = Redis TIME), ttl_s, grace_ms, then per op:
--   set: field1, value1, field2, value2, ...   incr: field, amount   del: field
local key = KEYS[1]
local op = ARGV[1]
local now = tonumber(ARGV[2])
if now == nil then
  local t = redis.call('TIME')
  now = tonumber(t[1]) + tonumber(t[2]) / 1000000
end
local DEADLINE = '\0e'
local e = redis.call('HGET', key, DEADLINE)
if e and tonumber(e) <= now then
  redis.call('DEL', key)
  e = false
end
if op == 'all' then
  if not e then return {} end
  local flat = redis.call('HGETALL', key)
  local out = {}
  for i = 1, #flat, 2 do
    if flat[i] ~= DEADLINE then
      out[#out + 1] = flat[i]
      out[#out + 1] = flat[i + 1]
    end
  end
  return out
elseif op == 'del' then
  if not e then return 0 end
  return redis.call('HDEL', key, ARGV[5])
end
local ttl = tonumber(ARGV[3])
local result = 1
if op == 'set' then
  for i = 5, #ARGV, 2 do
    redis.call('HSET', key, ARGV[i], ARGV[i + 1])
  end
else
  result = redis.call('HINCRBY', key, ARGV[5], ARGV[6])
end
redis.call('HSET', key, DEADLINE, string.format('%.17g', now + ttl))
redis.call('PEXPIRE', key, math.ceil(ttl * 1000) + tonumber(ARGV[4]))
return result
