//! The requests the host cancelled (`notifications/cancelled`): how the
//! notification reads, how such a call is recorded, and the cancelled
//! requests themselves, kept just long enough to answer them no more: a
//! call still being decided is not sent when its decision comes, and the
//! server's late answer to one it was sent is dropped quietly (the host
//! ignores it anyway). Bounded: a host that cancels without end cannot
//! grow the relay's memory.

use super::framing::IdKey;
use crate::engine::Completion;
use serde::Deserialize;
use serde_json::value::RawValue;
use std::collections::{HashSet, VecDeque};

/// How many cancelled requests are remembered for a late answer.
const REMEMBERED: usize = 1024;

#[derive(Default)]
pub struct Cancelled {
    /// Cancelled while being decided: each entry is removed by its decision.
    deciding: HashSet<IdKey>,
    /// Cancelled after being sent, newest last; with [`Self::sent_ids`]
    /// for a quick look-up, as every request of the host is checked.
    sent: VecDeque<IdKey>,
    sent_ids: HashSet<IdKey>,
}

impl Cancelled {
    pub fn while_deciding(&mut self, id: IdKey) {
        self.deciding.insert(id);
    }

    /// Cancelled, and its decision still to come (its id is not free yet).
    pub fn is_deciding(&self, id: &IdKey) -> bool {
        self.deciding.contains(id)
    }

    /// The decision about `id` came: true if the host cancelled it meanwhile.
    pub fn forget_deciding(&mut self, id: &IdKey) -> bool {
        self.deciding.remove(id)
    }

    pub fn after_sending(&mut self, id: IdKey) {
        if self.sent.len() == REMEMBERED {
            if let Some(oldest) = self.sent.pop_front() {
                self.sent_ids.remove(&oldest);
            }
        }
        self.sent_ids.insert(id.clone());
        self.sent.push_back(id);
    }

    /// Cancelled after being sent, and the server's answer may still come:
    /// a new request with this id would take that answer for its own.
    pub fn may_be_answered(&self, id: &IdKey) -> bool {
        self.sent_ids.contains(id)
    }

    /// An answer to no pending request: true if it is a cancelled one's
    /// (then forgotten: one answer per request).
    pub fn answered_late(&mut self, id: &IdKey) -> bool {
        if !self.sent_ids.remove(id) {
            return false;
        }
        // Rare (a cancelled call's answer), and the queue is bounded.
        self.sent.retain(|c| c != id);
        true
    }
}

/// The request `notifications/cancelled` names, and the host's reason;
/// `None` if its params are not the shape MCP gives them.
pub fn cancellation_of(params: Option<&RawValue>) -> Option<(IdKey, Option<String>)> {
    let cancel: Cancel = serde_json::from_str(params?.get()).ok()?;
    Some((IdKey::of(cancel.request_id)?, cancel.reason))
}

#[derive(Deserialize)]
struct Cancel<'a> {
    #[serde(rename = "requestId", borrow)]
    request_id: &'a RawValue,
    reason: Option<String>,
}

/// How a call the host cancelled after it was sent is recorded.
pub fn cancelled(reason: Option<String>) -> Completion {
    let message = match reason {
        Some(reason) => format!("cancelled by the host: {reason}"),
        None => "cancelled by the host".to_string(),
    };
    Completion::threw(Some(message), Some("Cancelled".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_a_bounded_number_of_late_answers() {
        let mut c = Cancelled::default();
        for n in 0..REMEMBERED + 10 {
            c.after_sending(IdKey(n.to_string()));
        }
        assert!(
            !c.answered_late(&IdKey("0".into())),
            "the oldest are forgotten"
        );
        assert!(!c.may_be_answered(&IdKey("0".into())));
        assert!(c.may_be_answered(&IdKey("10".into())));
        assert!(c.answered_late(&IdKey("10".into())));
        assert!(
            !c.may_be_answered(&IdKey("10".into())),
            "its id is free again"
        );
        assert!(
            !c.answered_late(&IdKey("10".into())),
            "one answer per request"
        );
        c.while_deciding(IdKey("x".into()));
        assert!(c.forget_deciding(&IdKey("x".into())));
        assert!(!c.forget_deciding(&IdKey("x".into())));
    }
}
