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

pub trait RecordSink: Send + Sync {
    /// A short name for diagnostics.
    fn name(&self) -> &'static str;

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
