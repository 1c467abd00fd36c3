//! Delivery: what the engine completed goes to local members (droppable
//! room chat, reported with `dropped` once a queue drains), and the
//! periodic work.

use super::Hub;
use crate::room::engine::{Completion, Stored};
use crate::room::protocol::JsonFrame;
use crate::room::{ConnKey, Net, Now, RoomId};
use std::rc::Rc;

impl Hub {
    /// Deliver what the engine completed: each published chat to the local
    /// members of its room, in the order the engine numbered them.
    /// Returns the deliveries and seq of the last one.
    pub(super) fn deliver_completions(
        &mut self,
        now: Now,
        net: &mut impl Net,
    ) -> Option<(usize, u64)> {
        let mut last = None;
        while let Some(completion) = self.engine.poll_completion() {
            match completion {
                Completion::Published {
                    room,
                    message,
                    droppable,
                } => {
                    let delivered = self.rooms.find(&room).map_or(0, |rid| {
                        if droppable {
                            self.fan_out(rid, &message, now, net)
                        } else {
                            self.send_to_members(rid, &message.frame, net)
                        }
                    });
                    last = Some((delivered, message.seq));
                }
                Completion::Acked { ticket, seq, .. } => {
                    let json = seq.map(|(s, n)| format!("{{\"delivered\":{n},\"seq\":{s}}}"));
                    self.acks.push((ticket, json));
                }
                Completion::RoomReady(room) => self.resume_joins(&room, now, net),
                Completion::RoomFailed(room) => self.fail_joins(&room, net),
                Completion::Retracted { room, seq } => {
                    if let Some(rid) = self.rooms.find(&room) {
                        self.announce_retract(rid, seq, net);
                    }
                }
                Completion::Offline { user, frames } => {
                    self.deliver_offline(&user, frames, now, net)
                }
                Completion::Private { user, frame } => self.private_here(&user, &frame, net),
                Completion::PrivateAcked { ticket, result } => {
                    self.private_acked(ticket, result, net)
                }
                Completion::Broadcast(frame) => {
                    for (key, _) in self.clients.iter() {
                        net.send(key, &frame);
                    }
                }
                Completion::Moved { user, room } => self.moved_elsewhere(&user, &room, now, net),
                Completion::Answer { ticket, json } => self.acks.push((ticket, json)),
                Completion::Admitted { ticket, admitted } => {
                    self.admitted(ticket, admitted, now, net)
                }
                Completion::Presence {
                    room,
                    user,
                    joined,
                    online,
                } => self.shared_presence_event(&room, &user, joined, online, net),
                Completion::Kick { user, room, reason } => {
                    self.kick_local(&user, room.as_deref(), &reason, now, net);
                }
            }
        }
        last
    }

    /// Room chat to every member of `rid`, skipping (and counting) members
    /// whose queue is past `drop_threshold` (SPEC §5: droppable, reported
    /// by a `dropped` event once the queue drains). Batching members get
    /// it in the room's next batch (counted as delivered here).
    fn fan_out(&mut self, rid: RoomId, message: &Stored, now: Now, net: &mut impl Net) -> usize {
        let Some(room) = self.rooms.get(rid) else {
            return 0;
        };
        let (seq, frame) = (message.seq, &message.frame);
        let mut delivered = 0;
        let mut behind = Vec::new();
        if room.batch_members() == 0 {
            for &member in room.members() {
                if net.is_behind(member) {
                    behind.push(member);
                } else {
                    net.send(member, frame);
                    delivered += 1;
                }
            }
        } else {
            for (&member, &batch) in room.members().iter().zip(room.batching()) {
                if batch {
                    delivered += 1;
                } else if net.is_behind(member) {
                    behind.push(member);
                } else {
                    net.send(member, frame);
                    delivered += 1;
                }
            }
            let json = message.json().as_bytes();
            self.batch_chat(rid, seq, json, now, net);
        }
        for member in behind {
            self.note_dropped(member, rid, seq, 1, net);
        }
        delivered
    }

    /// `count` room chats from `seq` on were skipped for `member` of `rid`.
    pub(super) fn note_dropped(
        &mut self,
        member: ConnKey,
        rid: RoomId,
        seq: u64,
        count: u32,
        net: &mut impl Net,
    ) {
        self.refused.chat_dropped += u64::from(count);
        let Some(m) = self
            .clients
            .get_mut(member)
            .and_then(|c| c.membership_mut(rid))
        else {
            return;
        };
        if m.dropped == 0 {
            m.drop_from = seq;
            net.watch_drain(member);
        }
        m.dropped += count;
    }

    /// A message no member may miss (an application event): to every
    /// member, after the room's batch.
    fn send_to_members(&mut self, rid: RoomId, frame: &Rc<[u8]>, net: &mut impl Net) -> usize {
        self.flush_batch(rid, net);
        let Some(room) = self.rooms.get(rid) else {
            return 0;
        };
        for &member in room.members() {
            net.send(member, frame);
        }
        room.members().len()
    }

    /// `key`'s queue drained under `drop_threshold`: report what it missed.
    pub fn on_drained(&mut self, key: ConnKey, net: &mut impl Net) {
        let Some(client) = self.clients.get_mut(key) else {
            return;
        };
        for m in client.rooms.iter_mut().filter(|m| m.dropped > 0) {
            let Some(room) = self.rooms.get(m.room) else {
                continue;
            };
            let frame = JsonFrame::new("dropped")
                .raw("room", room.name_json())
                .num("count", u64::from(m.dropped))
                .num("from_seq", m.drop_from)
                .num("to_seq", m.drop_from + u64::from(m.dropped) - 1)
                .finish();
            m.dropped = 0;
            net.send(key, &frame);
        }
    }

    /// Once a second: throttled `online` events, dropping rooms empty for
    /// `room_ttl`, the engine's expiry. Costs what is pending, not the
    /// number of rooms or users.
    pub fn tick(&mut self, now: Now, net: &mut impl Net) {
        for rid in self.rooms.take_online_changes() {
            let Some(room) = self.rooms.get(rid) else {
                continue;
            };
            let frame = JsonFrame::new("online")
                .raw("room", room.name_json())
                .num("online", room.online() as u64)
                .finish();
            for &member in room.members() {
                net.send(member, &frame);
            }
        }
        for name in self.rooms.expire_empty(now.mono_ms, self.cfg.room_ttl_ms) {
            self.engine.forget_room(&name);
        }
        self.engine.tick(now);
    }
}
