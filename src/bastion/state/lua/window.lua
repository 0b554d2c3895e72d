-- Sliding log (see bastion/state/base.py for why a log, and why slots above a limit).
-- KEYS[1] sorted set: one member per stamp, "<stamp>|<hits>", score = stamp
-- KEYS[2] string: total hits in KEYS[1] (same hash tag: Redis Cluster safe)
-- ARGV: now ("" = use Redis TIME), limit, window_s, cost, slot width (0 = exact), grace_ms
-- returns {allowed, count, reset_at, retry_after} (floats as strings: Lua numbers become
-- integers on the way out of a script)
local log, total_key = KEYS[1], KEYS[2]
local now = tonumber(ARGV[1])
if now == nil then
  local t = redis.call('TIME')
  now = tonumber(t[1]) + tonumber(t[2]) / 1000000
end
local limit = tonumber(ARGV[2])
local window = tonumber(ARGV[3])
local cost = tonumber(ARGV[4])
local width = tonumber(ARGV[5])
local grace = tonumber(ARGV[6])

local function hits(member)
  return tonumber(string.match(member, '|(%d+)$'))
end

local count = 0
if redis.call('ZCARD', log) > 0 then
  count = tonumber(redis.call('GET', total_key) or '0')
  local old = redis.call('ZRANGEBYSCORE', log, '-inf', now - window)
  if #old > 0 then
    for i = 1, #old do
      count = count - hits(old[i])
    end
    redis.call('ZREMRANGEBYSCORE', log, '-inf', now - window)
  end
end

local need = math.max(cost, 1)
local allowed = 0
if count + need <= limit then
  allowed = 1
  if cost > 0 then
    local at = now
    if width > 0 then
      at = (math.floor(now / width) + 1) * width
    end
    local stamp = string.format('%.17g', at)
    local same = redis.call('ZRANGEBYSCORE', log, stamp, stamp)
    local n = cost
    if #same > 0 then
      n = n + hits(same[1])
      redis.call('ZREM', log, same[1])
    end
    redis.call('ZADD', log, stamp, stamp .. '|' .. n)
    count = count + cost
  end
end

local retry = 0
if allowed == 0 then
  if need > limit then
    retry = math.huge
  else
    local excess = count - (limit - need)
    local entries = redis.call('ZRANGE', log, 0, -1, 'WITHSCORES')
    local gone = 0
    for i = 1, #entries, 2 do
      gone = gone + hits(entries[i])
      retry = tonumber(entries[i + 1]) + window - now
      if gone >= excess then
        break
      end
    end
  end
end

local reset_at = now
if redis.call('ZCARD', log) > 0 then
  local oldest = redis.call('ZRANGE', log, 0, 0, 'WITHSCORES')
  local newest = redis.call('ZRANGE', log, -1, -1, 'WITHSCORES')
  reset_at = tonumber(oldest[2]) + window
  local ttl = math.max(math.ceil((tonumber(newest[2]) + window - now) * 1000) + grace, 1)
  redis.call('SET', total_key, count, 'PX', ttl)
  redis.call('PEXPIRE', log, ttl)
else
  redis.call('DEL', total_key)
end
return {allowed, count, string.format('%.17g', reset_at), string.format('%.17g', retry)}
