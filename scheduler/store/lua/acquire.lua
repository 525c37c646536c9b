-- Take the leader lease, or renew it if we already hold it.
-- KEYS[1] lease      string: the holder's random token, with a TTL (PX)
-- KEYS[2] epoch      integer: incremented each time a new lease is taken
-- KEYS[3] leader     hash: token, epoch, identity, since_ms (for `sched status`)
-- ARGV[1] token, ARGV[2] ttl_ms, ARGV[3] identity, ARGV[4] now_ms
-- Returns the epoch of our lease, or 0 when another holder has it.
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return tonumber(redis.call('HGET', KEYS[3], 'epoch'))
end
if holder then
  return 0
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
local epoch = redis.call('INCR', KEYS[2])
redis.call('HSET', KEYS[3], 'token', ARGV[1], 'epoch', epoch, 'identity', ARGV[3],
  'since_ms', ARGV[4])
return epoch
