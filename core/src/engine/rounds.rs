//! The rounds of one logical call. A multi-round-trip request (the MCP
//! 2026-07-28 revision: a `tools/call` answered `resultType:
//! "input_required"` with a `requestState`, then sent again with that
//! `requestState`) is decided once per round, since each round's arguments
//! may differ; its records say they belong together: every round carries
//! the first round's trace id as its parent, and its round number.
//!
//! The host only passes the opaque `requestState` text both ways; the core
//! keeps what it links to, so any binding gets the same records.

use std::collections::{HashMap, VecDeque};

/// Where a call stands among the rounds of its logical call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallLink {
    /// The first round's trace id, shared by every round.
    pub parent_trace_id: u128,
    /// 1 for the first round.
    pub round: u32,
}

/// Rounds announced and not yet sent: at most this many are remembered
/// (a caller that never sends the next round must not grow the map).
pub const MAX_OPEN_ROUNDS: usize = 1024;
/// A `requestState` longer than this is not remembered: it is the
/// server's text, and a hostile server could make it huge.
pub const MAX_REQUEST_STATE: usize = 64 * 1024;

/// The next round of each open logical call, by its `requestState`;
/// bounded, the oldest forgotten first.
#[derive(Default)]
pub struct OpenRounds {
    next: HashMap<String, CallLink>,
    order: VecDeque<String>,
}

impl OpenRounds {
    /// Remembers that the call sent again with `request_state` is `link`.
    pub fn open(&mut self, request_state: String, link: CallLink) {
        if request_state.len() > MAX_REQUEST_STATE {
            return;
        }
        if self.next.insert(request_state.clone(), link).is_none() {
            self.order.push_back(request_state);
        }
        while self.next.len() > MAX_OPEN_ROUNDS {
            match self.order.pop_front() {
                Some(oldest) => {
                    self.next.remove(&oldest);
                }
                None => break,
            }
        }
        // Keys taken by `take` stay in `order` until here: drop them once
        // they outnumber the live ones, so `order` stays bounded too.
        if self.order.len() > 2 * MAX_OPEN_ROUNDS {
            let next = &self.next;
            self.order.retain(|k| next.contains_key(k));
        }
    }

    /// The link of the round sent with `request_state`, left in place: a
    /// round refused before it was sent may be sent again as that round.
    pub fn get(&self, request_state: &str) -> Option<CallLink> {
        self.next.get(request_state).copied()
    }

    /// The link of the round sent with `request_state`, once.
    pub fn take(&mut self, request_state: &str) -> Option<CallLink> {
        self.next.remove(request_state)
    }

    pub fn len(&self) -> usize {
        self.next.len()
    }

    pub fn is_empty(&self) -> bool {
        self.next.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(round: u32) -> CallLink {
        CallLink {
            parent_trace_id: 7,
            round,
        }
    }

    #[test]
    fn a_round_is_taken_once() {
        let mut rounds = OpenRounds::default();
        rounds.open("s1".into(), link(2));
        assert_eq!(rounds.get("s1"), Some(link(2)));
        assert_eq!(rounds.take("s1"), Some(link(2)));
        assert_eq!(rounds.get("s1"), None);
        assert_eq!(rounds.take("s1"), None);
        assert_eq!(rounds.take("other"), None);
    }

    #[test]
    fn the_oldest_rounds_are_forgotten_past_the_bound() {
        let mut rounds = OpenRounds::default();
        for i in 0..MAX_OPEN_ROUNDS + 10 {
            rounds.open(format!("s{i}"), link(2));
        }
        assert_eq!(rounds.len(), MAX_OPEN_ROUNDS);
        assert_eq!(rounds.take("s0"), None);
        assert!(rounds.take(&format!("s{}", MAX_OPEN_ROUNDS + 9)).is_some());
        // Taken keys do not pile up in the order either.
        for i in 0..5 * MAX_OPEN_ROUNDS {
            rounds.open(format!("t{i}"), link(2));
            rounds.take(&format!("t{i}"));
        }
        assert!(rounds.order.len() <= 2 * MAX_OPEN_ROUNDS + 1);
    }

    #[test]
    fn a_huge_request_state_is_not_remembered() {
        let mut rounds = OpenRounds::default();
        rounds.open("x".repeat(MAX_REQUEST_STATE + 1), link(2));
        assert!(rounds.is_empty());
    }
}
