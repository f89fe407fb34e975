-- Register one active socket (as open.lua), then read the statuses of the given users: a socket's
-- presence open and its snapshot in one round trip. Returns {new status or false, statuses}.
-- KEYS: procs (zset), this process's sockets (hash)
-- ARGV: process id, ttl in ms, socket id, user id, base prefix, grace in ms, then the user ids to read
redis.call('ZADD', KEYS[1], now_ms() + tonumber(ARGV[2]), ARGV[1])
redis.call('HSET', KEYS[2], ARGV[3], ARGV[4])
redis.call('SADD', ARGV[5] .. 'user:' .. ARGV[4], ARGV[3])
local changed = settle(ARGV[5], ARGV[4], tonumber(ARGV[6]))
local statuses = {}
if #ARGV > 6 then
  statuses = redis.call('HMGET', ARGV[5] .. 'status', unpack(ARGV, 7))
end
return {changed, statuses}
