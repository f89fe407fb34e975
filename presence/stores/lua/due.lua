-- Turn offline up to `limit` users whose grace ended (by Redis's clock) with no socket reopened;
-- return them. Claiming (ZREM) and the change happen in this one script, so when several processes
-- run it at once each user's offline transition is reported once.
-- KEYS: pending (zset)
-- ARGV: base prefix, limit
local uids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now_ms(), 'LIMIT', 0, tonumber(ARGV[2]))
local offline = {}
for _, uid in ipairs(uids) do
  redis.call('ZREM', KEYS[1], uid)
  if settle(ARGV[1], uid, 0) == 'offline' then
    offline[#offline + 1] = uid
  end
end
return offline
