// BLE link framing after CTAP-over-BLE (FIDO CTAP 2.1 §11.4): the host writes request fragments
// to the control point characteristic; the device notifies response fragments on the status
// characteristic. A fragment is at most the negotiated frame length (ATT_MTU − 3, capped by the
// device's control point length, 20..512 bytes) and is NOT padded.
//
//   init:          CMD (1, bit 7 set) | HLEN | LLEN (total length, u16 BE) | DATA (≤ frame − 3)
//   continuation:  SEQ (1, 0x00..0x7F, wraps to 0 after 0x7F) | DATA (≤ frame − 1)
//
// Pure codec: no I/O, no timers (the I/O layer owns the request timeout and calls reset()).

import { ProtocolError, type ErrorCode } from '../errors.ts';
import { codeToCtapError, ctapErrorToCode, decodeErrorPayload, decodeKeepalivePayload, encodeKeepalivePayload } from './ctap-status.ts';

export const BLE_MIN_FRAME = 20; // ATT default MTU 23 − 3
export const BLE_MAX_FRAME = 512; // largest ATT attribute value
export const BLE_INIT_HEADER = 3;
export const BLE_CONT_HEADER = 1;
export const BLE_MAX_SEQ = 0x7f;
/** ATT write/notify opcode (1) + handle (2): bytes on the air on top of each fragment. */
export const BLE_ATT_HEADER = 3;
/** Default message limit, the same as the USB HID link's. */
export const BLE_DEFAULT_MAX_MESSAGE = 7609;
/** Hard ceiling: the length field is 16 bits. */
export const BLE_MAX_MESSAGE = 0xffff;

export const BLE_CMD = {
  PING: 0x81,
  KEEPALIVE: 0x82,
  MSG: 0x83, // one Precheck protocol message
  CANCEL: 0xbe,
  ERROR: 0xbf,
} as const;
export type BleCommand = (typeof BLE_CMD)[keyof typeof BLE_CMD];

/** CTAP-over-BLE error codes carried in an ERROR frame. */
export const BLE_ERR = {
  INVALID_CMD: 0x01,
  INVALID_PAR: 0x02,
  INVALID_LEN: 0x03,
  INVALID_SEQ: 0x04,
  REQ_TIMEOUT: 0x05,
  BUSY: 0x06,
  OTHER: 0x7f,
} as const;
export type BleErrorCode = (typeof BLE_ERR)[keyof typeof BLE_ERR];

export const BLE_KEEPALIVE = { PROCESSING: 1, UP_NEEDED: 2 } as const;
export type BleKeepaliveStatus = (typeof BLE_KEEPALIVE)[keyof typeof BLE_KEEPALIVE];

// ---------------------------------------------------------------------------------------------
// GATT service. Own 128-bit UUIDs (Precheck is not a FIDO authenticator, so it must not claim the
// FIDO 0xFFFD service); the characteristics mirror FIDO's roles.

export const BLE_UUID_BASE = '-4aa6-41c8-8e6b-b8b8833dcd73';
export const PRECHECK_BLE_SERVICE_UUID = '25d50001' + BLE_UUID_BASE;
/** Write (with response): request fragments, host → device. */
export const PRECHECK_BLE_CONTROL_POINT_UUID = '25d50002' + BLE_UUID_BASE;
/** Notify: response fragments, device → host. */
export const PRECHECK_BLE_STATUS_UUID = '25d50003' + BLE_UUID_BASE;
/** Read: u16 BE, the largest fragment the device accepts on the control point (20..512). */
export const PRECHECK_BLE_CONTROL_POINT_LENGTH_UUID = '25d50004' + BLE_UUID_BASE;
/** Read: one byte, the framing revision this device speaks. */
export const PRECHECK_BLE_SERVICE_REVISION_UUID = '25d50005' + BLE_UUID_BASE;
export const PRECHECK_BLE_SERVICE_REVISION = 0x01;

/** Same UUIDs without dashes, the form bleno and noble use. */
export function bleUuidCompact(uuid: string): string {
  return uuid.replace(/-/g, '').toLowerCase();
}

export function encodeControlPointLength(frameLength: number): Uint8Array {
  checkFrameLength(frameLength);
  return Uint8Array.of(frameLength >>> 8, frameLength & 0xff);
}

export function decodeControlPointLength(value: Uint8Array): number {
  if (value.length !== 2) throw new ProtocolError('BAD_FRAME', 'control point length is 2 bytes', String(value.length));
  const n = (value[0] << 8) | value[1];
  checkFrameLength(n);
  return n;
}

export function encodeServiceRevision(rev: number = PRECHECK_BLE_SERVICE_REVISION): Uint8Array {
  if (!Number.isInteger(rev) || rev < 1 || rev > 0xff) throw new ProtocolError('INVALID_FIELD', 'service revision must be 1..255', String(rev));
  return Uint8Array.of(rev);
}

