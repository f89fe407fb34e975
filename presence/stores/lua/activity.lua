-- Mark an open socket idle or active; return the user's new status when it changed. A socket that
-- is no longer open (a close won the race) is left alone.
-- ARGV: socket id, user id, base prefix, grace in ms, '1' idle or '0' active
local base, uid, sid = ARGV[3], ARGV[2], ARGV[1]
if redis.call('SISMEMBER', base .. 'user:' .. uid, sid) == 0 then
  return false
end
if ARGV[5] == '1' then
  redis.call('SADD', base .. 'idle:' .. uid, sid)
else
  redis.call('SREM', base .. 'idle:' .. uid, sid)
end
return settle(base, uid, tonumber(ARGV[4]))
