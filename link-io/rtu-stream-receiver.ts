// Turns the bytes a serial port delivers into Modbus RTU frames.
//
// The standard ends a frame with t3.5 of silence (protocol/framing/modbus-rtu.ts). Over a pty,
// and under a busy event loop on a real UART too, reads split and merge arbitrarily: one frame
// can arrive in two reads with a scheduling pause between them longer than t3.5, and two frames
// can arrive in one read. Silence alone would tear or glue those. So the receiver combines:
//   1. expected length: for every function whose length follows from its first bytes (standard
//      functions, exceptions, and the project's user function through `frameLength`), a frame is
//      cut as soon as that many bytes are there and the CRC matches — merged reads are split at
//      the right place, and nothing waits for the silence timer;
//   2. silence: when the line has been quiet for t3.5 whatever is buffered is one frame (the
//      standard's rule) — unless its expected length says more bytes are due, in which case the
//      receiver waits for them as long as the wire needs plus a grace for scheduling (a torn read);
//   3. CRC decides: a buffer that fails it after a short grace (the rest of a torn read may still
//      come) is rejected as a whole and counted, except that a valid frame of known length at its
//      tail (garbage glued in front of a good frame) is salvaged.
// RtuFrameSplitter (framing) implements rule 2 alone; it cannot cut merged reads, hence this.

import { ProtocolError } from '../protocol/errors.ts';
import { crc16Modbus } from '../protocol/framing/crc16-modbus.ts';
import {
  RTU_MAX_ADU,
  RTU_MIN_ADU,
  charTimeUs,
  decodeAdu,
  interFrameGapUs,
  type RtuAdu,
} from '../protocol/framing/modbus-rtu.ts';

/** Which side is listening: a slave receives requests, a master receives responses. */
export type RtuRole = 'slave' | 'master';

/**
 * Length of the frame starting at buf[0] (address, function code, ...) for functions the
 * standard rules below do not know; undefined = cannot tell (yet). Must not throw.
 */
export type RtuFrameLengthFn = (buf: Uint8Array, role: RtuRole) => number | undefined;

export interface RtuStreamReceiverOptions {
  baud: number;
  bitsPerChar?: number;
  role: RtuRole;
  frameLength?: RtuFrameLengthFn;
  onFrame: (adu: RtuAdu, raw: Uint8Array) => void;
  /** A dropped buffer: the error says why; `bytes` how many. Never given the bytes themselves. */
  onReject: (error: ProtocolError, bytes: number) => void;
  /** Extra wait for the rest of a frame of known length (scheduling jitter), ms. Default 25. */
  tornFrameGraceMs?: number;
  /**
   * Emulated (paced) links only: a read that ends with a valid CRC over the whole buffer is a
   * frame, without waiting t3.5. The paced writer already spent the t3.5 before delivering it,
   * and delivers a frame in one write. Off on real UARTs, where the tty layer hands over bytes
   * in FIFO-sized pieces and a piece ending on a chance CRC match (1 in 65536) would tear a frame.
   */
  cutOnCrc?: boolean;
}

const BUF_LIMIT = RTU_MAX_ADU * 2;

/** Length of a standard Modbus frame from its first bytes, or undefined. */
export function standardFrameLength(buf: Uint8Array, role: RtuRole): number | undefined {
  if (buf.length < 2) return undefined;
  const fc = buf[1];
  if (role === 'master') {
    if (fc & 0x80) return 5;
    switch (fc) {
      case 0x01:
      case 0x02:
      case 0x03:
      case 0x04:
      case 0x11:
        return buf.length >= 3 ? 3 + buf[2] + 2 : undefined;
      case 0x05:
      case 0x06:
      case 0x0b:
      case 0x0f:
      case 0x10:
        return 8;
      case 0x07:
        return 5;
      default:
        return undefined;
    }
  }
  switch (fc) {
    case 0x01:
    case 0x02:
    case 0x03:
    case 0x04:
    case 0x05:
    case 0x06:
    case 0x08:
      return 8;
    case 0x0f:
    case 0x10:
      return buf.length >= 7 ? 7 + buf[6] + 2 : undefined;
    case 0x07:
    case 0x0b:
    case 0x0c:
    case 0x11:
      return 4;
    default:
      return undefined;
  }
}

export class RtuStreamReceiver {
  private buf = new Uint8Array(BUF_LIMIT);
  private len = 0;
  private overflow = 0;
  private lastByteAt = 0;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private readonly gapMs: number;
  private readonly charMs: number;
  private readonly graceMs: number;

  constructor(private readonly opts: RtuStreamReceiverOptions) {
    const bits = opts.bitsPerChar ?? 10;
    this.gapMs = interFrameGapUs(opts.baud, bits) / 1000;
    this.charMs = charTimeUs(opts.baud, bits) / 1000;
    this.graceMs = opts.tornFrameGraceMs ?? 25;
  }

  /** Bytes buffered for a frame in progress. */
  pending(): number {
    return this.len + this.overflow;
  }

