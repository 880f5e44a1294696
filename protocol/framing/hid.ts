// USB HID link framing after CTAPHID (FIDO CTAP 2.1 §11.2): 64-byte reports, logical channels,
// one init packet then up to 128 continuation packets per message.
//
//   init:          CID (4, BE) | CMD (1, bit 7 set) | BCNT (2, BE) | DATA (57)
//   continuation:  CID (4, BE) | SEQ (1, 0x00..0x7F) | DATA (59)
//
// Pure codec: no I/O, no timers. The I/O layer owns the transaction timeout and calls
// HidReassembler.reset() when it fires. node-hid prepends a report ID byte (0) on write on some
// platforms: that is the I/O layer's business too; these functions see the bare 64 bytes.

import { ProtocolError, type ErrorCode } from '../errors.ts';
import { codeToCtapError, ctapErrorToCode, decodeErrorPayload, decodeKeepalivePayload, encodeKeepalivePayload } from './ctap-status.ts';

export const HID_REPORT_SIZE = 64;
export const HID_INIT_HEADER = 7;
export const HID_CONT_HEADER = 5;
export const HID_INIT_DATA = HID_REPORT_SIZE - HID_INIT_HEADER; // 57
export const HID_CONT_DATA = HID_REPORT_SIZE - HID_CONT_HEADER; // 59
export const HID_MAX_SEQ = 0x7f;
/** 57 + 128 × 59: the most a 7-bit sequence number can carry. */
export const HID_MAX_MESSAGE = HID_INIT_DATA + (HID_MAX_SEQ + 1) * HID_CONT_DATA; // 7609
export const HID_BROADCAST_CID = 0xffffffff;
/** CID 0 is reserved by CTAPHID and never valid. */
export const HID_RESERVED_CID = 0;

export const HID_CMD = {
  PING: 0x81,
  MSG: 0x83, // one Precheck protocol message
  INIT: 0x86,
  CANCEL: 0x91,
  KEEPALIVE: 0xbb,
  ERROR: 0xbf,
} as const;
export type HidCommand = (typeof HID_CMD)[keyof typeof HID_CMD];

/** CTAPHID error codes carried in an ERROR packet. */
export const HID_ERR = {
  INVALID_CMD: 0x01,
  INVALID_PAR: 0x02,
  INVALID_LEN: 0x03,
  INVALID_SEQ: 0x04,
  MSG_TIMEOUT: 0x05,
  CHANNEL_BUSY: 0x06,
  INVALID_CHANNEL: 0x0b,
  OTHER: 0x7f,
} as const;
export type HidErrorCode = (typeof HID_ERR)[keyof typeof HID_ERR];

export const HID_KEEPALIVE = { PROCESSING: 1, UPNEEDED: 2 } as const;
export type HidKeepaliveStatus = (typeof HID_KEEPALIVE)[keyof typeof HID_KEEPALIVE];

/** CTAPHID capability flags for the INIT response. */
export const HID_CAPABILITY = { WINK: 0x01, CBOR: 0x04, NMSG: 0x08 } as const;
export const HID_PROTOCOL_VERSION = 2; // CTAPHID protocol version we follow

export interface HidMessage {
  cid: number;
  cmd: number;
  payload: Uint8Array;
}

// ---------------------------------------------------------------------------------------------
// Error mapping, documented in docs/protocol.md (USB HID section).

/** ERROR packet code received from the peer → our error code (unknown codes → INTERNAL). */
export function hidErrorToCode(hidError: number): ErrorCode {
  return ctapErrorToCode(hidError, true);
}

/** Our error code → the CTAPHID error code to put in an ERROR packet. */
export function codeToHidError(code: ErrorCode): HidErrorCode {
  return codeToCtapError(code, true) as HidErrorCode;
}

function isU32(n: unknown): n is number {
  return typeof n === 'number' && Number.isInteger(n) && n >= 0 && n <= 0xffffffff;
}

