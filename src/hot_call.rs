//! `decideByTool` and `decideValues`, the calls made once per governed
//! tool call, as raw Node-API callbacks. napi-rs's generated glue opens
//! and closes a borrow scope around every call (thread-local bookkeeping
//! for `&self` and reference arguments), which these functions, taking
//! numbers and plain values and returning a number, do not need; measured
//! inside MCP traffic, skipping it saves ~1 µs per call (~1% of a bare
//! in-memory callTool).

use crate::fast_path;
use execlave_core::policy::ArgumentValue;
use execlave_core::Undecided;
use napi::bindgen_prelude::{JsObjectValue, Object};
use napi::{sys, Env, Result};
use std::ptr;

/// Most values `decideValues` takes (a plan reading more is decided on
/// its JSON; see `argumentPlan`).
pub const MAX_VALUES: usize = 16;

/// Text up to this many bytes (less the NUL and a character's room) is
/// read in one Node-API call, through the stack.
const SHORT_TEXT: usize = 512;

/// `decideValues`' answer when the plan named is no longer in force.
const STALE: f64 = -3.0;

/// Registers `decideByTool(handle, toolId)` and `decideValues(handle,
/// toolId, planId, ...values)` on the module's exports.
pub fn register(exports: &mut Object, env: &Env) -> Result<()> {
    let function = env.create_function::<(), ()>("decideByTool", decide_by_tool)?;
    exports.set_named_property("decideByTool", function)?;
    let function = env.create_function::<(), ()>("decideValues", decide_values)?;
    exports.set_named_property("decideValues", function)
}

/// The answer of a raw callback: a number. On failure `result` stays
/// null, which Node-API returns to JS as `undefined`, and JS treats
/// anything but a non-negative number as "use the full path".
fn number(env: sys::napi_env, answer: f64) -> sys::napi_value {
    let mut result = ptr::null_mut();
    // SAFETY: `env` is the one Node-API passed to the running callback.
    unsafe { sys::napi_create_double(env, answer, &mut result) };
    result
}

/// `decideValues(handle, toolId, planId, ...values)`: the values path
/// (`Governor::decide_values`). `values[i]` is the value JS read at the
/// plan's lookup `i` from the call's argument snapshot: `undefined`
/// (missing), a string, a number, or an array of strings and numbers.
/// Returns the ticket of a call allowed with nothing to report; -3 when
/// the plan changed (JS reads it again); -1 for anything else, and for any
/// value of another shape (null, a boolean, an object, a nested array) or
/// text that is not well-formed UTF-16: the full path, on the JSON, decides
/// those exactly as before.
unsafe extern "C" fn decide_values(
    env: sys::napi_env,
    info: sys::napi_callback_info,
) -> sys::napi_value {
    // SAFETY: `env` and `info` are the running callback's.
    let Some((argv, argc, handle, tool_id)) =
        (unsafe { slot_and_tool::<{ 3 + MAX_VALUES + 1 }>(env, info) })
    else {
        return number(env, -1.0);
    };
    let mut plan_id = 0f64;
    let ok = (3..=3 + MAX_VALUES).contains(&argc)
        // SAFETY: `argv[2]` is one of the callback's arguments (argc ≥ 3).
        && unsafe { sys::napi_get_value_double(env, argv[2], &mut plan_id) }
            == sys::Status::napi_ok;
    // Plan ids are whole numbers from 1, well below 2^53.
    let plan_ok = plan_id >= 1.0 && plan_id.fract() == 0.0 && plan_id < 9.007e15;
    if !(ok && plan_ok) {
        return number(env, -1.0);
    }
    let mut values = Vec::with_capacity(argc - 3);
    for &v in &argv[3..argc] {
        // SAFETY: `v` is one of the callback's arguments.
        match unsafe { read_value(env, v, true) } {
            Some(value) => values.push(value),
            None => return number(env, -1.0),
        }
    }
    // A panic must not unwind through this `extern "C"` frame: it becomes
    // -1, and the full path decides.
    let decide = || match fast_path::decide_values(handle, tool_id, plan_id as u64, &values) {
        Ok(ticket) => ticket as f64,
        Err(Undecided::Stale) => STALE,
        Err(_) => -1.0,
    };
    number(env, std::panic::catch_unwind(decide).unwrap_or(-1.0))
}

