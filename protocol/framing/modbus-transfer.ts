// Protocol messages over Modbus RTU: user-defined function code 0x41 (65, in the 65..72 range the
// standard leaves to users), with fragmentation, sequence numbers and a transfer id. Modbus is
// master-driven: the slave only ever answers, so the master pushes the request fragment by
// fragment, then pulls the response fragment by fragment.
//
//   0x41 data = CTRL (1) | TID (1) | SEQ (1) | PAYLOAD (0..249)
//   CTRL bit 7 = LAST (final fragment of a request or response), bits 0..6 = op
//
//   master → slave   REQ 0x01  request fragment SEQ (LAST on the final one)
//                    GET 0x02  fetch response fragment SEQ (also the poll while pending)
//                    ABORT 0x03  drop transfer TID
//   slave → master   ACK 0x11  request fragment SEQ stored (non-final), or ABORT done
//                    PENDING 0x12  request complete, response not ready: poll GET 0 later
//                    RESP 0x13  response fragment SEQ (LAST on the final one)
//                    ERROR 0x1F  PAYLOAD = one byte ERROR_CODES value; SEQ = the SEQ expected
//
// Exchange: REQ 0 → ACK 0, REQ 1 → ACK 1, …, REQ n LAST → RESP 0 (or PENDING → GET 0 … → RESP 0),
// GET 1 → RESP 1, …, until RESP LAST. Retransmission is the master's recovery for a lost or
// corrupted frame (it resends the same ADU after its response timeout), so the slave answers a
// repeated REQ or GET idempotently. Each new message uses a new TID (master counts mod 256); a
// REQ 0 with a TID other than the current one aborts the old transfer. Malformed 0x41 data gets
// Modbus exception 03; protocol violations (out-of-sequence fragment, unknown transfer, size over
// the limit) get an ERROR op so the master learns our typed error code.
//
// Pure state machines: no I/O, no timers. Poll interval and response timeout are the I/O layer's.

import { ProtocolError, errorCodeFromNumber, ERROR_CODES, type ErrorCode } from '../errors.ts';
import {
  MODBUS_EXCEPTION,
  RTU_BROADCAST,
  RTU_MAX_ADDRESS,
  RTU_MAX_DATA,
  RTU_MIN_ADDRESS,
  encodeAdu,
  encodeExceptionAdu,
  exceptionCodeOf,
  exceptionToError,
  isExceptionAdu,
  type RtuAdu,
} from './modbus-rtu.ts';
import { FC_READ_INPUT_REGISTERS, serveReadInputRegisters } from './modbus-registers.ts';

export const FC_PRECHECK_TRANSFER = 0x41;
export const TRANSFER_HEADER = 3;
export const TRANSFER_MAX_PAYLOAD = RTU_MAX_DATA - TRANSFER_HEADER; // 249
export const TRANSFER_LAST = 0x80;
export const TRANSFER_DEFAULT_MAX_MESSAGE = 7609;

export const TRANSFER_OP = {
  REQ: 0x01,
  GET: 0x02,
  ABORT: 0x03,
  ACK: 0x11,
  PENDING: 0x12,
  RESP: 0x13,
  ERROR: 0x1f,
} as const;
export type TransferOp = (typeof TRANSFER_OP)[keyof typeof TRANSFER_OP];
const OPS = new Set<number>(Object.values(TRANSFER_OP));

export interface TransferPdu {
  op: TransferOp;
  tid: number;
  seq: number;
  last: boolean;
  payload: Uint8Array;
}

/** Encode the 0x41 data field. Throws ProtocolError on out-of-range fields. */
export function encodeTransferPdu(p: TransferPdu): Uint8Array {
  if (!OPS.has(p.op)) throw new ProtocolError('INVALID_FIELD', 'unknown transfer op', String(p.op));
  for (const [k, v] of [['tid', p.tid], ['seq', p.seq]] as const) {
    if (!Number.isInteger(v) || v < 0 || v > 0xff) throw new ProtocolError('INVALID_FIELD', `transfer ${k} must be a byte`, String(v));
  }
  if (p.payload.length > TRANSFER_MAX_PAYLOAD) {
    throw new ProtocolError('TOO_LARGE', `transfer payload over ${TRANSFER_MAX_PAYLOAD} bytes`, String(p.payload.length));
  }
  const out = new Uint8Array(TRANSFER_HEADER + p.payload.length);
  out[0] = p.op | (p.last ? TRANSFER_LAST : 0);
  out[1] = p.tid;
  out[2] = p.seq;
  out.set(p.payload, TRANSFER_HEADER);
  return out;
}