// ---------------------------------------------------------------------------------------------
// Fragmentation

/**
 * Split one message into 64-byte reports (zero padded). Throws ProtocolError: BAD_CHANNEL for a
 * CID outside u32 or 0, BAD_FRAME for a command without bit 7, TOO_LARGE past maxMessageSize.
 */
export function fragmentHidMessage(
  cid: number,
  cmd: number,
  payload: Uint8Array,
  maxMessageSize: number = HID_MAX_MESSAGE,
): Uint8Array[] {
  if (!isU32(cid) || cid === HID_RESERVED_CID) {
    throw new ProtocolError('BAD_CHANNEL', 'HID channel id must be 1..0xFFFFFFFF', String(cid));
  }
  if (!Number.isInteger(cmd) || cmd < 0x80 || cmd > 0xff) {
    throw new ProtocolError('BAD_FRAME', 'HID command must have bit 7 set', String(cmd));
  }
  const max = Math.min(maxMessageSize, HID_MAX_MESSAGE);
  if (payload.length > max) {
    throw new ProtocolError('TOO_LARGE', `HID message over ${max} bytes`, String(payload.length));
  }
  const reports: Uint8Array[] = [];
  const first = new Uint8Array(HID_REPORT_SIZE);
  writeCid(first, cid);
  first[4] = cmd;
  first[5] = payload.length >>> 8;
  first[6] = payload.length & 0xff;
  first.set(payload.subarray(0, HID_INIT_DATA), HID_INIT_HEADER);
  reports.push(first);
  let off = HID_INIT_DATA;
  for (let seq = 0; off < payload.length; seq++) {
    const r = new Uint8Array(HID_REPORT_SIZE);
    writeCid(r, cid);
    r[4] = seq;
    r.set(payload.subarray(off, off + HID_CONT_DATA), HID_CONT_HEADER);
    reports.push(r);
    off += HID_CONT_DATA;
  }
  return reports;
}

/** Number of 64-byte reports a payload of `length` bytes needs. */
export function hidReportCount(length: number): number {
  return length <= HID_INIT_DATA ? 1 : 1 + Math.ceil((length - HID_INIT_DATA) / HID_CONT_DATA);
}

function writeCid(r: Uint8Array, cid: number): void {
  r[0] = cid >>> 24;
  r[1] = (cid >>> 16) & 0xff;
  r[2] = (cid >>> 8) & 0xff;
  r[3] = cid & 0xff;
}

function readCid(r: Uint8Array): number {
  return ((r[0] << 24) | (r[1] << 16) | (r[2] << 8) | r[3]) >>> 0;
}

/** One report carrying an ERROR packet for `cid`. */
export function hidErrorReport(cid: number, hidError: number): Uint8Array {
  return fragmentHidMessage(cid, HID_CMD.ERROR, Uint8Array.of(hidError & 0xff))[0];
}

// ---------------------------------------------------------------------------------------------
// Reassembly

export type HidFeedResult =
  /** Report consumed; the message is not complete yet. */
  | { kind: 'pending' }
  | { kind: 'message'; message: HidMessage }
  /**
   * The report was rejected. `cid` is the channel to answer with an ERROR packet carrying
   * `hidError` (hidErrorReport(cid, hidError)); a host-side reassembler just reports it.
   * `aborted` is true when a message in progress was dropped because of this report.
   */
  | { kind: 'error'; cid: number; hidError: HidErrorCode; error: ProtocolError; aborted: boolean };

export interface HidReassemblerOptions {
  /** Largest message accepted (≤ 7609); larger BCNT → INVALID_LEN. */
  maxMessageSize?: number;
  /**
   * 'device' (default) accepts only INIT on the broadcast channel, as CTAPHID says. 'host' also
   * accepts ERROR and KEEPALIVE there: a device answers a broadcast INIT it cannot serve with an
   * ERROR on the broadcast channel.
   */
  role?: 'device' | 'host';
}

