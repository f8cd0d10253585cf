//! Where records go. Each sink owns its delivery: its retries, its quota
//! and its failure reporting. The pipeline hands every batch to every sink
//! and only keeps what a sink asks to have again.
//!
//! Adding a sink (OpenTelemetry, say) is a new file implementing
//! [`RecordSink`] and a line in [`crate::records::sinks_for`] that builds
//! it from the options.

use super::batch::TraceBatch;
use super::record::CallRecord;
use std::future::Future;
use std::pin::Pin;

/// What a sink made of a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SinkResult {
    /// Done with it: delivered, or failed in a way the sink reported
    /// itself and will not retry (a write error of the audit log).
    Done,
    /// Not now (an outage, a used-up quota): keep the batch and hand it
    /// over again in a later round.
    Retry,
    /// Refused for good (the destination said no): the records are lost
    /// and counted as dropped.
    Refused,
}

pub type SinkFuture<'a> = Pin<Box<dyn Future<Output = SinkResult> + Send + 'a>>;

/// How many records a sink takes in one delivery. The pipeline hands every
/// sink the same batches, so it uses the smallest limit of its sinks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchLimit {
    /// The user's `batchSize`: one request of the wire format.
    Configured,
    /// At most this many: a sink whose cost is per delivery (a system call,
    /// a hand-over to another thread) keeps up with any rate only when a
    /// delivery takes whatever has piled up.
    AtMost(usize),
}

pub trait RecordSink: Send + Sync {
    /// A short name for diagnostics.
    fn name(&self) -> &'static str;

    fn batch_limit(&self) -> BatchLimit;

    /// Delivers `traces`, the JSON of the records `records` (the same
    /// order), of which the sink must take those `pick` selects: the others
    /// it took in an earlier round.
    fn deliver<'a>(
        &'a self,
        records: &'a [CallRecord],
        traces: &'a TraceBatch,
        pick: &'a (dyn Fn(usize) -> bool + Sync),
    ) -> SinkFuture<'a>;
}
