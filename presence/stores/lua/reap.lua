-- Claim processes and drop all their sockets; return user id, new status pairs of the users whose
-- status changed, and (status 'waiting') those left in their grace.
-- With a process id: that process (a clean stop: its users get the grace, they may come back
-- elsewhere). Without: up to `limit` processes whose lease expired by Redis's clock (the ghost
-- sweep: the TTL was their grace, they turn offline at once). Claiming (ZREM) and dropping happen
-- in this one script, so each dead process is reaped once and each change is reported once.
-- KEYS: procs (zset)
-- ARGV: process key prefix, base prefix, limit, process id or '', grace in ms
local base = ARGV[2]
local pids, grace
if ARGV[4] ~= '' then
  pids, grace = {ARGV[4]}, tonumber(ARGV[5])
else
  pids, grace = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now_ms(), 'LIMIT', 0, tonumber(ARGV[3])), 0
end
local changed = {}
for _, pid in ipairs(pids) do
  redis.call('ZREM', KEYS[1], pid)
  local proc = ARGV[1] .. pid
  local entries = redis.call('HGETALL', proc)
  for i = 1, #entries, 2 do
    local uid = entries[i + 1]
    if drop(base, uid, entries[i]) then
      local new = settle(base, uid, grace)
      if new then
        changed[#changed + 1] = uid
        changed[#changed + 1] = new
      elseif redis.call('ZSCORE', base .. 'pending', uid) then
        changed[#changed + 1] = uid
        changed[#changed + 1] = 'waiting'
      end
    end
  end
  redis.call('DEL', proc)
end
return changed
