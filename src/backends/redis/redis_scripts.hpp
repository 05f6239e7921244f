#pragma once
// The Lua scripts that make the Redis backend's multi-step operations atomic.
//
// Layout: each entry is one string key E = {prefix}:{function}:{digest} holding either a record,
// "e" + 16 decimal digits (stored at, server microseconds) + the value, or a claim marker "c" + token
// with a PX lease (a claim on a missing entry: a hit is one plain SET NX GET, and a dead owner's
// claim disappears with its lease). A claim on an existing (stale) entry lives in C = E + ":c",
// the token with a PX lease. U = E + ":u" holds when the record was last used (server microseconds,
// written by touch at most once a second per entry and process), and goes with the record. Times
// come from the server's TIME, so machines with skewed clocks agree.
// Records of earlier releases ("v" + stamp + a value without envelope) are removed like records.

namespace cachier::detail::redis::scripts {

// KEYS: E. ARGV: marker, lease ms. What SET E marker NX PX lease GET does, for servers before 7.0.
inline constexpr const char* read_or_claim = R"lua(
local v = redis.call('GET', KEYS[1])
if not v then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) end
return v
)lua";

// KEYS: E, C. ARGV: token, lease ms, and optionally a max age in microseconds. 1 when the token
// holds the claim afterwards; 2 (nothing claimed) when given a max age and the record is no older
// than it: another caller stored a fresh value since the caller read a stale one.
inline constexpr const char* claim = R"lua(
local v = redis.call('GET', KEYS[1])
if not v then
  redis.call('SET', KEYS[1], 'c' .. ARGV[1], 'PX', ARGV[2])
  return 1
end
local tag = string.sub(v, 1, 1)
if tag == 'c' then
  if v ~= 'c' .. ARGV[1] then return 0 end
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if ARGV[3] and (tag == 'e' or tag == 'v') then
  local now = redis.call('TIME')
  local us = tonumber(now[1]) * 1000000 + tonumber(now[2])
  if us - tonumber(string.sub(v, 2, 17)) <= tonumber(ARGV[3]) then return 2 end
end
local owner = redis.call('GET', KEYS[2])
if owner and owner ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2])
return 1
)lua";

// KEYS: E, C. ARGV: token, lease ms.
inline constexpr const char* renew = R"lua(
if redis.call('GET', KEYS[1]) == 'c' .. ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
if redis.call('GET', KEYS[2]) == ARGV[1] then redis.call('PEXPIRE', KEYS[2], ARGV[2]) end
return 1
)lua";

// KEYS: E, C. ARGV: value, age us, ttl ms or "0", token to release or "", channel, payload.
inline constexpr const char* store = R"lua(
local now = redis.call('TIME')
local us = tonumber(now[1]) * 1000000 + tonumber(now[2]) - tonumber(ARGV[2])
local record = 'e' .. string.format('%016d', us) .. ARGV[1]
if ARGV[3] ~= '0' then redis.call('SET', KEYS[1], record, 'PX', ARGV[3]) else redis.call('SET', KEYS[1], record) end
if ARGV[4] ~= '' and redis.call('GET', KEYS[2]) == ARGV[4] then redis.call('DEL', KEYS[2]) end
redis.call('PUBLISH', ARGV[5], ARGV[6])
return 1
)lua";

// KEYS: E, C. ARGV: token, channel, payload.
inline constexpr const char* release = R"lua(
local released = 0
if redis.call('GET', KEYS[1]) == 'c' .. ARGV[1] then redis.call('DEL', KEYS[1]) released = 1 end
if redis.call('GET', KEYS[2]) == ARGV[1] then redis.call('DEL', KEYS[2]) released = 1 end
if released == 1 then redis.call('PUBLISH', ARGV[2], ARGV[3]) end
return released
)lua";

// KEYS: E. ARGV: channel, payload. Removes a record (a claim marker stays).
inline constexpr const char* remove = R"lua(
local v = redis.call('GET', KEYS[1])
if not v or string.sub(v, 1, 1) == 'c' then return 0 end
redis.call('DEL', KEYS[1], KEYS[1] .. ':u')
redis.call('PUBLISH', ARGV[1], ARGV[2])
return 1
)lua";

// KEYS: entries E. Removes their records (claim markers stay); returns how many.
inline constexpr const char* clear = R"lua(
local removed = 0
for _, k in ipairs(KEYS) do
  local tag = redis.call('GETRANGE', k, 0, 0)
  if tag == 'e' or tag == 'v' then redis.call('UNLINK', k, k .. ':u') removed = removed + 1 end
end
return removed
)lua";

// KEYS: entries E. Drops their claims: markers and the claim keys beside them.
inline constexpr const char* clear_claims = R"lua(
for _, k in ipairs(KEYS) do
  if redis.call('GETRANGE', k, 0, 0) == 'c' then redis.call('DEL', k) end
  redis.call('DEL', k .. ':c')
end
return 1
)lua";

// KEYS: entries E. ARGV: max age in microseconds. Removes older records; returns how many.
inline constexpr const char* remove_older = R"lua(
local now = redis.call('TIME')
local us = tonumber(now[1]) * 1000000 + tonumber(now[2])
local removed = 0
for _, k in ipairs(KEYS) do
  local head = redis.call('GETRANGE', k, 0, 16)
  local tag = string.sub(head, 1, 1)
  if (tag == 'e' or tag == 'v') and us - tonumber(string.sub(head, 2, 17)) > tonumber(ARGV[1]) then
    redis.call('UNLINK', k, k .. ':u')
    removed = removed + 1
  end
end
return removed
)lua";

// KEYS: entries E. Records a use of each record now: U, expiring with the record.
inline constexpr const char* touch = R"lua(
local now = redis.call('TIME')
local us = string.format('%d', tonumber(now[1]) * 1000000 + tonumber(now[2]))
for _, k in ipairs(KEYS) do
  local tag = redis.call('GETRANGE', k, 0, 0)
  if tag == 'e' or tag == 'v' then
    local ttl = redis.call('PTTL', k)
    if ttl > 0 then redis.call('SET', k .. ':u', us, 'PX', ttl) else redis.call('SET', k .. ':u', us) end
  end
end
return 1
)lua";
}  // namespace cachier::detail::redis::scripts
