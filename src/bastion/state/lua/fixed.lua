-- Counter of one period; the key already names the period (it ends with reset_at).
-- KEYS[1] string counter
-- ARGV: now ("" = Redis TIME), limit (-1 = none), reset_at, cost, grace_ms
-- returns {allowed, count, retry_after}
local key = KEYS[1]
local now = tonumber(ARGV[1])
if now == nil then
  local t = redis.call('TIME')
  now = tonumber(t[1]) + tonumber(t[2]) / 1000000
end
local limit = tonumber(ARGV[2])
local reset_at = tonumber(ARGV[3])
local cost = tonumber(ARGV[4])
local grace = tonumber(ARGV[5])

local count = tonumber(redis.call('GET', key) or '0')
local need = math.max(cost, 1)
local allowed = 0
if limit < 0 or count + need <= limit then
  allowed = 1
  if cost > 0 then
    count = redis.call('INCRBY', key, cost)
    local ttl = math.ceil((reset_at - now) * 1000) + grace
    redis.call('PEXPIRE', key, math.max(ttl, 1))
  end
end
local retry = 0
if allowed == 0 then
  retry = math.max(reset_at - now, 0)
end
return {allowed, count, string.format('%.17g', retry)}
