-- Take the leader lease, or renew it if we already hold it.
-- KEYS[1] lease      string: the holder's random token, with a TTL (PX)
-- KEYS[2] epoch      integer: incremented each time a new lease is taken
-- KEYS[3] leader     hash: token, epoch, identity, since_ms (for `sched status`)
-- KEYS[4] replicas   sorted set: identity -> when it last asked (Redis' ms); entries older
--                    than a minute are dropped by the standbys' asks and each new lease
--                    (a renewal, each second, only writes its own entry)
-- ARGV[1] token, ARGV[2] ttl_ms, ARGV[3] identity, ARGV[4] now_ms
-- Returns {epoch of our lease or 0 when another holder has it, Redis' time in ms, the
-- microseconds past that ms} (the leader measures its clock's offset with the last two: a
-- whole ms alone would make it lag Redis' clock by half a millisecond on average).
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local micros = tonumber(t[2]) % 1000
redis.call('ZADD', KEYS[4], now, ARGV[3])
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return {tonumber(redis.call('HGET', KEYS[3], 'epoch')), now, micros}
end
redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', now - 60000)
if holder then
  return {0, now, micros}
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
local epoch = redis.call('INCR', KEYS[2])
redis.call('HSET', KEYS[3], 'token', ARGV[1], 'epoch', epoch, 'identity', ARGV[3],
  'since_ms', ARGV[4])
return {epoch, now, micros}
