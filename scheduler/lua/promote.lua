-- Move retries whose wait is over back onto their queues.
-- KEYS[1] retries (zset run_id -> due ms), KEYS[2] runs (hash), KEYS[3] queues (set)
-- ARGV[1] key prefix, ARGV[2] now_ms, ARGV[3] at most how many, ARGV[4] score offset slot
-- Returns the number moved.
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[2], 'LIMIT', 0, tonumber(ARGV[3]))
for _, id in ipairs(due) do
  local body = redis.call('HGET', KEYS[2], id)
  if body then
    local run = cjson.decode(body)
    local score = (9 - run['priority']) * tonumber(ARGV[4]) + tonumber(ARGV[2])
    redis.call('ZADD', ARGV[1] .. 'queue:' .. run['queue'], score, id)
    redis.call('SADD', KEYS[3], run['queue'])
  end
  redis.call('ZREM', KEYS[1], id)
end
return #due
