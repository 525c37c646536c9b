-- A worker takes up to N runs from one queue (at-least-once: they stay claimed until acked).
-- KEYS[1] queue:<queue> (zset), KEYS[2] runs (hash), KEYS[3] claims (hash run_id -> worker),
-- KEYS[4] deliveries (hash run_id -> starts without an outcome), KEYS[5] workers (zset
-- worker -> heartbeat ms), KEYS[6] worker:<id> (set of run ids it holds)
-- ARGV[1] worker id, ARGV[2] unused (the heartbeat is by Redis' clock), ARGV[3] how many
-- A claimed run still counts as waiting (state field `waiting`) until start.lua marks it
-- started: workers claim ahead of their free slots, and overlap `queue_one` must not
-- mistake a prefetched run for a running one.
-- Returns a flat list: run_id, message, deliveries (starts so far + 1), ... The worker
-- dead-letters a run whose deliveries exceed its limit (a poison run) instead of running it.
-- A claim that takes runs is also the worker's heartbeat (its runs are not reaped before
-- its next beat); one that finds the queue empty writes nothing, so an idle worker's
-- polling adds nothing to the append-only file (its heartbeat is heartbeat.lua's, each second).
local worker = ARGV[1]
local popped = redis.call('ZPOPMIN', KEYS[1], tonumber(ARGV[3]))
if #popped == 0 then
  return {}
end
local t = redis.call('TIME')
redis.call('ZADD', KEYS[5], tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000), worker)
local out = {}
for i = 1, #popped, 2 do
  local id = popped[i]
  local body = redis.call('HGET', KEYS[2], id)
  if body then
    redis.call('HSET', KEYS[3], id, worker)
    redis.call('SADD', KEYS[6], id)
    out[#out + 1] = id
    out[#out + 1] = body
    out[#out + 1] = tonumber(redis.call('HGET', KEYS[4], id) or '0') + 1
  end
end
return out
