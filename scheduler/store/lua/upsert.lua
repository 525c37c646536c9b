-- Write one schedule definition into Redis: from the files (the leader's sync) or from the
-- API (a client: no lease needed, the dispatch script's compare-and-set keeps a fire time
-- from being dispatched twice however the definition changes).
-- KEYS[1] lease, KEYS[2] defs (hash name -> definition JSON), KEYS[3] due (zset name -> ms),
-- KEYS[4] state:<name> (hash: next_ms, due_ms, trigger_key, paused, runs, missed, owner,
-- source, ...), KEYS[5] history:<name>, KEYS[6] owned:<owner> (set of names),
-- KEYS[7] owned:<the other owner>
-- ARGV[1] token ('' for the API), ARGV[2] name, ARGV[3] definition JSON, ARGV[4] trigger_key,
-- ARGV[5] next_ms ('' = never fires again), ARGV[6] due_ms (next_ms plus jitter),
-- ARGV[7] digest of the definition (kept in the state, so a sync reads no definitions),
-- ARGV[8] owner (files | api), ARGV[9] source (file:line, or api), ARGV[10] create only
-- ('1': refuse if the schedule exists), ARGV[11] update only ('1': refuse if it does not),
-- ARGV[12] history event JSON to record when written ('' for none: a sync), ARGV[13]
-- history_len
-- A schedule has one owner: a live schedule of the other owner is refused ('conflict' and
-- its source); a removed one (a tombstone) may be taken over.
-- An unchanged trigger keeps its stored next fire time: a restart or redeploy never moves it,
-- and neither does a removal undone while its tombstone lasts (see remove.lua).
-- Returns 'added', 'changed' (trigger changed: next fire recomputed), 'restored' (back from
-- a tombstone with its state) or 'updated'; or, writing nothing, 'conflict:<source>',
-- 'exists' or 'missing'.
if ARGV[1] ~= '' and redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return redis.error_reply('NOTLEADER')
end
local live = redis.call('HEXISTS', KEYS[2], ARGV[2]) == 1
if live then
  local own = redis.call('HMGET', KEYS[4], 'owner', 'source')
  if (own[1] or 'files') ~= ARGV[8] then
    return 'conflict:' .. (own[2] or 'files')
  end
  if ARGV[10] == '1' then
    return 'exists'
  end
elseif ARGV[11] == '1' then
  return 'missing'
end
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
redis.call('SADD', KEYS[6], ARGV[2])
redis.call('SREM', KEYS[7], ARGV[2])
local restored = redis.call('HDEL', KEYS[4], 'removed_ms') == 1
if restored then
  redis.call('PERSIST', KEYS[4])
  redis.call('PERSIST', KEYS[5])
end
redis.call('HSET', KEYS[4], 'digest', ARGV[7], 'owner', ARGV[8], 'source', ARGV[9])
if ARGV[12] ~= '' then
  redis.call('LPUSH', KEYS[5], ARGV[12])
  redis.call('LTRIM', KEYS[5], 0, tonumber(ARGV[13]) - 1)
end
local old = redis.call('HGET', KEYS[4], 'trigger_key')
if old == ARGV[4] then
  if not restored then
    return 'updated'
  end
  local st = redis.call('HMGET', KEYS[4], 'next_ms', 'due_ms', 'paused')
  if st[1] and st[1] ~= '' and st[3] ~= '1' then
    redis.call('ZADD', KEYS[3], st[2], ARGV[2])
  end
  return 'restored'
end
redis.call('HSET', KEYS[4], 'trigger_key', ARGV[4], 'next_ms', ARGV[5], 'due_ms', ARGV[6])
if ARGV[5] == '' or redis.call('HGET', KEYS[4], 'paused') == '1' then
  redis.call('ZREM', KEYS[3], ARGV[2])
else
  redis.call('ZADD', KEYS[3], ARGV[6], ARGV[2])
end
if old then
  return 'changed'
end
return 'added'
