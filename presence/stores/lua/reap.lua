-- Claim processes and drop all their sockets; return the users who went offline.
-- With a process id: that process (a clean shutdown). Without: up to `limit` processes whose lease
-- expired by Redis's clock (the ghost sweep). Claiming (ZREM) and dropping happen in this one
-- script, so each dead process is reaped once and each user's offline transition is reported once.
-- KEYS: procs (zset)
-- ARGV: process key prefix, user key prefix, limit, process id or ''
local pids
if ARGV[4] ~= '' then
  pids = {ARGV[4]}
else
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  pids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[3]))
end
local offline = {}
for _, pid in ipairs(pids) do
  redis.call('ZREM', KEYS[1], pid)
  local proc = ARGV[1] .. pid
  local entries = redis.call('HGETALL', proc)
  for i = 1, #entries, 2 do
    local user = ARGV[2] .. entries[i + 1]
    if redis.call('SREM', user, entries[i]) == 1 and redis.call('SCARD', user) == 0 then
      offline[#offline + 1] = entries[i + 1]
    end
  end
  redis.call('DEL', proc)
end
return offline
