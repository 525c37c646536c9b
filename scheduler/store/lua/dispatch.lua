-- Dispatch due fire times of a batch of schedules, each exactly once (leader only).
-- KEYS[1] lease, KEYS[2] due (zset), KEYS[3] runs (hash run_id -> message JSON),
-- KEYS[4] queues (set of queue names), KEYS[5] outbox:messages (hash run_id -> entry JSON),
-- KEYS[6] celery:inflight (hash run_id -> sent | started), KEYS[7] celery:deadlines (zset),
-- KEYS[8] counting (set: schedules whose counters were raised, for repair.lua)
-- then per item i (0-based): KEYS[9+3i] state:<name>, KEYS[10+3i] the target: queue:<queue>
--   (mode sched), Celery's own list in kombu's naming (mode celery) or outbox (mode
--   outbox), KEYS[11+3i] history:<name>
-- ARGV[1] token, ARGV[2] history_len, ARGV[3] number of items; then per item, in order:
--   name, expected next_ms (compare-and-set), new next_ms ('' = never again), new due_ms,
--   overlap (allow | skip | queue_one), fired_ms ('' if none), queue name, mode (sched |
--   celery | outbox), missed count, last missed ms, missed event JSON ('' if none),
--   number of runs, then per run: run_id, queue score, message JSON (a Celery envelope in
--   mode celery, an outbox entry in mode outbox), the history event JSON to record if
--   overlap skips the run ('' when overlap is allow), the hand-off event JSON (mode
--   celery), and the ms after which a Celery run that reported no outcome stops counting
--   as active ('' when overlap is allow: such runs are not counted)
-- A stale expected next_ms (another leader advanced it, an operator resumed) or a paused
-- schedule skips the item: this, with the lease check, is what makes a fire time
-- impossible to enqueue twice. Overlap is decided here, in the same atomic step as the
-- enqueue: `skip` enqueues nothing while a run of the schedule is queued or running (state
-- field `active`), `queue_one` nothing while one is already waiting (`waiting`); skipped
-- fire times are recorded. The common case costs three calls per schedule and no JSON: the
-- sorted-set inserts (runs onto queues, next due times) and the `counting` marks are
-- gathered and sent as one call per key at the end, which the script's atomicity hides.
-- Mode celery pushes Celery's message onto the list its workers read, here, so that a fire
-- time handed to Celery is as impossible to send twice as one enqueued for sched.
-- Each queue that got runs is announced on the channel named like its key (workers wait
-- on it instead of polling; pcall: a user without channel rights still dispatches, and
-- its workers poll).
-- Returns one integer per item: the number of runs enqueued, or -1 if skipped.
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return redis.error_reply('NOTLEADER')
end
local history_len = tonumber(ARGV[2])
local results = {}
local queues = {}
local zadds = {}  -- sorted-set key -> {score, member, score, member, ...}
local counted, gone = {}, {}  -- names for `counting`; names never due again
local function zadd(key, score, member)
  local pairs_of = zadds[key]
  if pairs_of == nil then
    pairs_of = {}
    zadds[key] = pairs_of
  end
  pairs_of[#pairs_of + 1] = score
  pairs_of[#pairs_of + 1] = member
end
local function in_chunks(command, key, items)  -- unpack() is bounded by Lua's C stack
  for first = 1, #items, 4000 do
    redis.call(command, key, unpack(items, first, math.min(first + 3999, #items)))
  end
end
local a = 4
for i = 0, tonumber(ARGV[3]) - 1 do
  local state, queue, history = KEYS[9 + 3 * i], KEYS[10 + 3 * i], KEYS[11 + 3 * i]
  local name, expected, new_next, new_due = ARGV[a], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3]
  local overlap, fired, queue_name, mode = ARGV[a + 4], ARGV[a + 5], ARGV[a + 6], ARGV[a + 7]
  local missed, last_missed, missed_event = tonumber(ARGV[a + 8]), ARGV[a + 9], ARGV[a + 10]
  local nruns = tonumber(ARGV[a + 11])
  local r = a + 12
  a = r + 6 * nruns
  local st = redis.call('HMGET', state, 'next_ms', 'paused', 'active', 'waiting', 'runs')
  if st[1] ~= expected or st[2] == '1' then
    results[#results + 1] = -1
  else
    local active, waiting = tonumber(st[3] or '0'), tonumber(st[4] or '0')
    local runs = tonumber(st[5] or '0')
    local enqueued, skipped, duplicates, noted = 0, 0, 0, 0
    for j = 0, nruns - 1 do
      local o = r + 6 * j
      local run_id, score, message = ARGV[o], ARGV[o + 1], ARGV[o + 2]
      if (overlap == 'skip' and active > 0) or (overlap == 'queue_one' and waiting > 0) then
        skipped = skipped + 1
        redis.call('LPUSH', history, ARGV[o + 3])
      elseif mode == 'sched' then
        if redis.call('HSETNX', KEYS[3], run_id, message) == 1 then
          zadd(queue, score, run_id)
          active, waiting, enqueued = active + 1, waiting + 1, enqueued + 1
        else
          duplicates = duplicates + 1  -- never expected: kept as an invariant check
        end
      elseif mode == 'celery' or redis.call('HSETNX', KEYS[5], run_id, message) == 1 then
        if mode == 'celery' then
          redis.call('LPUSH', queue, message)
          redis.call('LPUSH', history, ARGV[o + 4])
          noted = noted + 1
        else
          zadd(queue, score, run_id)
        end
        if ARGV[o + 5] ~= '' then
          redis.call('HSET', KEYS[6], run_id, 'sent')
          redis.call('ZADD', KEYS[7], ARGV[o + 5], run_id)
          active, waiting = active + 1, waiting + 1
        end
        enqueued = enqueued + 1
      else
        duplicates = duplicates + 1
      end
    end
    if enqueued > 0 and mode == 'sched' then
      queues[queue_name] = queue
    end
    runs = runs + enqueued
    if active > tonumber(st[3] or '0') then
      counted[#counted + 1] = name
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
    if skipped > 0 or missed > 0 or noted > 0 then
      redis.call('LTRIM', history, 0, history_len - 1)
    end
    if new_next == '' then
      gone[#gone + 1] = name
    else
      zadd(KEYS[2], new_due, name)
    end
    results[#results + 1] = enqueued
  end
end
for key, items in pairs(zadds) do
  in_chunks('ZADD', key, items)
end
in_chunks('ZREM', KEYS[2], gone)
in_chunks('SADD', KEYS[8], counted)
for queue_name, queue in pairs(queues) do
  redis.call('SADD', KEYS[4], queue_name)
  redis.pcall('PUBLISH', queue, '')
end
return results
