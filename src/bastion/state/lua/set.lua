-- Set whose members expire one by one (ban decisions): a sorted set scored by each member's
-- deadline; the key's PEXPIRE follows the latest deadline (+ grace) and only reclaims memory.
-- KEYS[1] sorted set
-- ARGV: op (add|has|all|rem), now ("" = Redis TIME), member, ttl_s, grace_ms
local key = KEYS[1]
local op = ARGV[1]
local now = tonumber(ARGV[2])
if now == nil then
  local t = redis.call('TIME')
  now = tonumber(t[1]) + tonumber(t[2]) / 1000000
end
if op == 'has' then
  local s = redis.call('ZSCORE', key, ARGV[3])
  if s and tonumber(s) > now then return 1 end
  return 0
end
redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
if op == 'all' then
  return redis.call('ZRANGE', key, 0, -1, 'WITHSCORES')
elseif op == 'rem' then
  return redis.call('ZREM', key, ARGV[3])
end
local ttl = tonumber(ARGV[4])
redis.call('ZADD', key, now + ttl, ARGV[3])
local last = redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')
local keep = math.ceil((tonumber(last[2]) - now) * 1000) + tonumber(ARGV[5])
redis.call('PEXPIRE', key, math.max(keep, 1))
return 1
