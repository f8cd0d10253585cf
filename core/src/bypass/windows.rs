//! The windows themselves: bypasses grouped per (agent, reason) into
//! windows that close on recovery, after an idle spell or at a maximum age,
//! and a bounded queue of closed windows waiting to be sent. Pure state: the
//! clock is passed in (a tokio instant, so tests can run on paused time).

use crate::clock::Iso8601;
use serde_json::{json, Value};
use std::collections::{HashMap, VecDeque};
use std::time::{Duration, SystemTime};
use tokio::time::Instant;

/// Why a call went ahead without a decision, as the API names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BypassReason {
    CircuitBreakerOpen,
    NetworkError,
    ServerError,
    PlanLimitExceeded,
}

impl BypassReason {
    pub fn as_str(self) -> &'static str {
        match self {
            BypassReason::CircuitBreakerOpen => "circuit_breaker_open",
            BypassReason::NetworkError => "network_error",
            BypassReason::ServerError => "server_error",
            BypassReason::PlanLimitExceeded => "plan_limit_exceeded",
        }
    }
}

/// When windows close and how many are kept (the official SDK's figures
/// by default).
#[derive(Debug, Clone, Copy)]
pub struct WindowLimits {
    pub idle: Duration,
    pub max_age: Duration,
    /// Open and closed windows together; beyond it the oldest closed one
    /// (or, with none closed, the new bypass) is counted as dropped.
    pub max_kept: usize,
}

impl Default for WindowLimits {
    fn default() -> Self {
        Self {
            idle: Duration::from_secs(60),
            max_age: Duration::from_secs(15 * 60),
            max_kept: 500,
        }
    }
}

/// One window, open or closed.
#[derive(Debug, Clone)]
pub struct Window {
    pub window_id: String,
    pub agent_id: String,
    pub reason: BypassReason,
    pub first_at: SystemTime,
    pub last_at: SystemTime,
    pub count: u64,
    /// The latest bypass's reason in words.
    pub message: String,
    pub consecutive_failures: u32,
    opened: Instant,
    last: Instant,
}

impl Window {
    /// The window as the API takes it.
    pub fn to_json(&self) -> Value {
        json!({
            "windowId": self.window_id,
            "agentId": self.agent_id,
            "reason": self.reason.as_str(),
            "source": "sdk",
            "firstAt": Iso8601(self.first_at).to_string(),
            "lastAt": Iso8601(self.last_at).to_string(),
            "count": self.count,
            "message": self.message,
            "consecutiveFailures": self.consecutive_failures,
        })
    }
}

/// What could not be kept since the last report that told it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dropped {
    pub drop_id: String,
    pub windows: u64,
    pub bypasses: u64,
    pub since: SystemTime,
}

impl Dropped {
    pub fn to_json(&self) -> Value {
        json!({
            "dropId": self.drop_id,
            "windows": self.windows,
            "bypasses": self.bypasses,
            "since": Iso8601(self.since).to_string(),
        })
    }
}

/// A bypass as the engine saw it.
pub struct Bypass<'a> {
    pub agent_id: &'a str,
    pub reason: BypassReason,
    pub message: &'a str,
    pub consecutive_failures: u32,
}

pub struct BypassWindows {
    limits: WindowLimits,
    open: HashMap<(String, BypassReason), Window>,
    /// Oldest first.
    closed: VecDeque<Window>,
    dropped: Option<Dropped>,
}

impl BypassWindows {
    pub fn new(limits: WindowLimits) -> Self {
        Self {
            limits,
            open: HashMap::new(),
            closed: VecDeque::new(),
            dropped: None,
        }
    }

