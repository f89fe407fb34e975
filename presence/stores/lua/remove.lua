-- Resync: unregister sockets a live process no longer holds (they closed); return user id, new
-- status pairs of the users whose status changed.
-- KEYS: this process's sockets (hash)
-- ARGV: base prefix, grace in ms, then socket id, user id pairs
local base, grace = ARGV[1], tonumber(ARGV[2])
local changed = {}
for i = 3, #ARGV, 2 do
  redis.call('HDEL', KEYS[1], ARGV[i])
  if drop(base, ARGV[i + 1], ARGV[i]) then
    local new = settle(base, ARGV[i + 1], grace)
    if new then
      changed[#changed + 1] = ARGV[i + 1]
      changed[#changed + 1] = new
    end
  end
end
return changed