/** Decode the 0x41 data field. Throws ProtocolError(BAD_FRAME) when malformed. */
export function decodeTransferPdu(data: Uint8Array): TransferPdu {
  if (data.length < TRANSFER_HEADER) throw new ProtocolError('BAD_FRAME', 'transfer PDU shorter than 3 bytes', String(data.length));
  if (data.length > RTU_MAX_DATA) throw new ProtocolError('TOO_LARGE', 'transfer PDU too long', String(data.length));
  const op = data[0] & 0x7f;
  if (!OPS.has(op)) throw new ProtocolError('BAD_FRAME', 'unknown transfer op', `0x${op.toString(16)}`);
  const last = (data[0] & TRANSFER_LAST) !== 0;
  const payload = data.slice(TRANSFER_HEADER);
  // Ops without a payload must not carry one; ERROR carries exactly one byte. LAST only on data ops.
  const dataOp = op === TRANSFER_OP.REQ || op === TRANSFER_OP.RESP;
  if (!dataOp && last) throw new ProtocolError('BAD_FRAME', 'LAST flag on a control op');
  if (op === TRANSFER_OP.ERROR ? payload.length !== 1 : !dataOp && payload.length !== 0) {
    throw new ProtocolError('BAD_FRAME', 'transfer control op with a wrong payload length', String(payload.length));
  }
  return { op: op as TransferOp, tid: data[1], seq: data[2], last, payload };
}

/** Split a message into fragment payloads (an empty message is one empty fragment). */
function split(message: Uint8Array, size: number): Uint8Array[] {
  const parts: Uint8Array[] = [];
  for (let off = 0; off < message.length; off += size) parts.push(message.subarray(off, off + size));
  if (parts.length === 0) parts.push(new Uint8Array(0));
  return parts;
}

function checkFragmentSize(n: number | undefined): number {
  const v = n ?? TRANSFER_MAX_PAYLOAD;
  if (!Number.isInteger(v) || v < 1 || v > TRANSFER_MAX_PAYLOAD) {
    throw new ProtocolError('INVALID_FIELD', `fragmentSize must be 1..${TRANSFER_MAX_PAYLOAD}`, String(v));
  }
  return v;
}

function checkMaxMessage(n: number | undefined, fragmentSize: number): number {
  const v = n ?? TRANSFER_DEFAULT_MAX_MESSAGE;
  // SEQ is one byte: at most 256 fragments per direction.
  if (!Number.isInteger(v) || v < 0 || v > fragmentSize * 256) {
    throw new ProtocolError('INVALID_FIELD', 'maxMessageSize out of range for the fragment size', String(v));
  }
  return v;
}

/** Join the parts into a plain Uint8Array of its own (Buffer.concat may hand out a slice of a shared pool). */
function concat(parts: Uint8Array[], total: number): Uint8Array {
  return new Uint8Array(Buffer.concat(parts, total));
}

// ---------------------------------------------------------------------------------------------
// Master

export type RtuMasterStep =
  /** Send this ADU now (next request fragment, or GET for the next response fragment). */
  | { kind: 'send'; adu: Uint8Array }
  /** The slave is still working: send this ADU after the poll interval. */
  | { kind: 'poll'; adu: Uint8Array }
  | { kind: 'done'; message: Uint8Array }
  /** The transfer failed; current() is meaningless afterwards. Consider sending abortAdu(). */
  | { kind: 'error'; error: ProtocolError }
  /** Not an answer to the outstanding ADU (other slave, stale TID or SEQ): keep waiting. */
  | { kind: 'ignore'; reason: string };

export interface RtuMasterTransferOptions {
  address: number;
  /** 0..255; use a new one for every message (e.g. a counter mod 256). */
  transferId: number;
  message: Uint8Array;
  /** Request payload per fragment, 1..249 (default 249). */
  fragmentSize?: number;
  /** Largest message accepted in either direction (default 7609). */
  maxMessageSize?: number;
}