    /// Counts one bypass in its (agent, reason) window, opening one if need
    /// be. A window past its idle spell or maximum age is closed first, so a
    /// bypass never joins a window that should have ended.
    pub fn record(&mut self, bypass: &Bypass<'_>, now: Instant, wall: SystemTime) {
        let key = (bypass.agent_id.to_owned(), bypass.reason);
        if let Some(w) = self.open.get(&key) {
            if self.expired(w, now) {
                let w = self.open.remove(&key).expect("just seen");
                self.closed.push_back(w);
            }
        }
        if let Some(w) = self.open.get_mut(&key) {
            w.count += 1;
            w.last = now;
            w.last_at = wall;
            w.message = bypass.message.to_owned();
            w.consecutive_failures = bypass.consecutive_failures;
            return;
        }
        if !self.make_room(wall) {
            self.drop_counts(0, 1, wall);
            return;
        }
        self.open.insert(
            key,
            Window {
                window_id: uuid::Uuid::new_v4().to_string(),
                agent_id: bypass.agent_id.to_owned(),
                reason: bypass.reason,
                first_at: wall,
                last_at: wall,
                count: 1,
                message: bypass.message.to_owned(),
                consecutive_failures: bypass.consecutive_failures,
                opened: now,
                last: now,
            },
        );
    }

    /// The control plane decided again: every open window ends.
    pub fn recover(&mut self) {
        let mut ended: Vec<Window> = self.open.drain().map(|(_, w)| w).collect();
        ended.sort_by_key(|w| w.opened);
        self.closed.extend(ended);
    }

    /// Closes the windows idle or old enough by `now`.
    pub fn close_expired(&mut self, now: Instant) {
        let keys: Vec<_> = self
            .open
            .iter()
            .filter(|(_, w)| self.expired(w, now))
            .map(|(k, _)| k.clone())
            .collect();
        let mut ended: Vec<Window> = keys.iter().filter_map(|k| self.open.remove(k)).collect();
        ended.sort_by_key(|w| w.opened);
        self.closed.extend(ended);
    }

    fn expired(&self, w: &Window, now: Instant) -> bool {
        now.duration_since(w.last) >= self.limits.idle
            || now.duration_since(w.opened) >= self.limits.max_age
    }

    /// Room for one more window: with none free, the oldest closed window
    /// is dropped (and counted). False when every kept window is open.
    fn make_room(&mut self, wall: SystemTime) -> bool {
        if self.open.len() + self.closed.len() < self.limits.max_kept {
            return true;
        }
        match self.closed.pop_front() {
            Some(w) => {
                self.drop_counts(1, w.count, w.first_at.min(wall));
                true
            }
            None => false,
        }
    }

    fn drop_counts(&mut self, windows: u64, bypasses: u64, since: SystemTime) {
        let d = self.dropped.get_or_insert_with(|| Dropped {
            drop_id: uuid::Uuid::new_v4().to_string(),
            windows: 0,
            bypasses: 0,
            since,
        });
        d.windows += windows;
        d.bypasses += bypasses;
        d.since = d.since.min(since);
    }

    /// Takes up to `max` closed windows (oldest first) and what was dropped,
    /// for one request; `None` when there is nothing to tell.
    pub fn take_batch(&mut self, max: usize) -> Option<Batch> {
        if self.closed.is_empty() && self.dropped.is_none() {
            return None;
        }
        let n = self.closed.len().min(max);
        Some(Batch {
            windows: self.closed.drain(..n).collect(),
            dropped: self.dropped.take(),
        })
    }

    /// A batch that failed and will be tried again: back at the front, in
    /// order, within the bound (what no longer fits is counted as dropped).
    pub fn put_back(&mut self, batch: Batch, wall: SystemTime) {
        for w in batch.windows.into_iter().rev() {
            if self.open.len() + self.closed.len() < self.limits.max_kept {
                self.closed.push_front(w);
            } else {
                self.drop_counts(1, w.count, w.first_at.min(wall));
            }
        }
        if let Some(d) = batch.dropped {
            match &mut self.dropped {
                // Keep the id the server may already have seen.
                Some(now) => {
                    now.windows += d.windows;
                    now.bypasses += d.bypasses;
                    now.since = now.since.min(d.since);
                    now.drop_id = d.drop_id;
                }
                None => self.dropped = Some(d),
            }
        }
    }

    pub fn open_count(&self) -> usize {
        self.open.len()
    }

