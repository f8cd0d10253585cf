//! The per-call crossing, kept as cheap as napi allows. Measured inside MCP
//! traffic, a method call on a class instance costs ~3 µs more than a plain
//! function (napi-rs unwraps and borrow-registers `this`), and each string
//! argument ~1.5 µs (two napi calls, an allocation, a copy). So the hot
//! path is a plain function taking numbers only: an agent slot, and a tool
//! id that JS caches per tool name.
//!
//! Both tables are per thread: each JS thread (main or worker) has its own
//! isolate, its own governors and its own slots, and is the only thread
//! that calls these functions.

use execlave_core::policy::{ArgumentPlan, ArgumentValue};
use execlave_core::{AgentHandle, Error, Governor, Outcome, Undecided};
use std::cell::RefCell;
use std::collections::HashMap;

/// Tool names interned per thread, at most this many; past it, JS passes
/// names as strings (the slower full path), so memory stays bounded
/// whatever tool names a caller makes up.
const MAX_TOOL_IDS: usize = 4096;
/// Longer names are not interned (the full path still takes them).
const MAX_INTERNED_NAME: usize = 256;

struct Slot {
    governor: Governor,
    handle: AgentHandle,
}

/// A slot handle, as JS holds it: the slot's index in the low
/// [`INDEX_BITS`] bits, its generation above. A freed slot is reused with
/// the next generation, so a handle JS kept across a release (a call that
/// waited for the first sync while its client closed) never names the
/// registration that reused the slot: it is unknown, and the call is
/// refused rather than decided under another agent's registration.
const INDEX_BITS: u32 = 20;
const INDEX_MASK: u32 = (1 << INDEX_BITS) - 1;
/// Generations a slot goes through; one that used them all is retired,
/// never reused, so a handle is never repeated on a thread.
const GENERATIONS: u16 = 1 << (32 - INDEX_BITS);

#[derive(Default)]
struct Tables {
    /// Agent slots; a freed slot (released, or its governor was collected)
    /// is reused, with its next generation.
    slots: Vec<Option<Slot>>,
    /// Each slot's current generation.
    generations: Vec<u16>,
    /// Freed slots, so that taking one costs O(1) however many are in use.
    free: Vec<u32>,
    /// Tool id - 1 → name; ids start at 1 (0 means "not interned").
    names: Vec<Box<str>>,
    ids: HashMap<Box<str>, u32>,
}

impl Tables {
    /// The slot a handle names, if it is still that registration's.
    fn slot(&self, handle: u32) -> Option<&Slot> {
        let index = (handle & INDEX_MASK) as usize;
        if u32::from(*self.generations.get(index)?) != handle >> INDEX_BITS {
            return None;
        }
        self.slots.get(index)?.as_ref()
    }
}

thread_local! {
    static TABLES: RefCell<Tables> = RefCell::default();
}

/// Gives a registered agent a slot on this thread; `None` when the thread
/// has no slot left (about a million registrations in use at once).
pub fn add_slot(governor: Governor, handle: AgentHandle) -> Option<u32> {
    TABLES.with_borrow_mut(|t| {
        let slot = Some(Slot { governor, handle });
        let index = match t.free.pop() {
            Some(i) => {
                t.slots[i as usize] = slot;
                i
            }
            None if t.slots.len() > INDEX_MASK as usize => return None,
            None => {
                t.slots.push(slot);
                t.generations.push(0);
                (t.slots.len() - 1) as u32
            }
        };
        Some(index | (u32::from(t.generations[index as usize]) << INDEX_BITS))
    })
}

/// The core's handle of the agent in a slot.
pub fn handle(slot: u32) -> Option<AgentHandle> {
    TABLES.with_borrow(|t| Some(t.slot(slot)?.handle))
}

