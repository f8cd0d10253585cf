//! Tool-invocation policies (`docs/policies.md`): loading, validation and
//! local evaluation, in stages:
//!
//! - `load`: files, directories and values become [`SourcedPolicy`]s (raw
//!   JSON plus where it came from);
//! - `raw`: serde types that check each field's JSON type;
//! - `compile`: a raw policy becomes a validated, compiled policy
//!   (`fields`: the checks of single fields that types cannot express);
//!   `rules` compiles its argument rules, one module per kind
//!   (`rules/{path,glob,regex,number}`), within the set's regex budget;
//!   `local_type` says which `policyType` a local policy may have;
//!   `local_checks` refuses unknown fields and impossible agent ids in
//!   local policies (`near_miss`: the "did you mean");
//! - `policy_set`: [`PolicySet::compile_strict`] (local policies) and
//!   [`PolicySet::compile_lenient`] (control-plane policies) build the set;
//!   [`PolicySet::evaluate`] and [`PolicySet::evaluate_tool`] decide one
//!   call;
//! - `plan`: what one (agent, tool) pair needs, computed once and cached;
//!   `matchers`: the plan's argument rules combined per (argument, kind);
//!   `arguments`: a call's arguments, parsed only when a rule needs them.

mod arguments;
mod compile;
mod error;
mod fields;
mod load;
mod local_checks;
mod local_type;
mod matchers;
mod near_miss;
mod plan;
mod policy_set;
mod raw;
mod rules;
mod values;

pub use error::PolicyError;
pub use load::{load_path, SourcedPolicy};
pub use local_checks::count_unknown_fields;
pub use local_type::ControlPlane;
pub use policy_set::PolicySet;
pub use values::{ArgumentLookup, ArgumentPlan, ArgumentValue, ValuesVerdict};
