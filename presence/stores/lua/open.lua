-- Register one socket of a live process; return 1 when it is the user's first socket anywhere.
-- KEYS: procs (zset), this process's sockets (hash), the user's sockets (set)
-- ARGV: process id, ttl in ms, socket id, user id
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
redis.call('HSET', KEYS[2], ARGV[3], ARGV[4])
if redis.call('SADD', KEYS[3], ARGV[3]) == 1 and redis.call('SCARD', KEYS[3]) == 1 then
  return 1
end
return 0
