//! The glue between the loop and the room model: [`ServerNet`] lets the hub
//! queue frames and ask for closes without touching sockets; the loop acts
//! on the closes right after the hub returns.

use super::conn::{Conn, ReplyState};
use super::replies::Replies;
use super::{queue_on, Reason, Server, Stats};
use crate::auth::{self, Role, TokenError};
use crate::config::{AuthMode, Config, EngineKind};
use crate::proto::CloseCode;
use crate::room::protocol;
use crate::room::redis_engine::{RedisEngine, RedisSettings};
use crate::room::{ConnKey, ConnectParams, Hub, HubConfig, Net, Now};
use slab::Slab;
use std::collections::HashMap;
use std::rc::Rc;

/// A close the loop carries out right after the hub returns.
#[derive(Debug)]
pub(super) enum CloseRequest {
    /// The queue passed `max_backpressure` (4003, without a handshake).
    SlowConsumer,
    /// The hub asked for it (policy, kick): the closing handshake.
    Close(CloseCode, Box<str>),
}

/// The hub's view of the connections.
pub(super) struct ServerNet<'a> {
    pub conns: &'a mut Slab<Conn>,
    pub dirty: &'a mut Vec<usize>,
    pub stats: &'a mut Stats,
    pub closes: &'a mut Vec<(usize, CloseRequest)>,
    pub replies: &'a mut HashMap<usize, Replies>,
    pub compressor: &'a mut super::compress::Compressor,
    pub max_backpressure: usize,
    pub drop_threshold: usize,
}

impl Net for ServerNet<'_> {
    fn send(&mut self, key: ConnKey, frame: &Rc<[u8]>) {
        // Only an open connection takes data: after our close, nothing (§5.5.1).
        let Some(conn) = self.conns.get_mut(key.0).filter(|c| c.is_open()) else {
            return;
        };
        let frame = self.compressor.for_conn(conn.deflate_bits, frame);
        if let Some(unsent) = queue_on(conn, self.dirty, key.0, frame) {
            self.stats.messages_delivered += 1;
            let allowance = self.replies.get(&key.0).map_or(0, |r| r.allowance());
            if unsent > self.max_backpressure + allowance {
                self.closes.push((key.0, CloseRequest::SlowConsumer));
            }
        }
    }

    fn send_batch(&mut self, key: ConnKey, frame: &Rc<[u8]>, messages: usize) {
        let open = self.conns.get(key.0).is_some_and(|c| c.is_open());
        self.send(key, frame);
        if open {
            // `send` counted the frame as one message.
            self.stats.messages_delivered += messages.saturating_sub(1) as u64;
        }
    }

    fn send_reply(&mut self, key: ConnKey, frame: &Rc<[u8]>) {
        let Some(conn) = self.conns.get_mut(key.0).filter(|c| c.is_open()) else {
            return;
        };
        self.stats.messages_delivered += 1;
        let frame = self.compressor.for_conn(conn.deflate_bits, frame);
        if conn.reply_state != ReplyState::Pacing
            && conn.outbox.unsent() + frame.len() <= self.drop_threshold
        {
            queue_on(conn, self.dirty, key.0, frame);
            return;
        }
        let replies = self.replies.entry(key.0).or_default();
        replies.push(frame);
        if replies.pump(conn, key.0, self.drop_threshold, self.dirty) {
            self.replies.remove(&key.0);
        }
    }

    fn replies_pending(&self, key: ConnKey) -> bool {
        self.conns
            .get(key.0)
            .is_some_and(|c| c.reply_state == ReplyState::Pacing)
    }

    fn is_behind(&self, key: ConnKey) -> bool {
        self.conns.get(key.0).is_some_and(|c| {
            c.reply_state == ReplyState::Pacing || c.outbox.unsent() > self.drop_threshold
        })
    }

    fn close(&mut self, key: ConnKey, code: CloseCode, reason: &str) {
        self.closes
            .push((key.0, CloseRequest::Close(code, reason.into())));
    }

    fn watch_drain(&mut self, key: ConnKey) {
        if let Some(conn) = self.conns.get_mut(key.0) {
            conn.drain_watch = true;
        }
    }
}

/// The model's part of the configuration.
pub(super) fn hub_config(cfg: &Config) -> HubConfig {
    HubConfig {
        policy: cfg.room_policy,
        max_rooms_per_connection: cfg.max_rooms_per_connection,
        max_connections_per_user: cfg.max_connections_per_user,
        history_size: cfg.history_size,
        room_ttl_ms: super::ms(cfg.room_ttl),
        offline_queue: cfg.offline_queue,
        offline_ttl_ms: super::ms(cfg.offline_ttl),
        presence_events_max: cfg.presence_events_max,
        ping_interval_secs: cfg.ping_interval,
        rate_per_sec: cfg.rate_limit.per_sec,
        rate_burst: cfg.rate_limit.burst,
        max_json_depth: cfg.max_json_depth,
        max_rooms: cfg.max_rooms,
        max_history_bytes: cfg.max_history_bytes,
        max_offline_bytes: cfg.max_offline_bytes,
        max_bans: cfg.max_bans,
        max_replay: cfg.max_replay,
        batch_window_ms: cfg.batch_window_ms,
    }
}

