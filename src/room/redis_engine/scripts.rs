//! The Lua scripts, loaded once per connection (`SCRIPT LOAD`, pipelined
//! before anything that calls them) and called with `EVALSHA`. Every key a
//! script touches is one room's, under the room's hash tag, so each runs
//! on one Redis Cluster slot.
//!
//! A history entry is `seq \x1f author \x1f json`: user ids and room names
//! cannot hold control characters, so the separator is unambiguous.

/// Publish one room message. KEYS: meta, log. ARGV: channel, the JSON up
/// to its seq, the JSON after it, author, history_size, ttl_ms, an epoch
/// for a room that has none. Operations per message: HINCRBY, 2×HGET,
/// RPUSH, LTRIM, 2×PEXPIRE, PUBLISH (plus HSET once per epoch).
/// Returns {seq, epoch, connections in the room on every node} (the
/// count the presence scripts keep in meta).
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
return {seq, epoch, tonumber(redis.call('HGET', KEYS[1], 'conns') or '0')}
";

/// Presence of a room, shared by the scripts that read or change it:
/// KEYS[3] is the room's nodes (zset: node -> expiry, Redis TIME ms),
/// KEYS[4] its users (hash: user -> connections on live nodes); a node's
/// own hash (user -> its connections) is `ARGV[pprefix] .. node`. A node
/// past its expiry (it died: nobody refreshed it for node_ttl) is taken
/// out by whichever script touches the room next, its users' `L` sent.
const PRESENCE_LIB: &str = r"
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function cleanup(now, pprefix, channel)
  for _, n in ipairs(redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now)) do
    local k = pprefix .. n
    local kv = redis.call('HGETALL', k)
    for i = 1, #kv, 2 do
      redis.call('HINCRBY', KEYS[1], 'conns', -tonumber(kv[i + 1]))
      local left = redis.call('HINCRBY', KEYS[4], kv[i], -tonumber(kv[i + 1]))
      if left <= 0 then
        redis.call('HDEL', KEYS[4], kv[i])
        redis.call('PUBLISH', channel, 'P\31L\31' .. '0\31' .. kv[i])
      end
    end
    redis.call('DEL', k)
    redis.call('ZREM', KEYS[3], n)
  end
end
";

/// A room's state: KEYS: meta, log, nodes, users. ARGV: pprefix,
/// channel, an epoch for a room that has none, ttl_ms. Creates the room's epoch
/// (seq 0) if it has none, keeps it alive another ttl, drops dead nodes'
/// presence. Returns {epoch, seq, {entries...}, {user, conns, ...}}.
pub const SYNC: &str = r"
local epoch = redis.call('HGET', KEYS[1], 'epoch')
if not epoch then
  epoch = ARGV[3]
  redis.call('HSET', KEYS[1], 'epoch', epoch, 'seq', 0)
end
redis.call('PEXPIRE', KEYS[1], ARGV[4])
if redis.call('EXISTS', KEYS[2]) == 1 then
  redis.call('PEXPIRE', KEYS[2], ARGV[4])
end
cleanup(now_ms(), ARGV[1], ARGV[2])
local seq = redis.call('HGET', KEYS[1], 'seq') or '0'
return {epoch, seq, redis.call('LRANGE', KEYS[2], 0, -1), redis.call('HGETALL', KEYS[4])}
";

/// A user's connections in a room on this node changed. KEYS: meta, log,
/// nodes, users. ARGV: pprefix, channel, node, user, conns, node_ttl_ms,
/// keys_ttl_ms. Every node hears `P \x1f J|L|C \x1f total \x1f user`
/// (J: the user's first connection anywhere, L: the last gone, C: a count).
pub const MEMBER: &str = r"
local now = now_ms()
cleanup(now, ARGV[1], ARGV[2])
local mine = ARGV[1] .. ARGV[3]
local old = tonumber(redis.call('HGET', mine, ARGV[4]) or '0')
local conns = tonumber(ARGV[5])
if conns > 0 then
  redis.call('HSET', mine, ARGV[4], conns)
  redis.call('PEXPIRE', mine, ARGV[7])
else
  redis.call('HDEL', mine, ARGV[4])
end
redis.call('ZADD', KEYS[3], now + tonumber(ARGV[6]), ARGV[3])
redis.call('PEXPIRE', KEYS[3], ARGV[7])
local total = redis.call('HINCRBY', KEYS[4], ARGV[4], conns - old)
if conns ~= old then
  redis.call('HINCRBY', KEYS[1], 'conns', conns - old)
end
if total <= 0 then
  redis.call('HDEL', KEYS[4], ARGV[4])
  total = 0
else
  redis.call('PEXPIRE', KEYS[4], ARGV[7])
end
local before = total - (conns - old)
local kind = 'C'
if before <= 0 and total > 0 then kind = 'J' elseif before > 0 and total <= 0 then kind = 'L' end
redis.call('PUBLISH', ARGV[2], 'P\31' .. kind .. '\31' .. total .. '\31' .. ARGV[4])
return total
";