export function decodeServiceRevision(value: Uint8Array): number {
  if (value.length !== 1 || value[0] === 0) throw new ProtocolError('BAD_FRAME', 'service revision is one non-zero byte');
  return value[0];
}

/**
 * Frame length both sides use: the ATT payload (MTU − 3) capped by the device's control point
 * length, clamped to 20..512.
 */
export function negotiateBleFrameLength(attMtu: number, controlPointLength: number = BLE_MAX_FRAME): number {
  if (!Number.isInteger(attMtu) || attMtu < 23) throw new ProtocolError('INVALID_FIELD', 'ATT MTU must be ≥ 23', String(attMtu));
  checkFrameLength(controlPointLength);
  return Math.max(BLE_MIN_FRAME, Math.min(attMtu - BLE_ATT_HEADER, controlPointLength, BLE_MAX_FRAME));
}

function checkFrameLength(n: number): void {
  if (!Number.isInteger(n) || n < BLE_MIN_FRAME || n > BLE_MAX_FRAME) {
    throw new ProtocolError('INVALID_FIELD', `BLE frame length must be ${BLE_MIN_FRAME}..${BLE_MAX_FRAME}`, String(n));
  }
}

// ---------------------------------------------------------------------------------------------
// Error mapping (same numbers as CTAPHID's, documented in docs/protocol.md BLE section).

export function bleErrorToCode(bleError: number): ErrorCode {
  return ctapErrorToCode(bleError, false);
}

export function codeToBleError(code: ErrorCode): BleErrorCode {
  return codeToCtapError(code, false) as BleErrorCode;
}

export function encodeBleKeepalive(status: BleKeepaliveStatus): Uint8Array {
  return encodeKeepalivePayload('BLE', status);
}

export function decodeBleKeepalive(payload: Uint8Array): BleKeepaliveStatus {
  return decodeKeepalivePayload('BLE', payload);
}

export function encodeBleError(bleError: BleErrorCode): Uint8Array {
  return Uint8Array.of(bleError);
}

export function decodeBleError(payload: Uint8Array): { bleError: number; error: ProtocolError } {
  const { ctapError, error } = decodeErrorPayload('BLE', payload, false);
  return { bleError: ctapError, error };
}

// ---------------------------------------------------------------------------------------------
// Fragmentation

/**
 * Split one message into fragments of at most `frameLength` bytes (the last one short, never
 * padded). Throws ProtocolError: BAD_FRAME for a command without bit 7, INVALID_FIELD for a frame
 * length outside 20..512, TOO_LARGE past maxMessageSize.
 */
export function fragmentBleMessage(
  cmd: number,
  payload: Uint8Array,
  frameLength: number,
  maxMessageSize: number = BLE_DEFAULT_MAX_MESSAGE,
): Uint8Array[] {
  if (!Number.isInteger(cmd) || cmd < 0x80 || cmd > 0xff) throw new ProtocolError('BAD_FRAME', 'BLE command must have bit 7 set', String(cmd));
  checkFrameLength(frameLength);
  const max = Math.min(maxMessageSize, BLE_MAX_MESSAGE);
  if (payload.length > max) throw new ProtocolError('TOO_LARGE', `BLE message over ${max} bytes`, String(payload.length));
  const initData = frameLength - BLE_INIT_HEADER;
  const contData = frameLength - BLE_CONT_HEADER;
  const firstLen = Math.min(initData, payload.length);
  const first = new Uint8Array(BLE_INIT_HEADER + firstLen);
  first[0] = cmd;
  first[1] = payload.length >>> 8;
  first[2] = payload.length & 0xff;
  first.set(payload.subarray(0, firstLen), BLE_INIT_HEADER);
  const out = [first];
  for (let off = firstLen, seq = 0; off < payload.length; off += contData, seq = (seq + 1) & BLE_MAX_SEQ) {
    const chunk = payload.subarray(off, off + contData);
    const f = new Uint8Array(BLE_CONT_HEADER + chunk.length);
    f[0] = seq;
    f.set(chunk, BLE_CONT_HEADER);
    out.push(f);
  }
  return out;
}

/** Number of fragments a payload of `length` bytes needs at `frameLength`. */
export function bleFragmentCount(length: number, frameLength: number): number {
  const initData = frameLength - BLE_INIT_HEADER;
  return length <= initData ? 1 : 1 + Math.ceil((length - initData) / (frameLength - BLE_CONT_HEADER));
}

export type BleFeedResult =
  | { kind: 'pending' }
  | { kind: 'message'; cmd: number; payload: Uint8Array }
  /** Rejected fragment; a device answers with an ERROR frame carrying `bleError`. */
  | { kind: 'error'; bleError: BleErrorCode; error: ProtocolError; aborted: boolean };

