-- Extend a live process's lease; return 0 (and extend nothing) when Redis no longer holds exactly
-- the sockets the process counts (it was reaped, Redis lost data, or a write failed): resync then.
-- KEYS: procs (zset), this process's sockets (hash)
-- ARGV: process id, ttl in ms, how many sockets the process holds
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then
  return 0
end
if redis.call('HLEN', KEYS[2]) ~= tonumber(ARGV[3]) then
  return 0
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
return 1
