//! `execlave-mcp` (bin/execlave-mcp.js): the core's relay, run on a worker
//! thread of libuv's pool so that the launcher's event loop stays free.
//! The launcher passes its argv; the core reads it, so both packages'
//! launchers take the very same command line.

use napi::bindgen_prelude::AsyncTask;
use napi::{Env, Result, Task};
use napi_derive::napi;

pub struct RelayTask(Vec<String>);

impl Task for RelayTask {
    type Output = i32;
    type JsValue = i32;

    fn compute(&mut self) -> Result<i32> {
        let args = std::mem::take(&mut self.0);
        Ok(
            std::panic::catch_unwind(|| execlave_core::relay::main(&args)).unwrap_or_else(|_| {
                eprintln!("execlave-mcp: internal error (a panic in the relay); please report it");
                70
            }),
        )
    }

    fn resolve(&mut self, _env: Env, code: i32) -> Result<i32> {
        Ok(code)
    }
}

/// Runs `execlave-mcp` with `args` (without the program name) until the
/// host or the server ends; resolves with the exit code.
#[napi]
pub fn run_proxy(args: Vec<String>) -> AsyncTask<RelayTask> {
    AsyncTask::new(RelayTask(args))
}
