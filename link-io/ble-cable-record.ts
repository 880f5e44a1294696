// Record format of the BLE "virtual cable": a unix stream socket carrying the GATT operations
// the radio would, one record per operation:
//
//   record = OP (1) | LENGTH (u16 BE) | VALUE (LENGTH bytes, at most 512 = largest ATT value)
//
//   0x01 WRITE_CONTROL_POINT      central → peripheral  VALUE = one request fragment
//   0x02 NOTIFY_STATUS            peripheral → central  VALUE = one response fragment
//   0x03 READ_CONTROL_POINT_LENGTH central → peripheral  VALUE empty
//   0x04 CONTROL_POINT_LENGTH     peripheral → central  VALUE = u16 BE, 20..512 (read answer)
//   0x05 DISCONNECT               either way            VALUE empty; the sender then closes
//   0x06 SUBSCRIBE_STATUS         central → peripheral  VALUE empty (CCCD write: notify on)
//
// VALUEs are exactly the bytes of the BLE fragments (protocol/framing/ble.ts), so both ends run
// the same framing code as over the air. Not modelled: ATT write responses and connection-event
// timing (the benchmark states the radio's limit separately).
//
// Shared by device/links (BleCableServer) and host-bridge/transports (BleCableTransport).

import { ProtocolError } from '../protocol/errors.ts';

export const BLE_CABLE_OP = {
  WRITE_CONTROL_POINT: 0x01,
  NOTIFY_STATUS: 0x02,
  READ_CONTROL_POINT_LENGTH: 0x03,
  CONTROL_POINT_LENGTH: 0x04,
  DISCONNECT: 0x05,
  SUBSCRIBE_STATUS: 0x06,
} as const;
export type BleCableOp = (typeof BLE_CABLE_OP)[keyof typeof BLE_CABLE_OP];
const OPS = new Set<number>(Object.values(BLE_CABLE_OP));

export const BLE_CABLE_HEADER = 3;
export const BLE_CABLE_MAX_VALUE = 512;

export interface BleCableRecord {
  op: BleCableOp;
  value: Uint8Array;
}

export function encodeBleCableRecord(op: BleCableOp, value: Uint8Array = new Uint8Array(0)): Uint8Array {
  if (!OPS.has(op)) throw new ProtocolError('INVALID_FIELD', 'unknown BLE cable op', String(op));
  if (value.length > BLE_CABLE_MAX_VALUE) {
    throw new ProtocolError('TOO_LARGE', `BLE cable value over ${BLE_CABLE_MAX_VALUE} bytes`, String(value.length));
  }
  const out = new Uint8Array(BLE_CABLE_HEADER + value.length);
  out[0] = op;
  out[1] = value.length >>> 8;
  out[2] = value.length & 0xff;
  out.set(value, BLE_CABLE_HEADER);
  return out;
}

/**
 * Streaming decoder. push() returns the complete records; an unknown op or an over-long length
 * throws ProtocolError (BAD_FRAME / TOO_LARGE): the stream cannot be resynchronised after that,
 * so the caller drops the connection, as a radio would drop a link that spoke nonsense.
 */
export class BleCableRecordDecoder {
  private buf = new Uint8Array(0);
  private failed: ProtocolError | null = null;

  push(chunk: Uint8Array): BleCableRecord[] {
    if (this.failed) throw this.failed;
    const merged = new Uint8Array(this.buf.length + chunk.length);
    merged.set(this.buf, 0);
    merged.set(chunk, this.buf.length);
    const out: BleCableRecord[] = [];
    let off = 0;
    while (merged.length - off >= BLE_CABLE_HEADER) {
      const op = merged[off];
      const len = (merged[off + 1] << 8) | merged[off + 2];
      if (!OPS.has(op)) throw (this.failed = new ProtocolError('BAD_FRAME', 'unknown BLE cable op', `0x${op.toString(16)}`));
      if (len > BLE_CABLE_MAX_VALUE) throw (this.failed = new ProtocolError('TOO_LARGE', 'BLE cable value too long', String(len)));
      if (merged.length - off < BLE_CABLE_HEADER + len) break;
      out.push({ op: op as BleCableOp, value: merged.slice(off + BLE_CABLE_HEADER, off + BLE_CABLE_HEADER + len) });
      off += BLE_CABLE_HEADER + len;
    }
    this.buf = merged.slice(off);
    return out;
  }
}
