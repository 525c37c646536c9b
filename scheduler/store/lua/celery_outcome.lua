-- A Celery run of a schedule started or ended (report_outcomes), or reported nothing before
-- its deadline (the leader's relay): its part in the schedule's overlap counters.
-- KEYS[1] celery:inflight (hash), KEYS[2] celery:deadlines (zset), KEYS[3] state:<name>,
-- KEYS[4] history:<name>
-- ARGV[1] run_id, ARGV[2] what: started | ended | overdue, ARGV[3] event JSON ('' for
-- none), ARGV[4] history_len, ARGV[5] ms of a success ('' otherwise),
-- ARGV[6] now_ms (overdue: only if the deadline has passed)
-- Counters move once per run however often a step is reported (Celery may deliver a task
-- again); runs not counted for overlap only record their event.
-- Returns 1 if the counters moved, else 0.
local was = redis.call('HGET', KEYS[1], ARGV[1])
local live = redis.call('EXISTS', KEYS[3]) == 1  -- else the schedule is long gone
local moved = 0
if ARGV[2] == 'started' then
  if was == 'sent' then
    redis.call('HSET', KEYS[1], ARGV[1], 'started')
    if live then
      redis.call('HINCRBY', KEYS[3], 'waiting', -1)
    end
    moved = 1
  end
else
  if ARGV[2] == 'overdue' then
    local deadline = redis.call('ZSCORE', KEYS[2], ARGV[1])
    if not deadline or tonumber(deadline) > tonumber(ARGV[6]) then
      return 0
    end
  end
  if was then
    redis.call('HDEL', KEYS[1], ARGV[1])
    redis.call('ZREM', KEYS[2], ARGV[1])
    if live then
      redis.call('HINCRBY', KEYS[3], 'active', -1)
      if was == 'sent' then
        redis.call('HINCRBY', KEYS[3], 'waiting', -1)
      end
    end
    moved = 1
  end
end
if ARGV[5] ~= '' and live then
  redis.call('HSET', KEYS[3], 'last_success_ms', ARGV[5])
end
if ARGV[3] ~= '' and live then
  redis.call('LPUSH', KEYS[4], ARGV[3])
  redis.call('LTRIM', KEYS[4], 0, tonumber(ARGV[4]) - 1)
end
return moved
