-- Unregister one socket; return 1 when it was the user's last socket anywhere.
-- KEYS: this process's sockets (hash), the user's sockets (set)
-- ARGV: socket id
redis.call('HDEL', KEYS[1], ARGV[1])
if redis.call('SREM', KEYS[2], ARGV[1]) == 1 and redis.call('SCARD', KEYS[2]) == 0 then
  return 1
end
return 0
