-- Sync one schedule definition from the files into Redis (leader only).
-- KEYS[1] lease, KEYS[2] defs (hash name -> definition JSON), KEYS[3] due (zset name -> ms),
-- KEYS[4] state:<name> (hash: next_ms, due_ms, trigger_key, paused, runs, missed, ...),
-- KEYS[5] history:<name>
-- ARGV[1] token, ARGV[2] name, ARGV[3] definition JSON, ARGV[4] trigger_key,
-- ARGV[5] next_ms ('' = never fires again), ARGV[6] due_ms (next_ms plus jitter),
-- ARGV[7] digest of the definition (kept in the state, so a sync reads no definitions)
-- An unchanged trigger keeps its stored next fire time: a restart or redeploy never moves it,
-- and neither does a removal undone while its tombstone lasts (see remove.lua).
-- Returns 'added', 'changed' (trigger changed: next fire recomputed), 'restored' (back from
-- a tombstone with its state) or 'updated'.
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return redis.error_reply('NOTLEADER')
end
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
local restored = redis.call('HDEL', KEYS[4], 'removed_ms') == 1
if restored then
  redis.call('PERSIST', KEYS[4])
  redis.call('PERSIST', KEYS[5])
end
redis.call('HSET', KEYS[4], 'digest', ARGV[7])
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
