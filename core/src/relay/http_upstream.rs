//! An MCP server over Streamable HTTP (MCP 2025-03-26 / 2025-06-18),
//! client side, with the same face as a stdio server: lines to it on one
//! channel, frames from it on another. The router governs both alike.
//!
//! Each message from the host is POSTed; the answer is one JSON message,
//! an event stream (the server's requests and notifications, then the
//! response), or 202 with no body. The session id the server gives at
//! `initialize` and the negotiated protocol version go on every later
//! request. After the host's `notifications/initialized` a GET opens the
//! server's own event stream (405: it has none). A request that gets no
//! response (the server unreachable, an HTTP error, a body that is no
//! message stream, a stream that ends first and cannot be resumed) is
//! answered here with a
//! JSON-RPC error that says why, passed to the router as the server's
//! answer: no request is left hanging, and nothing is passed on as
//! something it is not.

use super::framing::{classify, error_answer, preview, Frame, IdKey, Message, MAX_MESSAGE_BYTES};
use super::http_target::HttpTarget;
use super::say;
use reqwest::header::{HeaderName, HeaderValue, ACCEPT, CONTENT_TYPE};
use reqwest::{Response, StatusCode};
use serde_json::Value;
use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::{AbortHandle, JoinHandle, JoinSet};

const SESSION_ID: HeaderName = HeaderName::from_static("mcp-session-id");
const PROTOCOL_VERSION: HeaderName = HeaderName::from_static("mcp-protocol-version");
/// How long a connection may take to open. A response itself has no time
/// limit: a tool may run for minutes (the host has its own timeout, and
/// cancels).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long ending the session (DELETE) may take when the host leaves.
const DELETE_TIMEOUT: Duration = Duration::from_secs(1);
/// The JSON-RPC code of the relay's answer for a request the server did
/// not answer.
const UPSTREAM_FAILED: i64 = -32000;

type FrameSender = mpsc::Sender<io::Result<Frame>>;

/// The connection to the server, for the router to end.
pub struct HttpSession {
    shared: Arc<Shared>,
    dispatcher: JoinHandle<()>,
}

pub(super) struct Shared {
    pub(super) client: reqwest::Client,
    pub(super) target: HttpTarget,
    session_id: Mutex<Option<HeaderValue>>,
    protocol_version: Mutex<Option<HeaderValue>>,
}

/// The connection as the dispatcher and each request's task hold it:
/// with the way to the router, which closes once they are all done (the
/// router then knows nothing more will come).
pub(super) struct Link {
    shared: Arc<Shared>,
    pub(super) to_router: FrameSender,
}

impl std::ops::Deref for Link {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.shared
    }
}

/// What a line from the host is, for the transport.
pub(super) struct Outgoing {
    /// A request's id: it must get an answer.
    request: Option<IdKey>,
    method: Option<String>,
}