export class RtuMasterTransfer {
  readonly address: number;
  readonly transferId: number;
  private readonly maxMessage: number;
  private readonly reqParts: Uint8Array[];
  private phase: 'request' | 'response' | 'done' | 'failed' = 'request';
  private reqIndex = 0;
  private respSeq = 0;
  private respParts: Uint8Array[] = [];
  private respSize = 0;
  private outstanding: Uint8Array;

  constructor(opts: RtuMasterTransferOptions) {
    if (!Number.isInteger(opts.address) || opts.address < RTU_MIN_ADDRESS || opts.address > RTU_MAX_ADDRESS) {
      throw new ProtocolError('INVALID_FIELD', 'transfer needs a unicast slave address 1..247', String(opts.address));
    }
    if (!Number.isInteger(opts.transferId) || opts.transferId < 0 || opts.transferId > 0xff) {
      throw new ProtocolError('INVALID_FIELD', 'transferId must be 0..255', String(opts.transferId));
    }
    const fragmentSize = checkFragmentSize(opts.fragmentSize);
    this.maxMessage = checkMaxMessage(opts.maxMessageSize, TRANSFER_MAX_PAYLOAD);
    if (opts.message.length > this.maxMessage) {
      throw new ProtocolError('TOO_LARGE', `message over ${this.maxMessage} bytes`, String(opts.message.length));
    }
    if (opts.message.length > fragmentSize * 256) {
      throw new ProtocolError('TOO_LARGE', 'message needs more than 256 fragments', String(opts.message.length));
    }
    this.address = opts.address;
    this.transferId = opts.transferId;
    this.reqParts = split(opts.message.slice(), fragmentSize);
    this.outstanding = this.reqAdu(0);
  }

  /** The ADU to send (or resend after a response timeout). */
  current(): Uint8Array {
    return this.outstanding;
  }

  /** Number of request fragments (for accounting). */
  get requestFragments(): number {
    return this.reqParts.length;
  }

  get finished(): boolean {
    return this.phase === 'done' || this.phase === 'failed';
  }

  /** ABORT for this transfer; the slave answers ACK. */
  abortAdu(): Uint8Array {
    return this.adu({ op: TRANSFER_OP.ABORT, tid: this.transferId, seq: 0, last: false, payload: new Uint8Array(0) });
  }

  /** Feed a decoded response ADU (from RtuFrameSplitter / decodeAdu). Never throws. */
  receive(adu: RtuAdu): RtuMasterStep {
    if (this.finished) return { kind: 'ignore', reason: 'transfer finished' };
    if (adu.address !== this.address) return { kind: 'ignore', reason: 'other slave address' };
    if ((adu.functionCode & 0x7f) !== FC_PRECHECK_TRANSFER) return { kind: 'ignore', reason: 'other function code' };
    if (isExceptionAdu(adu)) {
      const ex = exceptionCodeOf(adu);
      if (ex === MODBUS_EXCEPTION.ACKNOWLEDGE) return { kind: 'poll', adu: this.outstanding };
      return this.fail(ex === undefined ? new ProtocolError('BAD_FRAME', 'malformed exception response') : exceptionToError(adu.functionCode, ex));
    }
    let p: TransferPdu;
    try {
      p = decodeTransferPdu(adu.data);
    } catch (e) {
      return this.fail(e instanceof ProtocolError ? e : new ProtocolError('BAD_FRAME', String(e)));
    }
    if (p.tid !== this.transferId) return { kind: 'ignore', reason: 'stale transfer id' };
    if (p.op === TRANSFER_OP.ERROR) {
      const code = errorCodeFromNumber(p.payload[0]);
      return this.fail(new ProtocolError(code, `slave refused transfer: ${code}`, `seq ${p.seq}`));
    }
    if (this.phase === 'request') {
      const isLast = this.reqIndex === this.reqParts.length - 1;
      if (!isLast) {
        if (p.op === TRANSFER_OP.ACK && p.seq === this.reqIndex) {
          this.reqIndex++;
          this.outstanding = this.reqAdu(this.reqIndex);
          return { kind: 'send', adu: this.outstanding };
        }
        return { kind: 'ignore', reason: 'unexpected answer to a request fragment' };
      }
      if (p.op === TRANSFER_OP.PENDING) {
        this.phase = 'response';
        this.outstanding = this.getAdu(0);
        return { kind: 'poll', adu: this.outstanding };
      }
      if (p.op === TRANSFER_OP.RESP && p.seq === 0) {
        this.phase = 'response';
        return this.takeResponse(p);
      }
      return { kind: 'ignore', reason: 'unexpected answer to the last request fragment' };
    }
    // response phase: outstanding is GET respSeq
    if (p.op === TRANSFER_OP.PENDING && this.respSeq === 0) return { kind: 'poll', adu: this.outstanding };
    if (p.op === TRANSFER_OP.RESP && p.seq === this.respSeq) return this.takeResponse(p);
    return { kind: 'ignore', reason: 'unexpected answer to GET' };
  }

