package redis

import goredis "github.com/redis/go-redis/v9"

// The scripts keep a partition's value hash and its ordered index in step:
// every write touches both inside one script, so Redis runs it atomically.
// KEYS[1] is always the value hash and KEYS[2] the index; both share a hash
// tag, so the scripts run unchanged on Redis Cluster.

// setScript stores ARGV[2] under ARGV[1].
var setScript = goredis.NewScript(`
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[2], 0, ARGV[1])
return 1
`)

// setIfScript stores ARGV[2] under ARGV[1] if the current value equals
// ARGV[3] (ARGV[4] == '1'), or if the key is absent (ARGV[4] == '0').
// It returns 1 when it wrote and 0 when the condition did not hold.
var setIfScript = goredis.NewScript(`
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if ARGV[4] == '1' then
  if not cur or cur ~= ARGV[3] then return 0 end
elseif cur then
  return 0
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[2], 0, ARGV[1])
return 1
`)

// deleteScript removes ARGV[1].
var deleteScript = goredis.NewScript(`
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
return 1
`)

// deleteIfScript removes ARGV[1] if its current value equals ARGV[2]. It
// returns 1 when it removed the key and 0 otherwise (also when absent).
var deleteIfScript = goredis.NewScript(`
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if not cur or cur ~= ARGV[2] then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
return 1
`)

// scanScript returns up to ARGV[3] members of the index between the lex
// bounds ARGV[1] and ARGV[2], with their values, as a flat array
// key1, value1, key2, value2, ... It reads the index and the values in one
// atomic step, so every listed key has its value; a key without one would
// be skipped rather than returned empty. HMGET is issued in chunks because
// Lua's unpack has a bounded stack.
var scanScript = goredis.NewScript(`
local members = redis.call('ZRANGE', KEYS[2], ARGV[1], ARGV[2], 'BYLEX', 'LIMIT', 0, tonumber(ARGV[3]))
local out = {}
local chunk = 500
for i = 1, #members, chunk do
  local last = math.min(i + chunk - 1, #members)
  local vals = redis.call('HMGET', KEYS[1], unpack(members, i, last))
  for j = 1, #vals do
    if vals[j] then
      out[#out + 1] = members[i + j - 1]
      out[#out + 1] = vals[j]
    end
  end
end
return out
`)

// leaseScript stores the lease "ARGV[2] <expiry>" under ARGV[1], its
// expiry ARGV[3] nanoseconds after the server's time, unless a lease
// there has not run out by the server's time. It returns the value it
// stored, or false. Times are Lua numbers: nanoseconds since 1970 are
// exact to 256 ns, and written without an exponent, as the Go code writes
// and reads them. A value that is not a lease counts as run out.
var leaseScript = goredis.NewScript(`
local t = redis.call('TIME')
local now = (tonumber(t[1]) * 1000000 + tonumber(t[2])) * 1000
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if cur then
  local expiry = tonumber(string.match(cur, ' (%d+)$'))
  if expiry and expiry >= now then return false end
end
local v = ARGV[2] .. ' ' .. string.format('%.0f', now + tonumber(ARGV[3]))
redis.call('HSET', KEYS[1], ARGV[1], v)
redis.call('ZADD', KEYS[2], 0, ARGV[1])
return v
`)
