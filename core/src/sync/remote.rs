//! The control plane's part of a decision, for calls that passed the local
//! check but need the server (policy types only it evaluates, or
//! `enforcement: 'remote'`): one enforce request, its answer turned into a
//! [`RemoteVerdict`] the engine applies.

use crate::bypass::BypassReason;
use crate::control_plane::{ApiError, Connection, EnforceAnswer, EnforceRequest};
use crate::engine::RemoteVerdict;
use crate::log::Logger;

pub async fn ask(connection: &Connection, log: &Logger, request: &EnforceRequest) -> RemoteVerdict {
    let c = connection;
    let breaker_open = !c.breaker.allow_request();
    let answer = if !breaker_open {
        c.api.enforce(request).await
    } else {
        Err(ApiError::Network(format!(
            "circuit open after {} consecutive failures",
            c.breaker.consecutive_failures()
        )))
    };
    match answer {
        Ok(EnforceAnswer::Allowed { warnings }) => {
            c.succeeded();
            RemoteVerdict::Allowed { warnings }
        }
        Ok(EnforceAnswer::Blocked { violations }) => {
            c.succeeded();
            RemoteVerdict::Blocked { violations }
        }
        Ok(EnforceAnswer::ApprovalRequired {
            approval_request_id,
        }) => {
            c.succeeded();
            RemoteVerdict::ApprovalRequired(approval_request_id)
        }
        Ok(EnforceAnswer::PlanLimit { message, .. }) => {
            c.succeeded();
            log.once("plan-limit", || {
                format!("Execlave plan limit reached: {message}")
            });
            RemoteVerdict::Outage(
                format!("plan limit reached: {message}"),
                BypassReason::PlanLimitExceeded,
            )
        }
        Err(ApiError::Auth(status)) => {
            c.failed(&ApiError::Auth(status), "remote decision");
            RemoteVerdict::AuthFailed(status)
        }
        Err(e) if !e.is_enforce_outage() => {
            c.failed(&e, "remote decision");
            RemoteVerdict::Undecided(format!(
                "the Execlave control plane did not decide this call: {e}"
            ))
        }
        Err(e) => {
            c.failed(&e, "remote decision");
            let reason = match e {
                _ if breaker_open => BypassReason::CircuitBreakerOpen,
                ApiError::Network(_) => BypassReason::NetworkError,
                _ => BypassReason::ServerError,
            };
            RemoteVerdict::Outage(
                format!("the Execlave control plane is unreachable: {e}"),
                reason,
            )
        }
    }
}
