// Types of `@execlave/sdk`.

export type Environment = 'development' | 'staging' | 'production';
export type EnforcementMode = 'block' | 'hard_block' | 'warn' | 'log_only' | 'monitor' | 'require_approval';

/** One argument rule of a tool-invocation policy (docs/policies.md). */
export interface ArgumentRule {
  tools: string[];
  /** A top-level key of the arguments, or a JSON Pointer such as `/order/amount`. */
  argument: string;
  kind: 'path' | 'glob' | 'regex' | 'number';
  allow?: string[];
  deny?: string[];
  min?: number;
  max?: number;
  caseInsensitive?: boolean;
  required?: boolean;
}

/**
 * A policy, as `POST /api/v1/policies` takes it (docs/policies.md). No
 * index signatures: a misspelt field (`denny`) is a type error, as it is
 * an error when the policy loads.
 */
export interface Policy {
  id?: string;
  name: string;
  policyType: 'tool_invocation' | (string & {});
  enforcementMode: EnforcementMode;
  isActive?: boolean;
  appliesToAgents?: string[];
  severity?: 'low' | 'medium' | 'high' | 'critical';
  ruleDefinition?: {
    agentId?: string;
    allow?: string[];
    deny?: string[];
    defaultAction?: 'allow' | 'deny';
    arguments?: ArgumentRule[];
  };
  /** Metadata: read by no rule (the control plane sends it). */
  description?: string;
  createdAt?: string;
  updatedAt?: string;
}

/** Why a call was refused (or, as a warning, would have been). */
export interface Violation {
  policyId: string;
  policyName: string;
  policyType: string;
  enforcementMode: string;
  severity?: string;
  message: string;
  tool?: string;
  rule?: 'deny' | 'not_allowed' | 'argument' | (string & {});
  argument?: string;
  [key: string]: unknown;
}

export interface EnforcementBypassedEvent {
  /** Why no decision could be had. */
  reason: string;
  tool: string;
  /** ISO 8601. */
  timestamp: string;
}

/** A logger as `console` and pino have it. */
export interface ExeclaveLogger {
  warn(message: string): unknown;
  info(message: string): unknown;
  debug(message: string): unknown;
}

