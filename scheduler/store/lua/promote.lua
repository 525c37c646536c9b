-- Move retries whose wait is over back onto their queues.
-- Reads the run message's routing fields (queue, priority) and never writes a message.
-- KEYS[1] retries (zset run_id -> due ms), KEYS[2] runs (hash), KEYS[3] queues (set)
-- ARGV[1] key prefix, ARGV[2] now_ms, ARGV[3] at most how many, ARGV[4] highest priority, ARGV[5] priority slot:
-- the queue score is (ARGV[4] - priority) * ARGV[5] + now_ms (core/messages.priority_score)
-- Each queue that got runs is announced on the channel named like its key.
-- Returns the number moved.
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[2], 'LIMIT', 0, tonumber(ARGV[3]))
local ready = {}
for _, id in ipairs(due) do
  local body = redis.call('HGET', KEYS[2], id)
  if body then
    local run = cjson.decode(body)
    local score = (tonumber(ARGV[4]) - run['priority']) * tonumber(ARGV[5]) + tonumber(ARGV[2])
    local queue = ARGV[1] .. 'queue:' .. run['queue']
    redis.call('ZADD', queue, score, id)
    redis.call('SADD', KEYS[3], run['queue'])
    ready[queue] = true
  end
  redis.call('ZREM', KEYS[1], id)
end
for queue, _ in pairs(ready) do
  redis.pcall('PUBLISH', queue, '')
end
return #due