  private takeResponse(p: TransferPdu): RtuMasterStep {
    this.respSize += p.payload.length;
    if (this.respSize > this.maxMessage) {
      return this.fail(new ProtocolError('TOO_LARGE', `response over ${this.maxMessage} bytes`, String(this.respSize)));
    }
    this.respParts.push(p.payload);
    if (p.last) {
      this.phase = 'done';
      return { kind: 'done', message: concat(this.respParts, this.respSize) };
    }
    if (this.respSeq === 0xff) return this.fail(new ProtocolError('BAD_SEQUENCE', 'response has more than 256 fragments'));
    this.respSeq++;
    this.outstanding = this.getAdu(this.respSeq);
    return { kind: 'send', adu: this.outstanding };
  }

  private fail(error: ProtocolError): RtuMasterStep {
    this.phase = 'failed';
    return { kind: 'error', error };
  }

  private reqAdu(i: number): Uint8Array {
    return this.adu({ op: TRANSFER_OP.REQ, tid: this.transferId, seq: i, last: i === this.reqParts.length - 1, payload: this.reqParts[i] });
  }

  private getAdu(seq: number): Uint8Array {
    return this.adu({ op: TRANSFER_OP.GET, tid: this.transferId, seq, last: false, payload: new Uint8Array(0) });
  }

  private adu(p: TransferPdu): Uint8Array {
    return encodeAdu({ address: this.address, functionCode: FC_PRECHECK_TRANSFER, data: encodeTransferPdu(p) });
  }
}

// ---------------------------------------------------------------------------------------------
// Slave

export interface RtuSlaveTransferOptions {
  /** This device's address, 1..247. */
  address: number;
  /** Called once per complete request message. May call respond()/fail() synchronously. */
  onRequest: (message: Uint8Array, transferId: number) => void;
  /** Register bank for function 0x04 (see modbus-registers.ts). Without it 0x04 → exception 01. */
  inputRegisters?: () => ArrayLike<number>;
  /** Response payload per fragment, 1..249 (default 249). */
  fragmentSize?: number;
  /** Largest request message accepted (default 7609). */
  maxMessageSize?: number;
}

export interface RtuSlaveStats {
  /** Complete request messages handed to onRequest. */
  requests: number;
  /** ADUs answered with an exception or an ERROR op. */
  rejected: number;
  /** Broadcast ADUs (never answered). */
  broadcasts: number;
  /** ADUs for other slaves (ignored silently, not rejected). */
  otherAddress: number;
}

type SlaveState =
  | { s: 'idle' }
  | { s: 'receiving'; tid: number; nextSeq: number; parts: Uint8Array[]; size: number }
  | { s: 'processing'; tid: number; lastSeq: number }
  | { s: 'responding'; tid: number; lastSeq: number; parts: Uint8Array[] | null; errorCode: ErrorCode | null };

export class RtuSlaveTransfer {
  readonly address: number;
  readonly stats: RtuSlaveStats = { requests: 0, rejected: 0, broadcasts: 0, otherAddress: 0 };
  private readonly onRequest: RtuSlaveTransferOptions['onRequest'];
  private readonly inputRegisters?: () => ArrayLike<number>;
  private readonly fragmentSize: number;
  private readonly maxMessage: number;
  private st: SlaveState = { s: 'idle' };

