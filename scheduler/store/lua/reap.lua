-- Deliver again the runs of workers whose heartbeat stopped (crashed, killed, frozen).
-- Reads the run message's routing fields (queue, priority, schedule), never writes one.
-- KEYS[1] workers (zset worker -> last heartbeat ms), KEYS[2] claims (hash), KEYS[3] runs
-- ARGV[1] key prefix, ARGV[2] now_ms (for queue scores), ARGV[3] worker timeout ms, ARGV[4] highest priority, ARGV[5] priority slot:
-- the queue score is (ARGV[4] - priority) * ARGV[5] + now_ms (core/messages.priority_score)
-- Visibility follows heartbeats, not a fixed timeout: a long run whose worker is alive is
-- never delivered twice. Silence is judged by Redis' clock (heartbeats are written by it
-- too), so no worker's clock can make a live worker look dead.
-- The attempts a dead worker had abandoned past their timeout (threads still running) died
-- with it: they stop counting in their schedules' `active` counters.
-- Each queue that got runs is announced on the channel named like its key.
-- Returns the number of runs put back on their queues.
local t = redis.call('TIME')
local cutoff = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) - tonumber(ARGV[3])
local dead = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', cutoff)
local moved = 0
local ready = {}
for _, worker in ipairs(dead) do
  local held = ARGV[1] .. 'worker:' .. worker
  for _, id in ipairs(redis.call('SMEMBERS', held)) do
    local owner = redis.call('HGET', KEYS[2], id)
    if owner == worker or owner == worker .. '|s' then
      redis.call('HDEL', KEYS[2], id)
      local body = redis.call('HGET', KEYS[3], id)
      if body then
        local run = cjson.decode(body)
        local score = (tonumber(ARGV[4]) - run['priority']) * tonumber(ARGV[5]) + tonumber(ARGV[2])
        local queue = ARGV[1] .. 'queue:' .. run['queue']
        redis.call('ZADD', queue, score, id)
        ready[queue] = true
        if owner ~= worker then  -- it had started: it waits again
          redis.call('HINCRBY', ARGV[1] .. 'state:' .. run['schedule'], 'waiting', 1)
        end
        moved = moved + 1
      end
    end
  end
  redis.call('DEL', held)
  local abandoned = ARGV[1] .. 'abandoned:' .. worker
  local lingering = redis.call('HGETALL', abandoned)
  for i = 2, #lingering, 2 do
    local state = ARGV[1] .. 'state:' .. lingering[i]
    if redis.call('EXISTS', state) == 1 then
      redis.call('HINCRBY', state, 'active', -1)
    end
  end
  redis.call('DEL', abandoned)
  redis.call('ZREM', KEYS[1], worker)
end
for queue, _ in pairs(ready) do
  redis.pcall('PUBLISH', queue, '')
end
return moved
