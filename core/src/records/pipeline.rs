//! Moves records from the buffer to the sinks, in batches, on the core's
//! runtime: each batch is serialised once and handed to every sink; a sink
//! that must retry gets the batch again in a later round, the others do
//! not (each record remembers which sinks are done with it).

use super::batch::TraceBatch;
use super::buffer::RecordBuffer;
use super::record::CallRecord;
use super::sink::{BatchLimit, RecordSink, SinkResult};
use crate::log::Logger;
use crate::stats::Stats;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{oneshot, Notify};

pub struct Pipeline {
    buffer: RecordBuffer,
    sinks: Vec<Box<dyn RecordSink>>,
    /// The user's `batchSize`: a full batch wakes the delivery task.
    batch_size: usize,
    /// Records taken per delivery: the smallest [`BatchLimit`] of the sinks.
    chunk: usize,
    interval: Duration,
    environment: String,
    stats: Arc<Stats>,
    log: Arc<Logger>,
    wake: Notify,
    waiters: Mutex<Waiters>,
    /// Records taken from the buffer by the round under way and not yet
    /// settled: still undelivered, though no longer buffered.
    in_delivery: AtomicU64,
}

/// The flushes waiting for a delivery round.
#[derive(Default)]
struct Waiters {
    senders: Vec<oneshot::Sender<()>>,
    /// Set by [`Pipeline::close`]: no round will come.
    closed: bool,
}

impl Pipeline {
    /// At most 32 sinks (one bit each in [`CallRecord::done_by`]).
    pub fn new(
        sinks: Vec<Box<dyn RecordSink>>,
        buffer_size: usize,
        batch_size: usize,
        interval: Duration,
        environment: String,
        stats: Arc<Stats>,
        log: Arc<Logger>,
    ) -> Self {
        assert!(sinks.len() <= 32, "at most 32 record sinks");
        let batch_size = batch_size.max(1);
        let chunk = sinks
            .iter()
            .map(|s| match s.batch_limit() {
                BatchLimit::Configured => batch_size,
                BatchLimit::AtMost(n) => n.max(1),
            })
            .min()
            .unwrap_or(batch_size);
        Self {
            buffer: RecordBuffer::new(buffer_size),
            sinks,
            batch_size,
            chunk,
            interval,
            environment,
            stats,
            log,
            wake: Notify::new(),
            waiters: Mutex::new(Waiters::default()),
            in_delivery: AtomicU64::new(0),
        }
    }

    /// Buffers records in order. Wakes the delivery task when a batch fills
    /// up, not on every push after that: each wake of a parked worker is a
    /// system call on the governed call's thread.
    pub fn push(&self, records: impl IntoIterator<Item = CallRecord>) {
        let pushed = self.buffer.push_many(records.into_iter().map(|mut r| {
            r.bound_model_text();
            r
        }));
        if pushed.before < self.batch_size && pushed.after >= self.batch_size {
            self.wake.notify_one();
        }
        if pushed.dropped > 0 {
            self.say_dropped();
        }
    }

    /// A gap in an audit trail must not be silent: the first overflow is
    /// said on stderr, whatever `debug` says (later ones are counted in
    /// the stats, not said again: one line per record would flood stderr
    /// exactly when the process is busiest).
    fn say_dropped(&self) {
        let capacity = self.buffer.capacity();
        self.log.once("records-dropped", || {
            format!(
                "the record buffer is full (bufferSize {capacity}): the oldest records are being \
                 dropped, a gap in the audit trail; stats().recordsDropped counts them. Raise \
                 bufferSize if this rate of calls is expected."
            )
        });
    }

    /// Records lost to overflow or refused by a sink.
    pub fn dropped(&self) -> u64 {
        self.buffer.dropped()
    }

    /// Records not yet delivered to every sink: buffered, or in the
    /// delivery round under way.
    pub fn buffered(&self) -> u64 {
        self.buffer.len() as u64 + self.in_delivery.load(Relaxed)
    }

    /// Resolves once everything buffered before the call has been handed to
    /// the sinks (delivered, or finally given up on and counted as dropped);
    /// at once after [`Pipeline::close`].
    pub async fn flush(&self) {
        let (tx, rx) = oneshot::channel();
        {
            let mut waiters = self.waiters();
            if waiters.closed {
                return;
            }
            waiters.senders.push(tx);
        }
        self.wake.notify_one();
        // A closed channel means the loop is gone: nothing more will be
        // delivered, so there is nothing left to wait for.
        let _ = rx.await;
    }

