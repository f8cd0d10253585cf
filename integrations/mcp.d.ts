import type { Execlave } from '../index.js';

export interface InstrumentMcpClientOptions {
  /** The agent's external id, lowercase kebab-case (`ops-agent`). */
  agentId: string;
  /** `false`: monitor only; policy violations become warnings. Default `true`. */
  enforce?: boolean;
  sessionId?: string;
  userId?: string;
  /**
   * `listTools()` and raw `tools/list` requests leave out the tools this
   * agent's policies refuse by name (counted in `stats().toolsHidden`).
   * Tools only an argument rule or a server-side policy could refuse stay
   * listed. Default `true`.
   */
  hideBlockedTools?: boolean;
  /**
   * `'throw'` (default): a policy block rejects with `PolicyBlockedError`.
   * `'result'`: it resolves to a `CallToolResult` with `isError: true`, a
   * text saying why and the violations in
   * `structuredContent.execlave.violations`. Pauses, outages and a rejected
   * API key reject in both modes.
   */
  onBlock?: 'throw' | 'result';
  /**
   * Path of a JSON lockfile of pinned tool definitions (digest per tool).
   * Written at the first complete listing when missing (trust on first use).
   */
  toolPins?: string;
  /**
   * What a changed or new tool definition does (with `toolPins`): `'block'`
   * (default) refuses calls to it with `PolicyBlockedError`, rule
   * `definition_changed`, until `npx -p @execlave/sdk execlave-pins accept` updates the
   * lockfile; `'warn'` only reports it.
   */
  onToolChange?: 'warn' | 'block';
}

/**
 * The part of an MCP `Client` the wrapper needs: the `Client` of
 * `@modelcontextprotocol/sdk` 1.x and of `@modelcontextprotocol/client`
 * 2.x both have it.
 */
export interface McpClientLike {
  callTool(...args: any[]): Promise<unknown>;
  request?(...args: any[]): Promise<unknown>;
  listTools?(...args: any[]): Promise<unknown>;
}

/** Governs every tool call of `client`; returns the same client. */
export declare function instrumentMcpClient<C extends McpClientLike>(
  client: C,
  exe: Execlave,
  options: InstrumentMcpClientOptions,
): C;
