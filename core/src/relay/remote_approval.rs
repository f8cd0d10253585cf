//! A control-plane approval (the service answered 202) asked in the host's
//! window too. The API has no way for the SDK to grant an approval, and the
//! service's approval is sealed and verified with a single-use certificate:
//! so the person at the host's keyboard can refuse the call, never approve
//! it alone. The call goes ahead only when both the person accepted and
//! the service approved with a certificate that verified (verified only
//! after the person accepted, so a decline uses no certificate). Whichever
//! refuses first ends the other: a refusal in the host cancels the
//! service's wait; a refusal from the service withdraws the question.

use super::approval::{ask, shown_arguments};
use super::context::Context;
use super::gate::on_governor;
use crate::engine::approval_wait::ApprovalHooks;
use crate::engine::local_approval::LocalVerdict;
use crate::engine::{Outcome, Ticket};
use std::future::Future;
use std::pin::Pin;
use tokio::sync::oneshot;

/// How much of the approval request's id the question shows.
const SHOWN_ID_CHARS: usize = 100;

/// What became of a call the control plane was asked about.
pub enum Remote {
    /// The core's outcome (allowed, refused by the service, or any other).
    Decided(Outcome),
    /// The person in the host's window refused it: why. The service's wait
    /// was cancelled and recorded as such, with this reason.
    RefusedInHost(String),
}

/// Asks the control plane about the pending call `ticket` (an `AskServer`
/// outcome); on a 202, with a host that can ask its user, asks them too.
pub async fn decide_remote(
    ctx: &Context,
    ticket: Ticket,
    tool: &str,
    args_json: Option<&str>,
) -> Remote {
    let g = ctx.governor.clone();
    if !ctx.host().elicitation {
        let remote = on_governor(
            &ctx.governor,
            async move { g.decide_remote(ticket, None).await },
        );
        return Remote::Decided(remote.await.unwrap_or(Outcome::Closed));
    }
    let (on_pending, pending) = oneshot::channel();
    let (consent, consent_rx) = oneshot::channel();
    // Held until the call is settled: dropped unsent, it refuses the call
    // in the core, which must learn why from `cancel_because` first.
    let mut consent = Some(consent);
    let hooks = ApprovalHooks {
        on_pending: Some(on_pending),
        consent: Some(consent_rx),
    };
    let remote = on_governor(&ctx.governor, async move {
        g.decide_remote_observed(ticket, None, hooks).await
    });
    tokio::pin!(remote);
    let person = async {
        // No id: the service decided without a 202; nobody is asked.
        let id = pending.await.ok()?;
        let message = remote_question(&ctx.config.agent_id, tool, args_json, &id);
        Some(ask(ctx, message).await)
    };
    match race(remote.as_mut(), person, &mut consent).await {
        Raced::Service(outcome) => Remote::Decided(outcome.unwrap_or(Outcome::Closed)),
        Raced::Refused(reason) => {
            ctx.governor.cancel_because(ticket, &reason);
            // Resolves `Cancelled` at once (or with what ended it first).
            let _ = remote.await;
            Remote::RefusedInHost(reason)
        }
        Raced::ServiceToFinish => Remote::Decided(remote.await.unwrap_or(Outcome::Closed)),
    }
}

/// How the race between the service and the person ended.
#[derive(Debug, PartialEq)]
enum Raced<T> {
    /// The service decided first (the question, if any, is withdrawn).
    Service(T),
    /// The person refused first, for this reason.
    Refused(String),
    /// The person accepted (the service was told), or nobody was asked:
    /// the service's decision is still to come.
    ServiceToFinish,
}

/// Races the service's decision `remote` against the person's answer
/// (`None`: nobody was asked). Dropping `person` unfinished (the service
/// decided first) withdraws its question; the person's acceptance, and
/// nothing else, is handed to the service's wait through `consent`.
async fn race<R, P>(
    remote: Pin<&mut R>,
    person: P,
    consent: &mut Option<oneshot::Sender<()>>,
) -> Raced<R::Output>
where
    R: Future,
    P: Future<Output = Option<LocalVerdict>>,
{
    // Biased: when both are ready, the service's word (its refusal or
    // error) is the one the host reads.
    tokio::select! {
        biased;
        outcome = remote => Raced::Service(outcome),
        verdict = person => match verdict {
            None => Raced::ServiceToFinish,
            Some(LocalVerdict::Approved) => {
                if let Some(consent) = consent.take() {
                    let _ = consent.send(());
                }
                Raced::ServiceToFinish
            }
            Some(other) => Raced::Refused(refusal_reason(other)),
        },
    }
}

