//! The relay's one loop: lines from the host and from the server, each
//! passed on as it came, except the two methods the relay governs
//! (`tools/call` requests, `tools/list` answers) and the answers to its own
//! requests to the host. It also keeps what a dying server leaves behind:
//! the requests it will never answer.

use super::cancelled::{cancellation_of, cancelled, Cancelled};
use super::context::{Context, HostInfo};
use super::framing::{
    classify, error_answer, preview, read_frame, Frame, IdKey, Message, MAX_MESSAGE_BYTES,
};
use super::gate::{self, ToolCall, Verdict};
use super::results::{returned_call_result, scanned_call_result};
use super::server::Server;
use super::{host_io, http_upstream, listing, say, upstream};
use crate::engine::{Completion, Ticket};
use serde_json::value::RawValue;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::{mpsc, oneshot};

/// JSON-RPC codes of the relay's own answers.
const PARSE_ERROR: i64 = -32700;
const INVALID_REQUEST: i64 = -32600;
const SERVER_GONE: i64 = -32000;

/// A host request sent on to the server, until it answers.
enum Forwarded {
    Call(Ticket, String),
    List,
    Other,
}

/// Why the loop ended.
enum End {
    HostLeft,
    ServerLeft,
}

struct Router {
    ctx: Arc<Context>,
    to_server: mpsc::UnboundedSender<Vec<u8>>,
    decided: mpsc::UnboundedSender<(ToolCall, Verdict)>,
    forwarded: HashMap<IdKey, Forwarded>,
    /// Calls being decided, each with the way to tell its gate that the
    /// host gave up on it.
    deciding: HashMap<IdKey, oneshot::Sender<()>>,
    cancelled: Cancelled,
}

/// Runs the relay until the host or the server ends; the exit code.
pub async fn relay(
    ctx: Arc<Context>,
    host_out: mpsc::UnboundedReceiver<Vec<u8>>,
) -> Result<i32, String> {
    let (to_server, server_out) = mpsc::unbounded_channel();
    let (server, mut from_server) = match &ctx.config.http {
        Some(target) => {
            let (session, from_server) = http_upstream::start((**target).clone(), server_out)?;
            (Server::Http(session), from_server)
        }
        None => {
            let process = upstream::spawn(&ctx.config.command)?;
            tokio::spawn(write_lines(process.stdin, server_out));
            (Server::Process(process.child), spawn_reader(process.stdout))
        }
    };
    let host_writer = tokio::spawn(write_lines(host_io::stdout(), host_out));
    let mut from_host = spawn_reader(host_io::stdin());
    let (decided, mut decisions) = mpsc::unbounded_channel();
    let mut router = Router {
        ctx: ctx.clone(),
        to_server,
        decided,
        forwarded: HashMap::new(),
        deciding: HashMap::new(),
        cancelled: Cancelled::default(),
    };
    let end = loop {
        tokio::select! {
            frame = from_host.recv() => match frame {
                Some(frame) => router.on_host_frame(frame),
                None => break End::HostLeft,
            },
            frame = from_server.recv() => match frame {
                Some(frame) => router.on_server_frame(frame),
                None => break End::ServerLeft,
            },
            Some((call, verdict)) = decisions.recv() => router.decided(call, verdict),
        }
    };
    let code = match end {
        End::HostLeft => {
            // The server's stdin closes: it should exit. What it still
            // answers meanwhile goes on to the host (which may still read).
            let (to_server, _) = mpsc::unbounded_channel();
            drop(std::mem::replace(&mut router.to_server, to_server));
            let drain = async {
                while let Some(frame) = from_server.recv().await {
                    router.on_server_frame(frame);
                }
            };
            let _ = tokio::time::timeout(upstream::EXIT_GRACE, drain).await;
            server.end().await;
            router.abandon("the host went away before the server answered");
            0
        }
        End::ServerLeft => {
            let code = server.end().await.unwrap_or(1);
            say(&format!("the MCP server exited (code {code})"));
            router.abandon(
                "the MCP server exited before it answered; the call may or may not have run",
            );
            code
        }
    };
    ctx.send_host(Vec::new()); // the writer's last line: flush and stop
    let _ = tokio::time::timeout(upstream::EXIT_GRACE, host_writer).await;
    Ok(code)
}

