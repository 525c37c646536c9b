-- Write schedule definitions into Redis, many in one call: from the files (the leader's
-- sync) or from the API (a client: no lease needed, the dispatch script's compare-and-set
-- keeps a fire time from being dispatched twice however the definition changes).
-- KEYS[1] lease, KEYS[2] defs (hash name -> definition JSON), KEYS[3] due (zset name -> ms),
-- KEYS[4] owned:files, KEYS[5] owned:api (sets of names), KEYS[6] counting:ready (see
-- repair.lua: a namespace whose first definitions are written here has nothing from before
-- `counting` to check); then per item two keys:
-- state:<name> (hash: next_ms, due_ms, trigger_key, paused, runs, missed, owner, source,
-- ...) and history:<name>
-- ARGV[1] token ('' for the API), ARGV[2] history_len, ARGV[3] the number of items,
-- ARGV[4] the number of profiles (what items of a call share); then per profile 4: owner
-- (files | api), create only ('1': refuse if the schedule exists), update only ('1':
-- refuse if it does not), history event JSON to record when written ('' for none: a
-- sync); then per item 8: name, definition JSON, trigger_key, next_ms ('' = never fires
-- again), due_ms (next_ms plus jitter), digest of the definition (kept in the state, so a
-- sync reads no definitions), source (file:line, or api), its profile (from 1)
-- A schedule has one owner: a live schedule of the other owner is refused ('conflict' and
-- its source); a removed one (a tombstone) may be taken over.
-- An unchanged trigger keeps its stored next fire time: a restart or redeploy never moves it,
-- and neither does a removal undone while its tombstone lasts (see remove.lua).
-- Returns per item 'added', 'changed' (trigger changed: next fire recomputed), 'restored'
-- (back from a tombstone with its state) or 'updated'; or, writing nothing for that item,
-- 'conflict:<source>', 'exists' or 'missing'.
if ARGV[1] ~= '' and redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return redis.error_reply('NOTLEADER')
end
local history_len = tonumber(ARGV[2])
local count, profiles = tonumber(ARGV[3]), tonumber(ARGV[4])
local first = 4 + profiles * 4  -- the argument before the first item's

-- item i's arguments: name, definition, trigger_key, next_ms, due_ms, digest, source, then
-- its profile's owner, create only, update only, event
local function item(i)
  local a = first + (i - 1) * 8
  local p = 4 + (tonumber(ARGV[a + 8]) - 1) * 4
  return ARGV[a + 1], ARGV[a + 2], ARGV[a + 3], ARGV[a + 4], ARGV[a + 5], ARGV[a + 6],
         ARGV[p + 1], ARGV[a + 7], ARGV[p + 2], ARGV[p + 3], ARGV[p + 4]
end
if redis.call('EXISTS', KEYS[2]) == 0 then
  redis.call('SET', KEYS[6], '1')
end

