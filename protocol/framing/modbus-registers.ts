// Modbus function 0x04 (read input registers) and the device's status register map, so any
// off-the-shelf Modbus master (e.g. `mbpoll -t 3 -r 1 -c 10 -a <addr> /dev/ttyUSB0`, whose
// register numbers start at 1) can poll a device's health.
//
// Register map (PDU addresses from 0; words big-endian; u32 = two registers, high word first):
//   0     protocol version
//   1-2   firmware version (u32)
//   3-4   active dataset version (u32)
//   5     dataset state: 0 fresh, 1 stale, 2 none
//   6-7   verifications served (u32, wraps at 2^32)
//   8-9   frames rejected (u32, wraps at 2^32)

import { ProtocolError } from '../errors.ts';
import { DATASET_STATES, type DatasetState } from '../messages/catalogue.ts';
import { MODBUS_EXCEPTION, type ModbusExceptionCode } from './modbus-rtu.ts';

export const FC_READ_INPUT_REGISTERS = 0x04;
/** Largest quantity one 0x04 request may ask for (Modbus application protocol §6.4). */
export const MAX_READ_REGISTERS = 125;

export const STATUS_REGISTER = {
  PROTOCOL_VERSION: 0,
  FIRMWARE_VERSION: 1,
  DATASET_VERSION: 3,
  DATASET_STATE: 5,
  VERIFICATIONS_SERVED: 6,
  FRAMES_REJECTED: 8,
} as const;
export const STATUS_REGISTER_COUNT = 10;

export interface DeviceStatusRegisters {
  protocolVersion: number; // u16
  firmwareVersion: number; // u32
  datasetVersion: number; // u32 (0 when there is none)
  datasetState: DatasetState; // register 5: its index in the catalogue's DATASET_STATES
  verificationsServed: number; // u32, counters wrap
  framesRejected: number; // u32, counters wrap
}

function checkUint(name: string, v: number, max: number): void {
  if (!Number.isInteger(v) || v < 0 || v > max) {
    throw new ProtocolError('INVALID_FIELD', `status register ${name} out of range 0..${max}`, String(v));
  }
}

export function encodeStatusRegisters(s: DeviceStatusRegisters): Uint16Array {
  checkUint('protocolVersion', s.protocolVersion, 0xffff);
  checkUint('firmwareVersion', s.firmwareVersion, 0xffffffff);
  checkUint('datasetVersion', s.datasetVersion, 0xffffffff);
  const stateNumber = DATASET_STATES.indexOf(s.datasetState);
  if (stateNumber < 0) {
    throw new ProtocolError('INVALID_FIELD', 'status register datasetState unknown', String(s.datasetState));
  }
  // Counters are monotonic totals that may pass 2^32 on a long-lived device: wrap, as a Modbus
  // master expects from a 32-bit counter.
  const served = wrapU32(s.verificationsServed);
  const rejected = wrapU32(s.framesRejected);
  const w = new Uint16Array(STATUS_REGISTER_COUNT);
  w[0] = s.protocolVersion;
  putU32(w, 1, s.firmwareVersion);
  putU32(w, 3, s.datasetVersion);
  w[5] = stateNumber;
  putU32(w, 6, served);
  putU32(w, 8, rejected);
  return w;
}

export function decodeStatusRegisters(words: ArrayLike<number>): DeviceStatusRegisters {
  if (words.length < STATUS_REGISTER_COUNT) {
    throw new ProtocolError('BAD_FRAME', `status needs ${STATUS_REGISTER_COUNT} registers`, String(words.length));
  }
  const state = words[5];
  const name = DATASET_STATES[state];
  if (!name) throw new ProtocolError('INVALID_FIELD', 'dataset state register unknown', String(state));
  return {
    protocolVersion: words[0] & 0xffff,
    firmwareVersion: getU32(words, 1),
    datasetVersion: getU32(words, 3),
    datasetState: name,
    verificationsServed: getU32(words, 6),
    framesRejected: getU32(words, 8),
  };
}

function wrapU32(n: number): number {
  if (!Number.isInteger(n) || n < 0) throw new ProtocolError('INVALID_FIELD', 'counter must be a non-negative integer', String(n));
  return n % 0x1_0000_0000;
}
function putU32(w: Uint16Array, at: number, v: number): void {
  w[at] = Math.floor(v / 0x10000);
  w[at + 1] = v & 0xffff;
}
function getU32(w: ArrayLike<number>, at: number): number {
  return (w[at] & 0xffff) * 0x10000 + (w[at + 1] & 0xffff);
}

