//! Tool pins, the pins review and the in-band block result
//! (`execlave_core::tools`), converted to and from JS values.

use crate::js_error;
use execlave_core::tools::pins::ListedTool;
use execlave_core::tools::review::Review;
use execlave_core::tools::{in_band, OnToolChange, ToolPins};
use napi::Result;
use napi_derive::napi;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

fn invalid(message: String) -> napi::Error {
    js_error(execlave_core::Error::invalid_argument(message))
}

#[napi]
pub struct NativeToolPins {
    inner: Mutex<ToolPins>,
}

impl NativeToolPins {
    fn pins(&self) -> std::sync::MutexGuard<'_, ToolPins> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[napi]
impl NativeToolPins {
    #[napi(constructor, catch_unwind)]
    pub fn new(file: String, on_tool_change: String, command: String) -> Result<Self> {
        let on_change = OnToolChange::parse(&on_tool_change, "onToolChange").map_err(js_error)?;
        let pins = ToolPins::open(PathBuf::from(file), on_change, command).map_err(js_error)?;
        Ok(Self {
            inner: Mutex::new(pins),
        })
    }

    #[napi(catch_unwind)]
    pub fn begin_listing(&self) -> u32 {
        self.pins().begin_listing()
    }

    #[napi(catch_unwind)]
    pub fn end_listing(&self, id: u32) {
        self.pins().end_listing(id);
    }

    /// `definitions[i]`: the JSON text of tool `names[i]`'s pinned fields,
    /// or null when they could not be read. Returns the changes as JSON.
    #[napi(catch_unwind)]
    pub fn observe_page(
        &self,
        id: u32,
        names: Vec<String>,
        definitions: Vec<Option<String>>,
    ) -> Result<String> {
        let tools = names
            .into_iter()
            .zip(definitions)
            .map(|(name, text)| ListedTool {
                name,
                definition: text.and_then(|t| serde_json::from_str(&t).ok()),
            })
            .collect();
        let changes = self.pins().observe_page(id, tools).map_err(js_error)?;
        let changes: Vec<Value> = changes
            .into_iter()
            .map(|c| {
                json!({
                    "tool": c.tool, "kind": c.kind, "pinnedDigest": c.pinned_digest,
                    "seenDigest": c.seen_digest, "diff": c.diff, "blocked": c.blocked, "message": c.message,
                })
            })
            .collect();
        Ok(Value::Array(changes).to_string())
    }

    #[napi(catch_unwind)]
    pub fn needs_listing(&self) -> bool {
        self.pins().needs_listing()
    }

    /// The violation (JSON) that refuses a call to `tool`, or null.
    #[napi(catch_unwind)]
    pub fn violation(&self, tool: String) -> Result<Option<String>> {
        let v = self.pins().violation(&tool).map_err(js_error)?;
        Ok(v.map(|v| v.to_string()))
    }

    /// The violation (JSON) of a call whose tools could not be listed, or
    /// null with `onToolChange: 'warn'`.
    #[napi(catch_unwind)]
    pub fn unverified(&self, cause: String) -> Option<String> {
        self.pins().unverified(&cause).map(|v| v.to_string())
    }

    #[napi(catch_unwind)]
    pub fn flush_pending(&self) {
        self.pins().flush_pending();
    }
}

/// The pending changes of a lockfile, as `execlave-pins` shows and accepts them.
#[napi]
pub struct NativePinsReview {
    lockfile: PathBuf,
    inner: Option<Review>,
}

#[napi]
impl NativePinsReview {
    #[napi(constructor, catch_unwind)]
    pub fn new(lockfile: String, only: Vec<String>) -> Result<Self> {
        let review = Review::open(Path::new(&lockfile), &only).map_err(invalid)?;
        Ok(Self {
            lockfile: PathBuf::from(lockfile),
            inner: Some(review),
        })
    }

    #[napi(catch_unwind)]
    pub fn names(&self) -> Vec<String> {
        self.inner
            .as_ref()
            .map(Review::shown_names)
            .unwrap_or_default()
    }

    #[napi(catch_unwind)]
    pub fn lines(&self) -> Vec<String> {
        self.inner.as_ref().map(Review::lines).unwrap_or_default()
    }

    /// Pins exactly what `lines` showed; returns how many tools.
    #[napi(catch_unwind)]
    pub fn accept(&mut self) -> Result<u32> {
        let review = self
            .inner
            .take()
            .ok_or_else(|| invalid("already accepted".into()))?;
        review
            .accept(&self.lockfile)
            .map(|n| n as u32)
            .map_err(invalid)
    }
}

/// The CallToolResult (JSON) a policy block becomes with `onBlock: 'result'`.
#[napi(catch_unwind)]
pub fn blocked_call_result(
    message: String,
    violations_json: String,
    warnings_json: String,
) -> String {
    let parse = |t: &str| serde_json::from_str(t).unwrap_or(Value::Array(Vec::new()));
    in_band::blocked_call_result(&message, parse(&violations_json), parse(&warnings_json))
        .to_string()
}

/// The fields of a tool definition that are pinned.
#[napi(catch_unwind)]
pub fn pinned_fields() -> Vec<String> {
    execlave_core::tools::diff::PINNED_FIELDS
        .iter()
        .map(|f| (*f).to_owned())
        .collect()
}

/// The digest of a definition given as JSON text (for tests and tools).
#[napi(catch_unwind)]
pub fn tool_digest(definition_json: String) -> Result<String> {
    let value: Value =
        serde_json::from_str(&definition_json).map_err(|e| invalid(format!("not JSON: {e}")))?;
    Ok(execlave_core::tools::canonical::digest_of(&value))
}

/// `execlave-pins accept --report`: the lockfile's pins, as `server`'s
/// tools, sent as `agent_id`'s tool-integrity baseline (key and base URL
/// from `EXECLAVE_API_KEY` / `EXECLAVE_BASE_URL`). Blocking: for the CLI.
/// Returns `{"internalId", "sent", "skipped"}` as JSON.
#[napi(catch_unwind)]
pub fn report_baseline(lockfile: String, server: String, agent_id: String) -> Result<String> {
    use execlave_core::tools::baseline::{report_baseline, Target};
    let target = Target {
        api_key: None,
        base_url: None,
    };
    let r = report_baseline(Path::new(&lockfile), &server, &agent_id, target).map_err(invalid)?;
    Ok(json!({ "internalId": r.internal_id, "sent": r.sent, "skipped": r.skipped }).to_string())
}
