-- `sched dead retry`: put a dead-lettered run back on its queue as a first attempt.
-- KEYS[1] dead (hash), KEYS[2] dead_index (zset), KEYS[3] runs (hash), KEYS[4] queue:<queue>,
-- KEYS[5] queues (set), KEYS[6] state:<name>, KEYS[7] history:<name>, KEYS[8] counting (set)
-- ARGV[1] run id, ARGV[2] queue score, ARGV[3] message JSON, ARGV[4] queue name,
-- ARGV[5] event JSON, ARGV[6] history_len, ARGV[7] the schedule's name
-- The queue is announced on the channel named like its key.
-- Returns 1, or 0 when the run is not (or no longer) in the dead-letter queue.
if redis.call('HDEL', KEYS[1], ARGV[1]) == 0 then
  return 0
end
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('HSET', KEYS[3], ARGV[1], ARGV[3])
redis.call('ZADD', KEYS[4], ARGV[2], ARGV[1])
redis.call('SADD', KEYS[5], ARGV[4])
redis.pcall('PUBLISH', KEYS[4], '')
redis.call('HINCRBY', KEYS[6], 'active', 1)
redis.call('HINCRBY', KEYS[6], 'waiting', 1)
redis.call('SADD', KEYS[8], ARGV[7])
redis.call('LPUSH', KEYS[7], ARGV[5])
redis.call('LTRIM', KEYS[7], 0, tonumber(ARGV[6]) - 1)
return 1
