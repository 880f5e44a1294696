import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { crc16Modbus } from '../../../protocol/framing/crc16-modbus.ts';
import { loadVectors, unhex } from './helpers.ts';

interface CrcVectors {
  vectors: { name: string; hex: string; crc: string; wire: string }[];
}

// Bit-by-bit algorithm exactly as written in the Modbus serial line guide (§6.2.2), kept
// independent of the table-driven implementation under test.
function crcBitwise(bytes: Uint8Array): number {
  let crc = 0xffff;
  for (const b of bytes) {
    crc ^= b;
    for (let i = 0; i < 8; i++) crc = crc & 1 ? (crc >>> 1) ^ 0xa001 : crc >>> 1;
  }
  return crc;
}

describe('crc16Modbus', () => {
  const { vectors } = loadVectors<CrcVectors>('crc16-modbus.json');
  for (const v of vectors) {
    it(`golden: ${v.name}`, () => {
      const crc = crc16Modbus(unhex(v.hex));
      expect(crc.toString(16).padStart(4, '0')).toBe(v.crc);
      const wire = [(crc & 0xff), crc >>> 8].map((x) => x.toString(16).padStart(2, '0')).join('');
      expect(wire).toBe(v.wire);
    });
  }

  it('matches the bitwise reference algorithm on random input', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        expect(crc16Modbus(bytes)).toBe(crcBitwise(bytes));
      }),
    );
  });

  it('honours start/end bounds', () => {
    const b = unhex('ff01040000000aff');
    expect(crc16Modbus(b, 1, 7)).toBe(0x0d70);
  });
});
