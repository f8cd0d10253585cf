//! Writes the pending file on a thread of its own: a listing reports its
//! changes and goes on, and a burst of listings costs one write of the
//! newest text, not one per listing.

use super::lockfile::write_atomic;
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

#[derive(Default)]
struct Slot {
    /// The newest text not yet written.
    text: Option<String>,
    writing: bool,
    closed: bool,
}

pub struct PendingWriter {
    shared: Arc<(Mutex<Slot>, Condvar)>,
    thread: Option<JoinHandle<()>>,
    path: PathBuf,
}

impl PendingWriter {
    pub fn new(path: PathBuf) -> Self {
        Self {
            shared: Arc::default(),
            thread: None,
            path,
        }
    }

    /// Queues `text`, replacing any text not yet written.
    pub fn write(&mut self, text: String) {
        let (slot, wake) = &*self.shared;
        slot.lock().unwrap_or_else(|e| e.into_inner()).text = Some(text);
        wake.notify_all();
        if self.thread.is_none() {
            let shared = Arc::clone(&self.shared);
            let path = self.path.clone();
            self.thread = std::thread::Builder::new()
                .name("execlave-pins".into())
                .spawn(move || run(&shared, &path))
                .ok();
            if self.thread.is_none() {
                self.flush_here();
            }
        }
    }

    /// Returns once every queued text is on disk (or failed).
    pub fn flush(&self) {
        let (slot, wake) = &*self.shared;
        let mut s = slot.lock().unwrap_or_else(|e| e.into_inner());
        while (s.text.is_some() || s.writing) && self.thread.is_some() {
            s = wake.wait(s).unwrap_or_else(|e| e.into_inner());
        }
    }

    fn flush_here(&self) {
        let text = self
            .shared
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .text
            .take();
        if let Some(text) = text {
            let _ = write_atomic(&self.path, &text);
        }
    }
}

fn run(shared: &(Mutex<Slot>, Condvar), path: &std::path::Path) {
    let (slot, wake) = shared;
    let mut s = slot.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        if let Some(text) = s.text.take() {
            s.writing = true;
            drop(s);
            // Best effort: the pending file is for the review; the flags
            // that refuse calls are held in memory.
            let _ = write_atomic(path, &text);
            s = slot.lock().unwrap_or_else(|e| e.into_inner());
            s.writing = false;
            wake.notify_all();
        } else if s.closed {
            return;
        } else {
            s = wake.wait(s).unwrap_or_else(|e| e.into_inner());
        }
    }
}

impl Drop for PendingWriter {
    fn drop(&mut self) {
        let (slot, wake) = &*self.shared;
        slot.lock().unwrap_or_else(|e| e.into_inner()).closed = true;
        wake.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_of_writes_ends_with_the_newest_text_on_disk() {
        let path = std::env::temp_dir().join(format!("execlave-writer-{}", fastrand::u64(..)));
        let mut writer = PendingWriter::new(path.clone());
        for i in 0..50 {
            writer.write(format!("text {i}"));
        }
        writer.flush();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "text 49");
        drop(writer);
        let _ = std::fs::remove_file(path);
    }
}
