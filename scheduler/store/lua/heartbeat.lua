-- A worker's heartbeat, by Redis' own clock (so a worker's skewed clock cannot make a live
-- worker look dead to the others), with what the worker says about itself.
-- KEYS[1] workers (zset worker -> last heartbeat ms), KEYS[2] worker_info:<id> (string)
-- ARGV[1] worker id, ARGV[2] the worker's description (JSON, for `sched status`; '' keeps
-- the one written before), ARGV[3] seconds the description lives without being written again
-- Returns Redis' time in ms (the worker measures its clock's offset with it).
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[1], now, ARGV[1])
if ARGV[2] ~= '' then
  redis.call('SET', KEYS[2], ARGV[2], 'EX', tonumber(ARGV[3]))
end
return now
