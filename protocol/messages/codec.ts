// Message envelope codec: every message is one CBOR map, key 0 = type (uint), key 1 = request id
// (uint32; a response echoes its request's id), keys 2.. = the body from the catalogue.
// Encoding is deterministic (ascending integer keys, shortest forms) and validates the message
// first; decoding pre-scans with limits, then validates against the catalogue. Both throw
// ProtocolError only.

import { DEFAULT_CBOR_LIMITS, decodeCbor, encodeCbor, type CborLimits } from '../cbor.ts';
import { ProtocolError, asProtocolError, errorCodeFromNumber, type ErrorCode } from '../errors.ts';
import {
  CATALOGUE,
  MESSAGE_NAMES,
  RESPONSES,
  type ErrorMsg,
  type InnerMessage,
  type Message,
  type MessageName,
  type MessageOf,
  type PlainMessage,
  type RequestName,
} from './catalogue.ts';
import { FIRST_BODY_KEY, readBody, writeBody } from './schema.ts';

const KEY_TYPE = 0;
const KEY_ID = 1;
const MAX_ID = 0xffff_ffff;
const ENVELOPE_PROPS = ['type', 'id'] as const;

/**
 * What decodeMessage/decodeInner throw: a ProtocolError that also carries the envelope's type and
 * request id when they could be read, so a device can answer with an ERROR echoing the id.
 */
export class MessageDecodeError extends ProtocolError {
  readonly requestId: number | undefined;
  readonly messageType: number | undefined;
  constructor(code: ErrorCode, message: string, detail?: string, requestId?: number, messageType?: number) {
    super(code, message, detail);
    this.requestId = requestId;
    this.messageType = messageType;
  }
}

function isKnownName(t: unknown): t is MessageName {
  return typeof t === 'string' && Object.hasOwn(CATALOGUE, t);
}

/** Encode a message (validated against the catalogue). Throws ProtocolError (INVALID_FIELD, UNKNOWN_MESSAGE, TOO_LARGE). */
export function encodeMessage(m: Message, maxSize: number = DEFAULT_CBOR_LIMITS.maxSize): Uint8Array {
  const type: unknown = (m as { type?: unknown } | null)?.type;
  if (!isKnownName(type)) throw new ProtocolError('UNKNOWN_MESSAGE', `unknown message type ${JSON.stringify(String(type))}`);
  const spec = CATALOGUE[type];
  const id: unknown = m.id;
  if (typeof id !== 'number' || !Number.isInteger(id) || id < 0 || id > MAX_ID) {
    throw new ProtocolError('INVALID_FIELD', `${type}.id: expected uint32`, `${type}.id`);
  }
  const map = new Map<number, unknown>([
    [KEY_TYPE, spec.code],
    [KEY_ID, id],
  ]);
  writeBody(spec.body, m, type, map, ENVELOPE_PROPS);
  const out = encodeCbor(map);
  if (out.length > maxSize) {
    throw new ProtocolError('TOO_LARGE', `${type}: encoded ${out.length} bytes over limit ${maxSize}`);
  }
  return out;
}

type Where = 'plain' | 'inner';