/// Frees slots (released, or their governor is going away). Tolerates
/// thread teardown, when the table may already be gone.
pub fn remove_slots(slots: impl IntoIterator<Item = u32>) {
    let _ = TABLES.try_with(|t| {
        if let Ok(mut t) = t.try_borrow_mut() {
            for slot in slots {
                if t.slot(slot).is_none() {
                    continue;
                }
                let index = (slot & INDEX_MASK) as usize;
                t.slots[index] = None;
                let generation = t.generations[index] + 1;
                if generation < GENERATIONS {
                    t.generations[index] = generation;
                    t.free.push(index as u32);
                } else {
                    // Retired: every handle it could give has been given.
                    t.generations[index] = u16::MAX;
                }
            }
        }
    });
}

/// The id of a tool name on this thread; 0 when it cannot be interned.
pub fn tool_id(name: &str) -> u32 {
    if name.len() > MAX_INTERNED_NAME {
        return 0;
    }
    TABLES.with_borrow_mut(|t| {
        if let Some(&id) = t.ids.get(name) {
            return id;
        }
        if t.names.len() >= MAX_TOOL_IDS {
            return 0;
        }
        t.names.push(name.into());
        let id = t.names.len() as u32;
        t.ids.insert(name.into(), id);
        id
    })
}

/// Runs `f` with the slot's governor, its handle and the interned tool
/// name; `None` for an unknown slot or tool id.
fn with_slot_tool<R>(slot: u32, tool: u32, f: impl FnOnce(&Slot, &str) -> R) -> Option<R> {
    TABLES.with_borrow(|t| {
        let s = t.slot(slot)?;
        let name = t.names.get((tool as usize).checked_sub(1)?)?;
        Some(f(s, name))
    })
}

/// [`Governor::decide_by_tool`] for a slot and a tool id; an unknown slot
/// or id is left to the full path too.
pub fn decide_by_tool(slot: u32, tool: u32) -> Result<u64, Undecided> {
    with_slot_tool(slot, tool, |s, name| {
        s.governor.decide_by_tool(s.handle, name)
    })
    .unwrap_or(Err(Undecided::Other))
}

/// [`Governor::argument_plan`] for a slot and a tool id (`None`: unknown).
pub fn argument_plan(slot: u32, tool: u32) -> Option<ArgumentPlan> {
    with_slot_tool(slot, tool, |s, name| {
        s.governor.argument_plan(s.handle, name)
    })
    .flatten()
}

/// [`Governor::decide_values`] for a slot and a tool id; an unknown slot
/// or id is left to the full path.
pub fn decide_values(
    slot: u32,
    tool: u32,
    plan_id: u64,
    values: &[ArgumentValue],
) -> Result<u64, Undecided> {
    with_slot_tool(slot, tool, |s, name| {
        s.governor.decide_values(s.handle, name, plan_id, values)
    })
    .unwrap_or(Err(Undecided::Other))
}

/// [`Governor::decide`] for a slot ([`Governor::decide_round`] for a
/// call sent with a `request_state`); the tool is named by its id, or by
/// `tool` when it has none (id 0).
pub fn decide(
    slot: u32,
    tool_id: u32,
    tool: Option<String>,
    args_json: Option<String>,
    track: bool,
    completions_owed: bool,
    request_state: Option<String>,
) -> Result<Outcome, Error> {
    TABLES.with_borrow(|t| {
        let s = t
            .slot(slot)
            .ok_or_else(|| Error::invalid_argument(format!("unknown agent handle {slot}")))?;
        let tool = match tool {
            Some(name) => name,
            None => t
                .names
                .get((tool_id as usize).wrapping_sub(1))
                .ok_or_else(|| Error::invalid_argument(format!("unknown tool id {tool_id}")))?
                .to_string(),
        };
        match request_state {
            None => s
                .governor
                .decide(s.handle, tool, args_json, track, completions_owed),
            Some(state) => {
                s.governor
                    .decide_round(s.handle, tool, args_json, track, completions_owed, &state)
            }
        }
    })
}
