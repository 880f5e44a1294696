// Modbus RTU application data unit (ADU) codec and serial-line timing helpers, after "MODBUS over
// serial line specification and implementation guide V1.02" (§2.5.1 RTU framing, §6.2.2 CRC).
//
//   ADU = address (1) | function code (1) | data (0..252) | CRC-16/MODBUS (2, low byte first)
//
// Pure: no I/O and no timers. The I/O layer feeds received chunks with their arrival time to
// RtuFrameSplitter and calls flush() when its own silence timer (interFrameGapUs) fires.

import { ProtocolError } from '../errors.ts';
import { crc16Modbus } from './crc16-modbus.ts';

export const RTU_MAX_ADU = 256;
/** address + function code + CRC; the shortest ADU that can carry a valid PDU. */
export const RTU_MIN_ADU = 4;
export const RTU_MAX_DATA = RTU_MAX_ADU - RTU_MIN_ADU; // 252
export const RTU_BROADCAST = 0;
export const RTU_MIN_ADDRESS = 1;
export const RTU_MAX_ADDRESS = 247; // 248..255 are reserved by the standard
export const RTU_EXCEPTION_FLAG = 0x80;

/** Modbus exception codes (Modbus application protocol V1.1b3 §7). */
export const MODBUS_EXCEPTION = {
  ILLEGAL_FUNCTION: 0x01,
  ILLEGAL_DATA_ADDRESS: 0x02,
  ILLEGAL_DATA_VALUE: 0x03,
  SERVER_DEVICE_FAILURE: 0x04,
  ACKNOWLEDGE: 0x05,
  SERVER_DEVICE_BUSY: 0x06,
} as const;
export type ModbusExceptionCode = (typeof MODBUS_EXCEPTION)[keyof typeof MODBUS_EXCEPTION];

export interface RtuAdu {
  /** 0 = broadcast, 1..247 = unicast. */
  address: number;
  /** 1..127 for requests/normal responses; fc | 0x80 for exception responses. */
  functionCode: number;
  data: Uint8Array;
}

function isInt(n: unknown, lo: number, hi: number): n is number {
  return typeof n === 'number' && Number.isInteger(n) && n >= lo && n <= hi;
}

/** Encode an ADU, appending the CRC. Throws ProtocolError (BAD_FRAME / TOO_LARGE) on bad input. */
export function encodeAdu(adu: RtuAdu): Uint8Array {
  if (!isInt(adu.address, 0, RTU_MAX_ADDRESS)) {
    throw new ProtocolError('BAD_FRAME', 'RTU address out of range 0..247', String(adu.address));
  }
  if (!isInt(adu.functionCode, 1, 255)) {
    throw new ProtocolError('BAD_FRAME', 'RTU function code out of range 1..255', String(adu.functionCode));
  }
  if (adu.data.length > RTU_MAX_DATA) {
    throw new ProtocolError('TOO_LARGE', `RTU ADU data over ${RTU_MAX_DATA} bytes`, String(adu.data.length));
  }
  const out = new Uint8Array(adu.data.length + RTU_MIN_ADU);
  out[0] = adu.address;
  out[1] = adu.functionCode;
  out.set(adu.data, 2);
  const crc = crc16Modbus(out, 0, out.length - 2);
  out[out.length - 2] = crc & 0xff;
  out[out.length - 1] = crc >>> 8;
  return out;
}

/**
 * Decode and check one complete ADU. Throws ProtocolError: BAD_FRAME (too short, reserved
 * address, function code 0), TOO_LARGE (> 256 bytes), BAD_CRC. The returned data is a copy.
 */
export function decodeAdu(bytes: Uint8Array): RtuAdu {
  if (!(bytes instanceof Uint8Array)) throw new ProtocolError('BAD_FRAME', 'RTU ADU must be bytes');
  if (bytes.length < RTU_MIN_ADU) {
    throw new ProtocolError('BAD_FRAME', `RTU ADU shorter than ${RTU_MIN_ADU} bytes`, String(bytes.length));
  }
  if (bytes.length > RTU_MAX_ADU) {
    throw new ProtocolError('TOO_LARGE', `RTU ADU over ${RTU_MAX_ADU} bytes`, String(bytes.length));
  }
  const crc = crc16Modbus(bytes, 0, bytes.length - 2);
  const got = bytes[bytes.length - 2] | (bytes[bytes.length - 1] << 8);
  if (crc !== got) {
    throw new ProtocolError('BAD_CRC', 'RTU CRC mismatch', `expected ${hex16(crc)} got ${hex16(got)}`);
  }
  if (bytes[0] > RTU_MAX_ADDRESS) {
    throw new ProtocolError('BAD_FRAME', 'RTU address reserved (248..255)', String(bytes[0]));
  }
  if (bytes[1] === 0) throw new ProtocolError('BAD_FRAME', 'RTU function code 0 is invalid');
  return { address: bytes[0], functionCode: bytes[1], data: bytes.slice(2, bytes.length - 2) };
}

