// One request/response exchange of protocol messages over a host transport, and the structural
// transport type the session layer needs (host-bridge/transports' MessageTransport satisfies it).

import { ProtocolError, asProtocolError } from '../../protocol/errors.ts';
import type { Deadline } from '../../runtime/deadline.ts';
import {
  decodeMessage,
  encodeMessage,
  expectResponse,
  type BodyOf,
  type MessageOf,
  type PlainMessage,
  type RequestName,
  type ResponseTo,
} from '../../protocol/messages/index.ts';

/** What the session layer needs of a host transport (host-bridge/transports MessageTransport). */
export interface SessionTransport {
  readonly link: string;
  readonly address: string;
  readonly maxMessageSize?: number;
  /** `timeoutMs`: idle timeout of this exchange; `deadline`: the whole call's budget, which caps it. */
  request(msg: Uint8Array, opts?: { timeoutMs?: number; deadline?: Deadline }): Promise<Uint8Array>;
  close(): Promise<void> | void;
  on?(event: 'disconnect' | 'reconnect', cb: (...args: unknown[]) => void): unknown;
  off?(event: 'disconnect' | 'reconnect', cb: (...args: unknown[]) => void): unknown;
}

export const DEFAULT_REQUEST_TIMEOUT_MS = 3_000;

/** Request ids: uint32, wrapping, never 0 (0 is "unknown" in ERROR answers). */
export class RequestIds {
  private n = Math.floor(Math.random() * 0xffff);
  next(): number {
    this.n = this.n >= 0xffff_fffe ? 1 : this.n + 1;
    return this.n;
  }
}

type PlainRequestName = Extract<RequestName, PlainMessage['type']>;
type PlainRequest<R extends PlainRequestName> = { type: R; id: number } & BodyOf<R>;

/**
 * Send one plaintext request and return its checked answer. An ERROR answer is thrown as its
 * ProtocolError; transport failures are ProtocolErrors (TIMEOUT, DISCONNECTED, ...).
 */
export async function exchange<R extends PlainRequestName>(
  t: SessionTransport,
  req: PlainRequest<R>,
  timeoutMs = DEFAULT_REQUEST_TIMEOUT_MS,
  deadline?: Deadline,
): Promise<MessageOf<ResponseTo<R>>> {
  const bytes = encodeMessage(req as unknown as PlainMessage);
  let answer: Uint8Array;
  try {
    answer = await t.request(bytes, { timeoutMs, ...(deadline ? { deadline } : {}) });
  } catch (e) {
    throw asProtocolError(e, 'DISCONNECTED');
  }
  const res = decodeMessage(answer);
  return expectResponse(req as { type: R; id: number }, res) as unknown as MessageOf<ResponseTo<R>>;
}

export function isCode(e: unknown, ...codes: string[]): boolean {
  return e instanceof ProtocolError && codes.includes(e.code);
}
