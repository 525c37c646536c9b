-- A worker takes up to N runs from one queue (at-least-once: they stay claimed until acked).
-- KEYS[1] queue:<queue> (zset), KEYS[2] runs (hash), KEYS[3] claims (hash run_id -> worker),
-- KEYS[4] deliveries (hash run_id -> count), KEYS[5] workers (zset worker -> heartbeat ms),
-- KEYS[6] worker:<id> (set of run ids it holds), KEYS[7] dead (hash), KEYS[8] dead_index (zset)
-- ARGV[1] key prefix ("{ns}:"), ARGV[2] worker id, ARGV[3] now_ms, ARGV[4] how many,
-- ARGV[5] max deliveries (starts without an outcome), ARGV[6] history_len,
-- ARGV[7] now as ISO 8601 text (for the history entry)
-- Keys built from ARGV[1] (state:<name>, history:<name>) share the hash tag, so one slot.
-- A run delivered more than max deliveries times without an outcome (it kills its worker:
-- segfault, os._exit) goes to the dead-letter queue instead.
-- A claimed run still counts as waiting (state field `waiting`) until start.lua marks it
-- started: workers claim ahead of their free slots, and overlap `queue_one` must not
-- mistake a prefetched run for a running one.
-- Returns a flat list: run_id, message, delivery count, ...
local prefix, worker, now = ARGV[1], ARGV[2], tonumber(ARGV[3])
redis.call('ZADD', KEYS[5], now, worker)
local popped = redis.call('ZPOPMIN', KEYS[1], tonumber(ARGV[4]))
local out = {}
for i = 1, #popped, 2 do
  local id = popped[i]
  local body = redis.call('HGET', KEYS[2], id)
  if body then
    local run = cjson.decode(body)
    local state = prefix .. 'state:' .. run['schedule']
    -- Deliveries count starts without an outcome (start.lua), not claims: a run prefetched
    -- by a worker that died because of another run is not poison.
    local deliveries = tonumber(redis.call('HGET', KEYS[4], id) or '0') + 1
    if deliveries > tonumber(ARGV[5]) then
      redis.call('HINCRBY', state, 'waiting', -1)
      local letter = cjson.encode({v = 1, kind = 'dead', run = run, dead_at_ms = now,
        error = {type = 'PoisonRun', message = 'delivered ' .. (deliveries - 1) ..
        ' times without an outcome: the run kills or hangs its worker', traceback = ''},
        attempts = run['attempt'], deliveries = deliveries - 1})
      redis.call('HSET', KEYS[7], id, letter)
      redis.call('ZADD', KEYS[8], now, id)
      redis.call('HDEL', KEYS[2], id)
      redis.call('HDEL', KEYS[4], id)
      redis.call('HINCRBY', state, 'active', -1)
      local history = prefix .. 'history:' .. run['schedule']
      redis.call('LPUSH', history, cjson.encode({v = 1, kind = 'event', event = 'dead',
        run_id = id, fire_at = run['fire_at'], attempt = run['attempt'], at = ARGV[7],
        error = 'PoisonRun: delivered ' .. (deliveries - 1) .. ' times without an outcome'}))
      redis.call('LTRIM', history, 0, tonumber(ARGV[6]) - 1)
    else
      redis.call('HSET', KEYS[3], id, worker)
      redis.call('SADD', KEYS[6], id)
      out[#out + 1] = id
      out[#out + 1] = body
      out[#out + 1] = deliveries
    end
  end
end
return out
