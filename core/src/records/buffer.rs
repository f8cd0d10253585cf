//! The bounded in-memory buffer between governed calls and the sinks.
//!
//! Pushing never blocks and never grows past the capacity: when full, the
//! oldest record goes and is counted, because a stalled sink must not turn
//! into unbounded memory or into back-pressure on the agent's tool calls.

use super::record::CallRecord;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;

/// What [`RecordBuffer::push_many`] did: records buffered before and
/// after, and how many of the oldest it dropped to make room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pushed {
    pub before: usize,
    pub after: usize,
    pub dropped: u64,
}

pub struct RecordBuffer {
    queue: Mutex<VecDeque<CallRecord>>,
    capacity: usize,
    dropped: AtomicU64,
}

impl RecordBuffer {
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        Self {
            queue: Mutex::new(VecDeque::with_capacity(capacity.min(1024))),
            capacity,
            dropped: AtomicU64::new(0),
        }
    }

    /// Adds records in order, under one lock.
    pub fn push_many(&self, records: impl IntoIterator<Item = CallRecord>) -> Pushed {
        let mut q = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        let before = q.len();
        let mut dropped = 0;
        for record in records {
            if q.len() >= self.capacity {
                q.pop_front();
                dropped += 1;
            }
            q.push_back(record);
        }
        if dropped > 0 {
            self.dropped.fetch_add(dropped, Relaxed);
        }
        Pushed {
            before,
            after: q.len(),
            dropped,
        }
    }

    /// Takes up to `max` of the oldest records.
    pub fn take(&self, max: usize) -> Vec<CallRecord> {
        let mut q = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        let n = q.len().min(max);
        q.drain(..n).collect()
    }

    /// Puts records that could not be delivered back at the front, oldest
    /// first, still within the capacity (newer records win over older ones).
    /// Returns how many did not fit (dropped).
    pub fn requeue_front(&self, records: Vec<CallRecord>) -> u64 {
        let mut q = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        let room = self.capacity.saturating_sub(q.len());
        let skip = records.len().saturating_sub(room);
        self.dropped.fetch_add(skip as u64, Relaxed);
        for r in records.into_iter().skip(skip).rev() {
            q.push_front(r);
        }
        skip as u64
    }

    /// Empties the buffer without counting anything as dropped (a forked
    /// child's copy of its parent's records: see `Pipeline::after_fork`).
    pub fn forget_all(&self) {
        self.queue.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    pub fn len(&self) -> usize {
        self.queue.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn dropped(&self) -> u64 {
        self.dropped.load(Relaxed)
    }

    /// Counts records lost elsewhere (a sink that finally gave up).
    pub fn count_dropped(&self, n: u64) {
        self.dropped.fetch_add(n, Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::record::sample_record as rec;

    fn tools(v: &[CallRecord]) -> Vec<&str> {
        v.iter().map(|r| r.tool.as_str()).collect()
    }

    #[test]
    fn forget_all_empties_without_counting_drops() {
        // A forked child's copy of its parent's records: the parent
        // delivers them; the child neither sends them again nor calls them
        // lost.
        let b = RecordBuffer::new(3);
        for t in ["1", "2"] {
            b.push_many([rec(t)]);
        }
        b.forget_all();
        assert!(b.is_empty());
        assert_eq!(b.dropped(), 0);
        b.push_many([rec("3")]);
        assert_eq!(tools(&b.take(10)), ["3"]);
    }

    #[test]
    fn overflow_drops_oldest_and_counts() {
        let b = RecordBuffer::new(3);
        for t in ["1", "2", "3", "4", "5"] {
            b.push_many([rec(t)]);
        }
        assert_eq!(b.dropped(), 2);
        assert_eq!(tools(&b.take(10)), ["3", "4", "5"]);
        assert!(b.is_empty());
    }

    #[test]
    fn take_is_fifo_and_requeue_keeps_order_within_capacity() {
        let b = RecordBuffer::new(4);
        for t in ["1", "2", "3"] {
            b.push_many([rec(t)]);
        }
        let batch = b.take(2);
        assert_eq!(tools(&batch), ["1", "2"]);
        b.push_many([rec("4")]);
        b.push_many([rec("5")]);
        // Room for one of the two: the newer of them stays.
        b.requeue_front(batch);
        assert_eq!(b.dropped(), 1);
        assert_eq!(tools(&b.take(10)), ["2", "3", "4", "5"]);
    }
}
