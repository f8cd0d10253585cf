//! Records outlive the clients that made them (issue 18 items 7 and 9).
//!
//! - A client dropped without `shutdown()` (collected by the host's GC)
//!   still has records buffered: its runtime is handed to a background
//!   thread that delivers them, bounded by [`DRAIN_TIMEOUT`], instead of
//!   being stopped with them inside ([`drain_in_background`]).
//! - A process that ends without `shutdown()` (Node's event loop running
//!   dry, `process.exit()`, an uncaught exception, a worker ending) drains
//!   every governor it made, synchronously, from its exit hook
//!   ([`drain_all_blocking`]), and waits for the background drains.
//!
//! Each governor registers here when it is made (a weak reference and the
//! thread that made it: a Node worker drains its own governors only).

use crate::governor::{Governor, WeakGovernor};
use crate::records::report::FlushReport;
use std::sync::{Condvar, Mutex};
use std::thread::ThreadId;
use std::time::{Duration, Instant};

/// How long a dropped client's background drain may take.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// Time given at exit beyond the shutdown timeout (see `drain_all_blocking`).
const EXIT_GRACE: Duration = Duration::from_millis(200);

struct Live {
    governors: Vec<(ThreadId, WeakGovernor)>,
}

static LIVE: Mutex<Live> = Mutex::new(Live {
    governors: Vec::new(),
});

/// Background drains under way, and what wakes those waiting for them.
static DRAINING: Mutex<usize> = Mutex::new(0);
static DRAINED: Condvar = Condvar::new();

fn live() -> std::sync::MutexGuard<'static, Live> {
    LIVE.lock().unwrap_or_else(|e| e.into_inner())
}

/// Registers a governor made on this thread; forgets the dead ones.
pub(crate) fn register(governor: &Governor) {
    let mut live = live();
    live.governors.retain(|(_, g)| g.is_alive());
    live.governors
        .push((std::thread::current().id(), governor.downgrade()));
}

/// Shuts down every governor still open (of this thread only, when
/// `this_thread_only`), delivering what each has buffered, all within
/// `timeout` together, then waits (within what is left of it) for the
/// background drains of dropped ones. Blocks the calling thread: for exit
/// hooks, where nothing else will run. Returns what became of the records.
pub fn drain_all_blocking(timeout: Duration, this_thread_only: bool) -> FlushReport {
    let me = std::thread::current().id();
    let open: Vec<Governor> = live()
        .governors
        .iter()
        .filter(|(thread, _)| !this_thread_only || *thread == me)
        .filter_map(|(_, g)| g.upgrade())
        .filter(|g| !g.is_closed())
        .collect();
    // Each shutdown is bounded by `timeout` (plus its flush's floor of a
    // tenth of it); a little more lets each finish and say what it could
    // not deliver before the process goes.
    let deadline = Instant::now() + timeout + timeout / 5 + EXIT_GRACE;
    let (send, receive) = std::sync::mpsc::channel();
    for g in &open {
        let (g2, send) = (g.clone(), send.clone());
        g.run_async(async move { g2.shutdown(timeout).await }, move |r| {
            let _ = send.send(r.unwrap_or_default());
        });
    }
    drop(send);
    let mut total = FlushReport::default();
    for _ in 0..open.len() {
        let left = deadline.saturating_duration_since(Instant::now());
        match receive.recv_timeout(left) {
            Ok(r) => {
                total.written += r.written;
                total.dropped += r.dropped;
                total.undelivered += r.undelivered;
            }
            Err(_) => break,
        }
    }
    wait_for_drains(deadline.saturating_duration_since(Instant::now()));
    total
}

/// Waits until every background drain has ended, or `timeout`; returns how
/// many are still under way.
pub fn wait_for_drains(timeout: Duration) -> usize {
    let draining = DRAINING.lock().unwrap_or_else(|e| e.into_inner());
    let (left, _) = DRAINED
        .wait_timeout_while(draining, timeout, |n| *n > 0)
        .unwrap_or_else(|e| e.into_inner());
    *left
}

/// Runs `drain` on a thread of its own, counted until it ends. `false`
/// when no thread could be started (`drain` is then dropped unrun: the
/// records are given up).
pub(crate) fn drain_in_background(drain: impl FnOnce() + Send + 'static) -> bool {
    *DRAINING.lock().unwrap_or_else(|e| e.into_inner()) += 1;
    let started = std::thread::Builder::new()
        .name("execlave-drain".into())
        .spawn(move || {
            let _done = Done;
            drain();
        });
    if started.is_err() {
        drop(Done);
        return false;
    }
    true
}

/// Counts a background drain as ended, however it ends (a panic too).
struct Done;

impl Drop for Done {
    fn drop(&mut self) {
        let mut n = DRAINING.lock().unwrap_or_else(|e| e.into_inner());
        *n = n.saturating_sub(1);
        DRAINED.notify_all();
    }
}