local function upsert(state, history, name, body, trigger_key, next_ms, due_ms, digest, owner,
                      source, create_only, update_only, event)
  local own_set, other_set = KEYS[4], KEYS[5]
  if owner == 'api' then
    own_set, other_set = KEYS[5], KEYS[4]
  end
  local live = redis.call('HEXISTS', KEYS[2], name) == 1
  if live then
    local own = redis.call('HMGET', state, 'owner', 'source')
    if (own[1] or 'files') ~= owner then
      return 'conflict:' .. (own[2] or 'files')
    end
    if create_only == '1' then
      return 'exists'
    end
  elseif update_only == '1' then
    return 'missing'
  end
  redis.call('HSET', KEYS[2], name, body)
  redis.call('SADD', own_set, name)
  if not live and redis.call('EXISTS', state) == 0 then
    -- New, and no tombstone either: in neither owner's set (remove.lua takes a name out of
    -- both), with no history (it expires with the state), and the whole state in one write.
    redis.call('HSET', state, 'digest', digest, 'owner', owner, 'source', source,
               'trigger_key', trigger_key, 'next_ms', next_ms, 'due_ms', due_ms)
    if event ~= '' then
      redis.call('LPUSH', history, event)
    end
    if next_ms ~= '' then
      redis.call('ZADD', KEYS[3], due_ms, name)
    end
    return 'added'
  end
  redis.call('SREM', other_set, name)
  if event ~= '' then
    redis.call('LPUSH', history, event)
    redis.call('LTRIM', history, 0, history_len - 1)
  end
  local restored = redis.call('HDEL', state, 'removed_ms') == 1
  if restored then
    redis.call('PERSIST', state)
    redis.call('PERSIST', history)
  end
  redis.call('HSET', state, 'digest', digest, 'owner', owner, 'source', source)
  local old = redis.call('HGET', state, 'trigger_key')
  if old == trigger_key then
    if not restored then
      return 'updated'
    end
    local st = redis.call('HMGET', state, 'next_ms', 'due_ms', 'paused')
    if st[1] and st[1] ~= '' and st[3] ~= '1' then
      redis.call('ZADD', KEYS[3], st[2], name)
    end
    return 'restored'
  end
  redis.call('HSET', state, 'trigger_key', trigger_key, 'next_ms', next_ms, 'due_ms', due_ms)
  if next_ms == '' or redis.call('HGET', state, 'paused') == '1' then
    redis.call('ZREM', KEYS[3], name)
  else
    redis.call('ZADD', KEYS[3], due_ms, name)
  end
  if old then
    return 'changed'
  end
  return 'added'
end

-- Every item new (no state, live or tombstone, and no definition), each name once, none
-- update only: the definitions, owners and due times go in a few calls for the whole batch,
-- and each schedule costs two (its state and its history), not seven. The answers and the
-- data written are those of the item by item path below.
local function all_new()
  local states, names, seen = {}, {}, {}
  for i = 1, count do
    local name, _, _, _, _, _, _, _, _, update_only = item(i)
    if seen[name] or update_only == '1' then
      return false
    end
    seen[name] = true
    names[i] = name
    states[i] = KEYS[6 + (i - 1) * 2 + 1]
  end
  if redis.call('EXISTS', unpack(states)) ~= 0 then
    return false
  end
  for _, body in ipairs(redis.call('HMGET', KEYS[2], unpack(names))) do
    if body then
      return false
    end
  end
  return true
end

local function add_all()
  local defs, owned, due = {}, {files = {}, api = {}}, {}
  local results = {}
  for i = 1, count do
    local k = 6 + (i - 1) * 2
    local name, body, trigger_key, next_ms, due_ms, digest, owner, source, _, _, event = item(i)
    defs[#defs + 1] = name
    defs[#defs + 1] = body
    local set = owned[owner] or owned.files
    set[#set + 1] = name
    redis.call('HSET', KEYS[k + 1], 'digest', digest, 'owner', owner, 'source', source,
               'trigger_key', trigger_key, 'next_ms', next_ms, 'due_ms', due_ms)
    if event ~= '' then
      redis.call('LPUSH', KEYS[k + 2], event)
    end
    if next_ms ~= '' then
      due[#due + 1] = due_ms
      due[#due + 1] = name
    end
    results[i] = 'added'
  end
  redis.call('HSET', KEYS[2], unpack(defs))
  if #owned.files > 0 then
    redis.call('SADD', KEYS[4], unpack(owned.files))
  end
  if #owned.api > 0 then
    redis.call('SADD', KEYS[5], unpack(owned.api))
  end
  if #due > 0 then
    redis.call('ZADD', KEYS[3], unpack(due))
  end
  return results
end

if count > 0 and all_new() then
  return add_all()
end

local results = {}
for i = 1, count do
  local k = 6 + (i - 1) * 2
  results[i] = upsert(KEYS[k + 1], KEYS[k + 2], item(i))
end
return results
