-- Enqueue one run outside the schedule's own timeline: `sched trigger` and `sched backfill`.
-- KEYS[1] runs (hash), KEYS[2] queue:<queue> (zset), KEYS[3] queues (set),
-- KEYS[4] backfilled:<name> (zset of fire ms already backfilled), KEYS[5] history:<name>,
-- KEYS[6] state:<name> (counts of active and waiting runs), KEYS[7] counting (set)
-- ARGV[1] run_id, ARGV[2] score, ARGV[3] message JSON, ARGV[4] queue name,
-- ARGV[5] fire ms to remember for backfill ('' for a trigger), ARGV[6] event JSON,
-- ARGV[7] history_len, ARGV[8] how many backfilled fire times to remember per schedule,
-- ARGV[10] the schedule's name; ARGV[9] queue, or outbox: then KEYS[1] is outbox:messages and KEYS[2] the outbox, and the
-- run is a Celery message for the relay (not counted for overlap, no queue recorded)
-- A run on a queue is announced on the channel named like the queue's key.
-- Returns 1 if enqueued, 0 if this run was enqueued before (a repeated backfill).
if ARGV[5] ~= '' then
  if redis.call('ZADD', KEYS[4], 'NX', ARGV[5], ARGV[5]) == 0 then
    return 0
  end
  redis.call('ZREMRANGEBYRANK', KEYS[4], 0, -tonumber(ARGV[8]) - 1)
end
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[3]) == 0 then
  return 0
end
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
if ARGV[9] == 'queue' then
  redis.call('SADD', KEYS[3], ARGV[4])
  redis.call('HINCRBY', KEYS[6], 'active', 1)
  redis.call('HINCRBY', KEYS[6], 'waiting', 1)
  redis.call('SADD', KEYS[7], ARGV[10])
  redis.pcall('PUBLISH', KEYS[2], '')
end
redis.call('LPUSH', KEYS[5], ARGV[6])
redis.call('LTRIM', KEYS[5], 0, tonumber(ARGV[7]) - 1)
return 1
