//! A tiny scripted HTTP/1.1 server on 127.0.0.1 for the control-plane
//! tests: one request per connection, each answered with the next reply of
//! the script (the last one repeats), every request recorded. A routed
//! server ([`TestServer::routed`]) keeps one script per route instead, for
//! tests of a whole governor, whose loops send requests of several kinds.
//!
//! Built for the crate's unit tests, and for integration tests and other
//! crates with the `test-support` feature.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

pub use super::test_approvals::ApprovalScript;
use super::test_approvals::Approvals;

/// An endless body stops after this many bytes, so the server always stops
/// by itself.
pub const ENDLESS_LIMIT: u64 = 64 * 1024 * 1024;
/// How long a silent reply holds the connection before giving up.
const SILENT_FOR: Duration = Duration::from_secs(20);
const MAX_HEAD: usize = 64 * 1024;

#[derive(Debug, Clone)]
pub enum ReplyBody {
    Bytes(Vec<u8>),
    /// No Content-Length; streams until the client goes away (or
    /// [`ENDLESS_LIMIT`]).
    Endless,
    /// Declares this Content-Length, then sends nothing.
    DeclaredLength(u64),
    /// Never answers.
    Silent,
}

#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: ReplyBody,
}

impl Reply {
    pub fn json(status: u16, body: &str) -> Self {
        Reply {
            status,
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: ReplyBody::Bytes(body.as_bytes().to_vec()),
        }
    }

    pub fn status(status: u16) -> Self {
        Reply {
            status,
            headers: Vec::new(),
            body: ReplyBody::Bytes(Vec::new()),
        }
    }

    pub fn endless() -> Self {
        Reply {
            status: 200,
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: ReplyBody::Endless,
        }
    }

    pub fn declared_length(len: u64) -> Self {
        Reply {
            status: 200,
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: ReplyBody::DeclaredLength(len),
        }
    }

    pub fn silent() -> Self {
        Reply {
            status: 200,
            headers: Vec::new(),
            body: ReplyBody::Silent,
        }
    }

    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }
}

#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    /// Path and query, as sent.
    pub path: String,
    /// Names in lower case.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Requests whose `"{METHOD} {path}"` starts with `prefix` get the next
/// reply of `script` (the last one repeats).
struct Route {
    prefix: String,
    script: Vec<Reply>,
    next: usize,
}

struct State {
    script: Vec<Reply>,
    next: Mutex<usize>,
    /// Checked first, newest first; a request no route takes gets the
    /// script (a 404 for a routed server).
    routes: Mutex<Vec<Route>>,
    requests: Mutex<Vec<Recorded>>,
    streamed: AtomicU64,
    /// Approval requests and their certificates (see `test_approvals`).
    approvals: Approvals,
    /// Request bodies longer than this get 413, as a real API's body limit
    /// answers (0: no limit).
    max_body: AtomicU64,
}

