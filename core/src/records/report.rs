//! What a `flush()` or `shutdown()` made of the records: how many reached
//! every sink, how many were lost (buffer overflow, a sink that refused or
//! could not write them), and how many are still waiting (a sink asked to
//! retry them; at shutdown, they are lost and counted in the stats).

use serde::Serialize;

#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct FlushReport {
    /// Records delivered to every sink during the flush.
    pub written: u64,
    /// Records lost during the flush (overflow, refused, a failed write).
    pub dropped: u64,
    /// Records not delivered when the flush ended: still buffered (a flush),
    /// or given up (a shutdown).
    pub undelivered: u64,
}

/// The record counters at one moment, to report what happened between two.
#[derive(Debug, Clone, Copy)]
pub struct RecordCounts {
    pub written: u64,
    pub dropped: u64,
}

impl RecordCounts {
    /// The report of what happened since `self`, with `undelivered` left.
    pub fn since(self, now: RecordCounts, undelivered: u64) -> FlushReport {
        FlushReport {
            written: now.written.saturating_sub(self.written),
            dropped: now.dropped.saturating_sub(self.dropped),
            undelivered,
        }
    }
}
