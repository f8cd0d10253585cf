//! Tool pins, the pins review and the in-band block result
//! (`execlave_core::tools`), converted to and from Python values. JSON
//! crosses as text: the Python side reads the SDK's objects.

use crate::{guarded, py_error};
use execlave_core::tools::pins::ListedTool;
use execlave_core::tools::review::Review;
use execlave_core::tools::{in_band, OnToolChange, ToolPins};
use execlave_core::Error;
use pyo3::prelude::*;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

fn invalid(message: String) -> PyErr {
    py_error(Error::invalid_argument(message))
}

#[pyclass(frozen, module = "execlave._native")]
pub struct NativeToolPins {
    inner: Mutex<ToolPins>,
}

impl NativeToolPins {
    fn pins(&self) -> std::sync::MutexGuard<'_, ToolPins> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[pymethods]
impl NativeToolPins {
    #[new]
    fn new(file: &str, on_tool_change: &str, command: String) -> PyResult<Self> {
        guarded(|| {
            let on_change =
                OnToolChange::parse(on_tool_change, "on_tool_change").map_err(py_error)?;
            let pins = ToolPins::open(PathBuf::from(file), on_change, command).map_err(py_error)?;
            Ok(Self {
                inner: Mutex::new(pins),
            })
        })
    }

    fn begin_listing(&self) -> PyResult<u32> {
        guarded(|| Ok(self.pins().begin_listing()))
    }

    fn end_listing(&self, id: u32) -> PyResult<()> {
        guarded(|| {
            self.pins().end_listing(id);
            Ok(())
        })
    }

    /// `definitions[i]`: the JSON text of tool `names[i]`'s pinned fields,
    /// or None when they could not be read. Returns the changes as JSON.
    fn observe_page(
        &self,
        id: u32,
        names: Vec<String>,
        definitions: Vec<Option<String>>,
    ) -> PyResult<String> {
        guarded(|| {
            let tools = names
                .into_iter()
                .zip(definitions)
                .map(|(name, text)| ListedTool {
                    name,
                    definition: text.and_then(|t| serde_json::from_str(&t).ok()),
                })
                .collect();
            let changes = self.pins().observe_page(id, tools).map_err(py_error)?;
            let changes: Vec<Value> = changes
                .into_iter()
                .map(|c| {
                    json!({
                        "tool": c.tool, "kind": c.kind, "pinned_digest": c.pinned_digest,
                        "seen_digest": c.seen_digest, "diff": c.diff, "blocked": c.blocked, "message": c.message,
                    })
                })
                .collect();
            Ok(Value::Array(changes).to_string())
        })
    }

    fn needs_listing(&self) -> PyResult<bool> {
        guarded(|| Ok(self.pins().needs_listing()))
    }

    fn violation(&self, tool: &str) -> PyResult<Option<String>> {
        guarded(|| {
            Ok(self
                .pins()
                .violation(tool)
                .map_err(py_error)?
                .map(|v| v.to_string()))
        })
    }

    fn unverified(&self, cause: &str) -> PyResult<Option<String>> {
        guarded(|| Ok(self.pins().unverified(cause).map(|v| v.to_string())))
    }

    fn flush_pending(&self, py: Python<'_>) -> PyResult<()> {
        py.detach(|| {
            guarded(|| {
                self.pins().flush_pending();
                Ok(())
            })
        })
    }
}

/// The pending changes of a lockfile, as `execlave-pins` shows and accepts them.
#[pyclass(module = "execlave._native")]
pub struct NativePinsReview {
    lockfile: PathBuf,
    inner: Option<Review>,
}

#[pymethods]
impl NativePinsReview {
    #[new]
    fn new(lockfile: &str, only: Vec<String>) -> PyResult<Self> {
        guarded(|| {
            let review = Review::open(Path::new(lockfile), &only).map_err(invalid)?;
            Ok(Self {
                lockfile: PathBuf::from(lockfile),
                inner: Some(review),
            })
        })
    }

    fn names(&self) -> Vec<String> {
        self.inner
            .as_ref()
            .map(Review::shown_names)
            .unwrap_or_default()
    }

    fn lines(&self) -> Vec<String> {
        self.inner.as_ref().map(Review::lines).unwrap_or_default()
    }

    /// Pins exactly what `lines` showed; returns how many tools.
    fn accept(&mut self) -> PyResult<usize> {
        guarded(|| {
            let review = self
                .inner
                .take()
                .ok_or_else(|| invalid("already accepted".into()))?;
            review.accept(&self.lockfile).map_err(invalid)
        })
    }
}

/// The CallToolResult (JSON) a policy block becomes with `on_block="result"`.
#[pyfunction]
pub fn blocked_call_result(message: &str, violations_json: &str, warnings_json: &str) -> String {
    let parse = |t: &str| serde_json::from_str(t).unwrap_or(Value::Array(Vec::new()));
    in_band::blocked_call_result(message, parse(violations_json), parse(warnings_json)).to_string()
}

/// The fields of a tool definition that are pinned.
#[pyfunction]
pub fn pinned_fields() -> Vec<String> {
    execlave_core::tools::diff::PINNED_FIELDS
        .iter()
        .map(|f| (*f).to_owned())
        .collect()
}

/// The digest of a definition given as JSON text.
#[pyfunction]
pub fn tool_digest(definition_json: &str) -> PyResult<String> {
    let value: Value =
        serde_json::from_str(definition_json).map_err(|e| invalid(format!("not JSON: {e}")))?;
    Ok(execlave_core::tools::canonical::digest_of(&value))
}

/// ``execlave-pins accept --report``: the lockfile's pins, as ``server``'s
/// tools, sent as ``agent_id``'s tool-integrity baseline (key and base URL
/// from ``EXECLAVE_API_KEY`` / ``EXECLAVE_BASE_URL``). Blocking, without
/// the GIL: for the CLI. Returns ``{"internalId", "sent", "skipped"}`` as JSON.
#[pyfunction]
pub fn report_baseline(
    py: Python<'_>,
    lockfile: &str,
    server: &str,
    agent_id: &str,
) -> PyResult<String> {
    use execlave_core::tools::baseline::{report_baseline, Target};
    let target = Target {
        api_key: None,
        base_url: None,
    };
    let r = py
        .detach(|| report_baseline(Path::new(lockfile), server, agent_id, target))
        .map_err(invalid)?;
    Ok(json!({ "internalId": r.internal_id, "sent": r.sent, "skipped": r.skipped }).to_string())
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<NativeToolPins>()?;
    m.add_class::<NativePinsReview>()?;
    m.add_function(wrap_pyfunction!(blocked_call_result, m)?)?;
    m.add_function(wrap_pyfunction!(pinned_fields, m)?)?;
    m.add_function(wrap_pyfunction!(tool_digest, m)?)?;
    m.add_function(wrap_pyfunction!(report_baseline, m)?)?;
    Ok(())
}
