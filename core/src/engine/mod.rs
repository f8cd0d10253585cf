//! The decision engine: who calls ([`agents`]), the policies in force
//! ([`policy_store`]), the decision itself ([`decide`]), what it means for
//! the host ([`outcome`]), the calls between decision and end
//! ([`calls`]: tickets, pending calls, record order), and which listed
//! tools the policies refuse by name ([`listing`]), the rounds of a
//! multi-round call ([`rounds`]), the wait for an approval
//! ([`approval_wait`]) and the local approver's part ([`local_approval`]).

pub mod agents;
pub mod approval_wait;
pub mod calls;
pub mod decide;
pub mod descriptors;
pub mod listing;
pub mod local_approval;
pub mod outcome;
pub mod policy_store;
pub mod rounds;

pub use crate::agent::AgentIdentity;
pub use agents::{AgentHandle, AgentStatus};
pub use calls::{Completion, Ending};
pub use decide::{Engine, EngineSettings};
pub use outcome::{Outcome, RemoteVerdict, Ticket, Undecided};
