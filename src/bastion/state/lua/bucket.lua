-- Token bucket: at most `burst` tokens, refilled at `rate` per second, a new bucket is full.
-- KEYS[1] hash {t = tokens, ts = time of last refill}
-- ARGV: now ("" = Redis TIME), rate, burst, cost, grace_ms
-- returns {allowed, tokens, retry_after}
local key = KEYS[1]
local now = tonumber(ARGV[1])
if now == nil then
  local t = redis.call('TIME')
  now = tonumber(t[1]) + tonumber(t[2]) / 1000000
end
local rate = tonumber(ARGV[2])
local burst = tonumber(ARGV[3])
local cost = tonumber(ARGV[4])
local grace = tonumber(ARGV[5])

local st = redis.call('HMGET', key, 't', 'ts')
local tokens = burst
local ts = now
if st[1] then
  tokens = tonumber(st[1])
  ts = tonumber(st[2])
  if now > ts then
    tokens = math.min(burst, tokens + (now - ts) * rate)
    ts = now
  end
end
local need = math.max(cost, 1)
local allowed = 0
local retry = 0
if tokens >= need then
  allowed = 1
  tokens = tokens - cost
elseif need > burst then
  retry = math.huge
else
  retry = (need - tokens) / rate
end
redis.call('HSET', key, 't', string.format('%.17g', tokens), 'ts', string.format('%.17g', ts))
local ttl = math.ceil((burst - tokens) / rate * 1000) + grace
redis.call('PEXPIRE', key, math.max(ttl, 1))
return {allowed, string.format('%.17g', tokens), string.format('%.17g', retry)}