    pub fn closed_count(&self) -> usize {
        self.closed.len()
    }
}

/// One request's worth.
#[derive(Debug)]
pub struct Batch {
    pub windows: Vec<Window>,
    pub dropped: Option<Dropped>,
}

impl Batch {
    pub fn bypasses(&self) -> u64 {
        self.windows.iter().map(|w| w.count).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bypass(agent: &str, reason: BypassReason) -> Bypass<'_> {
        Bypass {
            agent_id: agent,
            reason,
            message: "unreachable",
            consecutive_failures: 3,
        }
    }

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn bypasses_group_per_agent_and_reason() {
        let mut w = BypassWindows::new(WindowLimits::default());
        let t = Instant::now();
        let wall = SystemTime::now();
        for _ in 0..3 {
            w.record(&bypass("a", BypassReason::NetworkError), t, wall);
        }
        w.record(&bypass("b", BypassReason::NetworkError), t, wall);
        w.record(&bypass("a", BypassReason::ServerError), t, wall);
        assert_eq!(w.open_count(), 3);
        assert!(w.take_batch(100).is_none(), "open windows are not sent");
        w.recover();
        let batch = w.take_batch(100).unwrap();
        assert_eq!(batch.windows.len(), 3);
        assert_eq!(batch.bypasses(), 5);
        let a = batch
            .windows
            .iter()
            .find(|x| x.agent_id == "a" && x.reason == BypassReason::NetworkError)
            .unwrap();
        assert_eq!(a.count, 3);
        assert_eq!(a.to_json()["reason"], "network_error");
    }

    #[test]
    fn windows_close_when_idle_or_old() {
        let mut w = BypassWindows::new(WindowLimits::default());
        let t = Instant::now();
        let wall = SystemTime::now();
        w.record(&bypass("a", BypassReason::NetworkError), t, wall);
        w.close_expired(t + 59 * S);
        assert_eq!(w.open_count(), 1);
        w.close_expired(t + 60 * S);
        assert_eq!((w.open_count(), w.closed_count()), (0, 1));

        // Busy but old: closed at 15 minutes; the next bypass opens another.
        for i in 0..=30 {
            w.record(
                &bypass("b", BypassReason::NetworkError),
                t + i * 30 * S,
                wall,
            );
        }
        let batch = w.take_batch(100).unwrap();
        assert_eq!(batch.windows.len(), 2);
        assert_eq!(batch.windows[1].count, 30, "0s..870s, one window");
        assert_eq!(w.open_count(), 1, "900s opened a new one");
    }

    #[test]
    fn at_most_max_kept_and_the_rest_counted() {
        let limits = WindowLimits {
            max_kept: 3,
            ..WindowLimits::default()
        };
        let mut w = BypassWindows::new(limits);
        let t = Instant::now();
        let wall = SystemTime::now();
        for i in 0..5 {
            w.record(
                &bypass(&format!("agent-{i}"), BypassReason::NetworkError),
                t,
                wall,
            );
            w.recover();
        }
        assert_eq!(w.closed_count(), 3);
        let batch = w.take_batch(2).unwrap();
        assert_eq!(batch.windows.len(), 2);
        assert_eq!(batch.windows[0].agent_id, "agent-2", "the oldest went");
        let d = batch.dropped.clone().unwrap();
        assert_eq!((d.windows, d.bypasses), (2, 2));
        // Put back after a failed send: the same drop id comes again.
        w.put_back(batch, wall);
        let again = w.take_batch(100).unwrap();
        assert_eq!(again.windows.len(), 3);
        assert_eq!(again.dropped.unwrap().drop_id, d.drop_id);
        assert!(w.take_batch(100).is_none());

        // Every kept window open: the new bypass itself is counted.
        for i in 0..4 {
            w.record(
                &bypass(&format!("x-{i}"), BypassReason::NetworkError),
                t,
                wall,
            );
        }
        assert_eq!(w.open_count(), 3);
        let d = w.take_batch(100).unwrap().dropped.unwrap();
        assert_eq!((d.windows, d.bypasses), (0, 1));
    }
}
