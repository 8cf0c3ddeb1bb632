"""Lua scripts behind the Redis session store: each logical operation is one script, so it
is atomic on the server and costs one round trip.

Conventions shared by every write script: ``KEYS[1]`` is the turn-lock key and ``ARGV[1]``
the lease holder value (``''`` when the caller holds no lease); a held lease that is no
longer ours refuses the write (fencing). Failures are error replies starting with
``GREENTIC_SESSION`` (contract violations) or ``GREENTIC_STORE`` (lost lease), turned into
exceptions at the one Redis boundary (:func:`greentic_runner.storage.redis.redis_call`).

The scripts touch keys they compute (an entry's index members), so they need a single Redis
node (standalone or Sentinel); Redis Cluster is not supported.
"""

from __future__ import annotations

SESSION_ERROR = "GREENTIC_SESSION "
STORE_ERROR = "GREENTIC_STORE "

_FENCE = """
if ARGV[1] ~= '' and redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return redis.error_reply('GREENTIC_STORE turn lock ' .. KEYS[1] ..
    ' was lost (lease expired and was taken over); write refused')
end
"""

# The (env, tenant, team, user) of a stored entry; '' stands for an absent team/user.
_IDENT = """
local function ident(raw)
  local ok, doc = pcall(cjson.decode, raw)
  if not ok or type(doc) ~= 'table' or type(doc.tenant_ctx) ~= 'table' then return nil end
  local t = doc.tenant_ctx
  local function s(v) if type(v) == 'string' then return v end return '' end
  return s(t.env), s(t.tenant), s(t.team), s(t.user)
end
local function corrupt(skey)
  return redis.error_reply('GREENTIC_SESSION stored session entry ' .. skey .. ' is corrupt')
end
"""

# Drop an entry and every index that still points at it. The entry's index set lists the
# user-wait sets (members are removed) and the scope keys (deleted only while they still
# name this entry: a later registration may have taken the scope over).
_PURGE = """
local function purge(skey, entry_prefix, index_prefix, waits_prefix)
  local index = index_prefix .. skey
  for _, k in ipairs(redis.call('SMEMBERS', index)) do
    if string.sub(k, 1, #waits_prefix) == waits_prefix then
      redis.call('SREM', k, skey)
    elseif redis.call('GET', k) == skey then
      redis.call('DEL', k)
    end
  end
  return redis.call('DEL', entry_prefix .. skey, index)
end
"""

# KEYS: lock, entry  ARGV: holder, payload
CREATE = (
    _FENCE
    + """
redis.call('SET', KEYS[2], ARGV[2])
return 1
"""
)

# KEYS: lock, entry  ARGV: holder, session key, payload, env, tenant, team, user
UPDATE = (
    _FENCE
    + _IDENT
    + """
local raw = redis.call('GET', KEYS[2])
if not raw then
  return redis.error_reply('GREENTIC_SESSION session ' .. ARGV[2] .. ' not found')
end
local env, tenant, team, user = ident(raw)
if env == nil then return corrupt(ARGV[2]) end
if env ~= ARGV[4] or tenant ~= ARGV[5] or team ~= ARGV[6] then
  return redis.error_reply('GREENTIC_SESSION session ' .. ARGV[2] ..
    ' must keep its env, tenant and team')
end
if user ~= ARGV[7] then
  return redis.error_reply('GREENTIC_SESSION session ' .. ARGV[2] .. ' must keep its user')
end
redis.call('SET', KEYS[2], ARGV[3], 'KEEPTTL')
return 1
"""
)

# KEYS: lock, entry  ARGV: holder, session key, entry prefix, index prefix, waits prefix
REMOVE = (
    _FENCE
    + _PURGE
    + """
if redis.call('EXISTS', KEYS[2]) == 0 then
  return redis.error_reply('GREENTIC_SESSION session ' .. ARGV[2] .. ' not found')
end
purge(ARGV[2], ARGV[3], ARGV[4], ARGV[5])
return 1
"""
)

# KEYS: lock, entry, entry index, user waits, scope
# ARGV: holder, session key, payload, ttl ms ('' = none), env, tenant, team, user,
#       only-if-absent ('1'/'0'), entry prefix
REGISTER = (
    _FENCE
    + _IDENT
    + """
local skey, ttl = ARGV[2], ARGV[4]
local function mine(raw)
  local env, tenant, team, user = ident(raw)
  return env == ARGV[5] and tenant == ARGV[6] and team == ARGV[7] and user == ARGV[8]
end
if ARGV[9] == '1' then
  local current = redis.call('GET', KEYS[5])
  if current then
    local raw = redis.call('GET', ARGV[10] .. current)
    if raw and mine(raw) then return 0 end
  end
end
local existing = redis.call('GET', KEYS[2])
if existing then
  local env, tenant, team, user = ident(existing)
  if env == nil then return corrupt(skey) end
  if env ~= ARGV[5] or tenant ~= ARGV[6] or team ~= ARGV[7] then
    return redis.error_reply('GREENTIC_SESSION session ' .. skey ..
      ' must keep its env, tenant and team')
  end
  if user ~= ARGV[8] then
    return redis.error_reply('GREENTIC_SESSION session ' .. skey .. ' must keep its user')
  end
end
local function put(key, value)
  if ttl == '' then redis.call('SET', key, value) else redis.call('SET', key, value, 'PX', ttl) end
end
put(KEYS[2], ARGV[3])
redis.call('SADD', KEYS[3], KEYS[4], KEYS[5])
if ttl == '' then redis.call('PERSIST', KEYS[3]) else redis.call('PEXPIRE', KEYS[3], ttl) end
-- The user's wait set lives as long as its longest-lived member (forever if one has no TTL).
local before = redis.call('PTTL', KEYS[4])
redis.call('SADD', KEYS[4], skey)
if ttl == '' then
  redis.call('PERSIST', KEYS[4])
elseif before == -2 or (before >= 0 and before < tonumber(ttl)) then
  redis.call('PEXPIRE', KEYS[4], ttl)
end
local previous = redis.call('GET', KEYS[5])
if previous and previous ~= skey then redis.call('SREM', KEYS[4], previous) end
put(KEYS[5], skey)
return 1
"""
)

