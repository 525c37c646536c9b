-- Give up the leader lease at once (graceful stop), if we still hold it.
-- KEYS[1] lease, KEYS[2] leader
-- ARGV[1] token
-- Returns 1 if released, 0 if the lease was not ours.
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  redis.call('HSET', KEYS[2], 'released', '1')
  return 1
end
return 0
