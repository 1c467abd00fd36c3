// Type declarations for roomcast.js.

export interface ClientOptions {
  /** ?user= (with auth = "none"). */
  user?: string;
  /** ?token= (with auth = "hmac"): an HS256 JWT. */
  token?: string;
  /** Ask for room chat in batches (?batch=1; default true). Each message is still one event. */
  batch?: boolean;
  /** Reconnect after a close that was not final (default true). */
  reconnect?: boolean;
  /** Backoff bounds in ms (defaults 500 and 10000), jittered. */
  minBackoff?: number;
  maxBackoff?: number;
}

/** A room message: a chat, or an application event such as "gift". */
export interface RoomMessage {
  type: string;
  room: string;
  from: string;
  data: unknown;
  seq: number;
  ts: number;
}

export interface Joined { type: "joined"; room: string; online: number; seq: number; epoch: string; recovered: boolean; }
export interface Ack { type: "ack"; delivered: number; stored: boolean; }
export interface Presence { type: "presence"; room: string; online: number; users: string[]; }
export interface History { type: "history"; room: string; messages: RoomMessage[]; }

/**
 * Events: "welcome", "joined", "chat" and "event" (room messages, once
 * each, in seq order), "private", "broadcast", "user_joined", "user_left",
 * "online", "dropped", "retracted", "force_disconnect", "error", "close",
 * and "message" (every message as it came).
 */
export class RoomcastClient extends EventTarget {
  constructor(url: string, opts?: ClientOptions);
  readonly user: string | null;
  connect(): this;
  close(): void;
  join(room: string): Promise<Joined>;
  leave(room: string): Promise<unknown>;
  chat(data: unknown, room?: string): void;
  private(to: string, data: unknown): Promise<Ack>;
  presence(room: string): Promise<Presence>;
  history(room: string, opts?: { since?: number; limit?: number }): Promise<History>;
}
