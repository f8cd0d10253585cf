//! Keeping up with the control plane, on the core's runtime: the policy
//! set ([`policies`], with its on-disk [`policy_cache`]), the agents'
//! internal ids and kill switch ([`kill_switch`]), and the server's part of
//! a decision ([`remote`]) and the wait for a human's approval
//! ([`approval`]). Each loop holds only the parts it updates and
//! ends when the runtime shuts down; the loops keep their own retry
//! schedule through an outage ([`schedule`]), apart from the breaker.

pub mod approval;
pub mod kill_switch;
pub mod policies;
pub mod policy_cache;
pub mod remote;
pub mod schedule;
