//! The Lua scripts, loaded once per connection (`SCRIPT LOAD`, pipelined
//! before anything that calls them) and called with `EVALSHA`. Every key a
//! script touches is one room's, under the room's hash tag, so each runs
//! on one Redis Cluster slot.
//!
//! A history entry is `seq \x1f author \x1f json`: user ids and room names
//! cannot hold control characters, so the separator is unambiguous.

/// Publish one room message. KEYS: meta, log. ARGV: channel, the JSON up
/// to its seq, the JSON after it, author, history_size, ttl_ms, an epoch
/// for a room that has none. Operations per message: HINCRBY, HGET,
/// RPUSH, LTRIM, 2×PEXPIRE, PUBLISH (plus HSET once per epoch).
/// Returns {seq, epoch}.
pub const PUBLISH: &str = r"
local seq = redis.call('HINCRBY', KEYS[1], 'seq', 1)
local epoch = redis.call('HGET', KEYS[1], 'epoch')
if not epoch then
  epoch = ARGV[7]
  redis.call('HSET', KEYS[1], 'epoch', epoch)
end
local entry = seq .. '\31' .. ARGV[4] .. '\31' .. ARGV[2] .. seq .. ARGV[3]
local size = tonumber(ARGV[5])
if size > 0 then
  redis.call('RPUSH', KEYS[2], entry)
  redis.call('LTRIM', KEYS[2], -size, -1)
  redis.call('PEXPIRE', KEYS[2], ARGV[6])
end
redis.call('PEXPIRE', KEYS[1], ARGV[6])
redis.call('PUBLISH', ARGV[1], 'M\31' .. epoch .. '\31' .. entry)
return {seq, epoch}
";

/// A room's state: KEYS: meta, log. ARGV: an epoch for a room that has
/// none, ttl_ms. Creates the room's epoch (seq 0) if it has none, keeps
/// it alive another ttl. Returns {epoch, seq, {entries...}}.
pub const SYNC: &str = r"
local epoch = redis.call('HGET', KEYS[1], 'epoch')
if not epoch then
  epoch = ARGV[1]
  redis.call('HSET', KEYS[1], 'epoch', epoch, 'seq', 0)
end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
if redis.call('EXISTS', KEYS[2]) == 1 then
  redis.call('PEXPIRE', KEYS[2], ARGV[2])
end
local seq = redis.call('HGET', KEYS[1], 'seq') or '0'
return {epoch, seq, redis.call('LRANGE', KEYS[2], 0, -1)}
";

/// Retract one message. KEYS: meta, log. ARGV: channel, seq, by,
/// moderator (1/0). Returns 'ok', 'not_found' or 'not_author'; on 'ok'
/// every node hears `R \x1f epoch \x1f seq`.
pub const RETRACT: &str = r"
local prefix = ARGV[2] .. '\31'
local entries = redis.call('LRANGE', KEYS[2], 0, -1)
for i, e in ipairs(entries) do
  if string.sub(e, 1, #prefix) == prefix then
    local author = string.match(e, '^[^\31]*\31([^\31]*)\31')
    if ARGV[4] ~= '1' and author ~= ARGV[3] then
      return 'not_author'
    end
    redis.call('LSET', KEYS[2], i - 1, '\31')
    redis.call('LREM', KEYS[2], 1, '\31')
    local epoch = redis.call('HGET', KEYS[1], 'epoch') or ''
    redis.call('PUBLISH', ARGV[1], 'R\31' .. epoch .. '\31' .. ARGV[2])
    return 'ok'
  end
end
return 'not_found'
";

/// Take a user's offline inbox. KEYS: inbox. Returns its entries, oldest
/// first, and deletes it, atomically.
pub const TAKE_INBOX: &str = r"
local all = redis.call('LRANGE', KEYS[1], 0, -1)
redis.call('DEL', KEYS[1])
return all
";

/// The scripts in load order, and their SHA-1 (what EVALSHA names).
pub fn all() -> [(&'static str, String); 6] {
    [PUBLISH, SYNC, RETRACT, TAKE_INBOX, PRIVATE, USER_CONNS]
        .map(|s| (s, sha1_smol::Sha1::from(s).digest().to_string()))
}

/// Route a private message. KEYS: the user's node set, inbox. ARGV: the
/// prefix of the user's per-node count keys, channel, json, offline_queue,
/// offline_ttl_ms. A node's count key expires with `node_ttl` unless the
/// node refreshes it, so a dead node's connections stop counting by
/// themselves. Publishes to the user's channel if any node has a
/// connection, else stores. Returns {delivered, stored (0/1)}.
pub const PRIVATE: &str = r"
local total = 0
for _, node in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local n = redis.call('GET', ARGV[1] .. node)
  if n then
    total = total + tonumber(n)
  else
    redis.call('SREM', KEYS[1], node)
  end
end
if total > 0 then
  redis.call('PUBLISH', ARGV[2], ARGV[3])
  return {total, 0}
end
local size = tonumber(ARGV[4])
if size > 0 then
  redis.call('RPUSH', KEYS[2], ARGV[3])
  redis.call('LTRIM', KEYS[2], -size, -1)
  redis.call('PEXPIRE', KEYS[2], ARGV[5])
  return {0, 1}
end
return {0, 0}
";

/// A user's connections: KEYS: the user's node set. ARGV: the prefix of
/// the per-node count keys. Returns the count on live nodes.
pub const USER_CONNS: &str = r"
local total = 0
for _, node in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local n = redis.call('GET', ARGV[1] .. node)
  if n then total = total + tonumber(n) else redis.call('SREM', KEYS[1], node) end
end
return total
";