  constructor(opts: RtuSlaveTransferOptions) {
    if (!Number.isInteger(opts.address) || opts.address < RTU_MIN_ADDRESS || opts.address > RTU_MAX_ADDRESS) {
      throw new ProtocolError('INVALID_FIELD', 'slave address must be 1..247', String(opts.address));
    }
    this.address = opts.address;
    this.onRequest = opts.onRequest;
    this.inputRegisters = opts.inputRegisters;
    this.fragmentSize = checkFragmentSize(opts.fragmentSize);
    this.maxMessage = checkMaxMessage(opts.maxMessageSize, TRANSFER_MAX_PAYLOAD);
  }

  /** 'idle' | 'receiving' | 'processing' (waiting for respond()) | 'responding'. */
  get state(): SlaveState['s'] {
    return this.st.s;
  }

  /** Transfer id of the current transfer in any non-idle state (a master picks another). */
  get transferId(): number | undefined {
    return this.st.s === 'idle' ? undefined : this.st.tid;
  }

  /** Transfer id of the request being processed, if any. */
  get processingTransferId(): number | undefined {
    return this.st.s === 'processing' ? this.st.tid : undefined;
  }

  /**
   * Provide the response to the request being processed. Returns false if that transfer is gone
   * (aborted or replaced by a new one); throws ProtocolError(TOO_LARGE) for an oversized message.
   */
  respond(message: Uint8Array, transferId?: number): boolean {
    if (this.st.s !== 'processing' || (transferId !== undefined && transferId !== this.st.tid)) return false;
    if (message.length > this.fragmentSize * 256) {
      throw new ProtocolError('TOO_LARGE', 'response needs more than 256 fragments', String(message.length));
    }
    this.st = { s: 'responding', tid: this.st.tid, lastSeq: this.st.lastSeq, parts: split(message.slice(), this.fragmentSize), errorCode: null };
    return true;
  }

  /** Answer the request being processed with an ERROR op carrying `code`. */
  fail(code: ErrorCode, transferId?: number): boolean {
    if (this.st.s !== 'processing' || (transferId !== undefined && transferId !== this.st.tid)) return false;
    this.st = { s: 'responding', tid: this.st.tid, lastSeq: this.st.lastSeq, parts: null, errorCode: code };
    return true;
  }

  /** Drop all transfer state (link reset). */
  reset(): void {
    this.st = { s: 'idle' };
  }

  /**
   * Handle one decoded ADU. Returns the response ADU bytes to send, or null when the ADU must not
   * be answered (broadcast, another slave's address). Never throws.
   */
  handle(adu: RtuAdu): Uint8Array | null {
    if (adu.address === RTU_BROADCAST) {
      this.stats.broadcasts++;
      return null;
    }
    if (adu.address !== this.address) {
      this.stats.otherAddress++;
      return null;
    }
    if (adu.functionCode & 0x80) {
      // An exception response is never a request; answering it would only add bus noise.
      this.stats.rejected++;
      return null;
    }
    if (adu.functionCode === FC_READ_INPUT_REGISTERS && this.inputRegisters) {
      let regs: ArrayLike<number>;
      try {
        regs = this.inputRegisters();
      } catch {
        return this.exception(adu.functionCode, MODBUS_EXCEPTION.SERVER_DEVICE_FAILURE);
      }
      const r = serveReadInputRegisters(adu.data, regs);
      if (!r.ok) return this.exception(adu.functionCode, r.exception);
      return encodeAdu({ address: this.address, functionCode: adu.functionCode, data: r.data });
    }
    if (adu.functionCode !== FC_PRECHECK_TRANSFER) return this.exception(adu.functionCode, MODBUS_EXCEPTION.ILLEGAL_FUNCTION);
    let p: TransferPdu;
    try {
      p = decodeTransferPdu(adu.data);
    } catch {
      return this.exception(adu.functionCode, MODBUS_EXCEPTION.ILLEGAL_DATA_VALUE);
    }
    switch (p.op) {
      case TRANSFER_OP.REQ:
        return this.onReq(p);
      case TRANSFER_OP.GET:
        return this.onGet(p.tid, p.seq);
      case TRANSFER_OP.ABORT:
        if (this.st.s !== 'idle' && this.st.tid === p.tid) this.st = { s: 'idle' };
        return this.reply(TRANSFER_OP.ACK, p.tid, 0);
      default:
        // ACK/PENDING/RESP/ERROR are slave → master only.
        return this.exception(adu.functionCode, MODBUS_EXCEPTION.ILLEGAL_DATA_VALUE);
    }
  }

