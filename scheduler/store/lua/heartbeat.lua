-- A worker's heartbeat, by Redis' own clock (so a worker's skewed clock cannot make a live
-- worker look dead to the others).
-- KEYS[1] workers (zset worker -> last heartbeat ms)
-- ARGV[1] worker id
-- Returns Redis' time in ms (the worker measures its clock's offset with it).
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[1], now, ARGV[1])
return now