export interface BleReassemblerOptions {
  maxMessageSize?: number;
}

/**
 * Rebuilds messages from fragments. Rules (each rejection is a typed error, nothing throws):
 * - empty fragment, or longer than the frame length → INVALID_LEN (state kept);
 * - continuation while idle → INVALID_SEQ;
 * - init fragment while a message is in progress → INVALID_SEQ, both dropped;
 * - wrong SEQ → INVALID_SEQ, message dropped;
 * - total length over maxMessageSize, an empty continuation, or more data than the length
 *   announced → INVALID_LEN.
 */
export class BleReassembler {
  readonly frameLength: number;
  readonly maxMessageSize: number;
  private cmd = 0;
  private buf: Uint8Array | null = null;
  private filled = 0;
  private nextSeq = 0;

  constructor(frameLength: number, opts: BleReassemblerOptions = {}) {
    checkFrameLength(frameLength);
    this.frameLength = frameLength;
    this.maxMessageSize = Math.min(opts.maxMessageSize ?? BLE_DEFAULT_MAX_MESSAGE, BLE_MAX_MESSAGE);
  }

  pending(): { cmd: number; received: number; expected: number } | null {
    return this.buf ? { cmd: this.cmd, received: this.filled, expected: this.buf.length } : null;
  }

  reset(): void {
    this.buf = null;
    this.filled = 0;
    this.nextSeq = 0;
    this.cmd = 0;
  }

  feed(fragment: Uint8Array): BleFeedResult {
    if (!(fragment instanceof Uint8Array) || fragment.length === 0 || fragment.length > this.frameLength) {
      const len = fragment instanceof Uint8Array ? fragment.length : -1;
      return this.err(BLE_ERR.INVALID_LEN, 'BAD_FRAME', `BLE fragment must be 1..${this.frameLength} bytes`, String(len), false);
    }
    const isInit = (fragment[0] & 0x80) !== 0;
    if (isInit) {
      if (this.buf) {
        this.reset();
        return this.err(BLE_ERR.INVALID_SEQ, 'BAD_SEQUENCE', 'BLE init fragment in the middle of a message', undefined, true);
      }
      if (fragment.length < BLE_INIT_HEADER) {
        return this.err(BLE_ERR.INVALID_LEN, 'BAD_FRAME', 'BLE init fragment shorter than its header', String(fragment.length), false);
      }
      const total = (fragment[1] << 8) | fragment[2];
      if (total > this.maxMessageSize) {
        return this.err(BLE_ERR.INVALID_LEN, 'TOO_LARGE', `BLE message over ${this.maxMessageSize} bytes`, String(total), false);
      }
      const data = fragment.length - BLE_INIT_HEADER;
      if (data > total) {
        return this.err(BLE_ERR.INVALID_LEN, 'BAD_FRAME', 'BLE init fragment carries more than the announced length', `${data} > ${total}`, false);
      }
      this.cmd = fragment[0];
      this.buf = new Uint8Array(total);
      this.buf.set(fragment.subarray(BLE_INIT_HEADER), 0);
      this.filled = data;
      this.nextSeq = 0;
      return this.completeIfDone();
    }
    if (!this.buf) {
      return this.err(BLE_ERR.INVALID_SEQ, 'BAD_SEQUENCE', 'BLE continuation without an init fragment', undefined, false);
    }
    if (fragment[0] !== this.nextSeq) {
      const expected = this.nextSeq;
      this.reset();
      return this.err(BLE_ERR.INVALID_SEQ, 'BAD_SEQUENCE', 'BLE continuation out of order', `expected ${expected} got ${fragment[0]}`, true);
    }
    const data = fragment.length - BLE_CONT_HEADER;
    if (data === 0 || data > this.buf.length - this.filled) {
      this.reset();
      return this.err(BLE_ERR.INVALID_LEN, 'BAD_FRAME', 'BLE continuation empty or past the announced length', undefined, true);
    }
    this.buf.set(fragment.subarray(BLE_CONT_HEADER), this.filled);
    this.filled += data;
    this.nextSeq = (this.nextSeq + 1) & BLE_MAX_SEQ;
    return this.completeIfDone();
  }

  private completeIfDone(): BleFeedResult {
    if (!this.buf || this.filled < this.buf.length) return { kind: 'pending' };
    const out: BleFeedResult = { kind: 'message', cmd: this.cmd, payload: this.buf };
    this.reset();
    return out;
  }

  private err(bleError: BleErrorCode, code: ErrorCode, msg: string, detail: string | undefined, aborted: boolean): BleFeedResult {
    return { kind: 'error', bleError, error: new ProtocolError(code, msg, detail), aborted };
  }
}
