-- Resync: (re)register sockets of a live process and extend its lease; return the users who came online.
-- KEYS: procs (zset), this process's sockets (hash)
-- ARGV: process id, ttl in ms, user key prefix, then socket id, user id pairs
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
local online = {}
for i = 4, #ARGV, 2 do
  local user = ARGV[3] .. ARGV[i + 1]
  redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1])
  if redis.call('SADD', user, ARGV[i]) == 1 and redis.call('SCARD', user) == 1 then
    online[#online + 1] = ARGV[i + 1]
  end
end
return online