export interface ExeclaveOptions {
  /** Default: env `EXECLAVE_API_KEY`. */
  apiKey?: string;
  /**
   * Default: env `EXECLAVE_BASE_URL`, else `https://api.execlave.com`.
   * ASCII only: an internationalised host in its punycode form (`xn--…`).
   */
  baseUrl?: string;
  /** Default `'production'`. */
  environment?: Environment;
  /** Inline policies, or a path to a .json/.yaml file or a directory. Default: env `EXECLAVE_POLICY_PATH`. */
  policies?: Policy[] | string;
  /** A JSON Lines file that receives one record per governed call. */
  auditLog?: string;
  /** Debug lines too (to `logger`, else stderr); warnings are said without it. */
  debug?: boolean;
  /**
   * Where Execlave's lines go: anything with `warn`, `info` and `debug`
   * (`console`, a pino or winston logger). Default: stderr, as `[execlave] …`.
   */
  logger?: ExeclaveLogger;
  /** When no decision can be had: allow and report (`fail_open`, default) or refuse (`fail_closed`). */
  enforcementOnOutage?: 'fail_open' | 'fail_closed';
  onEnforcementBypassed?: (event: EnforcementBypassedEvent) => void;
  /**
   * Report calls that went ahead under `fail_open` without a decision to the
   * control plane's audit log (`POST /api/v1/sdk/bypass-windows`), grouped in
   * windows per (agent, reason). Default true; `onEnforcementBypassed` is told either way.
   */
  reportBypasses?: boolean;
  /**
   * Send every allowed call's result to the control plane's `tool_output_scan`
   * policies before the caller gets it, even when none is known to apply to
   * the agent (with one active, results are scanned anyway). Needs an API key.
   */
  scanToolOutputs?: boolean;
  /** `'local'` (default): decide locally, ask the control plane only for what it alone decides. `'remote'`: ask it on every call. */
  enforcement?: 'local' | 'remote';
  /** How often policies are fetched. Default 30 000 ms. */
  policyRefreshMs?: number;
  /** How often the kill switch is polled. Default 15 000 ms. */
  pollIntervalMs?: number;
  /** A file that keeps the last good policy set across restarts (written atomically). */
  policyCachePath?: string;
  /** How long the first governed call may wait for the first policy sync. Default 5 000 ms. */
  firstSyncTimeoutMs?: number;
  /** Timeout of one control-plane request. Default 10 000 ms. */
  requestTimeoutMs?: number;
  /** How long the circuit breaker stays open (after 3 consecutive failures) before one trial request. Default 60 000 ms. */
  circuitBreakerCooldownMs?: number;
  /** Sign requests with HMAC-SHA256 (`X-Execlave-Signature`). */
  signRequests?: boolean;
  /** Records kept in memory at most (oldest dropped first). Default 10 000. */
  bufferSize?: number;
  /** Records per delivery batch. Default 100. */
  batchSize?: number;
  /** How often buffered records are delivered. Default 1 000 ms (audit log only), 10 000 ms with a control plane. */
  flushIntervalMs?: number;
  /** How long `shutdown()` may spend delivering. Default 5 000 ms. */
  shutdownTimeoutMs?: number;
  /** How long a call waits for a human's approval (a `require_approval` policy). Default 1 800 000 ms (30 min, as the service). */
  approvalTimeoutMs?: number;
  /** How often a waiting call asks the control plane whether it was approved. Default 5 000 ms. */
  approvalPollIntervalMs?: number;
  /**
   * Decides calls that a local `require_approval` policy holds back. Without
   * one, such calls are refused. `terminalApprover` (exported) asks on the
   * controlling terminal.
   */
  approver?: Approver;
}

/** What an approver is asked about: one call held back by a local `require_approval` policy. */
export interface ApprovalRequest {
  agentId: string;
  tool: string;
  /** The call's arguments (a copy). */
  arguments: unknown;
  /** Why approval is needed (rule `approval_required`). */
  violations: Violation[];
  /** Identifies this request in logs and records. */
  requestId: string;
}

/** An approver's answer. Anything else refuses the call (`ApprovalVerificationError`). */
export type ApprovalDecision = { approved: true } | { approved: false; reason?: string };

export type Approver = (request: ApprovalRequest) => Promise<ApprovalDecision> | ApprovalDecision;

/** A ready-made approver for local development: asks on the controlling terminal (`/dev/tty`), refuses when there is none. */
export declare function terminalApprover(options?: { ttyPath?: string }): Approver;

export interface EnforcePolicyRequest {
  agentId: string;
  tools: string[];
  arguments?: Record<string, unknown>;
  input?: string;
  /** Ends a wait for an approval: the call is refused with the abort reason, and nothing more is sent. */
  signal?: AbortSignal;
}

export interface EnforcePolicyResult {
  allowed: true;
  warnings: Violation[];
}

export interface ExeclaveStats {
  decisions: number;
  allowed: number;
  blocked: number;
  warned: number;
  recordsWritten: number;
  recordsDropped: number;
  /** Records `shutdown()` could not deliver in time (lost, and said on stderr). */
  recordsUndelivered: number;
  policyWarnings: number;
  bypassed: number;
  remoteDecisions: number;
  policySyncs: number;
  policySyncFailures: number;
  /** Policies in force this SDK cannot read: the control plane decides the calls they may apply to. */
  unreadablePolicies: number;
  /** Fields of the control plane's latest policies this SDK does not know: tolerated there (a newer server's), an error in local policies. */
  unknownPolicyFields: number;
  /** Registrations in use: open wrapped clients' (agentId, sessionId, userId, enforce), and at most 1 024 idle `enforcePolicy` agents. */
  registrations: number;
  /** Tools left out of listings because policies refuse them by name (`hideBlockedTools`). */
  toolsHidden: number;
  /** Calls waiting for an approval now. */
  approvalsWaiting: number;
  approvalsGranted: number;
  approvalsRefused: number;
  /** Bypass windows the control plane accepted (`reportBypasses`). */
  bypassWindowsSent: number;
  /** Bypass windows never reported: refused by the control plane (400, 413, 422) or still unsent at shutdown. */
  bypassWindowsDropped: number;
}