/// Starts the transport: `lines` from the router are sent to the server;
/// the returned receiver yields what the server sends (and the relay's
/// answers for requests it could not deliver).
pub fn start(
    target: HttpTarget,
    lines: mpsc::UnboundedReceiver<Vec<u8>>,
) -> Result<(HttpSession, mpsc::Receiver<io::Result<Frame>>), String> {
    if let Some(warning) = target.plain_http_warning() {
        say(&warning);
    }
    let mut builder = reqwest::Client::builder()
        .default_headers(target.headers.clone())
        .user_agent(concat!("execlave-mcp/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(CONNECT_TIMEOUT)
        // A redirect could carry the headers (tokens) elsewhere, and turn
        // a POST into a GET.
        .redirect(reqwest::redirect::Policy::none());
    if target.is_loopback() {
        builder = builder.no_proxy();
    }
    let client = builder
        .build()
        .map_err(|e| format!("cannot set up HTTP for --url: {e}"))?;
    let (to_router, from_server) = mpsc::channel(64);
    let shared = Arc::new(Shared {
        client,
        target,
        session_id: Mutex::new(None),
        protocol_version: Mutex::new(None),
    });
    let link = Arc::new(Link {
        shared: shared.clone(),
        to_router,
    });
    let dispatcher = tokio::spawn(dispatch(link, lines));
    Ok((HttpSession { shared, dispatcher }, from_server))
}

impl HttpSession {
    /// Ends the session: what is still in flight is dropped, and the
    /// server is told the session is over (DELETE, bounded in time).
    pub async fn end(self) {
        self.dispatcher.abort();
        let _ = self.dispatcher.await;
        let shared = &self.shared;
        if shared.session().is_none() {
            return;
        }
        let request = shared
            .with_session(shared.client.delete(shared.target.url.clone()))
            .timeout(DELETE_TIMEOUT);
        match request.send().await {
            Ok(r) if r.status().is_success() || r.status() == StatusCode::METHOD_NOT_ALLOWED => {}
            Ok(r) => say(&format!(
                "the MCP server did not end the session: HTTP {}",
                r.status()
            )),
            Err(e) => say(&format!(
                "cannot end the MCP server's session: {}",
                cause(e)
            )),
        }
    }
}

/// Sends each line from the router; returns when the router stops (the
/// host left), once what is in flight is done (the router bounds that).
async fn dispatch(shared: Arc<Link>, mut lines: mpsc::UnboundedReceiver<Vec<u8>>) {
    let mut in_flight = JoinSet::new();
    let mut listening: Option<AbortHandle> = None;
    while let Some(mut line) = lines.recv().await {
        while line.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
            line.pop();
        }
        if line.is_empty() {
            continue;
        }
        let outgoing = Outgoing::of(&line);
        let response = shared.post(line);
        match outgoing.method.as_deref() {
            // Later messages need the session id this one's answer brings.
            Some("initialize") => {
                let response = response.await;
                if let Ok((response, _)) = &response {
                    shared.adopt_session(response);
                }
                let shared = shared.clone();
                in_flight.spawn(async move { shared.deliver(outgoing, response).await });
            }
            // The server's own stream opens once the session is set up.
            Some("notifications/initialized") => {
                let response = response.await;
                let ok = response.as_ref().is_ok_and(|r| r.0.status().is_success());
                shared.clone().deliver(outgoing, response).await;
                if ok && listening.is_none() {
                    listening = Some(in_flight.spawn(shared.clone().listen()));
                }
            }
            _ => {
                let shared = shared.clone();
                in_flight.spawn(async move {
                    let response = response.await;
                    shared.deliver(outgoing, response).await
                });
            }
        }
        while in_flight.try_join_next().is_some() {}
    }
    if let Some(listening) = listening {
        listening.abort();
    }
    while in_flight.join_next().await.is_some() {}
}

impl Outgoing {
    fn of(line: &[u8]) -> Outgoing {
        match classify(line) {
            Ok(Message::Request { id, method, .. }) => Outgoing {
                request: Some(id),
                method: Some(method.into_owned()),
            },
            Ok(Message::Notification { method, .. }) => Outgoing {
                request: None,
                method: Some(method.into_owned()),
            },
            _ => Outgoing {
                request: None,
                method: None,
            },
        }
    }
}

impl Shared {
    /// The session's headers on a request: its id and the protocol
    /// version, once the server gave them.
    pub(super) fn with_session(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        let mut request = request;
        if let Some(version) = lock(&self.protocol_version).clone() {
            request = request.header(PROTOCOL_VERSION, version);
        }
        if let Some(session) = self.session() {
            request = request.header(SESSION_ID, session);
        }
        request
    }

    /// The session id an `initialize` answer gives, kept for every later
    /// request (a server without sessions gives none).
    fn adopt_session(&self, response: &Response) {
        if !response.status().is_success() {
            return;
        }
        if let Some(session) = response.headers().get(SESSION_ID) {
            *lock(&self.session_id) = Some(session.clone());
        }
    }

    pub(super) fn session(&self) -> Option<HeaderValue> {
        lock(&self.session_id).clone()
    }

    /// POSTs one message (the future resolves with the response's head).
    fn post(
        &self,
        body: Vec<u8>,
    ) -> impl std::future::Future<Output = Result<(Response, bool), String>> + use<> {
        let with_session = self.session().is_some();
        let request = self
            .with_session(self.client.post(self.target.url.clone()))
            .header(CONTENT_TYPE, "application/json")
            .header(ACCEPT, "application/json, text/event-stream")
            .body(body);
        async move {
            request
                .send()
                .await
                .map(|r| (r, with_session))
                .map_err(cause)
        }
    }
}

impl Link {
    /// Reads the server's answer to one POST and passes its messages on;
    /// a request it did not answer is answered with an error.
    async fn deliver(
        self: Arc<Self>,
        outgoing: Outgoing,
        response: Result<(Response, bool), String>,
    ) {
        let failure = match response {
            Err(cause) => Some(format!(
                "cannot reach the MCP server at {}: {cause}",
                self.target.shown()
            )),
            Ok((response, with_session)) => {
                self.read_answer(&outgoing, response, with_session).await
            }
        };
        let Some(why) = failure else { return };
        match outgoing.request {
            Some(id) => {
                // Named as the proxy's: the host shows it as the server's.
                let why = format!("execlave-mcp: {why}");
                let mut answer = error_answer(id.json(), UPSTREAM_FAILED, &why, None);
                answer.pop(); // its newline: a frame has none
                let _ = self.to_router.send(Ok(Frame::Line(answer))).await;
            }
            None => say(&format!(
                "{why} (a {} the host sent was not delivered)",
                outgoing.method.as_deref().unwrap_or("response")
            )),
        }
    }

    /// `None` when all is well (for a request: its response was passed
    /// on); otherwise why not.
    async fn read_answer(
        &self,
        outgoing: &Outgoing,
        mut response: Response,
        with_session: bool,
    ) -> Option<String> {
        let status = response.status();
        if status == StatusCode::NOT_FOUND && with_session {
            say("the MCP server's session expired (HTTP 404): restart the server in the host to start a new one");
            return Some(format!(
                "the MCP server at {} ended its session (HTTP 404): restart the server in the host; execlave-mcp does not start a new session on its own",
                self.target.shown()
            ));
        }
        if !status.is_success() {
            let detail = bounded_text(&mut response).await;
            return Some(format!(
                "the MCP server at {} answered HTTP {status}{detail}",
                self.target.shown()
            ));
        }
        // A notification or a response: 202, nothing to read.
        outgoing.request.as_ref()?;
        let kind = content_type(&response);
        let read = match kind.as_str() {
            "application/json" => self.relay_json(response, outgoing).await,
            "text/event-stream" => self.relay_events(response, Some(outgoing)).await,
            "" if status == StatusCode::ACCEPTED => Err(format!("HTTP {status} without an answer")),
            _ => Err(format!(
                "an answer of type {:?}, not JSON or an event stream",
                preview(kind.as_bytes())
            )),
        };
        match read {
            Ok(true) => None,
            Ok(false) => Some(format!(
                "the MCP server at {} sent no answer to this request (its event stream ended first)",
                self.target.shown()
            )),
            Err(why) => Some(format!(
                "the MCP server at {} could not be read: {why}",
                self.target.shown()
            )),
        }
    }

    /// A JSON body: one message, bounded. Whether it answered the request.
    async fn relay_json(&self, mut response: Response, request: &Outgoing) -> Result<bool, String> {
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(cause)? {
            if body.len() + chunk.len() > MAX_MESSAGE_BYTES {
                let _ = self
                    .to_router
                    .send(Ok(Frame::TooLong(body.len() + chunk.len())))
                    .await;
                return Err(format!(
                    "its answer is over the {MAX_MESSAGE_BYTES}-byte limit"
                ));
            }
            body.extend_from_slice(&chunk);
        }
        if self.pass_on(body, Some(request)).await {
            Ok(true)
        } else {
            Err("its answer is not a JSON-RPC response to this request".into())
        }
    }

    /// Passes one message on to the router; whether it answers `request`
    /// (and, for `initialize`, notes the protocol version it settled).
    pub(super) async fn pass_on(&self, data: Vec<u8>, request: Option<&Outgoing>) -> bool {
        let line = one_line(data);
        // Only a POST's stream can carry its answer (the router reads each
        // message again for itself).
        let answers = request
            .and_then(|r| r.request.as_ref())
            .is_some_and(|id| matches!(classify(&line), Ok(Message::Response { id: answered }) if answered == *id));
        if answers && request.is_some_and(|r| r.method.as_deref() == Some("initialize")) {
            self.note_protocol_version(&line);
        }
        let _ = self.to_router.send(Ok(Frame::Line(line))).await;
        answers
    }

    fn note_protocol_version(&self, line: &[u8]) {
        let answer: Value = serde_json::from_slice(line).unwrap_or_default();
        let version = answer["result"]["protocolVersion"].as_str();
        if let Some(version) = version.and_then(|v| HeaderValue::from_str(v).ok()) {
            *lock(&self.protocol_version) = Some(version);
        }
    }

    /// The server's own stream (GET), for messages it sends unasked.
    async fn listen(self: Arc<Self>) {
        let request = self
            .with_session(self.client.get(self.target.url.clone()))
            .header(ACCEPT, "text/event-stream");
        let response = match request.send().await {
            Ok(r) => r,
            Err(e) => {
                return say(&format!(
                    "cannot open the MCP server's event stream: {}",
                    cause(e)
                ))
            }
        };
        let status = response.status();
        if status == StatusCode::METHOD_NOT_ALLOWED {
            return; // the server sends nothing unasked
        }
        if !status.is_success() || content_type(&response) != "text/event-stream" {
            return say(&format!(
                "the MCP server's event stream could not be opened (HTTP {status}): messages it sends unasked will not arrive"
            ));
        }
        let ended = match self.relay_events(response, None).await {
            Ok(_) => "ended".to_string(),
            Err(why) => format!("failed ({why})"),
        };
        say(&format!(
            "the MCP server's event stream {ended}: messages it sends unasked will not arrive"
        ));
    }
}

/// The media type of a response, lowercase, without parameters.
pub(super) fn content_type(response: &Response) -> String {
    let value = response.headers().get(CONTENT_TYPE);
    let text = value.and_then(|v| v.to_str().ok()).unwrap_or("");
    let media = text.split(';').next().unwrap_or("");
    media.trim().to_ascii_lowercase()
}

/// The start of an error body, to say why (bounded: it may be hostile).
async fn bounded_text(response: &mut Response) -> String {
    let mut body = Vec::new();
    while body.len() < 300 {
        match response.chunk().await {
            Ok(Some(chunk)) => body.extend_from_slice(&chunk),
            _ => break,
        }
    }
    body.truncate(300);
    let text = String::from_utf8_lossy(&body);
    let shown: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    match shown.trim() {
        "" => String::new(),
        t => format!(": {t}"),
    }
}

/// A message as one line, as the host's stdio needs it. Line breaks in
/// valid JSON are whitespace between tokens (a string cannot hold a raw
/// one), so they become spaces; a message that is not valid JSON is left
/// as it is, for the router to refuse.
fn one_line(mut data: Vec<u8>) -> Vec<u8> {
    if data.iter().any(|&b| b == b'\n' || b == b'\r')
        && serde_json::from_slice::<&serde_json::value::RawValue>(&data).is_ok()
    {
        for b in data.iter_mut().filter(|b| **b == b'\n' || **b == b'\r') {
            *b = b' ';
        }
    }
    data
}

/// An HTTP failure's cause, without the URL (its query may hold a secret).
pub(super) fn cause(e: reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "cannot connect"
    } else if e.is_body() || e.is_decode() {
        "the answer broke off"
    } else {
        "the request failed"
    };
    let mut innermost = None;
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        innermost = Some(s.to_string());
        source = s.source();
    }
    match innermost {
        Some(why) => format!("{kind} ({why})"),
        None => kind.to_string(),
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_on_several_lines_becomes_one_line_with_the_same_meaning() {
        let pretty =
            b"{\n  \"jsonrpc\": \"2.0\",\r\n  \"id\": 1,\n  \"result\": {\"t\": \"a\\nb\"}\n}"
                .to_vec();
        let line = one_line(pretty.clone());
        assert!(!line.contains(&b'\n') && !line.contains(&b'\r'));
        let a: Value = serde_json::from_slice(&pretty).unwrap();
        let b: Value = serde_json::from_slice(&line).unwrap();
        assert_eq!(a, b);
        // A raw line break inside a string is no JSON: left for the router to refuse.
        let bad = b"{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":\"a\nb\"}".to_vec();
        assert_eq!(one_line(bad.clone()), bad);
    }
}