# KEYS: scope, user waits  ARGV: entry prefix, env, tenant, team, user
FIND = (
    _IDENT
    + """
local skey = redis.call('GET', KEYS[1])
if not skey then return false end
local raw = redis.call('GET', ARGV[1] .. skey)
if raw then
  local env, tenant, team, user = ident(raw)
  if env == ARGV[2] and tenant == ARGV[3] and team == ARGV[4] and user == ARGV[5] then
    return skey
  end
end
redis.call('DEL', KEYS[1])
redis.call('SREM', KEYS[2], skey)
return false
"""
)

# The first of KEYS[first..] (scope keys) naming a live entry of (env, tenant, team, user):
# its session key and payload. Scope keys met before it that point nowhere (expired entry) or
# at another user's entry are dropped, with their member of the user's wait set, as FIND does.
_FETCH = """
local function fetch(first, waits, entry_prefix, env, tenant, team, user)
  for i = first, #KEYS do
    local skey = redis.call('GET', KEYS[i])
    if skey then
      local raw = redis.call('GET', entry_prefix .. skey)
      if raw then
        local e, t, tm, u = ident(raw)
        if e == env and t == tenant and tm == team and u == user then return skey, raw end
      end
      redis.call('DEL', KEYS[i])
      redis.call('SREM', waits, skey)
    end
  end
  return nil
end
"""

# Compare-and-delete of the turn lock (KEYS[1]) held by ARGV[1].
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
"""

# KEYS: user waits, scope...  ARGV: entry prefix, env, tenant, team, user
# Returns {session key, payload} or nil.
FETCH = (
    _IDENT
    + _FETCH
    + """
local skey, raw = fetch(2, KEYS[1], ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5])
if skey then return {skey, raw} end
return false
"""
)

# KEYS: lock, fence counter, user waits, scope...
# ARGV: holder, lease ms, entry prefix, env, tenant, team, user
# Takes the turn lock and reads the parked wait: {token[, session key, payload]}, or nil
# (and nothing read) when another holder has the lock.
TURN_BEGIN = (
    _IDENT
    + _FETCH
    + """
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return false end
local token = redis.call('INCR', KEYS[2])
local skey, raw = fetch(4, KEYS[3], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7])
if skey then return {token, skey, raw} end
return {token}
"""
)

# KEYS: lock, scope, user waits  ARGV: holder, entry prefix, index prefix, waits prefix
CLEAR = (
    _FENCE
    + _PURGE
    + """
local skey = redis.call('GET', KEYS[2])
if not skey then return 0 end
redis.call('DEL', KEYS[2])
redis.call('SREM', KEYS[3], skey)
purge(skey, ARGV[2], ARGV[3], ARGV[4])
return 1
"""
)

# KEYS and ARGV as REGISTER (a turn always holds the lock). The turn's last write: REGISTER,
# then the lock is released whatever the outcome (a refused write ends the turn too).
TURN_PARK = (
    "local function register()\n"
    + REGISTER
    + "\nend\nlocal result = register()\n"
    + _RELEASE
    + "return result\n"
)

# KEYS: lock, user waits, scope...  ARGV: holder, entry prefix, index prefix, waits prefix
# The turn's last write: CLEAR of every scope, then the lock is released.
TURN_CLEAR = (
    _FENCE
    + _PURGE
    + """
for i = 3, #KEYS do
  local skey = redis.call('GET', KEYS[i])
  if skey then
    redis.call('DEL', KEYS[i])
    redis.call('SREM', KEYS[2], skey)
    purge(skey, ARGV[2], ARGV[3], ARGV[4])
  end
end
"""
    + _RELEASE
    + "return 1\n"
)

# KEYS: user waits  ARGV: entry prefix
# Returns {live count, payload of the only live entry or '', live keys...}; dead members
# (expired entries) are removed on the way.
LIST = """
local live = {}
for _, skey in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  if redis.call('EXISTS', ARGV[1] .. skey) == 1 then
    live[#live + 1] = skey
  else
    redis.call('SREM', KEYS[1], skey)
  end
end
local out = {tostring(#live), ''}
if #live == 1 then out[2] = redis.call('GET', ARGV[1] .. live[1]) end
for _, skey in ipairs(live) do out[#out + 1] = skey end
return out
"""

# KEYS: lock, fence counter  ARGV: holder, lease ms
LOCK_ACQUIRE = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return redis.call('INCR', KEYS[2])
end
return false
"""

# KEYS: lock  ARGV: holder, lease ms
LOCK_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""

# KEYS: lock  ARGV: holder
LOCK_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
