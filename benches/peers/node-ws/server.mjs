// A minimal room server on Node's `ws`: the subset of roomcast's protocol
// that roomcast-bench drives (/echo, and /ws?user=&room= with welcome,
// joined and chat with seq), written the way a typical Node room server is:
// one JSON string per chat, sent to each member. Single-threaded, like
// roomcast. Usage: node server.mjs PORT [--compression]
// (--compression: ws's perMessageDeflate, per connection, compressing
// messages of 64 bytes or more as roomcast does; ws's default is 1 KiB.)
import { WebSocketServer } from "ws";
import http from "node:http";

const port = Number(process.argv[2] || 8081);
const compression = process.argv.includes("--compression");
const rooms = new Map(); // name -> { members: Set<ws>, seq }
let nextConn = 1;

const server = http.createServer((req, res) => { res.writeHead(404); res.end(); });
const wss = new WebSocketServer({ noServer: true, perMessageDeflate: compression ? { threshold: 64 } : false, maxPayload: 64 * 1024 });

server.on("upgrade", (req, socket, head) => {
  const url = new URL(req.url, "http://x");
  if (url.pathname !== "/echo" && url.pathname !== "/ws") return socket.destroy();
  wss.handleUpgrade(req, socket, head, (ws) => {
    if (url.pathname === "/echo") {
      ws.on("message", (data, isBinary) => ws.send(data, { binary: isBinary }));
      return;
    }
    const conn = nextConn++;
    const user = url.searchParams.get("user") || `anon-${conn}`;
    ws.send(JSON.stringify({ type: "welcome", conn, user, ts: Date.now(), ping_interval: 20 }));
    let room = null;
    const join = (name) => {
      let r = rooms.get(name);
      if (!r) { r = { members: new Set(), seq: 0 }; rooms.set(name, r); }
      r.members.add(ws);
      room = name;
      ws.send(JSON.stringify({ type: "joined", room: name, online: r.members.size, seq: r.seq, recovered: false }));
    };
    if (url.searchParams.get("room")) join(url.searchParams.get("room"));
    ws.on("message", (data) => {
      let m;
      try { m = JSON.parse(data); } catch { return ws.send('{"type":"error","code":"bad_json"}'); }
      if (m.type === "join") join(m.room);
      else if (m.type === "chat" && room) {
        const r = rooms.get(room);
        r.seq += 1;
        const out = JSON.stringify({ type: "chat", room, from: user, data: m.data, seq: r.seq, ts: Date.now() });
        for (const member of r.members) member.send(out);
      }
    });
    ws.on("close", () => { if (room) rooms.get(room)?.members.delete(ws); });
  });
});
server.listen(port, "127.0.0.1", () => console.error(`listening on 127.0.0.1:${port}`));
