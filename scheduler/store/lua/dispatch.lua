-- Dispatch due fire times of a batch of schedules, each exactly once (leader only).
-- KEYS[1] lease, KEYS[2] due (zset), KEYS[3] runs (hash run_id -> message JSON),
-- KEYS[4] queues (set of queue names)
-- then per item i (0-based): KEYS[5+3i] state:<name>, KEYS[6+3i] queue:<queue>,
--   KEYS[7+3i] history:<name>
-- ARGV[1] token, ARGV[2] history_len, ARGV[3] number of items; then per item, in order:
--   name, expected next_ms (compare-and-set), new next_ms ('' = never again), new due_ms,
--   overlap (allow | skip | queue_one), fired_ms ('' if none), queue name,
--   missed count, last missed ms, missed event JSON ('' if none),
--   number of runs, then per run: run_id, queue score, message JSON, the history event
--   JSON to record if overlap skips the run ('' when overlap is allow)
-- A stale expected next_ms (another leader advanced it, an operator resumed) or a paused
-- schedule skips the item: this, with the lease check, is what makes a fire time
-- impossible to enqueue twice. Overlap is decided here, in the same atomic step as the
-- enqueue: `skip` enqueues nothing while a run of the schedule is queued or running (state
-- field `active`), `queue_one` nothing while one is already waiting (`waiting`); skipped
-- fire times are recorded. The common case costs five calls per schedule and no JSON.
-- Returns one integer per item: the number of runs enqueued, or -1 if skipped.
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return redis.error_reply('NOTLEADER')
end
local history_len = tonumber(ARGV[2])
local results = {}
local queues = {}
local a = 4
for i = 0, tonumber(ARGV[3]) - 1 do
  local state, queue, history = KEYS[5 + 3 * i], KEYS[6 + 3 * i], KEYS[7 + 3 * i]
  local name, expected, new_next, new_due = ARGV[a], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3]
  local overlap, fired, queue_name = ARGV[a + 4], ARGV[a + 5], ARGV[a + 6]
  local missed, last_missed, missed_event = tonumber(ARGV[a + 7]), ARGV[a + 8], ARGV[a + 9]
  local nruns = tonumber(ARGV[a + 10])
  local r = a + 11
  a = r + 4 * nruns
  local st = redis.call('HMGET', state, 'next_ms', 'paused', 'active', 'waiting', 'runs')
  if st[1] ~= expected or st[2] == '1' then
    results[#results + 1] = -1
  else
    local active, waiting = tonumber(st[3] or '0'), tonumber(st[4] or '0')
    local runs = tonumber(st[5] or '0')
    local enqueued, skipped, duplicates = 0, 0, 0
    for j = 0, nruns - 1 do
      local run_id, score, message = ARGV[r + 4 * j], ARGV[r + 4 * j + 1], ARGV[r + 4 * j + 2]
      if (overlap == 'skip' and active > 0) or (overlap == 'queue_one' and waiting > 0) then
        skipped = skipped + 1
        redis.call('LPUSH', history, ARGV[r + 4 * j + 3])
      elseif redis.call('HSETNX', KEYS[3], run_id, message) == 1 then
        redis.call('ZADD', queue, score, run_id)
        active, waiting, enqueued = active + 1, waiting + 1, enqueued + 1
      else
        duplicates = duplicates + 1  -- never expected: kept as an invariant check
      end
    end
    if enqueued > 0 then
      queues[queue_name] = true
      runs = runs + enqueued
    end
    if fired ~= '' then
      redis.call('HSET', state, 'next_ms', new_next, 'due_ms', new_due, 'active', active,
        'waiting', waiting, 'runs', runs, 'last_fire_ms', fired)
    else
      redis.call('HSET', state, 'next_ms', new_next, 'due_ms', new_due)
    end
    if skipped > 0 then
      redis.call('HINCRBY', state, 'skipped', skipped)
    end
    if duplicates > 0 then
      redis.call('HINCRBY', state, 'duplicates', duplicates)
    end
    if missed > 0 then
      redis.call('HINCRBY', state, 'missed', missed)
      redis.call('HSET', state, 'last_missed_ms', last_missed)
      redis.call('LPUSH', history, missed_event)
    end
    if skipped > 0 or missed > 0 then
      redis.call('LTRIM', history, 0, history_len - 1)
    end
    if new_next == '' then
      redis.call('ZREM', KEYS[2], name)
    else
      redis.call('ZADD', KEYS[2], new_due, name)
    end
    results[#results + 1] = enqueued
  end
end
for queue_name, _ in pairs(queues) do
  redis.call('SADD', KEYS[4], queue_name)
end
return results
