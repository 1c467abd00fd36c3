//! One room chat to 10,000 members without sockets: the hub frames the
//! message once and queues the same `Rc<[u8]>` into 10,000 outboxes (the
//! server's own `Outbox` type). `cargo bench --bench broadcast`.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use roomcast::config::RoomPolicy;
use roomcast::proto::CloseCode;
use roomcast::room::fuzzing::small_config;
use roomcast::room::{ConnKey, ConnectParams, Hub, Net, Now, Posted, RoomEvent};
use roomcast::server::outbox::Outbox;
use std::rc::Rc;

const MEMBERS: usize = 10_000;
/// The default `drop_threshold`.
const DROP_THRESHOLD: usize = 256 * 1024;

/// Outboxes indexed by connection key, as the server's slab holds them.
struct Queues(Vec<Outbox>);

impl Net for Queues {
    fn send(&mut self, key: ConnKey, frame: &Rc<[u8]>) {
        self.0[key.0].push(frame.clone());
    }
    fn send_reply(&mut self, key: ConnKey, frame: &Rc<[u8]>) {
        self.send(key, frame);
    }
    fn replies_pending(&self, _: ConnKey) -> bool {
        false
    }
    fn is_behind(&self, key: ConnKey) -> bool {
        // As the server decides it (no member is behind here).
        self.0[key.0].unsent() > DROP_THRESHOLD
    }
    fn close(&mut self, _: ConnKey, _: CloseCode, _: &str) {}
    fn watch_drain(&mut self, _: ConnKey) {}
}

fn broadcast(c: &mut Criterion) {
    let mut cfg = small_config(RoomPolicy::Exclusive);
    cfg.history_size = 100;
    cfg.presence_events_max = 100;
    cfg.max_connections_per_user = 1;
    let mut hub = Hub::new(cfg);
    let mut net = Queues((0..MEMBERS).map(|_| Outbox::default()).collect());
    let now = Now {
        mono_ms: 0,
        wall_ms: 1_700_000_000_000,
    };
    for key in 0..MEMBERS {
        let user = format!("u{key}");
        let params = ConnectParams {
            user: Some(&user),
            room: Some("hot"),
            ..ConnectParams::default()
        };
        assert!(hub.open(ConnKey(key), key as u64, params, now, &mut net));
    }
    let data = format!("{{\"text\":\"{}\"}}", "x".repeat(80));
    let event = RoomEvent {
        data: &data,
        kind: None,
        from: Some("publisher"),
    };
    let mut group = c.benchmark_group("broadcast");
    group.throughput(Throughput::Elements(MEMBERS as u64));
    group.bench_function("chat_to_10000_members", |b| {
        b.iter(|| {
            for q in net.0.iter_mut() {
                q.clear();
            }
            let posted = hub.publish_to_room("hot", event, now, &mut net);
            assert!(matches!(posted, Ok(Posted::Done(MEMBERS, _))));
        })
    });
    group.finish();
}

criterion_group!(benches, broadcast);
criterion_main!(benches);