/** What a `flush()` or `shutdown()` made of the records (docs/records.md). */
export interface FlushReport {
  /** Delivered to every sink meanwhile. */
  written: number;
  /** Lost meanwhile: buffer overflow, refused, a failed write (a full disk). */
  dropped: number;
  /** Not delivered when it ended: still buffered (flush), or lost (shutdown). */
  undelivered: number;
}

export declare class Execlave {
  constructor(options?: ExeclaveOptions);
  enforcePolicy(request: EnforcePolicyRequest): Promise<EnforcePolicyResult>;
  /** Resolves when buffered records reach their sinks, with what became of them (docs/records.md). */
  flush(): Promise<FlushReport>;
  /** Flushes (within `shutdownTimeoutMs`), stops background work; what was still undelivered is lost and reported. */
  shutdown(): Promise<FlushReport>;
  stats(): ExeclaveStats;
}

/** A stable string per kind of error, as Node's own errors have: match on `err.code`, not on the message. */
export type ExeclaveErrorCode =
  | 'EXECLAVE_ERROR'
  | 'EXECLAVE_INVALID_OPTIONS'
  | 'EXECLAVE_INVALID_ARGUMENT'
  | 'EXECLAVE_CLOSED'
  | 'EXECLAVE_INTERNAL'
  | 'EXECLAVE_AUTH_FAILED'
  | 'EXECLAVE_ENFORCEMENT_HALTED'
  | 'EXECLAVE_POLICY_BLOCKED'
  | 'EXECLAVE_TOOL_INTEGRITY'
  | 'EXECLAVE_AGENT_PAUSED'
  | 'EXECLAVE_ENFORCEMENT_UNAVAILABLE'
  | 'EXECLAVE_POLICY_DENIED'
  | 'EXECLAVE_APPROVAL_TIMEOUT'
  | 'EXECLAVE_CERTIFICATE_MISMATCH'
  | 'EXECLAVE_APPROVAL_VERIFICATION_FAILED'
  | 'EXECLAVE_CANCELLED'
  | 'EXECLAVE_NO_NATIVE_BINARY'
  | (string & {});

/** Every code by kind (`ERROR_CODES.POLICY_BLOCKED === 'EXECLAVE_POLICY_BLOCKED'`). */
export declare const ERROR_CODES: Readonly<{
  ERROR: 'EXECLAVE_ERROR';
  INVALID_OPTIONS: 'EXECLAVE_INVALID_OPTIONS';
  INVALID_ARGUMENT: 'EXECLAVE_INVALID_ARGUMENT';
  CLOSED: 'EXECLAVE_CLOSED';
  INTERNAL: 'EXECLAVE_INTERNAL';
  AUTH_FAILED: 'EXECLAVE_AUTH_FAILED';
  ENFORCEMENT_HALTED: 'EXECLAVE_ENFORCEMENT_HALTED';
  POLICY_BLOCKED: 'EXECLAVE_POLICY_BLOCKED';
  TOOL_INTEGRITY: 'EXECLAVE_TOOL_INTEGRITY';
  AGENT_PAUSED: 'EXECLAVE_AGENT_PAUSED';
  ENFORCEMENT_UNAVAILABLE: 'EXECLAVE_ENFORCEMENT_UNAVAILABLE';
  POLICY_DENIED: 'EXECLAVE_POLICY_DENIED';
  APPROVAL_TIMEOUT: 'EXECLAVE_APPROVAL_TIMEOUT';
  CERTIFICATE_MISMATCH: 'EXECLAVE_CERTIFICATE_MISMATCH';
  APPROVAL_VERIFICATION_FAILED: 'EXECLAVE_APPROVAL_VERIFICATION_FAILED';
  /** A call whose caller gave up (its request's `signal`) while it waited for an approval. */
  CANCELLED: 'EXECLAVE_CANCELLED';
}>;