/// One value of `decideValues`; `None`: a shape the values path does not
/// take. `top`: an argument itself (it may be missing, or an array).
///
/// # Safety
/// `env` is the running callback's, `value` one of its values.
unsafe fn read_value(
    env: sys::napi_env,
    value: sys::napi_value,
    top: bool,
) -> Option<ArgumentValue> {
    let mut kind = 0;
    // SAFETY: per this function's contract.
    if unsafe { sys::napi_typeof(env, value, &mut kind) } != sys::Status::napi_ok {
        return None;
    }
    match kind {
        sys::ValueType::napi_undefined if top => Some(ArgumentValue::Missing),
        sys::ValueType::napi_number => {
            let mut n = 0f64;
            // SAFETY: `value` is a number.
            let ok =
                unsafe { sys::napi_get_value_double(env, value, &mut n) } == sys::Status::napi_ok;
            // The snapshot has only finite numbers, and no -0 (JSON has
            // neither); anything else is not what the JSON says.
            (ok && n.is_finite()).then_some(ArgumentValue::Number(if n == 0.0 { 0.0 } else { n }))
        }
        // SAFETY: `value` is a string.
        sys::ValueType::napi_string => unsafe { read_text(env, value) }.map(ArgumentValue::Text),
        sys::ValueType::napi_object if top => {
            let mut is_array = false;
            let mut len = 0u32;
            // SAFETY: `value` is an object.
            let ok = unsafe {
                sys::napi_is_array(env, value, &mut is_array) == sys::Status::napi_ok
                    && is_array
                    && sys::napi_get_array_length(env, value, &mut len) == sys::Status::napi_ok
            };
            if !ok {
                return None;
            }
            let mut items = Vec::with_capacity(len as usize);
            for i in 0..len {
                let mut item = ptr::null_mut();
                // SAFETY: `value` is an array; a hole reads as undefined,
                // which is refused below (the snapshot has none).
                if unsafe { sys::napi_get_element(env, value, i, &mut item) }
                    != sys::Status::napi_ok
                {
                    return None;
                }
                // SAFETY: `item` was just read in this callback.
                items.push(unsafe { read_value(env, item, false) }?);
            }
            Some(ArgumentValue::List(items))
        }
        _ => None,
    }
}

/// A JS string as UTF-8; `None` when it is not well-formed UTF-16 (a lone
/// surrogate): Node-API would put U+FFFD for it where the JSON text the
/// full path reads has an escape that does not parse, so such text, and a
/// real U+FFFD alike, goes to the full path.
///
/// # Safety
/// `env` is the running callback's, `value` a string of it.
unsafe fn read_text(env: sys::napi_env, value: sys::napi_value) -> Option<String> {
    // Most values are short: one copy into the stack, no length query.
    let mut short = [0u8; SHORT_TEXT];
    let mut written = 0usize;
    // SAFETY: `short` has room for SHORT_TEXT bytes, the NUL included.
    let ok = unsafe {
        sys::napi_get_value_string_utf8(
            env,
            value,
            short.as_mut_ptr().cast(),
            SHORT_TEXT,
            &mut written,
        )
    } == sys::Status::napi_ok;
    if !ok {
        return None;
    }
    // Shorter than the room left: the whole text (a cut one fills it
    // but for at most a character's last bytes).
    if written + 4 < SHORT_TEXT {
        let text = std::str::from_utf8(&short[..written]).ok()?;
        return (!text.contains('\u{FFFD}')).then(|| text.to_owned());
    }
    let mut len = 0usize;
    // SAFETY: a null buffer asks for the length in bytes.
    if unsafe { sys::napi_get_value_string_utf8(env, value, ptr::null_mut(), 0, &mut len) }
        != sys::Status::napi_ok
    {
        return None;
    }
    let mut bytes = vec![0u8; len + 1];
    let mut written = 0usize;
    // SAFETY: `bytes` has room for `len` bytes and the terminating NUL.
    let ok = unsafe {
        sys::napi_get_value_string_utf8(
            env,
            value,
            bytes.as_mut_ptr().cast(),
            len + 1,
            &mut written,
        )
    } == sys::Status::napi_ok;
    if !ok || written != len {
        return None;
    }
    bytes.truncate(len);
    let text = String::from_utf8(bytes).ok()?;
    (!text.contains('\u{FFFD}')).then_some(text)
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
    // SAFETY: `env` and `info` are the running callback's.
    let Some((_, _, handle, tool_id)) = (unsafe { slot_and_tool::<2>(env, info) }) else {
        return number(env, -1.0);
    };
    // A panic must not unwind through this `extern "C"` frame (that would
    // abort the host process): it becomes -1, and the full path decides.
    let decide = || match fast_path::decide_by_tool(handle, tool_id) {
        Ok(ticket) => ticket as f64,
        Err(Undecided::NeedsArguments) => -2.0,
        Err(Undecided::Other | Undecided::Stale) => -1.0,
    };
    number(env, std::panic::catch_unwind(decide).unwrap_or(-1.0))
}

/// A raw callback's arguments (room for `N`; the count says how many were
/// passed, which may be more), with the first two read as the agent slot
/// and the tool id; `None` when there are fewer than two or either is not
/// a number.
///
/// # Safety
/// `env` and `info` are the ones Node-API passed to the running callback.
unsafe fn slot_and_tool<const N: usize>(
    env: sys::napi_env,
    info: sys::napi_callback_info,
) -> Option<([sys::napi_value; N], usize, u32, u32)> {
    let mut argc = N;
    let mut argv = [ptr::null_mut(); N];
    let (mut handle, mut tool_id) = (0u32, 0u32);
    // SAFETY: per this function's contract; `argv` has room for `argc`.
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
    ok.then_some((argv, argc, handle, tool_id))
}
