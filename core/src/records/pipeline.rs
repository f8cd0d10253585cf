//! Moves records from the buffer to the sinks, in batches, on the core's
//! runtime: each batch is serialised once and handed to every sink; a sink
//! that must retry gets the batch again in a later round, the others do
//! not (each record remembers which sinks are done with it).

use super::batch::TraceBatch;
use super::buffer::RecordBuffer;
use super::record::CallRecord;
use super::sink::{RecordSink, SinkResult};
use crate::stats::Stats;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{oneshot, Notify};

pub struct Pipeline {
    buffer: RecordBuffer,
    sinks: Vec<Box<dyn RecordSink>>,
    batch_size: usize,
    interval: Duration,
    environment: String,
    stats: Arc<Stats>,
    wake: Notify,
    waiters: Mutex<Waiters>,
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
    ) -> Self {
        assert!(sinks.len() <= 32, "at most 32 record sinks");
        Self {
            buffer: RecordBuffer::new(buffer_size),
            sinks,
            batch_size: batch_size.max(1),
            interval,
            environment,
            stats,
            wake: Notify::new(),
            waiters: Mutex::new(Waiters::default()),
        }
    }

    /// Buffers records in order. Wakes the delivery task when a batch fills
    /// up, not on every push after that: each wake of a parked worker is a
    /// system call on the governed call's thread.
    pub fn push(&self, records: impl IntoIterator<Item = CallRecord>) {
        let (before, after) = self.buffer.push_many(records);
        if before < self.batch_size && after >= self.batch_size {
            self.wake.notify_one();
        }
    }

    /// Records lost to overflow or refused by a sink.
    pub fn dropped(&self) -> u64 {
        self.buffer.dropped()
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

    fn waiters(&self) -> std::sync::MutexGuard<'_, Waiters> {
        self.waiters.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The delivery loop; it ends when the runtime it runs on shuts down.
    pub async fn run(self: Arc<Self>) {
        loop {
            let woken = self.wake.notified();
            tokio::pin!(woken);
            tokio::select! {
                _ = &mut woken => {}
                _ = tokio::time::sleep(self.interval) => {}
            }
            // Answer only the waiters that were there before this round;
            // they stay in the list meanwhile, so that `close` can answer
            // them if the round never ends.
            let before = self.waiters().senders.len();
            self.deliver_buffered().await;
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
    /// `flush()`.
    async fn deliver_buffered(&self) {
        let mut left = self.buffer.len();
        while left > 0 {
            let mut batch = self.buffer.take(left.min(self.batch_size));
            if batch.is_empty() {
                break;
            }
            left -= batch.len();
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
            let n = batch.len() as u64;
            if retry {
                self.buffer.requeue_front(batch);
                return;
            }
            if refused {
                self.buffer.count_dropped(n);
            } else {
                self.stats.records_written.fetch_add(n, Relaxed);
            }
        }
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
    }

    impl RecordSink for Arc<Scripted> {
        fn name(&self) -> &'static str {
            "scripted"
        }
        fn deliver<'a>(
            &'a self,
            records: &'a [CallRecord],
            _traces: &'a TraceBatch,
            pick: &'a (dyn Fn(usize) -> bool + Sync),
        ) -> SinkFuture<'a> {
            let n = (0..records.len()).filter(|&i| pick(i)).count();
            self.taken.fetch_add(n, Relaxed);
            let answer = self.answers.lock().unwrap().remove(0);
            Box::pin(async move { answer })
        }
    }

    fn scripted(answers: Vec<SinkResult>) -> Arc<Scripted> {
        Arc::new(Scripted {
            answers: Mutex::new(answers),
            taken: AtomicUsize::new(0),
        })
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
        );
        p.push([sample_record("x")]);
        p.deliver_buffered().await;
        assert_eq!((stats.records_written.load(Relaxed), p.dropped()), (0, 1));
    }
}