pub struct TestServer {
    pub base_url: String,
    state: Arc<State>,
    task: JoinHandle<()>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TestServer {
    pub async fn start(script: Vec<Reply>) -> Self {
        assert!(!script.is_empty(), "a script needs at least one reply");
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(State {
            script,
            next: Mutex::new(0),
            routes: Mutex::new(Vec::new()),
            requests: Mutex::new(Vec::new()),
            streamed: AtomicU64::new(0),
            approvals: Approvals::default(),
            max_body: AtomicU64::new(0),
        });
        let st = state.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(handle(stream, st.clone()));
            }
        });
        TestServer {
            base_url: format!("http://{addr}"),
            state,
            task,
        }
    }

    /// A server that answers by route (see [`TestServer::route`]), and 404
    /// to anything no route takes.
    pub async fn routed(routes: Vec<(&str, Vec<Reply>)>) -> Self {
        let server = Self::start(vec![Reply::status(404)]).await;
        for (prefix, script) in routes {
            server.route(prefix, script);
        }
        server
    }

    /// From now on, requests whose `"{METHOD} {path}"` starts with `prefix`
    /// (`"GET /api/v1/policies"`) get the replies of `script` in turn (the
    /// last one repeats), before any route set earlier.
    pub fn route(&self, prefix: &str, script: Vec<Reply>) {
        assert!(!script.is_empty(), "a script needs at least one reply");
        self.state.routes.lock().unwrap().insert(
            0,
            Route {
                prefix: prefix.into(),
                script,
                next: 0,
            },
        );
    }

    /// Approval request `id` unfolds as `script`; a 202 of enforce naming
    /// it seals the action context its certificate is bound to. Routes
    /// still win (fault injection).
    pub fn approval(&self, id: &str, script: ApprovalScript) {
        self.state.approvals.script(id, script);
    }

    /// The requests whose `"{METHOD} {path}"` starts with `prefix`.
    pub fn requests_to(&self, prefix: &str) -> Vec<Recorded> {
        self.requests()
            .into_iter()
            .filter(|r| format!("{} {}", r.method, r.path).starts_with(prefix))
            .collect()
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.state.requests.lock().unwrap().clone()
    }

    /// From now on, a request whose body is longer than `bytes` gets 413
    /// (recorded, whatever its route).
    pub fn limit_body(&self, bytes: u64) {
        self.state.max_body.store(bytes, Ordering::SeqCst);
    }

    /// Body bytes written by endless replies so far.
    pub fn streamed_bytes(&self) -> u64 {
        self.state.streamed.load(Ordering::SeqCst)
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

async fn handle(mut stream: TcpStream, state: Arc<State>) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(i) = find(&buf, b"\r\n\r\n") {
            break i;
        }
        if buf.len() > MAX_HEAD {
            return;
        }
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut request_line = lines.next().unwrap_or_default().split(' ');
    let method = request_line.next().unwrap_or_default().to_string();
    let path = request_line.next().unwrap_or_default().to_string();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = buf[head_end + 4..].to_vec();
    while body.len() < length {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => body.extend_from_slice(&chunk[..n]),
        }
    }
    body.truncate(length);
    let line = format!("{method} {path}");
    let approval = state.approvals.answer(&method, &path, &body);
    let enforce_body = body.clone();
    let max_body = state.max_body.load(Ordering::SeqCst);
    let too_large = max_body > 0 && body.len() as u64 > max_body;
    state.requests.lock().unwrap().push(Recorded {
        method,
        path,
        headers,
        body,
    });
    let routed = if too_large {
        Some(Reply::json(
            413,
            r#"{"error":{"code":"payload_too_large","message":"request body too large"}}"#,
        ))
    } else {
        let mut routes = state.routes.lock().unwrap();
        routes
            .iter_mut()
            .find(|r| line.starts_with(&r.prefix))
            .map(|r| {
                let reply = r.script[r.next.min(r.script.len() - 1)].clone();
                r.next += 1;
                reply
            })
    };
    let reply = if let Some(reply) = routed {
        reply
    } else if let Some((status, json)) = approval {
        Reply::json(status, &json)
    } else {
        let mut next = state.next.lock().unwrap();
        let reply = state.script[(*next).min(state.script.len() - 1)].clone();
        *next += 1;
        reply
    };

    if let ReplyBody::Bytes(bytes) = &reply.body {
        state
            .approvals
            .saw_enforce(&line, &enforce_body, reply.status, bytes);
    }
    let mut out = format!(
        "HTTP/1.1 {} Scripted\r\nConnection: close\r\n",
        reply.status
    );
    for (n, v) in &reply.headers {
        out.push_str(&format!("{n}: {v}\r\n"));
    }
    match reply.body {
        ReplyBody::Bytes(bytes) => {
            out.push_str(&format!("Content-Length: {}\r\n\r\n", bytes.len()));
            let mut all = out.into_bytes();
            all.extend_from_slice(&bytes);
            let _ = stream.write_all(&all).await;
        }
        ReplyBody::DeclaredLength(len) => {
            out.push_str(&format!("Content-Length: {len}\r\n\r\n"));
            let _ = stream.write_all(out.as_bytes()).await;
            tokio::time::sleep(SILENT_FOR).await;
        }
        ReplyBody::Endless => {
            out.push_str("\r\n");
            if stream.write_all(out.as_bytes()).await.is_err() {
                return;
            }
            let block = vec![b' '; 64 * 1024];
            while state.streamed.load(Ordering::SeqCst) < ENDLESS_LIMIT {
                if stream.write_all(&block).await.is_err() {
                    break;
                }
                state
                    .streamed
                    .fetch_add(block.len() as u64, Ordering::SeqCst);
            }
        }
        ReplyBody::Silent => {
            tokio::time::sleep(SILENT_FOR).await;
            return;
        }
    }
    let _ = stream.shutdown().await;
}
