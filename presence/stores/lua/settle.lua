-- Prepended to every script that changes sockets (not a script of its own).
-- A user's public status lives in the hash B.status (absent: offline). `settle` recomputes it from
-- the user's sockets (B.user:<uid>, the idle ones also in B.idle:<uid>): online while one is active,
-- idle while all are idle. With no socket left the user keeps their status for `grace` ms
-- (B.pending: uid -> when it ends) and `due.lua` turns them offline; a socket opening first cancels
-- it. It returns the new status when it changed, else false: each change is seen by one script call.
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local function settle(base, uid, grace)
  local n = redis.call('SCARD', base .. 'user:' .. uid)
  local old = redis.call('HGET', base .. 'status', uid) or 'offline'
  local new
  if n > 0 then
    redis.call('ZREM', base .. 'pending', uid)
    if redis.call('SCARD', base .. 'idle:' .. uid) < n then new = 'online' else new = 'idle' end
  elseif old == 'offline' then
    return false
  elseif grace > 0 then
    redis.call('ZADD', base .. 'pending', 'NX', now_ms() + grace, uid)
    return false
  else
    new = 'offline'
  end
  if new == old then return false end
  if new == 'offline' then
    redis.call('HDEL', base .. 'status', uid)
    redis.call('ZREM', base .. 'pending', uid)
  else
    redis.call('HSET', base .. 'status', uid, new)
  end
  return new
end

-- Take a socket out of the user's sets; return true when it was there.
local function drop(base, uid, sid)
  redis.call('SREM', base .. 'idle:' .. uid, sid)
  return redis.call('SREM', base .. 'user:' .. uid, sid) == 1
end
