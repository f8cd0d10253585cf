import type { Execlave } from '../index.js';

export interface InstrumentMcpClientOptions {
  /** The agent's external id, lowercase kebab-case (`ops-agent`). */
  agentId: string;
  /** `false`: monitor only; policy violations become warnings. Default `true`. */
  enforce?: boolean;
  sessionId?: string;
  userId?: string;
}

/** The part of an MCP `Client` the wrapper needs. */
export interface McpClientLike {
  callTool(...args: any[]): Promise<unknown>;
  request?(...args: any[]): Promise<unknown>;
}

/** Governs every tool call of `client`; returns the same client. */
export declare function instrumentMcpClient<C extends McpClientLike>(
  client: C,
  exe: Execlave,
  options: InstrumentMcpClientOptions,
): C;