/// This node is alive in a room. KEYS: meta, log, nodes, users. ARGV:
/// pprefix, channel, node, node_ttl_ms, keys_ttl_ms.
pub const REFRESH_ROOM: &str = r"
local now = now_ms()
cleanup(now, ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[3], now + tonumber(ARGV[4]), ARGV[3])
redis.call('PEXPIRE', KEYS[3], ARGV[5])
redis.call('PEXPIRE', ARGV[1] .. ARGV[3], ARGV[5])
return 1
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

/// A user's connections on live nodes, shared by the user scripts: the
/// node set `nodes`, one count key per node (`prefix .. node`, expiring
/// with node_ttl); nodes whose key expired leave the set.
const USER_LIB: &str = r"
local function live_conns(nodes, prefix)
  local total = 0
  for _, node in ipairs(redis.call('SMEMBERS', nodes)) do
    local n = redis.call('GET', prefix .. node)
    if n then
      total = total + tonumber(n)
    else
      redis.call('SREM', nodes, node)
    end
  end
  return total
end
";

/// Take a user's offline inbox. KEYS: inbox. Returns its entries, oldest
/// first, and deletes it, atomically.
pub const TAKE_INBOX: &str = r"
local all = redis.call('LRANGE', KEYS[1], 0, -1)
redis.call('DEL', KEYS[1])
return all
";

/// Admit one more connection of a user. KEYS: the user's node set.
/// ARGV: the prefix of the per-node count keys, node, max, node_ttl_ms.
/// Counts the user's connections on live nodes; below `max`, counts one
/// more on this node and returns the total, else returns -1.
pub const CONNECT: &str = r"
local total = live_conns(KEYS[1], ARGV[1])
if total >= tonumber(ARGV[3]) then
  return -1
end
local mine = ARGV[1] .. ARGV[2]
redis.call('INCR', mine)
redis.call('PEXPIRE', mine, ARGV[4])
redis.call('SADD', KEYS[1], ARGV[2])
return total + 1
";

/// What `/api/users/{user}` says. KEYS: the user's node set. ARGV: the
/// prefix of the per-node count keys, the prefix of the per-node room
/// sets. Returns {connections on live nodes, {rooms...}}.
pub const USER_INFO: &str = r"
local total = 0
local rooms = {}
local seen = {}
for _, node in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local n = redis.call('GET', ARGV[1] .. node)
  if n then
    total = total + tonumber(n)
    for _, r in ipairs(redis.call('SMEMBERS', ARGV[2] .. node)) do
      if not seen[r] then
        seen[r] = true
        table.insert(rooms, r)
      end
    end
  else
    redis.call('SREM', KEYS[1], node)
  end
end
return {total, rooms}
";

/// `/api/rooms` on every node. KEYS: the room index (zset: room ->
/// expiry, refreshed by every node with members there). ARGV: now (ms),
/// the key prefix, at most how many rooms. Returns {room, online,
/// connections, seq, ...}. It reads other rooms' keys by name, so it is
/// the one script that needs a single Redis (on Redis Cluster this query
/// would be one read per room).
pub const ROOMS: &str = r"
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
local out = {}
for _, room in ipairs(redis.call('ZRANGE', KEYS[1], 0, tonumber(ARGV[3]) - 1)) do
  local tag = ARGV[2] .. ':{' .. room .. '}:'
  local conns = 0
  for _, n in ipairs(redis.call('HVALS', tag .. 'users')) do conns = conns + tonumber(n) end
  table.insert(out, room)
  table.insert(out, redis.call('HLEN', tag .. 'users'))
  table.insert(out, conns)
  table.insert(out, tonumber(redis.call('HGET', tag .. 'meta', 'seq') or '0'))
end
return out
";

/// The scripts in load order, and their SHA-1 (what EVALSHA names).
pub fn all() -> [(String, String); 11] {
    [
        PUBLISH.to_owned(),
        format!("{PRESENCE_LIB}{SYNC}"),
        RETRACT.to_owned(),
        TAKE_INBOX.to_owned(),
        format!("{USER_LIB}{PRIVATE}"),
        format!("{USER_LIB}{USER_CONNS}"),
        format!("{PRESENCE_LIB}{MEMBER}"),
        format!("{PRESENCE_LIB}{REFRESH_ROOM}"),
        format!("{USER_LIB}{CONNECT}"),
        USER_INFO.to_owned(),
        ROOMS.to_owned(),
    ]
    .map(|s| {
        let sha = sha1_smol::Sha1::from(&s).digest().to_string();
        (s, sha)
    })
}

/// Route a private message. KEYS: the user's node set, inbox. ARGV: the
/// prefix of the user's per-node count keys, channel, json, offline_queue,
/// offline_ttl_ms. A node's count key expires with `node_ttl` unless the
/// node refreshes it, so a dead node's connections stop counting by
/// themselves. Publishes to the user's channel if any node has a
/// connection, else stores. Returns {delivered, stored (0/1)}.
pub const PRIVATE: &str = r"
local total = live_conns(KEYS[1], ARGV[1])
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
return live_conns(KEYS[1], ARGV[1])
";