export declare class ExeclaveError extends Error {
  /** This class's code; an instance may carry a more precise one. */
  static readonly code: ExeclaveErrorCode;
  constructor(message?: string, options?: { cause?: unknown; code?: ExeclaveErrorCode });
  readonly code: ExeclaveErrorCode;
}
/** `code`: `EXECLAVE_AUTH_FAILED`. */
export declare class ExeclaveAuthError extends ExeclaveError {}
/** `code`: `EXECLAVE_ENFORCEMENT_HALTED`, or its subclass's. */
export declare class EnforcementHaltError extends ExeclaveError {}
/** `code`: `EXECLAVE_POLICY_BLOCKED`. */
export declare class PolicyBlockedError extends EnforcementHaltError {
  readonly violations: Violation[];
  readonly warnings: Violation[];
}
/**
 * `code`: `EXECLAVE_TOOL_INTEGRITY`. A server `tool_integrity` policy refused
 * the call: the agent's tool definitions differ from its baseline.
 */
export declare class ToolIntegrityError extends PolicyBlockedError {
  /** The violations of type `tool_integrity` (a subset of `violations`). */
  readonly toolViolations: Violation[];
}
/** `code`: `EXECLAVE_AGENT_PAUSED`. */
export declare class AgentPausedError extends EnforcementHaltError {
  readonly agentId: string;
  readonly reason: string | null;
}
/** `code`: `EXECLAVE_ENFORCEMENT_UNAVAILABLE`. */
export declare class EnforcementUnavailableError extends EnforcementHaltError {
  readonly consecutiveFailures: number;
  readonly lastError: string | null;
}
/** Fields of the approval errors. */
interface ApprovalErrorFields {
  /** The approval request's id; `'local'` for the client's own approver. */
  readonly approvalRequestId: string | null;
  /** The approver's or the server's reason, if any. */
  readonly reason: string | null;
  /** What went wrong while checking the approval, if anything. */
  readonly cause: unknown;
}
/** The approval was denied. `code`: `EXECLAVE_POLICY_DENIED`. */
export declare class PolicyDeniedError extends EnforcementHaltError implements ApprovalErrorFields {
  readonly approvalRequestId: string | null;
  readonly reason: string | null;
  readonly cause: unknown;
}
/** The approval expired, or no decision came within `approvalTimeoutMs`. `code`: `EXECLAVE_APPROVAL_TIMEOUT`. */
export declare class ApprovalTimeoutError extends EnforcementHaltError implements ApprovalErrorFields {
  readonly approvalRequestId: string | null;
  readonly reason: string | null;
  readonly cause: unknown;
}
/** The approval's certificate does not fit this call (`reason`: `action_context_mismatch`, `certificate_already_used`, …). `code`: `EXECLAVE_CERTIFICATE_MISMATCH`. */
export declare class CertificateMismatchError extends EnforcementHaltError implements ApprovalErrorFields {
  readonly approvalRequestId: string | null;
  readonly reason: string | null;
  readonly cause: unknown;
}
/** The approval could not be checked (`cause`); the call was refused. `code`: `EXECLAVE_APPROVAL_VERIFICATION_FAILED`. */
export declare class ApprovalVerificationError extends EnforcementHaltError implements ApprovalErrorFields {
  readonly approvalRequestId: string | null;
  readonly reason: string | null;
  readonly cause: unknown;
}