function decodeIn(where: Where, bytes: Uint8Array, limits?: Partial<CborLimits>): Message {
  let id: number | undefined;
  let typeNum: number | undefined;
  try {
    const v = decodeCbor(bytes, limits);
    if (!(v instanceof Map)) throw new ProtocolError('MALFORMED', 'message is not a CBOR map');
    const t = v.get(KEY_TYPE);
    const rawId = v.get(KEY_ID);
    if (typeof rawId === 'number' && Number.isInteger(rawId) && rawId >= 0 && rawId <= MAX_ID) id = rawId;
    if (t === undefined) throw new ProtocolError('INVALID_FIELD', 'message.type: missing required key 0', 'message.type');
    if (typeof t !== 'number') throw new ProtocolError('INVALID_FIELD', 'message.type: expected uint', 'message.type');
    typeNum = t;
    const name = MESSAGE_NAMES.get(t);
    if (name === undefined) throw new ProtocolError('UNKNOWN_MESSAGE', `unknown message type 0x${t.toString(16)}`);
    const scope = CATALOGUE[name].scope;
    if (where === 'plain' && scope === 'inner') {
      // e.g. a VERIFY_REQ sent in clear: refuse before reading its body (it may hold a PAN).
      throw new ProtocolError('NO_SESSION', `${name} is only allowed inside a secure session`);
    }
    if (where === 'inner' && scope === 'plain') {
      throw new ProtocolError('UNKNOWN_MESSAGE', `${name} is not allowed inside a secure session`);
    }
    if (rawId === undefined) throw new ProtocolError('INVALID_FIELD', `${name}.id: missing required key 1`, `${name}.id`);
    if (id === undefined) throw new ProtocolError('INVALID_FIELD', `${name}.id: expected uint32`, `${name}.id`);
    const fields = readBody(CATALOGUE[name].body, v, name, FIRST_BODY_KEY);
    return { type: name, id, ...fields } as Message;
  } catch (e) {
    const pe = asProtocolError(e, 'INTERNAL');
    throw new MessageDecodeError(pe.code, pe.message, pe.detail, id, typeNum);
  }
}

/**
 * Decode a message received outside a secure session (or the envelope SECURE/SECURE_RES).
 * Inner-only messages are refused with NO_SESSION. Throws MessageDecodeError (a ProtocolError) only.
 */
export function decodeMessage(bytes: Uint8Array, limits?: Partial<CborLimits>): PlainMessage {
  return decodeIn('plain', bytes, limits) as PlainMessage;
}

/** Decode the plaintext of a SECURE/SECURE_RES ciphertext. Throws MessageDecodeError (a ProtocolError) only. */
export function decodeInner(bytes: Uint8Array, limits?: Partial<CborLimits>): InnerMessage {
  return decodeIn('inner', bytes, limits) as InnerMessage;
}

const ERROR_MESSAGE_MAX = 256;

function clipUtf8(s: string, maxBytes: number): string {
  if (Buffer.byteLength(s, 'utf8') <= maxBytes) return s;
  let out = '';
  let n = 0;
  for (const ch of s) {
    const w = Buffer.byteLength(ch, 'utf8');
    if (n + w > maxBytes - 3) break;
    out += ch;
    n += w;
  }
  return `${out}...`;
}

/**
 * Build the ERROR answer to request `id` (0 when unknown). A ProtocolError keeps its code and
 * message; anything else becomes INTERNAL with a generic message, so no library text (which could
 * quote input) reaches the wire.
 */
export function errorMessage(id: number, err: unknown): ErrorMsg {
  if (err instanceof ProtocolError) {
    return { type: 'ERROR', id, code: err.numeric, message: clipUtf8(err.message.replace(/\p{Cs}/gu, '\uFFFD'), ERROR_MESSAGE_MAX) };
  }
  return { type: 'ERROR', id, code: new ProtocolError('INTERNAL', '').numeric, message: 'internal error' };
}

/** The ProtocolError an ERROR message stands for (unknown numbers map to INTERNAL). */
export function errorFromMessage(m: ErrorMsg): ProtocolError {
  return new ProtocolError(errorCodeFromNumber(m.code), m.message);
}

/** The response types that may answer `request` (ERROR may answer any). */
export type ResponseTo<R extends RequestName> = (typeof RESPONSES)[R][number];

/**
 * Check that `res` answers `req`: an ERROR is thrown as its ProtocolError, a different id is
 * BAD_SEQUENCE, an unexpected type is UNKNOWN_MESSAGE. Returns the response, narrowed.
 */
export function expectResponse<R extends RequestName>(
  req: { type: R; id: number },
  res: Message,
): MessageOf<ResponseTo<R>> {
  if (res.id !== req.id) {
    throw new ProtocolError('BAD_SEQUENCE', `response id ${res.id} does not match request id ${req.id}`);
  }
  if (res.type === 'ERROR') throw errorFromMessage(res);
  const allowed: readonly MessageName[] = RESPONSES[req.type];
  if (!allowed.includes(res.type)) {
    throw new ProtocolError('UNKNOWN_MESSAGE', `unexpected ${res.type} in answer to ${req.type}`);
  }
  return res as MessageOf<ResponseTo<R>>;
}
