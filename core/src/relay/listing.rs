//! `tools/list` answers on their way to the host: the whole list is
//! checked against the pins (`--tool-pins`), then the tools a policy
//! refuses are left out (`--hide-blocked-tools`), as the SDK's wrapper
//! does.

use super::context::Context;
use super::framing::line_of;
use crate::tools::diff::PINNED_FIELDS;
use crate::tools::pins::ListedTool;
use serde_json::{Map, Value};

/// The answer the host gets for the server's `tools/list` answer `line`;
/// the line itself when nothing changes.
pub fn answer_for_host(ctx: &Context, line: Vec<u8>) -> Vec<u8> {
    let hide = ctx.config.hide_blocked_tools;
    if ctx.pins.is_none() && !hide {
        return with_newline(line);
    }
    let Ok(mut answer) = serde_json::from_slice::<Value>(&line) else {
        return with_newline(line);
    };
    let Some(tools) = answer
        .pointer_mut("/result/tools")
        .and_then(Value::as_array_mut)
    else {
        return with_newline(line);
    };
    observe_pins(ctx, tools);
    if !hide {
        return with_newline(line);
    }
    let positions: Vec<usize> = (0..tools.len())
        .filter(|&i| tools[i]["name"].is_string())
        .collect();
    let names: Vec<String> = positions
        .iter()
        .map(|&i| tools[i]["name"].as_str().unwrap_or_default().to_owned())
        .collect();
    let refused = match ctx.governor.refused_by_name(ctx.agent(), &names) {
        Ok(r) => r,
        Err(e) => {
            super::say(&format!(
                "the tool list could not be filtered: {}",
                e.message
            ));
            return with_newline(line);
        }
    };
    if !refused.contains(&true) {
        return with_newline(line);
    }
    let hidden: Vec<usize> = positions
        .iter()
        .zip(&refused)
        .filter(|(_, r)| **r)
        .map(|(i, _)| *i)
        .collect();
    let mut index = 0;
    tools.retain(|_| {
        let keep = !hidden.contains(&index);
        index += 1;
        keep
    });
    line_of(&answer)
}

/// One listing per `tools/list` answer; the changes it finds are said on
/// stderr (with `--on-tool-change block`, calls of those tools are then
/// refused by the gate).
fn observe_pins(ctx: &Context, tools: &[Value]) {
    let Some(pins) = &ctx.pins else { return };
    let listed: Vec<ListedTool> = tools
        .iter()
        .filter_map(|t| {
            let name = t["name"].as_str()?.to_owned();
            let definition = t.as_object().map(|o| {
                let fields: Map<String, Value> = PINNED_FIELDS
                    .iter()
                    .filter_map(|f| o.get(*f).map(|v| ((*f).to_owned(), v.clone())))
                    .collect();
                Value::Object(fields)
            });
            Some(ListedTool { name, definition })
        })
        .collect();
    let mut pins = pins.lock().unwrap_or_else(|e| e.into_inner());
    let id = pins.begin_listing();
    match pins.observe_page(id, listed) {
        Ok(changes) => {
            for change in changes {
                super::say(&change.message);
            }
        }
        Err(e) => super::say(&e.message),
    }
    pins.end_listing(id);
}

fn with_newline(mut line: Vec<u8>) -> Vec<u8> {
    line.push(b'\n');
    line
}
