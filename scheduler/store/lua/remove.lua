-- Remove a schedule that is no longer in the files, with its state (leader only).
-- KEYS[1] lease, KEYS[2] defs, KEYS[3] due, KEYS[4] state:<name>, KEYS[5] history:<name>
-- ARGV[1] token, ARGV[2] name
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return redis.error_reply('NOTLEADER')
end
redis.call('HDEL', KEYS[2], ARGV[2])
redis.call('ZREM', KEYS[3], ARGV[2])
redis.call('DEL', KEYS[4], KEYS[5])
return 1
