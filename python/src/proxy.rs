//! `execlave-mcp` (python/execlave/mcp_proxy.py): the core's relay, run
//! with the GIL released. The launcher passes its argv; the core reads it,
//! so both packages' launchers take the very same command line.

use pyo3::prelude::*;

/// Runs `execlave-mcp` with `args` (without the program name) until the
/// host or the server ends; returns the exit code.
#[pyfunction]
pub fn run_proxy(py: Python<'_>, args: Vec<String>) -> i32 {
    py.detach(|| {
        std::panic::catch_unwind(|| execlave_core::relay::main(&args)).unwrap_or_else(|_| {
            eprintln!("execlave-mcp: internal error (a panic in the relay); please report it");
            70
        })
    })
}
