-- Register one active socket of a live process; return the user's new status when it changed.
-- KEYS: procs (zset), this process's sockets (hash)
-- ARGV: process id, ttl in ms, socket id, user id, base prefix, grace in ms
redis.call('ZADD', KEYS[1], now_ms() + tonumber(ARGV[2]), ARGV[1])
redis.call('HSET', KEYS[2], ARGV[3], ARGV[4])
redis.call('SADD', ARGV[5] .. 'user:' .. ARGV[4], ARGV[3])
return settle(ARGV[5], ARGV[4], tonumber(ARGV[6]))
