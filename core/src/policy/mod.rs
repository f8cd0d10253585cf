//! Tool-invocation policies (`docs/policy-format.md`): loading, validation
//! and local evaluation.
//!
//! - [`load_path`] / [`parse_inline`] read raw policies;
//! - [`PolicySet::compile_strict`] (local policies) and
//!   [`PolicySet::compile_lenient`] (control-plane policies) validate and
//!   compile them;
//! - [`PolicySet::evaluate`] decides one call.

mod argument_rule;
mod compile;
mod error;
mod load;
mod local_type;
mod number;
mod path;
mod policy_set;
mod regex_budget;
mod tool_pattern;

pub use error::PolicyError;
pub use load::{load_path, parse_inline, SourcedPolicy};
pub use local_type::ControlPlane;
pub use policy_set::PolicySet;