    /// Answers every flush waiting, and every later one at once: the
    /// delivery loop is about to stop (shutdown), so none would ever be
    /// answered otherwise.
    pub fn close(&self) {
        let senders = {
            let mut waiters = self.waiters();
            waiters.closed = true;
            std::mem::take(&mut waiters.senders)
        };
        for w in senders {
            let _ = w.send(());
        }
    }

    /// In a forked child, before its delivery loop starts: the buffered
    /// records are the parent's (it delivers them; sending them here too
    /// would record each call twice), and the flushes waiting are the
    /// parent's threads', which the child does not have. Their senders are
    /// leaked: answering one would wake a task of the parent's runtime.
    /// The parent's loop, parked on `wake`, is taken off it, so that the
    /// child's loop gets every wake.
    pub fn after_fork(&self) {
        self.buffer.forget_all();
        std::mem::forget(std::mem::take(&mut self.waiters().senders));
        self.wake.notify_waiters();
    }

    fn waiters(&self) -> std::sync::MutexGuard<'_, Waiters> {
        self.waiters.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The delivery loop; it ends when the runtime it runs on shuts down.
    pub async fn run(self: Arc<Self>) {
        let mut caught_up = true;
        loop {
            // A round that ends with a full batch waiting goes on at once:
            // records that kept arriving during it never took the buffer
            // below a batch, so no push crossed the mark to wake the loop,
            // and waiting for the interval would let the buffer overflow.
            // Not after a retry, though: that would hammer a sink that is
            // down.
            let behind = caught_up && self.buffer.len() >= self.batch_size;
            if !behind {
                let woken = self.wake.notified();
                tokio::pin!(woken);
                tokio::select! {
                    _ = &mut woken => {}
                    _ = tokio::time::sleep(self.interval) => {}
                }
            }
            // Answer only the waiters that were there before this round;
            // they stay in the list meanwhile, so that `close` can answer
            // them if the round never ends.
            let before = self.waiters().senders.len();
            caught_up = self.deliver_buffered().await;
            let answered: Vec<_> = {
                let mut waiters = self.waiters();
                let n = before.min(waiters.senders.len());
                waiters.senders.drain(..n).collect()
            };
            for w in answered {
                let _ = w.send(());
            }
        }
    }

    /// Delivers what is buffered now, batch by batch; records arriving
    /// meanwhile wait for the next round, so a busy agent cannot starve
    /// `flush()`. Returns false when a sink asked to retry (the rest then
    /// waits for a later round).
    async fn deliver_buffered(&self) -> bool {
        let mut left = self.buffer.len();
        while left > 0 {
            let mut batch = self.buffer.take(left.min(self.chunk));
            if batch.is_empty() {
                break;
            }
            left -= batch.len();
            let n = batch.len() as u64;
            self.in_delivery.fetch_add(n, Relaxed);
            // Counted until the sinks are done with the batch: a shutdown
            // that gives up while a sink still retries it counts these as
            // undelivered.
            let settled = Settled(&self.in_delivery, n);
            let traces = TraceBatch::new(&batch, &self.environment);
            let (mut retry, mut refused) = (false, false);
            for (bit, sink) in self.sinks.iter().enumerate() {
                let mask = 1u32 << bit;
                let pick = |i: usize| batch[i].done_by & mask == 0;
                if !(0..batch.len()).any(pick) {
                    continue;
                }
                match sink.deliver(&batch, &traces, &pick).await {
                    SinkResult::Done => batch.iter_mut().for_each(|r| r.done_by |= mask),
                    SinkResult::Retry => retry = true,
                    SinkResult::Refused => {
                        refused = true;
                        batch.iter_mut().for_each(|r| r.done_by |= mask);
                    }
                }
            }
            drop(settled);
            if retry {
                if self.buffer.requeue_front(batch) > 0 {
                    self.say_dropped();
                }
                return false;
            }
            if refused {
                self.buffer.count_dropped(n);
            } else {
                self.stats.records_written.fetch_add(n, Relaxed);
            }
        }
        true
    }
}

/// Takes a round's records off the in-delivery count when the round is
/// done with them (or dropped with the runtime).
struct Settled<'a>(&'a AtomicU64, u64);

