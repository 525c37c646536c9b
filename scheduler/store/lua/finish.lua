-- Record the outcome of one run its worker still holds (acknowledge it).
-- KEYS[1] runs, KEYS[2] claims, KEYS[3] deliveries, KEYS[4] worker:<id>, KEYS[5] retries (zset
-- run_id -> due ms), KEYS[6] dead (hash), KEYS[7] dead_index (zset), KEYS[8] state:<name>,
-- KEYS[9] history:<name>, KEYS[10] queue:<queue> (for a handback), KEYS[11] dead_dropped
-- (integer: dead letters dropped by the bounds below), KEYS[12] abandoned:<worker id>
-- ARGV[1] worker id, ARGV[2] run id, ARGV[3] outcome: succeeded | failed | expired | retry |
-- defer | dead | handback, ARGV[4] new message (retry), ARGV[5] retry due ms (or queue score, handback), ARGV[6] dead letter JSON,
-- ARGV[7] event JSON ('' for none), ARGV[8] history_len, ARGV[9] now_ms,
-- ARGV[10] most dead letters kept, ARGV[11] oldest dead_at ms kept: like Sidekiq's dead
-- set, the dead-letter queue is bounded by count and age, oldest dropped first (counted),
-- ARGV[12] '' or, for an attempt that timed out but keeps running (an abandoned thread),
-- its entry in KEYS[12]: the attempt then still counts in `active` (overlap) until the
-- worker says it returned (returned.lua), or the worker is presumed dead (reap.lua),
-- ARGV[13] the run's schedule name (the value of that entry)
-- A handback is announced on the channel named like the queue's key.
-- A run no longer claimed by this worker (its worker was presumed dead and the run was
-- delivered again) is left alone: returns 0. Otherwise 1.
local id, outcome = ARGV[2], ARGV[3]
local owner = redis.call('HGET', KEYS[2], id)
local started = owner == ARGV[1] .. '|s'
if owner ~= ARGV[1] and not started then
  return 0
end
redis.call('HDEL', KEYS[2], id)
redis.call('SREM', KEYS[4], id)
if outcome == 'retry' or outcome == 'defer' then
  -- defer: a worker that cannot import the task leaves the run for another; it did not
  -- start here (if the claim marked it started, that delivery is given back), and the
  -- starts it had elsewhere still count towards poison.
  redis.call('HSET', KEYS[1], id, ARGV[4])
  if outcome == 'retry' then
    redis.call('HDEL', KEYS[3], id)
  elseif started then
    redis.call('HINCRBY', KEYS[3], id, -1)
  end
  redis.call('ZADD', KEYS[5], ARGV[5], id)
  if started then
    redis.call('HINCRBY', KEYS[8], 'waiting', 1)
  end
elseif outcome == 'handback' then
  -- A graceful stop: back on its queue, and the delivery does not count towards poison.
  redis.call('ZADD', KEYS[10], ARGV[5], id)
  redis.pcall('PUBLISH', KEYS[10], '')
  if started then
    redis.call('HINCRBY', KEYS[3], id, -1)
    redis.call('HINCRBY', KEYS[8], 'waiting', 1)
  end
else
  if outcome == 'dead' then
    redis.call('HSET', KEYS[6], id, ARGV[6])
    redis.call('ZADD', KEYS[7], ARGV[9], id)
    local drop = redis.call('ZRANGEBYSCORE', KEYS[7], '-inf', '(' .. ARGV[11])
    local over = redis.call('ZCARD', KEYS[7]) - #drop - tonumber(ARGV[10])
    if over > 0 then
      local oldest = redis.call('ZRANGE', KEYS[7], #drop, #drop + over - 1)
      for _, old in ipairs(oldest) do
        drop[#drop + 1] = old
      end
    end
    if #drop > 0 then
      redis.call('HDEL', KEYS[6], unpack(drop))
      redis.call('ZREM', KEYS[7], unpack(drop))
      redis.call('INCRBY', KEYS[11], #drop)
    end
  end
  redis.call('HDEL', KEYS[1], id)
  redis.call('HDEL', KEYS[3], id)
  redis.call('HINCRBY', KEYS[8], 'active', -1)
  if outcome == 'succeeded' then
    redis.call('HSET', KEYS[8], 'last_success_ms', ARGV[9])
  end
  if not started then  -- e.g. expired before it started
    redis.call('HINCRBY', KEYS[8], 'waiting', -1)
  end
end
if ARGV[12] ~= '' then
  redis.call('HSET', KEYS[12], ARGV[12], ARGV[13])
  redis.call('HINCRBY', KEYS[8], 'active', 1)
end
if ARGV[7] ~= '' then
  redis.call('LPUSH', KEYS[9], ARGV[7])
  redis.call('LTRIM', KEYS[9], 0, tonumber(ARGV[8]) - 1)
  if redis.call('PTTL', KEYS[9]) == -1 then
    -- A schedule removed while this run was in flight: its state is a tombstone that
    -- expires, and a history this event created must expire with it.
    local left = redis.call('PTTL', KEYS[8])
    if left > 0 then
      redis.call('PEXPIRE', KEYS[9], left)
    end
  end
end
return 1