function hex16(n: number): string {
  // CRC in wire order (low byte first) so it matches a hex dump of the frame.
  return ((n & 0xff).toString(16).padStart(2, '0') + (n >>> 8).toString(16).padStart(2, '0'));
}

/** Exception response ADU: fc | 0x80 and one exception code byte. */
export function encodeExceptionAdu(address: number, functionCode: number, exception: ModbusExceptionCode): Uint8Array {
  return encodeAdu({
    address,
    functionCode: (functionCode | RTU_EXCEPTION_FLAG) & 0xff,
    data: Uint8Array.of(exception),
  });
}

export function isExceptionAdu(adu: RtuAdu): boolean {
  return (adu.functionCode & RTU_EXCEPTION_FLAG) !== 0;
}

/** Exception code of an exception response, or undefined if it is not a well-formed one. */
export function exceptionCodeOf(adu: RtuAdu): number | undefined {
  if (!isExceptionAdu(adu) || adu.data.length !== 1) return undefined;
  return adu.data[0];
}

/** Map a received Modbus exception to the project's typed error. */
export function exceptionToError(functionCode: number, exception: number): ProtocolError {
  const fc = `function 0x${(functionCode & 0x7f).toString(16).padStart(2, '0')}`;
  switch (exception) {
    case MODBUS_EXCEPTION.ILLEGAL_FUNCTION:
      return new ProtocolError('UNSUPPORTED', `Modbus exception 01 illegal function (${fc})`);
    case MODBUS_EXCEPTION.ILLEGAL_DATA_ADDRESS:
      return new ProtocolError('INVALID_FIELD', `Modbus exception 02 illegal data address (${fc})`);
    case MODBUS_EXCEPTION.ILLEGAL_DATA_VALUE:
      return new ProtocolError('MALFORMED', `Modbus exception 03 illegal data value (${fc})`);
    case MODBUS_EXCEPTION.SERVER_DEVICE_FAILURE:
      return new ProtocolError('INTERNAL', `Modbus exception 04 server device failure (${fc})`);
    case MODBUS_EXCEPTION.ACKNOWLEDGE:
      return new ProtocolError('TIMEOUT', `Modbus exception 05 acknowledge: still processing (${fc})`);
    case MODBUS_EXCEPTION.SERVER_DEVICE_BUSY:
      return new ProtocolError('BUSY', `Modbus exception 06 server device busy (${fc})`);
    default:
      return new ProtocolError('BAD_FRAME', `Modbus exception ${exception} unknown (${fc})`);
  }
}

// ---------------------------------------------------------------------------------------------
// Timing. The standard counts 11 bit-times per RTU character (start, 8 data, parity or a second
// stop bit, stop). Our emulated bus and most USB-RS485 adapters run 8N1 = 10 bit-times, so 10 is
// the default here; pass 11 for 8E1/8O1/8N2 lines.

/** Fixed t3.5 above 19200 baud (spec §2.5.1.1): the timer would otherwise be too short to keep. */
export const RTU_FIXED_T35_US = 1750;
/** Fixed t1.5 above 19200 baud. */
export const RTU_FIXED_T15_US = 750;

function checkBaud(baud: number): void {
  if (!(Number.isFinite(baud) && baud > 0)) throw new ProtocolError('INVALID_FIELD', 'baud rate must be > 0', String(baud));
}

/** Time to send one character, in microseconds. */
export function charTimeUs(baud: number, bitsPerChar = 10): number {
  checkBaud(baud);
  return (bitsPerChar * 1e6) / baud;
}

/** t3.5: minimum silence between frames (3.5 character times; 1750 µs fixed above 19200 baud). */
export function interFrameGapUs(baud: number, bitsPerChar = 10): number {
  return baud > 19200 ? RTU_FIXED_T35_US : 3.5 * charTimeUs(baud, bitsPerChar);
}

/** t1.5: maximum silence between characters of one frame (750 µs fixed above 19200 baud). */
export function interCharTimeoutUs(baud: number, bitsPerChar = 10): number {
  return baud > 19200 ? RTU_FIXED_T15_US : 1.5 * charTimeUs(baud, bitsPerChar);
}

/** Time on the wire for an ADU of `length` bytes followed by the mandatory t3.5 silence. */
export function aduWireTimeUs(length: number, baud: number, bitsPerChar = 10): number {
  return length * charTimeUs(baud, bitsPerChar) + interFrameGapUs(baud, bitsPerChar);
}

// ---------------------------------------------------------------------------------------------
// Frame splitter: bytes + arrival times in, ADUs out.

