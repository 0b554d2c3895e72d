-- Exact sliding log (see bastion/state/base.py for why a log and not a counter).
-- KEYS[1] sorted set: member = unique hit id, score = admission time
-- ARGV: now ("" = use Redis TIME), limit, window_s, cost, nonce, grace_ms
-- returns {allowed, count, reset_at, retry_after} (floats as strings: Lua numbers become
-- integers on the way out of a script)
local key = KEYS[1]
local now = tonumber(ARGV[1])
if now == nil then
  local t = redis.call('TIME')
  now = tonumber(t[1]) + tonumber(t[2]) / 1000000
end
local limit = tonumber(ARGV[2])
local window = tonumber(ARGV[3])
local cost = tonumber(ARGV[4])
local nonce = ARGV[5]
local grace = tonumber(ARGV[6])

redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
local count = redis.call('ZCARD', key)
local need = math.max(cost, 1)
local allowed = 0
if count + need <= limit then
  allowed = 1
  for i = 1, cost do
    redis.call('ZADD', key, now, nonce .. ':' .. i)
  end
  count = count + cost
end

local retry = 0
if allowed == 0 then
  if need > limit then
    retry = math.huge
  else
    local idx = count - (limit - need) - 1
    local e = redis.call('ZRANGE', key, idx, idx, 'WITHSCORES')
    retry = tonumber(e[2]) + window - now
  end
end

local reset_at = now
if count > 0 then
  local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
  local newest = redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')
  reset_at = tonumber(oldest[2]) + window
  local ttl = math.ceil((tonumber(newest[2]) + window - now) * 1000) + grace
  redis.call('PEXPIRE', key, math.max(ttl, 1))
end
return {allowed, count, string.format('%.17g', reset_at), string.format('%.17g', retry)}
