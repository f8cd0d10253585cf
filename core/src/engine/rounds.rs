//! The rounds of one logical call. A multi-round-trip request (the MCP
//! 2026-07-28 revision: a `tools/call` answered `resultType:
//! "input_required"` with a `requestState`, then sent again with that
//! `requestState`) is decided once per round, since each round's arguments
//! may differ; its records say they belong together: every round carries
//! the first round's trace id as its parent, and its round number.
//!
//! The host only passes the opaque `requestState` text both ways; the core
//! keeps what it links to, so any binding gets the same records.

use crate::records::record::CallContext;
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

/// An announced round: what it links to, and whose it is.
struct Opened {
    link: CallLink,
    /// The agent, session and user of the call that announced it: only
    /// their calls can be its next round. A `requestState` is the server's
    /// text: another caller may send the same one (echoed from another
    /// server, or made up), and must not be linked into this call.
    owner: CallContext,
}

/// The next round of each open logical call, by its `requestState`;
/// bounded, the oldest forgotten first.
#[derive(Default)]
pub struct OpenRounds {
    next: HashMap<String, Opened>,
    order: VecDeque<String>,
}

impl OpenRounds {
    /// Remembers that `owner`'s call sent again with `request_state` is
    /// `link`.
    pub fn open(&mut self, request_state: String, link: CallLink, owner: CallContext) {
        if request_state.len() > MAX_REQUEST_STATE {
            return;
        }
        let opened = Opened { link, owner };
        if self.next.insert(request_state.clone(), opened).is_none() {
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

    /// The link of `owner`'s round sent with `request_state`, left in
    /// place: a round refused before it was sent may be sent again as
    /// that round.
    pub fn get(&self, request_state: &str, owner: &CallContext) -> Option<CallLink> {
        let opened = self.next.get(request_state)?;
        (opened.owner == *owner).then_some(opened.link)
    }

    /// The round sent with `request_state` is gone (it was sent), when it
    /// is still the one `get` gave as `link`. True if it was.
    pub fn take(&mut self, request_state: &str, link: CallLink) -> bool {
        match self.next.get(request_state) {
            Some(opened) if opened.link == link => {
                self.next.remove(request_state);
                true
            }
            _ => false,
        }
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

    fn owner(agent: &str) -> CallContext {
        CallContext {
            agent_id: agent.into(),
            session_id: None,
            user_id: None,
            origin: None,
        }
    }

    #[test]
    fn a_round_is_taken_once() {
        let mut rounds = OpenRounds::default();
        rounds.open("s1".into(), link(2), owner("a"));
        assert_eq!(rounds.get("s1", &owner("a")), Some(link(2)));
        assert!(!rounds.take("s1", link(3)), "not the round that was given");
        assert!(rounds.take("s1", link(2)));
        assert_eq!(rounds.get("s1", &owner("a")), None);
        assert!(!rounds.take("s1", link(2)));
        assert!(!rounds.take("other", link(2)));
    }

    #[test]
    fn a_round_is_only_its_owners() {
        let mut rounds = OpenRounds::default();
        rounds.open("s1".into(), link(2), owner("a"));
        assert_eq!(rounds.get("s1", &owner("b")), None);
        assert_eq!(rounds.get("s1", &owner("a")), Some(link(2)));
    }

    #[test]
    fn the_oldest_rounds_are_forgotten_past_the_bound() {
        let mut rounds = OpenRounds::default();
        for i in 0..MAX_OPEN_ROUNDS + 10 {
            rounds.open(format!("s{i}"), link(2), owner("a"));
        }
        assert_eq!(rounds.len(), MAX_OPEN_ROUNDS);
        assert!(!rounds.take("s0", link(2)));
        assert!(rounds.take(&format!("s{}", MAX_OPEN_ROUNDS + 9), link(2)));
        // Taken keys do not pile up in the order either.
        for i in 0..5 * MAX_OPEN_ROUNDS {
            rounds.open(format!("t{i}"), link(2), owner("a"));
            rounds.take(&format!("t{i}"), link(2));
        }
        assert!(rounds.order.len() <= 2 * MAX_OPEN_ROUNDS + 1);
    }

    #[test]
    fn a_huge_request_state_is_not_remembered() {
        let mut rounds = OpenRounds::default();
        rounds.open("x".repeat(MAX_REQUEST_STATE + 1), link(2), owner("a"));
        assert!(rounds.is_empty());
    }
}