// ---------------------------------------------------------------------------------------------
// 0x04 PDU data codecs (the ADU's data field, without address, function code and CRC).

export interface ReadRegistersRequest {
  start: number;
  quantity: number;
}

/** Master side: request data = start (u16 BE) | quantity (u16 BE). */
export function encodeReadInputRegistersRequest(start: number, quantity: number): Uint8Array {
  checkUint('start', start, 0xffff);
  if (!Number.isInteger(quantity) || quantity < 1 || quantity > MAX_READ_REGISTERS) {
    throw new ProtocolError('INVALID_FIELD', `quantity must be 1..${MAX_READ_REGISTERS}`, String(quantity));
  }
  if (start + quantity > 0x10000) throw new ProtocolError('INVALID_FIELD', 'register range passes 0xFFFF');
  return Uint8Array.of(start >>> 8, start & 0xff, quantity >>> 8, quantity & 0xff);
}

/**
 * Slave side: validate a request against a register bank, as the standard's state diagram does
 * (quantity first → 03, then range → 02). Never throws.
 */
export function decodeReadInputRegistersRequest(
  data: Uint8Array,
  available: number,
): { ok: true; request: ReadRegistersRequest } | { ok: false; exception: ModbusExceptionCode } {
  if (data.length !== 4) return { ok: false, exception: MODBUS_EXCEPTION.ILLEGAL_DATA_VALUE };
  const start = (data[0] << 8) | data[1];
  const quantity = (data[2] << 8) | data[3];
  if (quantity < 1 || quantity > MAX_READ_REGISTERS) return { ok: false, exception: MODBUS_EXCEPTION.ILLEGAL_DATA_VALUE };
  if (start + quantity > available) return { ok: false, exception: MODBUS_EXCEPTION.ILLEGAL_DATA_ADDRESS };
  return { ok: true, request: { start, quantity } };
}

/** Slave side: response data = byte count (1) | registers (2 × N, BE). */
export function encodeReadInputRegistersResponse(words: ArrayLike<number>): Uint8Array {
  if (words.length < 1 || words.length > MAX_READ_REGISTERS) {
    throw new ProtocolError('INVALID_FIELD', `register count must be 1..${MAX_READ_REGISTERS}`, String(words.length));
  }
  const out = new Uint8Array(1 + words.length * 2);
  out[0] = words.length * 2;
  for (let i = 0; i < words.length; i++) {
    out[1 + 2 * i] = (words[i] >>> 8) & 0xff;
    out[2 + 2 * i] = words[i] & 0xff;
  }
  return out;
}

/** Master side: parse a response; `expectedQuantity` (when given) must match. */
export function decodeReadInputRegistersResponse(data: Uint8Array, expectedQuantity?: number): Uint16Array {
  if (data.length < 3) throw new ProtocolError('BAD_FRAME', 'read input registers response too short', String(data.length));
  const count = data[0];
  if (count % 2 !== 0 || count === 0 || count !== data.length - 1 || count / 2 > MAX_READ_REGISTERS) {
    throw new ProtocolError('BAD_FRAME', 'read input registers byte count mismatch', `count ${count}, length ${data.length}`);
  }
  if (expectedQuantity !== undefined && count / 2 !== expectedQuantity) {
    throw new ProtocolError('BAD_FRAME', 'read input registers returned the wrong quantity', `${count / 2} != ${expectedQuantity}`);
  }
  const w = new Uint16Array(count / 2);
  for (let i = 0; i < w.length; i++) w[i] = (data[1 + 2 * i] << 8) | data[2 + 2 * i];
  return w;
}

/**
 * Slave side in one call: answer a 0x04 request data field from a register bank with either the
 * response data or an exception code.
 */
export function serveReadInputRegisters(
  data: Uint8Array,
  registers: ArrayLike<number>,
): { ok: true; data: Uint8Array } | { ok: false; exception: ModbusExceptionCode } {
  const r = decodeReadInputRegistersRequest(data, registers.length);
  if (!r.ok) return r;
  const words = Array.from({ length: r.request.quantity }, (_, i) => registers[r.request.start + i]);
  return { ok: true, data: encodeReadInputRegistersResponse(words) };
}
