//! The governor's background work (record delivery, policy sync, the kill
//! switch): started on its runtime, and started again in a forked child,
//! where the parent's runtime threads do not exist.
//!
//! `fork()` copies only the thread that called it. A child of a process
//! that had started a governor (gunicorn `--preload`, celery prefork,
//! `multiprocessing` with fork) inherits the runtime's memory but none of
//! its threads: nothing would deliver records, sync policies, poll the kill
//! switch or answer a wait. [`restart_after_fork`] gives the child a
//! runtime of its own, with the parent's last policy set and agent states.

use crate::engine::Engine;
use crate::error::{Error, ErrorKind};
use crate::sync::kill_switch::KillSwitch;
use crate::sync::policies::PolicySync;
use std::path::PathBuf;
use std::time::Duration;
use tokio::runtime::Runtime;

/// What the background loops need beyond the engine's parts.
pub struct BackgroundSettings {
    pub cache_path: Option<PathBuf>,
    pub refresh: Duration,
    pub poll_interval: Duration,
}

/// Starts the delivery loop and, with a control plane, policy sync and the
/// kill switch on `rt`.
pub fn spawn_background(engine: &Engine, settings: &BackgroundSettings, rt: &Runtime) {
    if let Some(p) = &engine.records {
        rt.spawn(p.clone().run());
    }
    if let Some(b) = &engine.bypasses {
        rt.spawn(b.clone().run());
    }
    let Some(c) = &engine.connection else {
        return;
    };
    rt.spawn(
        PolicySync {
            connection: c.clone(),
            store: engine.policies.clone(),
            agents: engine.agents.clone(),
            cache_path: settings.cache_path.clone(),
            refresh: settings.refresh,
            stats: engine.stats.clone(),
            log: engine.log.clone(),
            progress: engine.progress.clone(),
        }
        .run(),
    );
    rt.spawn(
        KillSwitch {
            connection: c.clone(),
            agents: engine.agents.clone(),
            interval: settings.poll_interval,
            log: engine.log.clone(),
            progress: engine.progress.clone(),
        }
        .run(),
    );
}

/// The runtime of a governor: one worker thread, HTTP, timers.
pub fn start_runtime() -> Result<Runtime, Error> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .max_blocking_threads(2)
        .thread_name("execlave")
        .enable_all()
        .build()
        .map_err(|e| {
            Error::new(
                ErrorKind::Internal,
                format!("cannot start background runtime: {e}"),
            )
        })
}

/// In a forked child: abandons the parent's runtime (`old`, whose threads
/// are gone) and returns a new one running the background loops.
///
/// The parent's runtime is leaked, never dropped: dropping it would wait
/// for, or signal, threads that do not exist here. So is the parent's HTTP
/// client: its pooled connections are sockets the parent still uses, and a
/// request of the child on one of them would mix the two processes' bytes.
/// The records buffered in the parent at the fork are the parent's to
/// deliver; the child forgets them rather than send each one twice.
pub fn restart_after_fork(
    engine: &Engine,
    settings: &BackgroundSettings,
    old: Runtime,
) -> Result<Runtime, Error> {
    std::mem::forget(old);
    if let Some(c) = &engine.connection {
        c.api.renew_after_fork().map_err(|e| {
            Error::new(
                ErrorKind::Internal,
                format!("cannot restart after fork: {e}"),
            )
        })?;
    }
    if let Some(p) = &engine.records {
        p.after_fork();
    }
    if let Some(b) = &engine.bypasses {
        b.after_fork();
    }
    // Waiters the parent's tasks left on these are dropped from their
    // lists, so that the child's loops get every wake.
    engine.progress.notify_waiters();
    let rt = start_runtime()?;
    spawn_background(engine, settings, &rt);
    Ok(rt)
}
