-- Resync: (re)register sockets of a live process and extend its lease; return user id, new status
-- pairs of the users whose status changed.
-- KEYS: procs (zset), this process's sockets (hash)
-- ARGV: process id, ttl in ms, base prefix, grace in ms, then socket id, user id, idle ('1'/'0') triples
local base, grace = ARGV[3], tonumber(ARGV[4])
redis.call('ZADD', KEYS[1], now_ms() + tonumber(ARGV[2]), ARGV[1])
local users, changed = {}, {}
for i = 5, #ARGV, 3 do
  local sid, uid = ARGV[i], ARGV[i + 1]
  redis.call('HSET', KEYS[2], sid, uid)
  redis.call('SADD', base .. 'user:' .. uid, sid)
  if ARGV[i + 2] == '1' then
    redis.call('SADD', base .. 'idle:' .. uid, sid)
  else
    redis.call('SREM', base .. 'idle:' .. uid, sid)
  end
  users[uid] = true
end
for uid in pairs(users) do
  local new = settle(base, uid, grace)
  if new then
    changed[#changed + 1] = uid
    changed[#changed + 1] = new
  end
end
return changed
