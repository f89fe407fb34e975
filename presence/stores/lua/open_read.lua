-- Register one active socket (as open.lua), then read the statuses of the given users: a socket's
-- presence open and its snapshot in one round trip. Returns {new status or false, statuses}, the
-- statuses one text, comma-separated, in the order of the ids ('' for a user with none).
-- KEYS: procs (zset), this process's sockets (hash)
-- ARGV: process id, ttl in ms, socket id, user id, base prefix, grace in ms, the user ids to read
--       (one text, comma-separated: a thousand ids as one argument cost the client far less to send)
redis.call('ZADD', KEYS[1], now_ms() + tonumber(ARGV[2]), ARGV[1])
redis.call('HSET', KEYS[2], ARGV[3], ARGV[4])
redis.call('SADD', ARGV[5] .. 'user:' .. ARGV[4], ARGV[3])
local changed = settle(ARGV[5], ARGV[4], tonumber(ARGV[6]))
local ids = {}
for id in string.gmatch(ARGV[7], '[^,]+') do
  ids[#ids + 1] = id
end
local statuses = {}
if #ids > 0 then
  local found = redis.call('HMGET', ARGV[5] .. 'status', unpack(ids))
  for i = 1, #ids do
    statuses[i] = found[i] or ''
  end
end
return {changed, table.concat(statuses, ',')}