/**
 * Rebuilds messages from 64-byte reports, one transaction at a time as a CTAPHID device does.
 * One instance per side of a link. Rules:
 * - a report that is not exactly 64 bytes → INVALID_LEN (state kept);
 * - CID 0, or the broadcast CID with a command other than INIT (host role: INIT, ERROR,
 *   KEEPALIVE) → INVALID_CHANNEL;
 * - an init packet whose BCNT is over maxMessageSize → INVALID_LEN;
 * - a continuation with no message in progress on its channel → INVALID_SEQ (CTAPHID ignores
 *   spurious continuations; the caller may choose not to answer it);
 * - a continuation with the wrong SEQ → INVALID_SEQ, the message in progress is dropped;
 * - a packet from another channel while a message is in progress → CHANNEL_BUSY to that other
 *   channel, the message in progress continues;
 * - an INIT command on the busy channel restarts it (CTAPHID resync); any other init packet on
 *   the busy channel → INVALID_SEQ and the message in progress is dropped.
 */
export class HidReassembler {
  readonly maxMessageSize: number;
  readonly role: 'device' | 'host';
  private cid = 0;
  private cmd = 0;
  private buf: Uint8Array | null = null;
  private filled = 0;
  private nextSeq = 0;

  constructor(opts: HidReassemblerOptions = {}) {
    this.maxMessageSize = Math.min(opts.maxMessageSize ?? HID_MAX_MESSAGE, HID_MAX_MESSAGE);
    this.role = opts.role ?? 'device';
  }

  /** The channel with a message in progress, or null. */
  pending(): { cid: number; cmd: number; received: number; expected: number } | null {
    if (!this.buf) return null;
    return { cid: this.cid, cmd: this.cmd, received: this.filled, expected: this.buf.length };
  }

  /** Drop the message in progress (transaction timeout, cancel, disconnect). */
  reset(): void {
    this.buf = null;
    this.filled = 0;
    this.nextSeq = 0;
    this.cid = 0;
    this.cmd = 0;
  }

  feed(report: Uint8Array): HidFeedResult {
    if (!(report instanceof Uint8Array) || report.length !== HID_REPORT_SIZE) {
      const len = report instanceof Uint8Array ? report.length : -1;
      const cid = len >= 4 ? readCid(report) : 0;
      return this.err(cid, HID_ERR.INVALID_LEN, 'BAD_FRAME', `HID report must be ${HID_REPORT_SIZE} bytes`, String(len), false);
    }
    const cid = readCid(report);
    if (cid === HID_RESERVED_CID) {
      return this.err(cid, HID_ERR.INVALID_CHANNEL, 'BAD_CHANNEL', 'HID channel 0 is reserved', undefined, false);
    }
    const isInit = (report[4] & 0x80) !== 0;

    if (this.buf && cid !== this.cid) {
      return this.err(cid, HID_ERR.CHANNEL_BUSY, 'BUSY', 'HID device busy with another channel', hexCid(this.cid), false);
    }

    if (!isInit) {
      if (!this.buf) {
        return this.err(cid, HID_ERR.INVALID_SEQ, 'BAD_SEQUENCE', 'HID continuation packet without an init packet', undefined, false);
      }
      const seq = report[4];
      if (seq !== this.nextSeq) {
        const expected = this.nextSeq;
        this.reset();
        return this.err(cid, HID_ERR.INVALID_SEQ, 'BAD_SEQUENCE', 'HID continuation out of order', `expected ${expected} got ${seq}`, true);
      }
      const take = Math.min(HID_CONT_DATA, this.buf.length - this.filled);
      this.buf.set(report.subarray(HID_CONT_HEADER, HID_CONT_HEADER + take), this.filled);
      this.filled += take;
      this.nextSeq++;
      return this.completeIfDone();
    }

    const cmd = report[4];
    let aborted = false;
    if (this.buf) {
      // Same channel (other channels were answered BUSY above).
      if (cmd !== HID_CMD.INIT) {
        this.reset();
        return this.err(cid, HID_ERR.INVALID_SEQ, 'BAD_SEQUENCE', 'HID init packet in the middle of a message', undefined, true);
      }
      this.reset();
      aborted = true;
    }
    if (cid === HID_BROADCAST_CID && !this.allowedOnBroadcast(cmd)) {
      return this.err(cid, HID_ERR.INVALID_CHANNEL, 'BAD_CHANNEL', 'only INIT may use the HID broadcast channel', undefined, aborted);
    }
    const bcnt = (report[5] << 8) | report[6];
    if (bcnt > this.maxMessageSize) {
      return this.err(cid, HID_ERR.INVALID_LEN, 'TOO_LARGE', `HID message over ${this.maxMessageSize} bytes`, String(bcnt), aborted);
    }
    this.cid = cid;
    this.cmd = cmd;
    this.buf = new Uint8Array(bcnt);
    const take = Math.min(HID_INIT_DATA, bcnt);
    this.buf.set(report.subarray(HID_INIT_HEADER, HID_INIT_HEADER + take), 0);
    this.filled = take;
    this.nextSeq = 0;
    return this.completeIfDone();
  }

