-- Unregister one socket; return the user's new status when it changed (after the last socket, with
-- a grace: nothing yet, the user waits in B.pending).
-- KEYS: this process's sockets (hash)
-- ARGV: socket id, user id, base prefix, grace in ms
redis.call('HDEL', KEYS[1], ARGV[1])
if drop(ARGV[3], ARGV[2], ARGV[1]) then
  return settle(ARGV[3], ARGV[2], tonumber(ARGV[4]))
end
return false
