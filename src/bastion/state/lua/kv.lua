-- TTL key/value. The logical deadline lives next to the value (field `e`) so expiry follows the
-- caller's clock; PEXPIRE (ttl + grace) only reclaims memory.
-- KEYS[1] hash {v = value, e = deadline}
-- ARGV: op (get|set|nx|del), now ("" = Redis TIME), ttl_s, value, grace_ms
local key = KEYS[1]
local op = ARGV[1]
local now = tonumber(ARGV[2])
if now == nil then
  local t = redis.call('TIME')
  now = tonumber(t[1]) + tonumber(t[2]) / 1000000
end
local st = redis.call('HMGET', key, 'v', 'e')
local live = st[1] ~= false and st[2] ~= false and tonumber(st[2]) > now
if op == 'get' then
  if live then return st[1] end
  return false
elseif op == 'del' then
  redis.call('DEL', key)
  if live then return 1 end
  return 0
end
if op == 'nx' and live then
  return 0
end
local ttl = tonumber(ARGV[3])
redis.call('HSET', key, 'v', ARGV[4], 'e', string.format('%.17g', now + ttl))
redis.call('PEXPIRE', key, math.ceil(ttl * 1000) + tonumber(ARGV[5]))
return 1
