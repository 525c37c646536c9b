-- Read the state hashes of many schedules in one call (read only).
-- KEYS[i] state:<name>
-- Returns per key its fields and values, flat (HGETALL's reply; empty when there is none).
-- One call instead of a pipeline of HGETALLs: the client packs and parses one command,
-- not one per schedule (half the client's time for a sync of 100,000).
local out = {}
for i, key in ipairs(KEYS) do
  out[i] = redis.call('HGETALL', key)
end
return out