impl Router {
    fn on_host_frame(&mut self, frame: std::io::Result<Frame>) {
        let line = match frame {
            Ok(Frame::Line(line)) => line,
            Ok(Frame::TooLong(n)) => {
                say(&format!("dropped a message from the host: {n} bytes, over the {MAX_MESSAGE_BYTES}-byte limit"));
                let message =
                    format!("message too large ({n} bytes; the limit is {MAX_MESSAGE_BYTES})");
                self.ctx
                    .send_host(error_answer(Value::Null, INVALID_REQUEST, &message, None));
                return;
            }
            Err(e) => return say(&format!("cannot read from the host: {e}")),
        };
        let message = match classify(&line) {
            Ok(m) => m,
            Err(why) => {
                say(&format!(
                    "dropped a malformed line from the host ({why}): {}",
                    preview(&line)
                ));
                let code = if why.starts_with("not a JSON") || why == "not UTF-8" {
                    PARSE_ERROR
                } else {
                    INVALID_REQUEST
                };
                self.ctx.send_host(error_answer(
                    Value::Null,
                    code,
                    &format!("execlave-mcp dropped the message: {why}"),
                    None,
                ));
                return;
            }
        };
        match message {
            Message::Request { id, .. } if self.id_in_use(&id) => {
                say(&format!(
                    "refused a request from the host that reuses the pending id {}",
                    id.0
                ));
                let answer = error_answer(
                    id.json(),
                    INVALID_REQUEST,
                    "an earlier request with this id is still pending or was cancelled \
                     unanswered (the server may still answer it); use a new id",
                    None,
                );
                self.ctx.send_host(answer);
            }
            Message::Request { id, method, .. } if method == "tools/call" => {
                let call = match ToolCall::read(id, &line) {
                    Ok(call) => call,
                    Err(answer) => return self.ctx.send_host(answer),
                };
                let (gave_up, host_gave_up) = oneshot::channel();
                self.deciding.insert(call.id.clone(), gave_up);
                let (ctx, decided) = (self.ctx.clone(), self.decided.clone());
                tokio::spawn(async move {
                    let verdict = gate::decide(&ctx, &call, host_gave_up).await;
                    let _ = decided.send((call, verdict));
                });
            }
            Message::Request { id, method, params } => {
                if method == "initialize" {
                    if let Some(params) = params.and_then(|p| serde_json::from_str(p.get()).ok()) {
                        self.ctx.adopt_host(HostInfo::of_initialize(&params));
                    }
                }
                let kind = if method == "tools/list" {
                    Forwarded::List
                } else {
                    Forwarded::Other
                };
                self.forwarded.insert(id, kind);
                self.send_server(line);
            }
            Message::Notification { method, .. } if method == "tools/call" => {
                say("dropped a tools/call sent as a notification (without an id): it would bypass the decision");
            }
            Message::Notification { method, params } if method == "notifications/cancelled" => {
                if self.cancelled_by_host(params) {
                    self.send_server(line);
                }
            }
            Message::Notification { .. } => self.send_server(line),
            Message::Response { id } => {
                if !self.ctx.take_answer(&id, &line) {
                    self.send_server(line);
                }
            }
        }
    }

    /// Whether a host request with `id` would be taken for another: one
    /// still pending, or one cancelled whose answer may yet come (MCP does
    /// not let a host reuse an id within a session).
    fn id_in_use(&self, id: &IdKey) -> bool {
        self.forwarded.contains_key(id)
            || self.deciding.contains_key(id)
            || self.cancelled.is_deciding(id)
            || self.cancelled.may_be_answered(id)
    }

    fn on_server_frame(&mut self, frame: std::io::Result<Frame>) {
        let line = match frame {
            Ok(Frame::Line(line)) => line,
            Ok(Frame::TooLong(n)) => {
                return say(&format!("dropped a message from the MCP server: {n} bytes, over the {MAX_MESSAGE_BYTES}-byte limit"));
            }
            Err(e) => return say(&format!("cannot read from the MCP server: {e}")),
        };
        let id = match classify(&line) {
            Ok(Message::Response { id }) => id,
            Ok(_) => return self.ctx.send_host(with_newline(line)),
            Err(why) => {
                return say(&format!(
                    "dropped a malformed line from the MCP server ({why}): {}",
                    preview(&line)
                ))
            }
        };
        let answer = match self.forwarded.remove(&id) {
            Some(Forwarded::Call(ticket, tool)) => {
                if self.ctx.governor.scans_tool_outputs(self.ctx.agent()) {
                    // The answer waits for the scan; others go on meanwhile.
                    let ctx = self.ctx.clone();
                    tokio::spawn(async move {
                        let answer = scanned_call_result(&ctx, &id, ticket, tool, line).await;
                        ctx.send_host(answer);
                    });
                    return;
                }
                returned_call_result(&self.ctx, ticket, &line);
                with_newline(line)
            }
            Some(Forwarded::List) => listing::answer_for_host(&self.ctx, line),
            Some(Forwarded::Other) => with_newline(line),
            None if self.cancelled.answered_late(&id) => return,
            None => {
                // No such request was sent: an answer for a call still being
                // decided (or refused) would read as its result in the host.
                return say(&format!(
                    "dropped an answer from the MCP server to no pending request (id {})",
                    id.0
                ));
            }
        };
        self.ctx.send_host(answer);
    }

