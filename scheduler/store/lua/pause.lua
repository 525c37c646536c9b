-- Pause or resume a schedule (an operator command; needs no lease).
-- KEYS[1] due (zset), KEYS[2] state:<name>, KEYS[3] history:<name>
-- ARGV[1] name, ARGV[2] '1' to pause, '0' to resume, ARGV[3] next_ms on resume,
-- ARGV[4] due_ms on resume, ARGV[5] missed count on resume, ARGV[6] last missed ms,
-- ARGV[7] event JSON, ARGV[8] history_len
-- Resume continues from the next future fire time; those passed while paused are missed.
-- Returns 1 when the paused flag changed, 0 when it already had that value.
local paused = redis.call('HGET', KEYS[2], 'paused') == '1'
if (ARGV[2] == '1') == paused then
  return 0
end
if ARGV[2] == '1' then
  redis.call('HSET', KEYS[2], 'paused', '1')
  redis.call('ZREM', KEYS[1], ARGV[1])
else
  redis.call('HSET', KEYS[2], 'paused', '0', 'next_ms', ARGV[3], 'due_ms', ARGV[4])
  if tonumber(ARGV[5]) > 0 then
    redis.call('HINCRBY', KEYS[2], 'missed', ARGV[5])
    redis.call('HSET', KEYS[2], 'last_missed_ms', ARGV[6])
  end
  if ARGV[3] ~= '' then
    redis.call('ZADD', KEYS[1], ARGV[4], ARGV[1])
  end
end
redis.call('LPUSH', KEYS[3], ARGV[7])
redis.call('LTRIM', KEYS[3], 0, tonumber(ARGV[8]) - 1)
return 1