  push(chunk: Uint8Array): void {
    if (this.closed || chunk.length === 0) return;
    this.lastByteAt = performance.now();
    const take = Math.min(chunk.length, BUF_LIMIT - this.len);
    this.buf.set(chunk.subarray(0, take), this.len);
    this.len += take;
    this.overflow += chunk.length - take;
    this.cutKnownFrames();
    if (this.opts.cutOnCrc && this.overflow === 0 && this.len >= RTU_MIN_ADU) {
      const view = this.buf.subarray(0, this.len);
      if (this.expected(view) === undefined && this.crcOk(view, this.len)) {
        const raw = view.slice();
        this.len = 0;
        this.emit(raw);
      }
    }
    this.arm(this.gapMs);
  }

  /** Drop a partial frame (port reopened). */
  reset(): void {
    this.len = 0;
    this.overflow = 0;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  close(): void {
    this.closed = true;
    this.reset();
  }

  private expected(view: Uint8Array): number | undefined {
    let n = standardFrameLength(view, this.opts.role);
    if (n === undefined && this.opts.frameLength) {
      try {
        n = this.opts.frameLength(view, this.opts.role);
      } catch {
        n = undefined;
      }
    }
    if (n === undefined || n < RTU_MIN_ADU || n > RTU_MAX_ADU) return undefined;
    return n;
  }

  private crcOk(view: Uint8Array, n: number): boolean {
    return crc16Modbus(view, 0, n - 2) === (view[n - 2] | (view[n - 1] << 8));
  }

  /** Rule 1: emit every complete known-length frame at the front of the buffer. */
  private cutKnownFrames(): void {
    while (this.overflow === 0 && this.len >= RTU_MIN_ADU) {
      const view = this.buf.subarray(0, this.len);
      const n = this.expected(view);
      if (n === undefined || this.len < n || !this.crcOk(view, n)) return;
      this.emit(view.slice(0, n));
      this.buf.copyWithin(0, n, this.len);
      this.len -= n;
    }
  }

  private arm(ms: number): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = this.len + this.overflow > 0 ? setTimeout(() => this.onSilence(), ms) : undefined;
  }

  /** Rules 2 and 3. */
  private onSilence(): void {
    this.timer = undefined;
    if (this.closed || this.len + this.overflow === 0) return;
    const view = this.buf.subarray(0, this.len);
    const n = this.overflow === 0 ? this.expected(view) : undefined;
    if (n !== undefined && this.len < n) {
      // A torn read: the rest is due. Wait as long as the wire needs for it, plus a grace.
      const dueBy = this.lastByteAt + (n - this.len) * this.charMs + this.gapMs + this.graceMs;
      const wait = dueBy - performance.now();
      if (wait > 0) return this.arm(wait);
    }
    const total = this.len + this.overflow;
    if (this.overflow > 0) {
      this.drop(new ProtocolError('TOO_LARGE', `RTU frame over ${RTU_MAX_ADU} bytes`, String(total)), total);
      return;
    }
    try {
      const adu = decodeAdu(view);
      const raw = view.slice();
      this.len = 0;
      this.opts.onFrame(adu, raw);
      return;
    } catch (e) {
      // A frame of unknown length (0x41) torn by a scheduling pause, or whose tail is still
      // unread in the kernel (libuv runs timers before polling for I/O): give the rest a grace
      // before calling it garbage. New bytes re-arm the timer in push().
      const quietFor = performance.now() - this.lastByteAt;
      const grace = this.opts.cutOnCrc ? this.graceMs : Math.min(this.graceMs, 5);
      if (quietFor < this.gapMs + grace) return this.arm(this.gapMs + grace - quietFor);
      const err = e instanceof ProtocolError ? e : new ProtocolError('BAD_FRAME', String(e));
      const salvaged = this.salvageTail(view);
      if (salvaged) {
        const dropped = this.len - salvaged.length;
        this.len = 0;
        this.opts.onReject(err, dropped);
        this.emit(salvaged);
        return;
      }
      this.drop(err, total);
    }
  }

  /** Garbage glued in front of a good frame: find a known-length valid frame ending the buffer. */
  private salvageTail(view: Uint8Array): Uint8Array | undefined {
    for (let i = 1; i + RTU_MIN_ADU <= view.length; i++) {
      const tail = view.subarray(i);
      const n = this.expected(tail);
      if (n === tail.length && this.crcOk(tail, n) && tail[0] <= 247) return tail.slice();
    }
    return undefined;
  }

  private emit(raw: Uint8Array): void {
    let adu: RtuAdu;
    try {
      adu = decodeAdu(raw);
    } catch (e) {
      const err = e instanceof ProtocolError ? e : new ProtocolError('BAD_FRAME', String(e));
      this.opts.onReject(err, raw.length);
      return;
    }
    this.opts.onFrame(adu, raw);
  }

  private drop(err: ProtocolError, bytes: number): void {
    this.len = 0;
    this.overflow = 0;
    this.opts.onReject(err, bytes);
  }
}
