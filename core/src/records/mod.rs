//! What becomes of governed calls: a [`record::CallRecord`] per call, a
//! bounded [`buffer`], batches serialised once ([`batch`]), and the
//! [`pipeline`] that hands them to every [`sink::RecordSink`]: the
//! [`audit_log`] and control-plane [`ingest`] today; [`report`]: what a
//! flush or shutdown made of them.

pub mod audit_log;
pub mod batch;
pub mod buffer;
pub mod ingest;
pub mod oversized;
pub mod pipeline;
pub mod record;
pub mod report;
pub mod sink;
pub mod text;

use crate::control_plane::Connection;
use crate::log::Logger;
use audit_log::{AuditLog, AuditLogSink};
use ingest::IngestSink;
use sink::RecordSink;
use std::sync::Arc;

/// The sinks the options ask for, in the order they get each batch.
pub fn sinks_for(
    audit_log: Option<AuditLog>,
    connection: Option<&Arc<Connection>>,
    log: &Arc<Logger>,
) -> Vec<Box<dyn RecordSink>> {
    let mut sinks: Vec<Box<dyn RecordSink>> = Vec::new();
    if let Some(file) = audit_log {
        sinks.push(Box::new(AuditLogSink::new(file, log.clone())));
    }
    if let Some(c) = connection {
        sinks.push(Box::new(IngestSink::new(c.clone(), log.clone())));
    }
    sinks
}