/// The hub, with the engine the configuration names.
pub(super) fn make_hub(cfg: &Config) -> Hub {
    let hub_cfg = hub_config(cfg);
    match cfg.engine {
        EngineKind::Memory => Hub::new(hub_cfg),
        EngineKind::Redis => {
            let Ok(url) = crate::redis::RedisUrl::parse(&cfg.redis_url) else {
                // validate() refused it already.
                return Hub::new(hub_cfg);
            };
            let engine = RedisEngine::new(RedisSettings {
                url,
                prefix: cfg.redis_prefix.clone(),
                history_size: cfg.history_size,
                room_ttl_ms: super::ms(cfg.room_ttl),
                offline_queue: cfg.offline_queue,
                offline_ttl_ms: super::ms(cfg.offline_ttl),
                max_bans: cfg.max_bans,
                max_in_flight: REDIS_MAX_IN_FLIGHT,
                node_ttl_ms: super::ms(cfg.node_ttl),
            });
            Hub::with_engine(hub_cfg, Box::new(engine))
        }
    }
}

/// Commands sent to Redis and not yet answered, at most: past it requests
/// get `unavailable` (SPEC §7: bounded, never accepted and lost). 64k
/// publishes of 1 KiB is 64 MiB in flight.
const REDIS_MAX_IN_FLIGHT: usize = 65_536;

impl Server {
    /// Run `f` on the hub with a [`ServerNet`], then act on the closes it asked for.
    pub(super) fn with_hub<R>(
        &mut self,
        f: impl FnOnce(&mut Hub, &mut ServerNet<'_>, Now) -> R,
    ) -> R {
        let now = Now {
            mono_ms: self.now_ms,
            wall_ms: self.wall_ms(),
        };
        let mut closes = std::mem::take(&mut self.closes);
        let mut net = ServerNet {
            conns: &mut self.conns,
            dirty: &mut self.dirty,
            stats: &mut self.stats,
            closes: &mut closes,
            max_backpressure: self.cfg.max_backpressure,
            drop_threshold: self.cfg.drop_threshold,
            replies: &mut self.replies,
            compressor: &mut self.compressor,
        };
        let result = f(&mut self.hub, &mut net, now);
        for (key, request) in closes.drain(..) {
            match request {
                CloseRequest::SlowConsumer => self.close_slow_consumer(key),
                CloseRequest::Close(code, reason) => {
                    self.set_reason(key, Reason::Policy);
                    self.start_close(key, code, &reason);
                }
            }
        }
        self.closes = closes;
        result
    }

    /// A `/ws` connection opened: check its token (SPEC §3), then
    /// `welcome`, offline messages and the query's join.
    pub(super) fn open_room_session(&mut self, key: usize, query: &str) {
        let Some(conn_id) = self.conns.get(key).map(|c| c.id) else {
            return;
        };
        let q = |name| super::http::url::query_param(query, name);
        let claims = match self.cfg.auth {
            AuthMode::None => None,
            AuthMode::Hmac => {
                let secret = self
                    .cfg
                    .auth_secret
                    .as_deref()
                    .unwrap_or_default()
                    .as_bytes();
                let now_secs = self.wall_ms() / 1000;
                let verified = q("token")
                    .ok_or(TokenError::Malformed)
                    .and_then(|t| auth::verify(&t, secret, now_secs));
                match verified {
                    Ok(claims) => Some(claims),
                    Err(e) => {
                        // The upgrade completed; the refusal is a message, then 1008.
                        self.send(key, protocol::error("unauthorized", e.reason(), None));
                        self.set_reason(key, Reason::Policy);
                        return self.start_close(key, CloseCode::POLICY, "unauthorized");
                    }
                }
            }
        };
        let user = match &claims {
            Some(c) => Some(c.user.clone()),
            None => q("user"),
        };
        let (room, since, epoch) = (q("room"), q("since"), q("epoch"));
        let params = ConnectParams {
            user: user.as_deref(),
            room: room.as_deref(),
            since: since.as_deref(),
            epoch: epoch.as_deref(),
            role: claims.as_ref().map_or(Role::User, |c| c.role),
            allowed_rooms: claims.as_ref().and_then(|c| c.rooms.as_deref()),
            batch: q("batch").is_some_and(|b| b == "1" || b == "true"),
        };
        self.with_hub(|hub, net, now| hub.open(ConnKey(key), conn_id, params, now, net));
        if let Some(user) = self.hub.user_name(ConnKey(key)) {
            self.conn_log.user(key, user);
        }
    }

    /// Once a second: the hub's throttled and expiring work.
    pub(super) fn hub_tick(&mut self) {
        self.with_hub(|hub, net, now| hub.tick(now, net));
    }

    /// Connections whose queues drained under `drop_threshold` hear what they missed.
    pub(super) fn report_drained(&mut self, keys: &[usize]) {
        for &key in keys {
            self.with_hub(|hub, net, _| hub.on_drained(ConnKey(key), net));
        }
    }
}
