-- Resync: unregister sockets a live process no longer holds; return the users who went offline.
-- KEYS: this process's sockets (hash)
-- ARGV: user key prefix, then socket id, user id pairs
local offline = {}
for i = 2, #ARGV, 2 do
  local user = ARGV[1] .. ARGV[i + 1]
  redis.call('HDEL', KEYS[1], ARGV[i])
  if redis.call('SREM', user, ARGV[i]) == 1 and redis.call('SCARD', user) == 0 then
    offline[#offline + 1] = ARGV[i + 1]
  end
end
return offline
