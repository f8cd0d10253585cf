//! `decideByTool`, the call made once per governed tool call, as a raw
//! Node-API callback. napi-rs's generated glue opens and closes a borrow
//! scope around every call (thread-local bookkeeping for `&self` and
//! reference arguments), which this function, taking two numbers and
//! returning one, does not need; measured inside MCP traffic, skipping it
//! saves ~1 µs per call (~1% of a bare in-memory callTool).

use crate::fast_path;
use execlave_core::Undecided;
use napi::bindgen_prelude::{JsObjectValue, Object};
use napi::{sys, Env, Result};
use std::ptr;

/// Registers `decideByTool(handle, toolId)` on the module's exports.
pub fn register(exports: &mut Object, env: &Env) -> Result<()> {
    let function = env.create_function::<(), ()>("decideByTool", decide_by_tool)?;
    exports.set_named_property("decideByTool", function)
}

/// `decideByTool(handle, toolId)`: the ticket of a call the tool name alone
/// allows (see `Governor::decide_by_tool`); else call `decide` with the
/// arguments: -2 when an argument rule applies to the tool (so its next
/// calls may go straight there), -1 for anything else. Anything odd
/// (missing or non-numeric arguments) is -1 too, so the full path, which
/// reports errors, takes over.
unsafe extern "C" fn decide_by_tool(
    env: sys::napi_env,
    info: sys::napi_callback_info,
) -> sys::napi_value {
    let mut argc = 2usize;
    let mut argv = [ptr::null_mut(); 2];
    let mut handle = 0u32;
    let mut tool_id = 0u32;
    // SAFETY: `env` and `info` are the ones Node-API passed to this
    // callback; `argv` has room for the `argc` values requested.
    let ok = unsafe {
        sys::napi_get_cb_info(
            env,
            info,
            &mut argc,
            argv.as_mut_ptr(),
            ptr::null_mut(),
            ptr::null_mut(),
        ) == sys::Status::napi_ok
            && argc >= 2
            && sys::napi_get_value_uint32(env, argv[0], &mut handle) == sys::Status::napi_ok
            && sys::napi_get_value_uint32(env, argv[1], &mut tool_id) == sys::Status::napi_ok
    };
    // A panic must not unwind through this `extern "C"` frame (that would
    // abort the host process): it becomes -1, and the full path decides.
    let decide = || match fast_path::decide_by_tool(handle, tool_id) {
        Ok(ticket) => ticket as f64,
        Err(Undecided::NeedsArguments) => -2.0,
        Err(Undecided::Other) => -1.0,
    };
    let answer = if ok {
        std::panic::catch_unwind(decide).unwrap_or(-1.0)
    } else {
        -1.0
    };
    let mut result = ptr::null_mut();
    // SAFETY: as above; on failure `result` stays null, which Node-API
    // returns to JS as `undefined`, and JS treats anything but a
    // non-negative number as "use the full path".
    unsafe { sys::napi_create_double(env, answer, &mut result) };
    result
}