    fn decided(&mut self, call: ToolCall, verdict: Verdict) {
        self.deciding.remove(&call.id);
        if self.cancelled.forget_deciding(&call.id) {
            // The host gave up while it was decided: nothing is sent, and
            // no answer is due.
            if let Verdict::Forward(ticket) = verdict {
                self.ctx.governor.complete(ticket, cancelled(None));
            }
            return;
        }
        match verdict {
            Verdict::Forward(ticket) => {
                self.forwarded
                    .insert(call.id, Forwarded::Call(ticket, call.tool.clone()));
                self.send_server(super::framing::line_of(&call.request));
            }
            Verdict::Refuse(answer) => self.ctx.send_host(answer),
            Verdict::Withdrawn => {}
        }
    }

    /// The server will not answer: each request still waiting gets an
    /// error, and each allowed call is recorded as failed.
    fn abandon(&mut self, why: &str) {
        let g = &self.ctx.governor;
        for (id, forwarded) in self.forwarded.drain() {
            if let Forwarded::Call(ticket, _) = forwarded {
                g.complete(
                    ticket,
                    Completion::threw(Some(why.into()), Some("ServerExited".into())),
                );
            }
            self.ctx
                .send_host(error_answer(id.json(), SERVER_GONE, why, None));
        }
        // A call the host cancelled is no longer here (`cancelled_by_host`
        // took it out), so each one left still waits for an answer.
        for (id, _) in self.deciding.drain() {
            self.ctx
                .send_host(error_answer(id.json(), SERVER_GONE, why, None));
        }
    }

    /// The host's `notifications/cancelled`: the request it names is
    /// answered no more (the host stopped waiting), and an allowed call is
    /// recorded as cancelled. True: the server should hear of it (it has
    /// the request).
    fn cancelled_by_host(&mut self, params: Option<&RawValue>) -> bool {
        let Some((id, reason)) = cancellation_of(params) else {
            return true; // not ours to judge: the server reads it as it likes
        };
        if let Some(gave_up) = self.deciding.remove(&id) {
            let _ = gave_up.send(()); // a wait for an approval stops
            self.cancelled.while_deciding(id);
            return false; // the server never saw the request
        }
        match self.forwarded.remove(&id) {
            Some(Forwarded::Call(ticket, _)) => {
                self.ctx.governor.complete(ticket, cancelled(reason));
            }
            Some(_) => {}
            None => return true,
        }
        self.cancelled.after_sending(id);
        true
    }

    fn send_server(&self, mut line: Vec<u8>) {
        if line.last() != Some(&b'\n') {
            line.push(b'\n');
        }
        let _ = self.to_server.send(line);
    }
}

fn with_newline(mut line: Vec<u8>) -> Vec<u8> {
    line.push(b'\n');
    line
}

/// Reads frames on a task of their own (a read is never cut short by the
/// loop's `select!`); a bounded queue keeps a fast writer from filling the
/// memory.
fn spawn_reader<R: AsyncRead + Unpin + Send + 'static>(
    input: R,
) -> mpsc::Receiver<std::io::Result<Frame>> {
    let (tx, rx) = mpsc::channel(64);
    tokio::spawn(async move {
        let mut input = BufReader::with_capacity(64 * 1024, input);
        while let Some(frame) = read_frame(&mut input, MAX_MESSAGE_BYTES).await.transpose() {
            let failed = frame.is_err();
            if tx.send(frame).await.is_err() || failed {
                break;
            }
        }
    });
    rx
}

/// Writes lines in order; an empty line means: flush and stop.
async fn write_lines<W: AsyncWrite + Unpin>(
    mut out: W,
    mut lines: mpsc::UnboundedReceiver<Vec<u8>>,
) {
    while let Some(line) = lines.recv().await {
        if line.is_empty() || out.write_all(&line).await.is_err() {
            break;
        }
        if lines.is_empty() && out.flush().await.is_err() {
            break;
        }
    }
    let _ = out.flush().await;
}