  private allowedOnBroadcast(cmd: number): boolean {
    if (cmd === HID_CMD.INIT) return true;
    return this.role === 'host' && (cmd === HID_CMD.ERROR || cmd === HID_CMD.KEEPALIVE);
  }

  private completeIfDone(): HidFeedResult {
    if (!this.buf || this.filled < this.buf.length) return { kind: 'pending' };
    const message: HidMessage = { cid: this.cid, cmd: this.cmd, payload: this.buf };
    this.reset();
    return { kind: 'message', message };
  }

  private err(
    cid: number,
    hidError: HidErrorCode,
    code: ErrorCode,
    msg: string,
    detail: string | undefined,
    aborted: boolean,
  ): HidFeedResult {
    return { kind: 'error', cid, hidError, error: new ProtocolError(code, msg, detail), aborted };
  }
}

function hexCid(cid: number): string {
  return cid.toString(16).padStart(8, '0');
}

// ---------------------------------------------------------------------------------------------
// Command payloads

export const HID_INIT_NONCE_SIZE = 8;
/** CTAPHID INIT response is 17 bytes; we append max message size (u16 BE) as an extension. */
export const HID_INIT_RESPONSE_SIZE = 19;
const HID_INIT_RESPONSE_CTAP_SIZE = 17;

export interface HidInitResponse {
  nonce: Uint8Array;
  /** The newly allocated channel. */
  cid: number;
  protocolVersion: number;
  versionMajor: number;
  versionMinor: number;
  versionBuild: number;
  capabilities: number;
  /** Precheck extension (2 extra bytes, BE). Defaults to 7609 when a peer omits it. */
  maxMessageSize: number;
}

export function encodeHidInitRequest(nonce: Uint8Array): Uint8Array {
  if (nonce.length !== HID_INIT_NONCE_SIZE) {
    throw new ProtocolError('INVALID_FIELD', 'HID INIT nonce must be 8 bytes', String(nonce.length));
  }
  return nonce.slice();
}

/** INIT request payload → nonce. BCNT other than 8 → TOO_LARGE / BAD_FRAME (CTAPHID INVALID_LEN). */
export function decodeHidInitRequest(payload: Uint8Array): Uint8Array {
  if (payload.length !== HID_INIT_NONCE_SIZE) {
    throw new ProtocolError('BAD_FRAME', 'HID INIT request must carry an 8-byte nonce', String(payload.length));
  }
  return payload.slice();
}

function isByte(n: unknown): n is number {
  return typeof n === 'number' && Number.isInteger(n) && n >= 0 && n <= 0xff;
}