export type RtuSplitResult =
  | { kind: 'frame'; adu: RtuAdu; raw: Uint8Array }
  | { kind: 'error'; error: ProtocolError; raw: Uint8Array };

export interface RtuSplitterStats {
  /** Frames that passed the CRC and length checks. */
  frames: number;
  crcErrors: number;
  /** Too short, too long (> 256 bytes without a gap) or reserved address. */
  malformed: number;
  /** Frames in which a silence longer than t1.5 (but shorter than t3.5) was seen. */
  interCharViolations: number;
}

export interface RtuFrameSplitterOptions {
  baud: number;
  bitsPerChar?: number;
  /** Override t3.5 (µs). Defaults to interFrameGapUs(baud, bitsPerChar). */
  gapUs?: number;
  /**
   * Reject frames with a t1.5 < gap < t3.5 silence inside, as the standard asks. Off by default:
   * an OS delivers serial bytes in chunks with scheduling jitter, so the intra-frame gaps it
   * reports are not the line's; the CRC catches the torn frames anyway.
   */
  strictInterChar?: boolean;
}

/**
 * Splits a received byte stream into ADUs using silent intervals. Timestamps are the arrival time
 * of each chunk in µs (any monotonic clock). A chunk that arrives t3.5 or more after the previous
 * one starts a new frame; flush() ends the current frame (call it when the line has been silent
 * for t3.5). Frames failing the CRC are returned as errors and counted, never thrown.
 */
export class RtuFrameSplitter {
  readonly gapUs: number;
  readonly interCharUs: number;
  readonly stats: RtuSplitterStats = { frames: 0, crcErrors: 0, malformed: 0, interCharViolations: 0 };
  private readonly strict: boolean;
  // Bytes beyond RTU_MAX_ADU are counted, not stored: the frame is bad anyway.
  private buf = new Uint8Array(RTU_MAX_ADU);
  private len = 0;
  private overflow = 0;
  private violated = false;
  private lastUs: number | undefined;

  constructor(opts: RtuFrameSplitterOptions) {
    const bits = opts.bitsPerChar ?? 10;
    this.gapUs = opts.gapUs ?? interFrameGapUs(opts.baud, bits);
    this.interCharUs = Math.min(this.gapUs, interCharTimeoutUs(opts.baud, bits));
    this.strict = opts.strictInterChar ?? false;
  }

  /** Bytes held for the frame in progress. */
  pending(): number {
    return this.len + this.overflow;
  }

  push(chunk: Uint8Array, timestampUs: number): RtuSplitResult[] {
    const out: RtuSplitResult[] = [];
    if (chunk.length === 0) return out;
    if (this.lastUs !== undefined && this.pending() > 0) {
      const gap = timestampUs - this.lastUs;
      if (gap >= this.gapUs) this.finish(out);
      else if (gap > this.interCharUs) this.violated = true;
    }
    this.lastUs = timestampUs;
    const room = RTU_MAX_ADU - this.len;
    const take = Math.min(room, chunk.length);
    this.buf.set(chunk.subarray(0, take), this.len);
    this.len += take;
    this.overflow += chunk.length - take;
    return out;
  }

  /** End the frame in progress (the I/O layer's t3.5 silence timer fired). */
  flush(): RtuSplitResult[] {
    const out: RtuSplitResult[] = [];
    if (this.pending() > 0) this.finish(out);
    return out;
  }

  /** Drop any partial frame (e.g. after the port was reopened). */
  reset(): void {
    this.len = 0;
    this.overflow = 0;
    this.violated = false;
    this.lastUs = undefined;
  }

  private finish(out: RtuSplitResult[]): void {
    const raw = this.buf.slice(0, this.len);
    const overflow = this.overflow;
    const violated = this.violated;
    this.len = 0;
    this.overflow = 0;
    this.violated = false;
    if (violated) this.stats.interCharViolations++;
    if (overflow > 0) {
      this.stats.malformed++;
      out.push({
        kind: 'error',
        raw,
        error: new ProtocolError('TOO_LARGE', `RTU frame over ${RTU_MAX_ADU} bytes`, String(raw.length + overflow)),
      });
      return;
    }
    if (violated && this.strict) {
      this.stats.malformed++;
      out.push({ kind: 'error', raw, error: new ProtocolError('BAD_FRAME', 'RTU frame has a silence over t1.5 inside') });
      return;
    }
    try {
      const adu = decodeAdu(raw);
      this.stats.frames++;
      out.push({ kind: 'frame', adu, raw });
    } catch (e) {
      const error = e instanceof ProtocolError ? e : new ProtocolError('BAD_FRAME', String(e));
      if (error.code === 'BAD_CRC') this.stats.crcErrors++;
      else this.stats.malformed++;
      out.push({ kind: 'error', error, raw });
    }
  }
}
