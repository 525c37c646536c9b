-- Dispatch due fire times of a batch of schedules, each exactly once (leader only).
-- KEYS[1] lease, KEYS[2] due (zset), KEYS[3] runs (hash run_id -> message JSON),
-- KEYS[4] queues (set of queue names)
-- then per item i (0-based): KEYS[5+3i] state:<name>, KEYS[6+3i] queue:<queue>,
--   KEYS[7+3i] history:<name>
-- ARGV[1] token, ARGV[2] history_len, ARGV[3] queue name list (JSON, one per item)
-- then per item: ARGV[4+5i] name, ARGV[5+5i] expected next_ms (compare-and-set),
--   ARGV[6+5i] new next_ms ('' = never again), ARGV[7+5i] new due_ms,
--   ARGV[8+5i] JSON {runs: [[run_id, score, message, fire_at]], overlap: allow|skip|queue_one,
--                    at: now (ISO), missed: n, last_missed_ms: ms|null, fired_ms: ms|null,
--                    events: [event JSON]}
-- Overlap is decided here, in the same atomic step as the enqueue: `skip` enqueues nothing
-- while a run of the schedule is queued or running (state field `active`), `queue_one`
-- nothing while one is already waiting (`waiting`). Skipped fire times are recorded.
-- A stale expected next_ms (another leader already advanced it) skips the item: this,
-- with the lease check, is what makes a fire time impossible to enqueue twice.
-- Returns one integer per item: the number of runs enqueued, or -1 if skipped.
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return redis.error_reply('NOTLEADER')
end
local history_len = tonumber(ARGV[2])
local queue_names = cjson.decode(ARGV[3])
local results = {}
local n = #queue_names
for i = 0, n - 1 do
  local state, queue, history = KEYS[5 + 3 * i], KEYS[6 + 3 * i], KEYS[7 + 3 * i]
  local name, expected = ARGV[4 + 5 * i], ARGV[5 + 5 * i]
  local new_next, new_due = ARGV[6 + 5 * i], ARGV[7 + 5 * i]
  local cur = redis.call('HGET', state, 'next_ms')
  if cur ~= expected or redis.call('HGET', state, 'paused') == '1' then
    results[#results + 1] = -1
  else
    local step = cjson.decode(ARGV[8 + 5 * i])
    local enqueued = 0
    local skipped = 0
    for _, run in ipairs(step['runs']) do
      local active = tonumber(redis.call('HGET', state, 'active') or '0')
      local waiting = tonumber(redis.call('HGET', state, 'waiting') or '0')
      local kind = 'enqueued'
      if (step['overlap'] == 'skip' and active > 0) or
         (step['overlap'] == 'queue_one' and waiting > 0) then
        kind = 'skipped'
        skipped = skipped + 1
      elseif redis.call('HSETNX', KEYS[3], run[1], run[3]) == 1 then
        redis.call('ZADD', queue, run[2], run[1])
        redis.call('HINCRBY', state, 'active', 1)
        redis.call('HINCRBY', state, 'waiting', 1)
        enqueued = enqueued + 1
      end
      redis.call('LPUSH', history, cjson.encode({v = 1, kind = 'event', event = kind,
        at = step['at'], run_id = run[1], fire_at = run[4]}))
    end
    if skipped > 0 then
      redis.call('HINCRBY', state, 'skipped', skipped)
    end
    if enqueued > 0 then
      redis.call('SADD', KEYS[4], queue_names[i + 1])
      redis.call('HINCRBY', state, 'runs', enqueued)
    end
    if step['fired_ms'] ~= cjson.null then
      redis.call('HSET', state, 'last_fire_ms', step['fired_ms'])
    end
    if step['missed'] > 0 then
      redis.call('HINCRBY', state, 'missed', step['missed'])
      redis.call('HSET', state, 'last_missed_ms', step['last_missed_ms'])
    end
    for _, event in ipairs(step['events']) do
      redis.call('LPUSH', history, event)
    end
    redis.call('LTRIM', history, 0, history_len - 1)
    redis.call('HSET', state, 'next_ms', new_next, 'due_ms', new_due)
    if new_next == '' then
      redis.call('ZREM', KEYS[2], name)
    else
      redis.call('ZADD', KEYS[2], new_due, name)
    end
    results[#results + 1] = enqueued
  end
end
return results
