-- A worker takes up to N runs from one queue (at-least-once: they stay claimed until acked).
-- KEYS[1] queue:<queue> (zset), KEYS[2] runs (hash), KEYS[3] claims (hash run_id -> worker),
-- KEYS[4] deliveries (hash run_id -> starts without an outcome), KEYS[5] workers (zset
-- worker -> heartbeat ms), KEYS[6] worker:<id> (set of run ids it holds)
-- ARGV[1] worker id, ARGV[2] unused (the heartbeat is by Redis' clock), ARGV[3] how many,
-- ARGV[4] how many to mark started at once (the worker's free slots), ARGV[5] key prefix
-- A claimed run still counts as waiting (state field `waiting`) until it is marked started:
-- workers claim ahead of their free slots, and overlap `queue_one` must not mistake a
-- prefetched run for a running one. The first ARGV[4] runs that were never started
-- (no deliveries) are marked started here, as start.lua would, which saves the worker a
-- round trip before they run; a run started before (delivered again) is left to start.lua,
-- after the worker's poison and suspect checks, and so is every run after it.
-- Returns a flat list: run_id, message, deliveries (starts so far + 1), started (1 when
-- marked started here), ... The worker dead-letters a run whose deliveries exceed its limit
-- (a poison run) instead of running it.
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
local start = tonumber(ARGV[4] or '0')
for i = 1, #popped, 2 do
  local id = popped[i]
  local body = redis.call('HGET', KEYS[2], id)
  if body then
    local starts = tonumber(redis.call('HGET', KEYS[4], id) or '0')
    local now = start > 0 and starts == 0
    if now then
      start = start - 1
      redis.call('HSET', KEYS[3], id, worker .. '|s')
      redis.call('HINCRBY', ARGV[5] .. 'state:' .. cjson.decode(body).schedule, 'waiting', -1)
      redis.call('HINCRBY', KEYS[4], id, 1)
    else
      start = 0
      redis.call('HSET', KEYS[3], id, worker)
    end
    redis.call('SADD', KEYS[6], id)
    out[#out + 1] = id
    out[#out + 1] = body
    out[#out + 1] = starts + 1
    out[#out + 1] = now and 1 or 0
  end
end
return out
