#pragma once
// The Lua scripts that make the Redis backend's multi-step operations atomic. Each entry is one
// hash {prefix}:{function}:{digest} with fields v (value), t (stored at, server microseconds),
// c (claim owner) and e (claim expiry, server milliseconds). Times come from the server's TIME, so
// machines with skewed clocks agree.

namespace cachier::detail::redis::scripts {

// KEYS[1] entry; ARGV: value, claim token or "", ttl ms or "0", channel, digest.
inline constexpr const char* store = R"lua(
local now = redis.call('TIME')
redis.call('HSET', KEYS[1], 'v', ARGV[1], 't', now[1] .. string.format('%06d', tonumber(now[2])))
if ARGV[2] ~= '' and redis.call('HGET', KEYS[1], 'c') == ARGV[2] then
  redis.call('HDEL', KEYS[1], 'c', 'e')
end
if ARGV[3] ~= '0' then redis.call('PEXPIRE', KEYS[1], ARGV[3]) end
redis.call('PUBLISH', ARGV[4], ARGV[5])
return 1
)lua";

// KEYS[1] entry; ARGV: token, lease ms. 1 when the token holds the claim afterwards.
inline constexpr const char* claim = R"lua(
local now = redis.call('TIME')
local ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local owner = redis.call('HMGET', KEYS[1], 'c', 'e')
if owner[1] and owner[1] ~= ARGV[1] and tonumber(owner[2]) and tonumber(owner[2]) > ms then return 0 end
redis.call('HSET', KEYS[1], 'c', ARGV[1], 'e', string.format('%d', ms + tonumber(ARGV[2])))
return 1
)lua";

// KEYS[1] entry; ARGV: token, lease ms.
inline constexpr const char* renew = R"lua(
if redis.call('HGET', KEYS[1], 'c') ~= ARGV[1] then return 0 end
local now = redis.call('TIME')
local ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
redis.call('HSET', KEYS[1], 'e', string.format('%d', ms + tonumber(ARGV[2])))
return 1
)lua";

// KEYS[1] entry; ARGV: token, channel, digest.
inline constexpr const char* release = R"lua(
if redis.call('HGET', KEYS[1], 'c') ~= ARGV[1] then return 0 end
redis.call('HDEL', KEYS[1], 'c', 'e')
redis.call('PUBLISH', ARGV[2], ARGV[3])
return 1
)lua";

// KEYS: entries; ARGV: channel. Drops their claims and wakes their waiters.
inline constexpr const char* clear_claims = R"lua(
for _, k in ipairs(KEYS) do
  if redis.call('HDEL', k, 'c', 'e') > 0 then redis.call('PUBLISH', ARGV[1], string.sub(k, -64)) end
end
return 1
)lua";

// KEYS: entries; ARGV: max age in microseconds. Removes older values (keeping live claims).
inline constexpr const char* remove_older = R"lua(
local now = redis.call('TIME')
local us = tonumber(now[1]) * 1000000 + tonumber(now[2])
local removed = 0
for _, k in ipairs(KEYS) do
  local t = redis.call('HGET', k, 't')
  if t and us - tonumber(t) > tonumber(ARGV[1]) then
    if redis.call('HEXISTS', k, 'c') == 1 then redis.call('HDEL', k, 'v', 't') else redis.call('UNLINK', k) end
    removed = removed + 1
  end
end
return removed
)lua";

}  // namespace cachier::detail::redis::scripts
