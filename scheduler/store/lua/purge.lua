-- Drop one dead letter, and record who did it in its schedule's history.
-- KEYS[1] dead (hash), KEYS[2] dead_index (zset), KEYS[3] history:<name>
-- ARGV[1] run id, ARGV[2] event JSON, ARGV[3] history_len
-- Returns 1 when the letter was there (and is gone), 0 when there was none (nothing is
-- recorded).
if redis.call('HDEL', KEYS[1], ARGV[1]) == 0 then
  return 0
end
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('LPUSH', KEYS[3], ARGV[2])
redis.call('LTRIM', KEYS[3], 0, tonumber(ARGV[3]) - 1)
return 1
