//! What every part of one relay shares: the governor and the agent, the
//! options, what the host said of itself at `initialize`, the way to the
//! host, and the requests the relay itself sent the host.

use super::cli::RelayConfig;
use super::framing::IdKey;
use crate::engine::AgentHandle;
use crate::records::record::{ClientInfo, Origin};
use crate::tools::ToolPins;
use crate::Governor;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use tokio::sync::{mpsc, oneshot};

/// The host, as its `initialize` request described it.
#[derive(Debug, Clone, Default)]
pub struct HostInfo {
    pub name: Option<String>,
    pub version: Option<String>,
    /// It declared the `elicitation` capability: it can ask its user.
    pub elicitation: bool,
}

impl HostInfo {
    pub fn of_initialize(params: &Value) -> HostInfo {
        let text = |v: &Value| v.as_str().map(str::to_owned);
        HostInfo {
            name: text(&params["clientInfo"]["name"]),
            version: text(&params["clientInfo"]["version"]),
            elicitation: params["capabilities"]["elicitation"].is_object(),
        }
    }
}

pub struct Context {
    pub governor: Governor,
    /// The agent's registration: its records name the host once it said
    /// who it is (see [`Context::adopt_host`]).
    agent: AtomicU32,
    pub config: RelayConfig,
    pub session_id: String,
    pub pins: Option<Mutex<ToolPins>>,
    host: OnceLock<HostInfo>,
    to_host: mpsc::UnboundedSender<Vec<u8>>,
    /// The relay's own requests to the host (elicitations), by id.
    asks: Mutex<HashMap<IdKey, oneshot::Sender<Value>>>,
    next_ask: AtomicU64,
    /// How the ids of those requests begin (with the session id).
    ask_prefix: String,
}

impl Context {
    pub fn new(
        governor: Governor,
        agent: AgentHandle,
        config: RelayConfig,
        session_id: String,
        pins: Option<ToolPins>,
        to_host: mpsc::UnboundedSender<Vec<u8>>,
    ) -> Self {
        let ask_prefix = format!("execlave-{session_id}-");
        Self {
            governor,
            agent: AtomicU32::new(agent),
            config,
            session_id,
            pins: pins.map(Mutex::new),
            host: OnceLock::new(),
            to_host,
            asks: Mutex::new(HashMap::new()),
            next_ask: AtomicU64::new(1),
            ask_prefix,
        }
    }

    pub fn agent(&self) -> AgentHandle {
        self.agent.load(Ordering::Acquire)
    }

    /// The host's `initialize`: remembered (the first one only), and the
    /// agent registered again so that its records carry the host's
    /// `clientInfo` and the upstream (the server's command or URL).
    pub fn adopt_host(&self, host: HostInfo) {
        let origin = Origin {
            client: ClientInfo {
                name: host.name.clone(),
                version: host.version.clone(),
            },
            upstream: self.config.upstream_name(),
        };
        if self.host.set(host).is_err() {
            return;
        }
        let registered = self.governor.register_agent_from(
            &self.config.agent_id,
            Some(&self.session_id),
            origin,
        );
        match registered {
            Ok(handle) => {
                let before = self.agent.swap(handle, Ordering::AcqRel);
                self.governor.release_agent(before);
            }
            Err(e) => super::say(&format!("cannot record the host's name: {}", e.message)),
        }
    }

    pub fn host(&self) -> HostInfo {
        self.host.get().cloned().unwrap_or_default()
    }

    /// Writes a line to the host (in the order given).
    pub fn send_host(&self, line: Vec<u8>) {
        let _ = self.to_host.send(line);
    }

    /// Sends the host a request of the relay's own; resolves with its
    /// answer (`result` or `error` as sent), or `None` if the relay ends
    /// first. The id carries the session id, so that it cannot be one the
    /// server chose for its own requests to the host. Dropping the future
    /// before the answer withdraws the request: the host is sent
    /// `notifications/cancelled` for it, and its answer, should it still
    /// come, is dropped (see [`Context::take_answer`]).
    pub async fn ask_host(&self, method: &str, params: Value) -> Option<Value> {
        let n = self.next_ask.fetch_add(1, Ordering::Relaxed);
        let id = Value::String(format!("{}{n}", self.ask_prefix));
        let (tx, rx) = oneshot::channel();
        let key = IdKey(id.to_string());
        self.asks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key.clone(), tx);
        let mut asked = Asked {
            ctx: self,
            id: id.clone(),
            key,
            answered: false,
        };
        self.send_host(super::framing::line_of(&serde_json::json!({
            "jsonrpc": "2.0", "id": id, "method": method, "params": params,
        })));
        let answer = rx.await.ok();
        asked.answered = true;
        answer
    }

    /// The host's answer `line` to one of the relay's own requests: taken
    /// (true), or not one of ours (false: it goes to the server).
    pub fn take_answer(&self, id: &IdKey, line: &[u8]) -> bool {
        let waiting = self
            .asks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(id);
        match waiting {
            Some(tx) => {
                let _ = tx.send(serde_json::from_slice(line).unwrap_or_default());
                true
            }
            // One of ours, withdrawn: the server never asked it.
            None if self.is_own_id(id) => {
                if self.config.debug {
                    super::say(&format!("dropped the host's late answer to {}", id.0));
                }
                true
            }
            None => false,
        }
    }

    /// Whether `id` (as JSON text) is one the relay gave its own request.
    fn is_own_id(&self, id: &IdKey) -> bool {
        id.0.strip_prefix('"')
            .is_some_and(|rest| rest.starts_with(&self.ask_prefix))
    }
}

/// A request of the relay's own to the host, for as long as it is open:
/// dropped unanswered, it is withdrawn.
struct Asked<'a> {
    ctx: &'a Context,
    id: Value,
    key: IdKey,
    answered: bool,
}

impl Drop for Asked<'_> {
    fn drop(&mut self) {
        let waiting = self
            .ctx
            .asks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.key);
        if !self.answered && waiting.is_some() {
            self.ctx
                .send_host(super::framing::line_of(&serde_json::json!({
                    "jsonrpc": "2.0",
                    "method": "notifications/cancelled",
                    "params": {
                        "requestId": self.id,
                        "reason": "execlave-mcp withdrew the question: the call was decided without it, or it timed out",
                    },
                })));
        }
    }
}
