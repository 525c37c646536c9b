-- Remove a schedule that is no longer in the files (leader only). Its state and history are
-- kept as a tombstone for ARGV[4] seconds: a schedule that comes back within that time (a
-- file saved half-way, a rename undone) keeps its next fire time, pause and history.
-- KEYS[1] lease, KEYS[2] defs, KEYS[3] due, KEYS[4] state:<name>, KEYS[5] history:<name>
-- ARGV[1] token, ARGV[2] name, ARGV[3] now_ms, ARGV[4] tombstone seconds
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return redis.error_reply('NOTLEADER')
end
redis.call('HDEL', KEYS[2], ARGV[2])
redis.call('ZREM', KEYS[3], ARGV[2])
if redis.call('EXISTS', KEYS[4]) == 1 then
  redis.call('HSET', KEYS[4], 'removed_ms', ARGV[3])
  redis.call('EXPIRE', KEYS[4], tonumber(ARGV[4]))
end
if redis.call('EXISTS', KEYS[5]) == 1 then
  redis.call('EXPIRE', KEYS[5], tonumber(ARGV[4]))
end
return 1
