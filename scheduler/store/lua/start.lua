-- Mark a claimed run as started (its task is about to run).
-- KEYS[1] claims (hash run_id -> worker, or worker .. '|s' once started), KEYS[2] state:<name>,
-- KEYS[3] deliveries (hash run_id -> starts without an outcome)
-- ARGV[1] worker id, ARGV[2] run id
-- Returns 1, or 0 when the run is no longer claimed by this worker.
if redis.call('HGET', KEYS[1], ARGV[2]) ~= ARGV[1] then
  return 0
end
redis.call('HSET', KEYS[1], ARGV[2], ARGV[1] .. '|s')
redis.call('HINCRBY', KEYS[2], 'waiting', -1)
redis.call('HINCRBY', KEYS[3], ARGV[2], 1)
return 1