impl Drop for Settled<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(self.1, Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::record::sample_record;
    use crate::records::sink::SinkFuture;
    use std::sync::atomic::AtomicUsize;

    /// A sink that answers from a script and counts what it was given.
    struct Scripted {
        answers: Mutex<Vec<SinkResult>>,
        taken: AtomicUsize,
        limit: BatchLimit,
        sizes: Mutex<Vec<usize>>,
    }

    impl RecordSink for Arc<Scripted> {
        fn name(&self) -> &'static str {
            "scripted"
        }
        fn batch_limit(&self) -> BatchLimit {
            self.limit
        }
        fn deliver<'a>(
            &'a self,
            records: &'a [CallRecord],
            _traces: &'a TraceBatch,
            pick: &'a (dyn Fn(usize) -> bool + Sync),
        ) -> SinkFuture<'a> {
            let n = (0..records.len()).filter(|&i| pick(i)).count();
            self.taken.fetch_add(n, Relaxed);
            self.sizes.lock().unwrap().push(n);
            let mut answers = self.answers.lock().unwrap();
            let answer = if answers.is_empty() {
                SinkResult::Done
            } else {
                answers.remove(0)
            };
            Box::pin(async move { answer })
        }
    }

    fn scripted(answers: Vec<SinkResult>) -> Arc<Scripted> {
        limited(answers, BatchLimit::Configured)
    }

    fn limited(answers: Vec<SinkResult>, limit: BatchLimit) -> Arc<Scripted> {
        Arc::new(Scripted {
            answers: Mutex::new(answers),
            taken: AtomicUsize::new(0),
            limit,
            sizes: Mutex::new(Vec::new()),
        })
    }

    fn pipeline(sinks: Vec<Arc<Scripted>>, batch_size: usize) -> Pipeline {
        let sinks = sinks
            .into_iter()
            .map(|s| Box::new(s) as Box<dyn RecordSink>)
            .collect();
        Pipeline::new(
            sinks,
            10_000,
            batch_size,
            Duration::from_secs(60),
            "production".into(),
            Arc::new(Stats::default()),
            Arc::new(Logger::new(false, None)),
        )
    }

    /// A sink whose cost is per delivery (the audit log) takes what piled
    /// up, in one delivery, not in batches of `batchSize`; a sink bound to
    /// `batchSize` (the ingest) bounds the batches of all.
    #[tokio::test]
    async fn deliveries_are_as_large_as_the_smallest_limit_of_the_sinks() {
        let big = limited(vec![], BatchLimit::AtMost(1000));
        let p = pipeline(vec![big.clone()], 10);
        p.push((0..2500).map(|_| sample_record("a")));
        assert!(p.deliver_buffered().await);
        assert_eq!(*big.sizes.lock().unwrap(), [1000, 1000, 500]);

        let (big, configured) = (
            limited(vec![], BatchLimit::AtMost(1000)),
            limited(vec![], BatchLimit::Configured),
        );
        let p = pipeline(vec![big.clone(), configured.clone()], 10);
        p.push((0..25).map(|_| sample_record("a")));
        assert!(p.deliver_buffered().await);
        assert_eq!(*big.sizes.lock().unwrap(), [10, 10, 5]);
        assert_eq!(*configured.sizes.lock().unwrap(), [10, 10, 5]);
    }

    #[tokio::test]
    async fn a_sink_that_retries_gets_the_batch_again_and_the_others_do_not() {
        let (a, b) = (
            scripted(vec![SinkResult::Done]),
            scripted(vec![SinkResult::Retry, SinkResult::Done]),
        );
        let stats = Arc::new(Stats::default());
        let p = Pipeline::new(
            vec![Box::new(a.clone()), Box::new(b.clone())],
            10,
            10,
            Duration::from_secs(60),
            "production".into(),
            stats.clone(),
            Arc::new(Logger::new(false, None)),
        );
        p.push([sample_record("x"), sample_record("y")]);
        p.deliver_buffered().await;
        assert_eq!(stats.records_written.load(Relaxed), 0);
        p.deliver_buffered().await;
        assert_eq!(a.taken.load(Relaxed), 2, "the first sink had them already");
        assert_eq!(b.taken.load(Relaxed), 4);
        assert_eq!(stats.records_written.load(Relaxed), 2);
        assert_eq!(p.dropped(), 0);
    }

    #[tokio::test]
    async fn close_answers_every_waiting_flush_and_later_ones_at_once() {
        let p = Arc::new(Pipeline::new(
            vec![Box::new(scripted(vec![SinkResult::Done]))],
            10,
            10,
            Duration::from_secs(60),
            "production".into(),
            Arc::new(Stats::default()),
            Arc::new(Logger::new(false, None)),
        ));
        // No delivery loop runs: only `close` can answer these.
        let waiting = tokio::spawn({
            let p = p.clone();
            async move { p.flush().await }
        });
        while p.waiters().senders.is_empty() {
            tokio::task::yield_now().await;
        }
        p.close();
        tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .expect("the waiting flush was answered")
            .unwrap();
        tokio::time::timeout(Duration::from_secs(5), p.flush())
            .await
            .expect("a flush after close returns at once");
    }

    #[tokio::test]
    async fn a_refused_batch_is_counted_as_dropped() {
        let a = scripted(vec![SinkResult::Refused]);
        let stats = Arc::new(Stats::default());
        let p = Pipeline::new(
            vec![Box::new(a)],
            10,
            10,
            Duration::from_secs(60),
            "production".into(),
            stats.clone(),
            Arc::new(Logger::new(false, None)),
        );
        p.push([sample_record("x")]);
        p.deliver_buffered().await;
        assert_eq!((stats.records_written.load(Relaxed), p.dropped()), (0, 1));
    }

    /// A sink whose first delivery waits at a gate, so that a test can add
    /// records while a round is under way.
    struct Gated {
        entered: Notify,
        gate: Notify,
        first: std::sync::atomic::AtomicBool,
        delivered: AtomicUsize,
    }

    impl RecordSink for Arc<Gated> {
        fn name(&self) -> &'static str {
            "gated"
        }
        fn batch_limit(&self) -> BatchLimit {
            BatchLimit::Configured
        }
        fn deliver<'a>(
            &'a self,
            records: &'a [CallRecord],
            _traces: &'a TraceBatch,
            pick: &'a (dyn Fn(usize) -> bool + Sync),
        ) -> SinkFuture<'a> {
            let n = (0..records.len()).filter(|&i| pick(i)).count();
            Box::pin(async move {
                if self.first.swap(false, Relaxed) {
                    self.entered.notify_one();
                    self.gate.notified().await;
                }
                self.delivered.fetch_add(n, Relaxed);
                SinkResult::Done
            })
        }
    }

    /// Records that arrive faster than a round delivers keep the buffer
    /// above a batch: no push crosses the batch mark, so nothing wakes the
    /// loop. It must go on at once rather than sleep until the interval
    /// (the buffer would overflow meanwhile: issue 11).
    #[tokio::test(start_paused = true)]
    async fn a_round_that_ends_with_a_full_batch_waiting_starts_the_next_at_once() {
        let sink = Arc::new(Gated {
            entered: Notify::new(),
            gate: Notify::new(),
            first: true.into(),
            delivered: AtomicUsize::new(0),
        });
        let interval = Duration::from_secs(60);
        let p = Arc::new(Pipeline::new(
            vec![Box::new(sink.clone())],
            1000,
            10,
            interval,
            "production".into(),
            Arc::new(Stats::default()),
            Arc::new(Logger::new(false, None)),
        ));
        let start = tokio::time::Instant::now();
        tokio::spawn(p.clone().run());
        p.push((0..25).map(|_| sample_record("a")));
        sink.entered.notified().await;
        // The round took 10 of the 25; 15 wait, and 20 more come: 35, and
        // the push never crossed the batch mark.
        p.push((0..20).map(|_| sample_record("b")));
        sink.gate.notify_one();
        while sink.delivered.load(Relaxed) < 45 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        assert!(
            start.elapsed() < interval,
            "the last records waited for the interval"
        );
    }

    #[test]
    fn overflow_counts_every_dropped_record() {
        let p = Pipeline::new(
            vec![Box::new(scripted(vec![]))],
            3,
            10,
            Duration::from_secs(60),
            "production".into(),
            Arc::new(Stats::default()),
            Arc::new(Logger::new(false, None)),
        );
        p.push((0..5).map(|_| sample_record("a")));
        p.push([sample_record("b")]);
        assert_eq!(p.dropped(), 3);
    }
}
