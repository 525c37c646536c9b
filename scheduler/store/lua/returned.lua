-- Attempts that timed out but kept running (abandoned threads) have returned: they no
-- longer count in their schedule's `active` counter (overlap).
-- KEYS[1] abandoned:<worker id> (hash entry -> schedule name)
-- ARGV[1] key prefix ("{ns}:"), ARGV[2..] the entries that returned; none: all of them (a
-- worker leaving: its threads end with it)
-- Idempotent: an entry already gone changes nothing. A schedule removed meanwhile (its
-- state gone) is left alone. Returns the number of entries released.
local entries = {}
if #ARGV > 1 then
  for i = 2, #ARGV do
    entries[#entries + 1] = ARGV[i]
  end
else
  entries = redis.call('HKEYS', KEYS[1])
end
local released = 0
for _, entry in ipairs(entries) do
  local name = redis.call('HGET', KEYS[1], entry)
  if name then
    redis.call('HDEL', KEYS[1], entry)
    local state = ARGV[1] .. 'state:' .. name
    if redis.call('EXISTS', state) == 1 then
      redis.call('HINCRBY', state, 'active', -1)
    end
    released = released + 1
  end
end
return released
