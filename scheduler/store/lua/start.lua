-- Mark a claimed run as started (its task is about to run).
-- KEYS[1] claims (hash run_id -> worker, or worker .. '|s' once started), KEYS[2] state:<name>,
-- KEYS[3] deliveries (hash run_id -> starts without an outcome)
-- ARGV[1] worker id, ARGV[2] run id
-- Idempotent: a start sent again after its reply was lost finds the run started by this
-- worker and changes nothing.
-- Returns 1 when the run is this worker's to run, 0 when it is no longer claimed by it
-- (its worker was presumed dead and the run delivered again): the worker must not run it.
local owner = redis.call('HGET', KEYS[1], ARGV[2])
if owner == ARGV[1] .. '|s' then
  return 1
end
if owner ~= ARGV[1] then
  return 0
end
redis.call('HSET', KEYS[1], ARGV[2], ARGV[1] .. '|s')
redis.call('HINCRBY', KEYS[2], 'waiting', -1)
redis.call('HINCRBY', KEYS[3], ARGV[2], 1)
return 1
