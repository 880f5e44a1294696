// CRC-16/MODBUS as defined in "MODBUS over serial line specification and implementation guide
// V1.02" §6.2.2: polynomial 0x8005 processed LSB-first (reflected 0xA001), initial value 0xFFFF,
// no final XOR. On the wire the low-order byte goes first. Catalogue check value: "123456789" ->
// 0x4B37.
//
// Hand-written on purpose: none of the project's listed packages ships it, and a 256-entry table
// is 20 lines with no dependency; serialport's parsers do not verify Modbus CRCs.

const TABLE: Uint16Array = (() => {
  const t = new Uint16Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xa001 : c >>> 1;
    t[n] = c;
  }
  return t;
})();

/** CRC-16/MODBUS of bytes[start, end). Returns the 16-bit value (transmit low byte first). */
export function crc16Modbus(bytes: Uint8Array, start = 0, end = bytes.length): number {
  let crc = 0xffff;
  for (let i = start; i < end; i++) crc = (crc >>> 8) ^ TABLE[(crc ^ bytes[i]) & 0xff];
  return crc;
}
