// roomcast client: an ES module with no dependencies, for browsers (and
// anything with a WebSocket global). It speaks roomcast's /ws protocol,
// reconnects with jittered backoff, rejoins its rooms asking for what it
// missed (since + epoch), and hands each room message out once, in seq
// order, however often it is replayed.
//
//   import { RoomcastClient } from "/roomcast.js";
//   const rc = new RoomcastClient("ws://127.0.0.1:8080/ws", { user: "alice" });
//   rc.addEventListener("chat", (e) => console.log(e.detail.from, e.detail.data));
//   rc.connect();
//   await rc.join("lobby");
//   rc.chat("hello", "lobby");

/** Protocol types that are not room messages (everything else with a seq is). */
const CONTROL = new Set(["welcome", "joined", "left", "ack", "heartbeat_ack", "history", "presence",
  "user_joined", "user_left", "online", "force_disconnect", "dropped", "broadcast", "retracted", "error", "private"]);

export class RoomcastClient extends EventTarget {
  /**
   * @param {string} url  the server's /ws URL
   * @param {object} [opts]  user, token, minBackoff, maxBackoff (ms), reconnect,
   *   batch (default true: ask for room chat in arrays; the server batches
   *   only with batch_window_ms set, and each message is still handed out alone)
   */
  constructor(url, opts = {}) {
    super();
    this.url = url;
    this.opts = { minBackoff: 500, maxBackoff: 10000, reconnect: true, batch: true, ...opts };
    this.ws = null;
    this.user = null;
    /** room → { lastSeq, epoch, joined } */
    this.rooms = new Map();
    this.pending = new Map();
    this.nextId = 1;
    this.backoff = this.opts.minBackoff;
    this.timer = null;
    this.closing = false;
  }

  /** Open the connection (and keep it open until close()). */
  connect() {
    this.closing = false;
    clearTimeout(this.timer);
    const q = new URLSearchParams();
    if (this.opts.token) q.set("token", this.opts.token);
    else if (this.opts.user) q.set("user", this.opts.user);
    if (this.opts.batch) q.set("batch", "1");
    const ws = new WebSocket(`${this.url}${q.toString() ? "?" + q : ""}`);
    this.ws = ws;
    ws.onmessage = (ev) => {
      if (ws !== this.ws) return;
      const m = JSON.parse(ev.data);
      // A batch (?batch=1) is an array of room messages, in seq order.
      if (Array.isArray(m)) m.forEach((one) => this._handle(one));
      else this._handle(m);
    };
    ws.onclose = (ev) => {
      if (ws !== this.ws) return;
      this._failPending(new Error(`connection closed (${ev.code})`));
      this.rooms.forEach((r) => { r.joined = false; });
      this._emit("close", { code: ev.code, reason: ev.reason });
      // Kicked, moved (4001) or refused (1008): reconnecting would not help.
      const final = ev.code === 4001 || ev.code === 1008;
      if (!this.closing && this.opts.reconnect && !final) {
        const delay = this.backoff * (0.5 + Math.random());
        this.backoff = Math.min(this.backoff * 2, this.opts.maxBackoff);
        this.timer = setTimeout(() => this.connect(), delay);
      }
    };
    return this;
  }

  /** Close for good (no reconnect). */
  close() {
    this.closing = true;
    clearTimeout(this.timer);
    if (this.ws) this.ws.close(1000);
  }

  /** Join `room`; resolves with the `joined` reply. */
  join(room) {
    const r = this.rooms.get(room) || { lastSeq: 0, epoch: null, joined: false };
    this.rooms.set(room, r);
    const msg = { type: "join", room };
    if (r.lastSeq > 0) { msg.since = r.lastSeq; if (r.epoch) msg.epoch = r.epoch; }
    return this._request(msg);
  }

  /** Leave `room`. */
  leave(room) {
    this.rooms.delete(room);
    return this._request({ type: "leave", room });
  }

  /** A chat to `room` (or the only room joined). */
  chat(data, room) { this._send(room ? { type: "chat", room, data } : { type: "chat", data }); }

  /** A private message; resolves with the ack ({delivered, stored}). */
  private(to, data) { return this._request({ type: "private", to, data }); }

  /** Who is in `room`; resolves with {online, users}. */
  presence(room) { return this._request({ type: "presence", room }); }

  /** Stored messages of `room`; resolves with the `history` reply. */
  history(room, { since, limit } = {}) {
    const msg = { type: "history", room };
    if (since !== undefined) msg.since = since;
    if (limit !== undefined) msg.limit = limit;
    return this._request(msg);
  }

  _send(msg) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) throw new Error("not connected");
    this.ws.send(JSON.stringify(msg));
  }

  _request(msg) {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      try { this._send({ ...msg, id }); } catch (e) { this.pending.delete(id); reject(e); }
    });
  }

  _failPending(err) {
    this.pending.forEach((p) => p.reject(err));
    this.pending.clear();
  }

  _emit(type, detail) { this.dispatchEvent(new CustomEvent(type, { detail })); }

  _handle(m) {
    this._emit("message", m);
    if (m.id !== undefined && this.pending.has(m.id)) {
      const p = this.pending.get(m.id);
      this.pending.delete(m.id);
      if (m.type === "error") p.reject(Object.assign(new Error(m.reason), { code: m.code }));
      else p.resolve(m);
    }
    switch (m.type) {
      case "welcome":
        this.user = m.user;
        this.backoff = this.opts.minBackoff;
        // Rejoin what we were in, asking for what we missed (before the
        // application hears of the new connection and joins more).
        this.rooms.forEach((r, room) => { if (!r.joined) this.join(room).catch(() => {}); });
        this._emit("welcome", m);
        return;
      case "joined": {
        const r = this.rooms.get(m.room) || { lastSeq: 0, epoch: null, joined: false };
        // A restarted room (new epoch): its seqs start over.
        if (r.epoch !== null && r.epoch !== m.epoch) r.lastSeq = 0;
        r.epoch = m.epoch;
        r.joined = true;
        this.rooms.set(m.room, r);
        this._emit("joined", m);
        return;
      }
      default:
        break;
    }
    if (typeof m.seq === "number" && m.room && !CONTROL.has(m.type)) {
      const r = this.rooms.get(m.room);
      if (r) {
        if (m.seq <= r.lastSeq) return; // replayed twice: already handed out
        r.lastSeq = m.seq;
      }
      this._emit(m.type === "chat" ? "chat" : "event", m);
      return;
    }
    this._emit(m.type, m);
  }
}
