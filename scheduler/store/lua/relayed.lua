-- The relay's broker confirmed these outbox entries: remove them and record the hand-off.
-- KEYS[1] outbox (zset), KEYS[2] outbox:messages (hash), then per item i (0-based):
--   KEYS[3+i] history:<schedule>
-- ARGV[1] history_len, then per item: run_id, the sent_to_celery event JSON
-- An entry already gone (another relay confirmed it first) records nothing.
-- Returns the number of entries removed.
local history_len = tonumber(ARGV[1])
local removed = 0
for i = 0, #KEYS - 3 do
  local run_id, note = ARGV[2 + 2 * i], ARGV[3 + 2 * i]
  if redis.call('HDEL', KEYS[2], run_id) == 1 then
    redis.call('ZREM', KEYS[1], run_id)
    redis.call('LPUSH', KEYS[3 + i], note)
    redis.call('LTRIM', KEYS[3 + i], 0, history_len - 1)
    removed = removed + 1
  end
end
return removed
