//! The endpoints' request and answer types: what each call of
//! [`ApiClient`](super::ApiClient) sends and what it makes of the answer
//! (wire format: `docs/execlave-api.md` of the shared docs).

use serde::Serialize;
use serde_json::Value;

use crate::decision::Violation;

/// Longest `input` an enforce request carries, as in the official SDK.
pub const MAX_ENFORCE_INPUT_CHARS: usize = 4000;

/// The answer of `GET /api/v1/policies`.
#[derive(Debug, Clone, PartialEq)]
pub enum PolicyList {
    /// 304: the policies are those of the ETag sent.
    NotModified,
    /// The `data` array, each element as the server sent it (elements that
    /// are not objects included: validating them is the caller's job), and
    /// the `ETag` to send next time, if the server gave one.
    Fresh {
        policies: Vec<Value>,
        etag: Option<String>,
    },
}

/// The kill switch state of one agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteAgentStatus {
    pub paused: bool,
    pub reason: Option<String>,
}

/// One server-side decision request: `POST /api/v1/policies/enforce`.
///
/// Serializes to the wire format `{"agentId", "input", "environment",
/// "tools", "metadata": {"toolArguments"}}`.
#[derive(Debug, Clone, PartialEq)]
pub struct EnforceRequest {
    /// The external agent id (`ops-agent`).
    pub agent_id: String,
    /// A bounded string view of the arguments; see [`enforce_input`].
    pub input: String,
    pub environment: String,
    /// Tool names; one per call in practice.
    pub tools: Vec<String>,
    /// The full JSON-safe arguments, sent as `metadata.toolArguments`.
    pub tool_arguments: Value,
    /// `toolDescriptors` (`{server, tool, descriptorHash, description?}`),
    /// for the service's `tool_integrity` policies; sent when non-empty,
    /// never part of the action context.
    pub tool_descriptors: Vec<Value>,
    /// `toolOutputs` (`{name, input, output}`): a tool's result to scan
    /// (`tool_output_scan` policies). A request with outputs carries no
    /// `tools` and no `metadata`, as the official SDK sends it.
    pub tool_outputs: Vec<Value>,
}

impl EnforceRequest {
    /// The request for one call of `tool`, with `input` derived from the
    /// arguments by [`enforce_input`].
    pub fn for_tool_call(
        agent_id: impl Into<String>,
        environment: impl Into<String>,
        tool: &str,
        arguments: Value,
    ) -> Self {
        EnforceRequest {
            agent_id: agent_id.into(),
            input: enforce_input(tool, &arguments),
            environment: environment.into(),
            tools: vec![tool.to_string()],
            tool_arguments: arguments,
            tool_descriptors: Vec::new(),
            tool_outputs: Vec::new(),
        }
    }

    /// The request that scans `outputs` of a call of `tool` before the
    /// model reads them.
    pub fn for_tool_output(
        agent_id: impl Into<String>,
        environment: impl Into<String>,
        tool: &str,
        outputs: Vec<Value>,
    ) -> Self {
        EnforceRequest {
            agent_id: agent_id.into(),
            input: format!("tool_output:{tool}"),
            environment: environment.into(),
            tools: Vec::new(),
            tool_arguments: Value::Null,
            tool_descriptors: Vec::new(),
            tool_outputs: outputs,
        }
    }
}

impl Serialize for EnforceRequest {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.wire(Some(&self.agent_id)).serialize(serializer)
    }
}

/// The action context of an enforce request (the approval flow): the very
/// body sent to enforce less `agentId`, same keys in the same order, made
/// by the same code so that it cannot drift from what the server sealed.
#[derive(Debug, Clone, Copy)]
pub struct ActionContext<'a>(pub &'a EnforceRequest);

impl Serialize for ActionContext<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.wire(None).serialize(serializer)
    }
}

/// The enforce body on the wire; without `agent_id` it is the action
/// context.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Wire<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    agent_id: Option<&'a str>,
    input: &'a str,
    environment: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    tools: Option<&'a [String]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    metadata: Option<WireMetadata<'a>>,
    #[serde(skip_serializing_if = "<[Value]>::is_empty")]
    tool_descriptors: &'a [Value],
    #[serde(skip_serializing_if = "<[Value]>::is_empty")]
    tool_outputs: &'a [Value],
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WireMetadata<'a> {
    tool_arguments: &'a Value,
}

impl EnforceRequest {
    fn wire<'a>(&'a self, agent_id: Option<&'a str>) -> Wire<'a> {
        let call = self.tool_outputs.is_empty();
        Wire {
            agent_id,
            input: &self.input,
            environment: &self.environment,
            tools: call.then_some(&self.tools[..]),
            metadata: call.then_some(WireMetadata {
                tool_arguments: &self.tool_arguments,
            }),
            // A detection field: the enforce body only, never the action
            // context an approval seals.
            tool_descriptors: if agent_id.is_some() {
                &self.tool_descriptors
            } else {
                &[]
            },
            tool_outputs: if agent_id.is_some() {
                &self.tool_outputs
            } else {
                &[]
            },
        }
    }
}

/// The `input` of an enforce request: the arguments as compact JSON, cut to
/// [`MAX_ENFORCE_INPUT_CHARS`] characters, or `tool:<name>` when there are
/// none (null, or an empty object or array).
pub fn enforce_input(tool: &str, arguments: &Value) -> String {
    let empty = match arguments {
        Value::Null => true,
        Value::Object(m) => m.is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => false,
    };
    if empty {
        return format!("tool:{tool}");
    }
    let text = match arguments {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    match text.char_indices().nth(MAX_ENFORCE_INPUT_CHARS) {
        Some((cut, _)) => text[..cut].to_string(),
        None => text,
    }
}

/// The control plane's decision on one call.
#[derive(Debug, Clone, PartialEq)]
pub enum EnforceAnswer {
    /// 200 `{"allowed": true, "warnings": [...]?}`.
    Allowed { warnings: Vec<Violation> },
    /// 403 `{"allowed": false, "violations": [...]}` (or a 2xx saying
    /// `"allowed": false`). Never empty: a block without usable details
    /// carries one generic violation, so that a caller testing
    /// `violations.is_empty()` cannot mistake it for an allow.
    Blocked { violations: Vec<Violation> },
    /// 202: a human must approve.
    ApprovalRequired { approval_request_id: Option<String> },
    /// 402: the plan's limit is reached.
    PlanLimit {
        message: String,
        resource: Option<String>,
        current: Option<f64>,
        max: Option<f64>,
    },
}