fn refusal_reason(verdict: LocalVerdict) -> String {
    match verdict {
        LocalVerdict::Approved => "approved".into(),
        LocalVerdict::Denied { reason } => reason.unwrap_or_else(|| "refused in the host".into()),
        LocalVerdict::Failed(cause) => cause,
        LocalVerdict::TimedOut => {
            "nobody answered the approval question in the host in time".into()
        }
    }
}

/// The question: the call, that a control-plane policy requires approval,
/// its id, and that accepting here does not approve it there.
fn remote_question(agent: &str, tool: &str, args_json: Option<&str>, id: &str) -> String {
    let args = shown_arguments(args_json);
    // The id is the control plane's text: shown quoted, escaped, bounded.
    let id: String = id.chars().take(SHOWN_ID_CHARS).collect();
    format!(
        "Execlave: agent {agent} wants to call the tool \"{tool}\" with the arguments {args}.\n\
         A control-plane policy requires approval (approval request {id:?}).\n\
         Accepting here lets the call go ahead only once an approver has also approved it in \
         Execlave: it does not approve it on the control plane. Declining refuses it now.\n\
         Let this call go ahead?"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};

    /// Sets its flag when dropped: the person's question was withdrawn.
    struct Withdrawn<'a>(&'a AtomicBool);
    impl Drop for Withdrawn<'_> {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }

    /// A consent to hand to `race`, and what the service's wait would see.
    fn new_consent() -> (Option<oneshot::Sender<()>>, oneshot::Receiver<()>) {
        let (tx, rx) = oneshot::channel();
        (Some(tx), rx)
    }

    #[tokio::test]
    async fn the_service_deciding_first_withdraws_the_question_and_gives_no_consent() {
        let withdrawn = AtomicBool::new(false);
        let (mut consent, mut seen) = new_consent();
        let person = async {
            let _guard = Withdrawn(&withdrawn);
            std::future::pending::<Option<LocalVerdict>>().await
        };
        // Decides after the question is out.
        let remote = std::pin::pin!(async {
            tokio::task::yield_now().await;
            "denied"
        });
        let raced = race(remote, person, &mut consent).await;
        assert_eq!(raced, Raced::Service("denied"));
        assert!(withdrawn.load(Ordering::SeqCst));
        assert!(seen.try_recv().is_err(), "no consent without the person");
    }

    #[tokio::test]
    async fn only_an_approval_in_the_host_consents() {
        let (mut consent, seen) = new_consent();
        let remote = std::pin::pin!(std::future::pending::<()>());
        let person = async { Some(LocalVerdict::Approved) };
        let raced = race(remote, person, &mut consent).await;
        assert_eq!(raced, Raced::ServiceToFinish);
        assert!(seen.await.is_ok());

        for verdict in [
            LocalVerdict::Denied {
                reason: Some("declined in the host".into()),
            },
            LocalVerdict::Failed("unknown shape".into()),
            LocalVerdict::TimedOut,
        ] {
            let (mut consent, mut seen) = new_consent();
            let remote = std::pin::pin!(std::future::pending::<()>());
            let raced = race(remote, async { Some(verdict) }, &mut consent).await;
            assert!(matches!(raced, Raced::Refused(_)), "{raced:?}");
            // Kept for the caller to drop once the wait knows why.
            assert!(consent.is_some());
            assert!(seen.try_recv().is_err());
        }
    }

    #[tokio::test]
    async fn no_question_leaves_the_service_to_decide_alone() {
        let (mut consent, mut seen) = new_consent();
        let remote = std::pin::pin!(std::future::pending::<()>());
        let raced = race(remote, async { None }, &mut consent).await;
        assert_eq!(raced, Raced::ServiceToFinish);
        assert!(seen.try_recv().is_err());
    }

    #[test]
    fn the_question_says_accepting_here_is_not_the_approval() {
        let q = remote_question("a", "write_file", Some(r#"{"path":"/x"}"#), "apr_1");
        for part in [
            "write_file",
            "/x",
            "control-plane policy",
            "\"apr_1\"",
            "does not approve it on the control plane",
        ] {
            assert!(q.contains(part), "{part}: {q}");
        }
        let hostile = format!("apr\nApproved by Execlave{}", "x".repeat(500));
        let q = remote_question("a", "t", None, &hostile);
        assert!(
            !q.contains("\nApproved by"),
            "the id cannot start a line: {q}"
        );
        assert!(q.len() < 600);
    }
}
