//! A connection's queue of frames to send.
//!
//! Frames are shared `Rc<[u8]>`: a broadcast is encoded once and every
//! recipient's queue holds a reference, never a copy. Writing gathers the
//! queue into one `write_vectored` call, so a connection's pending messages
//! leave in one syscall per turn however many there are.

use std::collections::VecDeque;
use std::io::{self, IoSlice, Write};
use std::rc::Rc;

/// Slices per `write_vectored` call: Linux takes up to IOV_MAX (1024); 64
/// frames of chat already fill a typical 64 KiB+ socket buffer.
const MAX_IOVECS: usize = 64;

/// Frames waiting to be written to one socket.
#[derive(Debug, Default)]
pub struct Outbox {
    queue: VecDeque<Rc<[u8]>>,
    /// Bytes of the front frame already written.
    head_written: u32,
    /// Unsent bytes in all (what backpressure limits look at; the
    /// configuration caps `max_backpressure` far below 4 GiB).
    unsent: u32,
}

/// What a flush achieved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flushed {
    /// Bytes written.
    pub bytes: usize,
    /// Nothing is left.
    pub drained: bool,
}

impl Outbox {
    /// Queue a frame.
    pub fn push(&mut self, frame: Rc<[u8]>) {
        self.unsent = self
            .unsent
            .saturating_add(u32::try_from(frame.len()).unwrap_or(u32::MAX));
        self.queue.push_back(frame);
    }

    /// Bytes not yet written.
    pub fn unsent(&self) -> usize {
        self.unsent as usize
    }

    /// Take out everything not yet started, oldest first, keeping a frame
    /// that is half written (the stream would be corrupt without its rest).
    /// For a close that must overtake a backlog.
    pub fn take_unstarted(&mut self) -> Vec<Rc<[u8]>> {
        let keep = usize::from(self.head_written > 0).min(self.queue.len());
        let taken: Vec<Rc<[u8]>> = self.queue.drain(keep..).collect();
        let bytes: usize = taken.iter().map(|f| f.len()).sum();
        self.unsent = self
            .unsent
            .saturating_sub(u32::try_from(bytes).unwrap_or(u32::MAX));
        taken
    }

    /// Drop everything queued (benchmarks reuse one set of queues).
    pub fn clear(&mut self) {
        self.queue.clear();
        self.head_written = 0;
        self.unsent = 0;
    }

    /// Free the queue's memory if it is empty (an idle connection owns no buffer).
    pub fn release_if_empty(&mut self) {
        if self.queue.is_empty() && self.queue.capacity() > 0 {
            self.queue = VecDeque::new();
        }
    }

    /// Heap bytes the queue's own storage holds (frames are shared, not counted).
    #[cfg(test)]
    pub fn capacity_bytes(&self) -> usize {
        self.queue.capacity() * std::mem::size_of::<Rc<[u8]>>()
    }

    /// Write as much as the socket takes, up to about `budget` bytes.
    /// `WouldBlock` is not an error: it ends the flush with bytes left.
    pub fn flush(&mut self, w: &mut impl Write, budget: usize) -> io::Result<Flushed> {
        let mut total = 0;
        while !self.queue.is_empty() && total < budget {
            let mut slices = [IoSlice::new(&[]); MAX_IOVECS];
            let mut count = 0;
            for (i, frame) in self.queue.iter().take(MAX_IOVECS).enumerate() {
                let bytes = if i == 0 {
                    frame.get(self.head_written as usize..).unwrap_or_default()
                } else {
                    frame
                };
                if let Some(slot) = slices.get_mut(i) {
                    *slot = IoSlice::new(bytes);
                    count = i + 1;
                }
            }
            let n = match w.write_vectored(slices.get(..count).unwrap_or_default()) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            total += n;
            self.advance(n);
        }
        Ok(Flushed {
            bytes: total,
            drained: self.queue.is_empty(),
        })
    }

    fn advance(&mut self, mut n: usize) {
        self.unsent = self.unsent.saturating_sub(n as u32);
        while let Some(front) = self.queue.front() {
            let left = front.len() - self.head_written as usize;
            if n < left {
                self.head_written += n as u32;
                return;
            }
            n -= left;
            self.head_written = 0;
            self.queue.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A writer that takes at most `cap` bytes per call, then blocks after `calls`.
    struct Trickle {
        out: Vec<u8>,
        cap: usize,
        calls: usize,
    }

    impl Write for Trickle {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.write_vectored(&[IoSlice::new(buf)])
        }
        fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
            if self.calls == 0 {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            self.calls -= 1;
            let mut n = 0;
            for b in bufs {
                let take = b.len().min(self.cap - n);
                self.out.extend_from_slice(&b[..take]);
                n += take;
            }
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn partial_writes_resume_where_they_stopped() {
        let mut ob = Outbox::default();
        let frames: Vec<Rc<[u8]>> = (0..10u8)
            .map(|i| Rc::from(vec![i; 7 + usize::from(i)]))
            .collect();
        let expected: Vec<u8> = frames.iter().flat_map(|f| f.iter().copied()).collect();
        for f in &frames {
            ob.push(f.clone());
        }
        assert_eq!(ob.unsent(), expected.len());
        let mut w = Trickle {
            out: Vec::new(),
            cap: 5,
            calls: 3,
        };
        let r = ob.flush(&mut w, usize::MAX).unwrap();
        assert_eq!(
            r,
            Flushed {
                bytes: 15,
                drained: false
            }
        );
        w.calls = 1000;
        let r = ob.flush(&mut w, usize::MAX).unwrap();
        assert!(r.drained);
        assert_eq!(w.out, expected);
        assert_eq!(ob.unsent(), 0);
    }

    #[test]
    fn budget_stops_a_flush_and_discard_keeps_a_started_frame() {
        let mut ob = Outbox::default();
        for _ in 0..4 {
            ob.push(Rc::from(vec![1u8; 10]));
        }
        let mut w = Trickle {
            out: Vec::new(),
            cap: 15,
            calls: 100,
        };
        let r = ob.flush(&mut w, 10).unwrap();
        assert_eq!(r.bytes, 15);
        assert_eq!(ob.take_unstarted().len(), 2, "the two not started");
        assert_eq!(ob.unsent(), 5, "the half-written frame stays");
        ob.push(Rc::from(vec![9u8; 2]));
        ob.flush(&mut w, usize::MAX).unwrap();
        assert_eq!(&w.out[15..], &[1, 1, 1, 1, 1, 9, 9]);
        ob.release_if_empty();
        assert_eq!(ob.capacity_bytes(), 0);
    }
}
