-- Move retries whose wait is over back onto their queues.
-- Reads the run message's routing fields (queue, priority) and never writes a message.
-- KEYS[1] retries (zset run_id -> due ms), KEYS[2] runs (hash), KEYS[3] queues (set)
-- ARGV[1] key prefix, ARGV[2] now_ms, ARGV[3] at most how many, ARGV[4] highest priority, ARGV[5] priority slot:
-- the queue score is (ARGV[4] - priority) * ARGV[5] + now_ms (core/messages.priority_score)
-- Returns the number moved.
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[2], 'LIMIT', 0, tonumber(ARGV[3]))
for _, id in ipairs(due) do
  local body = redis.call('HGET', KEYS[2], id)
  if body then
    local run = cjson.decode(body)
    local score = (tonumber(ARGV[4]) - run['priority']) * tonumber(ARGV[5]) + tonumber(ARGV[2])
    redis.call('ZADD', ARGV[1] .. 'queue:' .. run['queue'], score, id)
    redis.call('SADD', KEYS[3], run['queue'])
  end
  redis.call('ZREM', KEYS[1], id)
end
return #due