  private onReq(p: TransferPdu): Uint8Array {
    const st = this.st;
    // Retransmitted final fragment (its answer was lost): answer it again.
    if ((st.s === 'processing' || st.s === 'responding') && st.tid === p.tid && p.seq === st.lastSeq && p.last) {
      return this.onGet(p.tid, 0);
    }
    if (st.s === 'receiving' && st.tid === p.tid) {
      if (p.seq === st.nextSeq) return this.append(st, p);
      if (p.seq + 1 === st.nextSeq && !p.last) return this.reply(TRANSFER_OP.ACK, p.tid, p.seq); // duplicate
      return this.error(p.tid, st.nextSeq, 'BAD_SEQUENCE');
    }
    if (p.seq !== 0) return this.error(p.tid, 0, 'BAD_SEQUENCE');
    // SEQ 0: a new transfer; it replaces whatever was in progress.
    const fresh = { s: 'receiving' as const, tid: p.tid, nextSeq: 0, parts: [] as Uint8Array[], size: 0 };
    this.st = fresh;
    return this.append(fresh, p);
  }

  private append(st: Extract<SlaveState, { s: 'receiving' }>, p: TransferPdu): Uint8Array {
    st.size += p.payload.length;
    if (st.size > this.maxMessage) {
      this.st = { s: 'idle' };
      return this.error(p.tid, p.seq, 'TOO_LARGE');
    }
    st.parts.push(p.payload);
    if (!p.last) {
      if (st.nextSeq === 0xff) {
        this.st = { s: 'idle' };
        return this.error(p.tid, p.seq, 'TOO_LARGE');
      }
      st.nextSeq++;
      return this.reply(TRANSFER_OP.ACK, p.tid, p.seq);
    }
    const message = concat(st.parts, st.size);
    this.st = { s: 'processing', tid: p.tid, lastSeq: p.seq };
    this.stats.requests++;
    try {
      this.onRequest(message, p.tid);
    } catch {
      // The upper layer must not throw; if it does, the master still gets a typed answer.
      this.fail('INTERNAL', p.tid);
    }
    return this.onGet(p.tid, 0);
  }

  private onGet(tid: number, seq: number): Uint8Array {
    const st = this.st;
    if (st.s === 'processing' && st.tid === tid) {
      if (seq !== 0) return this.error(tid, 0, 'BAD_SEQUENCE');
      return this.reply(TRANSFER_OP.PENDING, tid, 0);
    }
    if (st.s === 'responding' && st.tid === tid) {
      if (st.errorCode) return this.error(tid, seq, st.errorCode);
      const parts = st.parts!;
      if (seq >= parts.length) return this.error(tid, parts.length - 1, 'BAD_SEQUENCE');
      return this.reply(TRANSFER_OP.RESP, tid, seq, seq === parts.length - 1, parts[seq]);
    }
    return this.error(tid, 0, 'BAD_SEQUENCE');
  }

  private reply(op: TransferOp, tid: number, seq: number, last = false, payload: Uint8Array = new Uint8Array(0)): Uint8Array {
    return encodeAdu({
      address: this.address,
      functionCode: FC_PRECHECK_TRANSFER,
      data: encodeTransferPdu({ op, tid, seq, last, payload }),
    });
  }

  private error(tid: number, seq: number, code: ErrorCode): Uint8Array {
    this.stats.rejected++;
    return this.reply(TRANSFER_OP.ERROR, tid, seq, false, Uint8Array.of(ERROR_CODES[code]));
  }

  private exception(functionCode: number, ex: (typeof MODBUS_EXCEPTION)[keyof typeof MODBUS_EXCEPTION]): Uint8Array {
    this.stats.rejected++;
    return encodeExceptionAdu(this.address, functionCode, ex);
  }
}
