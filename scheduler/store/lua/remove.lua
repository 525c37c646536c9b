-- Remove a schedule: one no longer in the files (the leader's sync), or one the API owns (a
-- client). Its state and history are kept as a tombstone for ARGV[4] seconds: a schedule
-- that comes back within that time (a file saved half-way, a rename undone) keeps its next
-- fire time, pause and history. Runs already enqueued still run.
-- KEYS[1] lease, KEYS[2] defs, KEYS[3] due, KEYS[4] state:<name>, KEYS[5] history:<name>,
-- KEYS[6] owned:files, KEYS[7] owned:api
-- ARGV[1] token ('' for the API), ARGV[2] name, ARGV[3] now_ms, ARGV[4] tombstone seconds,
-- ARGV[5] the owner removing it (files | api), ARGV[6] history event JSON to record ('' for
-- none: a sync), ARGV[7] history_len
-- Returns 1 if removed, 0 if there was no such schedule, or 'conflict:<source>' (another
-- owner's schedule: nothing removed).
if ARGV[1] ~= '' and redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return redis.error_reply('NOTLEADER')
end
local existed = redis.call('HEXISTS', KEYS[2], ARGV[2])
if existed == 1 then
  local own = redis.call('HMGET', KEYS[4], 'owner', 'source')
  if (own[1] or 'files') ~= ARGV[5] then
    return 'conflict:' .. (own[2] or 'files')
  end
end
redis.call('HDEL', KEYS[2], ARGV[2])
if existed == 1 and ARGV[6] ~= '' then
  redis.call('LPUSH', KEYS[5], ARGV[6])
  redis.call('LTRIM', KEYS[5], 0, tonumber(ARGV[7]) - 1)
end
redis.call('SREM', KEYS[6], ARGV[2])
redis.call('SREM', KEYS[7], ARGV[2])
redis.call('ZREM', KEYS[3], ARGV[2])
if redis.call('EXISTS', KEYS[4]) == 1 then
  redis.call('HSET', KEYS[4], 'removed_ms', ARGV[3])
  redis.call('EXPIRE', KEYS[4], tonumber(ARGV[4]))
end
if redis.call('EXISTS', KEYS[5]) == 1 then
  redis.call('EXPIRE', KEYS[5], tonumber(ARGV[4]))
end
return existed