export function encodeHidInitResponse(r: HidInitResponse): Uint8Array {
  if (r.nonce.length !== HID_INIT_NONCE_SIZE) throw new ProtocolError('INVALID_FIELD', 'HID INIT nonce must be 8 bytes');
  if (!isU32(r.cid) || r.cid === HID_RESERVED_CID || r.cid === HID_BROADCAST_CID) {
    throw new ProtocolError('BAD_CHANNEL', 'HID INIT must allocate a unicast channel', String(r.cid));
  }
  for (const [k, v] of [
    ['protocolVersion', r.protocolVersion],
    ['versionMajor', r.versionMajor],
    ['versionMinor', r.versionMinor],
    ['versionBuild', r.versionBuild],
    ['capabilities', r.capabilities],
  ] as const) {
    if (!isByte(v)) throw new ProtocolError('INVALID_FIELD', `HID INIT ${k} must be a byte`, String(v));
  }
  if (!Number.isInteger(r.maxMessageSize) || r.maxMessageSize < HID_INIT_DATA || r.maxMessageSize > HID_MAX_MESSAGE) {
    throw new ProtocolError('INVALID_FIELD', `HID INIT maxMessageSize must be ${HID_INIT_DATA}..${HID_MAX_MESSAGE}`, String(r.maxMessageSize));
  }
  const out = new Uint8Array(HID_INIT_RESPONSE_SIZE);
  out.set(r.nonce, 0);
  writeCid(out.subarray(8, 12), r.cid);
  out[12] = r.protocolVersion;
  out[13] = r.versionMajor;
  out[14] = r.versionMinor;
  out[15] = r.versionBuild;
  out[16] = r.capabilities;
  out[17] = r.maxMessageSize >>> 8;
  out[18] = r.maxMessageSize & 0xff;
  return out;
}

/** Accepts the plain 17-byte CTAPHID response too (max message size then defaults to 7609). */
export function decodeHidInitResponse(payload: Uint8Array): HidInitResponse {
  if (payload.length !== HID_INIT_RESPONSE_CTAP_SIZE && payload.length !== HID_INIT_RESPONSE_SIZE) {
    throw new ProtocolError('BAD_FRAME', 'HID INIT response must be 17 or 19 bytes', String(payload.length));
  }
  const cid = readCid(payload.subarray(8, 12));
  if (cid === HID_RESERVED_CID || cid === HID_BROADCAST_CID) {
    throw new ProtocolError('BAD_CHANNEL', 'HID INIT response allocated a reserved channel', hexCid(cid));
  }
  const maxMessageSize = payload.length === HID_INIT_RESPONSE_SIZE ? (payload[17] << 8) | payload[18] : HID_MAX_MESSAGE;
  if (maxMessageSize < HID_INIT_DATA || maxMessageSize > HID_MAX_MESSAGE) {
    throw new ProtocolError('INVALID_FIELD', 'HID INIT response max message size out of range', String(maxMessageSize));
  }
  return {
    nonce: payload.slice(0, 8),
    cid,
    protocolVersion: payload[12],
    versionMajor: payload[13],
    versionMinor: payload[14],
    versionBuild: payload[15],
    capabilities: payload[16],
    maxMessageSize,
  };
}

export function encodeHidKeepalive(status: HidKeepaliveStatus): Uint8Array {
  return encodeKeepalivePayload('HID', status);
}

export function decodeHidKeepalive(payload: Uint8Array): HidKeepaliveStatus {
  return decodeKeepalivePayload('HID', payload);
}

export function encodeHidError(hidError: HidErrorCode): Uint8Array {
  return Uint8Array.of(hidError);
}

/** ERROR payload → { hidError, error } with the error mapped to our codes. */
export function decodeHidError(payload: Uint8Array): { hidError: number; error: ProtocolError } {
  const { ctapError, error } = decodeErrorPayload('HID', payload, true);
  return { hidError: ctapError, error };
}
