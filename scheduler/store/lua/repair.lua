-- Recompute every schedule's `active` and `waiting` counters from the runs that exist, and
-- fix the ones that drifted. The counters decide overlap (`skip`, `queue_one`): one stuck
-- above zero would stop a schedule for good.
-- KEYS[1] runs (hash run_id -> message JSON), KEYS[2] claims (hash run_id -> worker, with
-- '|s' once started), KEYS[3] defs (hash name -> definition), KEYS[4] workers (zset)
-- KEYS[5] celery:inflight (hash run_id -> sent | started), KEYS[6] counting (set),
-- KEYS[7] counting:ready (set once counting is complete)
-- ARGV[1] key prefix ("{ns}:"), ARGV[2] '' for the check, or a cursor of the full check
-- (HSCAN of defs, '0' to start), ARGV[3] definitions per page of the full check
-- active = the schedule's runs that exist (queued, claimed, running, waiting to retry), plus
-- timed-out attempts still running in a live worker's abandoned threads, plus Celery runs
-- in flight (handed over, end not yet reported); waiting = those not started. Reads the run message's `schedule` field, writes no message.
-- Checked: the schedules in `counting` (every one whose counters a run raised: a counter can
-- only drift above zero there) and those with runs; not every definition, so a new
-- leader's check costs what runs. Redis written before `counting` existed is checked in
-- full once, a page of definitions a call (so that Redis is never blocked for long: at
-- 1,000,000 definitions one call took 5 s); the check answers cursor 'full' when that is
-- still to do, a page the next cursor ('0' when done: then `counting` is complete). A
-- schedule left at zero leaves `counting`.
-- Returns the cursor ('0' when nothing is left to check), then a flat list: name, active
-- before, waiting before, active now, waiting now, for each schedule that was wrong.
local active, waiting = {}, {}
local runs = redis.call('HGETALL', KEYS[1])
for i = 1, #runs, 2 do
  local ok, run = pcall(cjson.decode, runs[i + 1])
  if ok and type(run) == 'table' and run['schedule'] then
    local name = run['schedule']
    active[name] = (active[name] or 0) + 1
    local owner = redis.call('HGET', KEYS[2], runs[i])
    if not owner or string.sub(owner, -2) ~= '|s' then
      waiting[name] = (waiting[name] or 0) + 1
    end
  end
end
for _, worker in ipairs(redis.call('ZRANGE', KEYS[4], 0, -1)) do
  for _, name in ipairs(redis.call('HVALS', ARGV[1] .. 'abandoned:' .. worker)) do
    active[name] = (active[name] or 0) + 1
  end
end
local inflight = redis.call('HGETALL', KEYS[5])
for i = 1, #inflight, 2 do
  local name = string.match(inflight[i], '^(.*)@[^@]*$')
  if name then
    active[name] = (active[name] or 0) + 1
    if inflight[i + 1] == 'sent' then
      waiting[name] = (waiting[name] or 0) + 1
    end
  end
end
local names, cursor = {}, '0'
if ARGV[2] == '' then
  names = redis.call('SMEMBERS', KEYS[6])
  for name, _ in pairs(active) do
    names[#names + 1] = name
  end
  if redis.call('EXISTS', KEYS[7]) == 0 then
    cursor = 'full'
  end
else
  local page = redis.call('HSCAN', KEYS[3], ARGV[2], 'COUNT', ARGV[3])
  cursor = page[1]
  for i = 1, #page[2], 2 do
    names[#names + 1] = page[2][i]
  end
  if cursor == '0' then
    redis.call('SET', KEYS[7], '1')
  end
end
local out, seen = {cursor}, {}
for _, name in ipairs(names) do
  if not seen[name] then
    seen[name] = true
    local state = ARGV[1] .. 'state:' .. name
    local st = redis.call('HMGET', state, 'active', 'waiting')
    local a, w = tonumber(st[1] or '0'), tonumber(st[2] or '0')
    local want_a, want_w = active[name] or 0, waiting[name] or 0
    if want_a == 0 and want_w == 0 then
      redis.call('SREM', KEYS[6], name)
    else
      redis.call('SADD', KEYS[6], name)
    end
    if a ~= want_a or w ~= want_w then
      redis.call('HSET', state, 'active', want_a, 'waiting', want_w)
      out[#out + 1] = name
      out[#out + 1] = a
      out[#out + 1] = w
      out[#out + 1] = want_a
      out[#out + 1] = want_w
    end
  end
end
return out
