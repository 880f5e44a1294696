import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  RtuFrameSplitter,
  charTimeUs,
  decodeAdu,
  encodeAdu,
  encodeExceptionAdu,
  exceptionCodeOf,
  exceptionToError,
  interCharTimeoutUs,
  interFrameGapUs,
  isExceptionAdu,
  MODBUS_EXCEPTION,
  RTU_MAX_ADU,
} from '../../../protocol/framing/modbus-rtu.ts';
import { crc16Modbus } from '../../../protocol/framing/crc16-modbus.ts';
import { codeOf } from '../error-code.ts';
import { hex, loadVectors, unhex } from './helpers.ts';

interface RtuVectors {
  adus: { name: string; address: number; functionCode: number; data: string; adu: string }[];
  badAdus: { name: string; adu: string; code: string }[];
}


describe('Modbus RTU ADU codec', () => {
  const v = loadVectors<RtuVectors>('modbus-rtu.json');
  for (const a of v.adus) {
    it(`golden encode/decode: ${a.name}`, () => {
      const bytes = encodeAdu({ address: a.address, functionCode: a.functionCode, data: unhex(a.data) });
      expect(hex(bytes)).toBe(a.adu);
      const d = decodeAdu(unhex(a.adu));
      expect(d.address).toBe(a.address);
      expect(d.functionCode).toBe(a.functionCode);
      expect(hex(d.data)).toBe(a.data);
    });
  }
  for (const b of v.badAdus) {
    it(`golden reject: ${b.name}`, () => {
      expect(codeOf(() => decodeAdu(unhex(b.adu)))).toBe(b.code);
    });
  }

  it('round-trips random ADUs (any address 0..247, data 0..252)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 247 }),
        fc.integer({ min: 1, max: 255 }),
        fc.uint8Array({ maxLength: 252 }),
        (address, functionCode, data) => {
          const bytes = encodeAdu({ address, functionCode, data });
          expect(bytes.length).toBe(data.length + 4);
          expect(bytes.length).toBeLessThanOrEqual(RTU_MAX_ADU);
          const d = decodeAdu(bytes);
          expect(d).toEqual({ address, functionCode, data });
        },
      ),
    );
  });

  it('detects every single-bit error', () => {
    const good = unhex('01040000000a700d');
    for (let i = 0; i < good.length * 8; i++) {
      const bad = good.slice();
      bad[i >> 3] ^= 1 << (i & 7);
      expect(codeOf(() => decodeAdu(bad))).toBe('BAD_CRC');
    }
  });

  it('enforces limits on encode and decode', () => {
    expect(codeOf(() => encodeAdu({ address: 248, functionCode: 4, data: new Uint8Array() }))).toBe('BAD_FRAME');
    expect(codeOf(() => encodeAdu({ address: 1, functionCode: 0, data: new Uint8Array() }))).toBe('BAD_FRAME');
    expect(codeOf(() => encodeAdu({ address: 1, functionCode: 4, data: new Uint8Array(253) }))).toBe('TOO_LARGE');
    expect(codeOf(() => decodeAdu(new Uint8Array(257)))).toBe('TOO_LARGE');
    expect(codeOf(() => decodeAdu(unhex('0104')))).toBe('BAD_FRAME');
    // reserved address / function code 0, each with a valid CRC
    expect(codeOf(() => decodeAdu(withCrc(unhex('fa04'))))).toBe('BAD_FRAME');
    expect(codeOf(() => decodeAdu(withCrc(unhex('0100'))))).toBe('BAD_FRAME');
  });

  it('builds and reads exception responses', () => {
    const bytes = encodeExceptionAdu(1, 0x04, MODBUS_EXCEPTION.ILLEGAL_DATA_ADDRESS);
    expect(hex(bytes)).toBe('018402c2c1');
    const adu = decodeAdu(bytes);
    expect(isExceptionAdu(adu)).toBe(true);
    expect(exceptionCodeOf(adu)).toBe(2);
    expect(exceptionToError(adu.functionCode, 2).code).toBe('INVALID_FIELD');
    expect(exceptionToError(0xc1, 6).code).toBe('BUSY');
    expect(exceptionToError(0xc1, 1).code).toBe('UNSUPPORTED');
    expect(exceptionToError(0xc1, 99).code).toBe('BAD_FRAME');
  });
});

function withCrc(body: Uint8Array): Uint8Array {
  const crc = crc16Modbus(body);
  return Uint8Array.from([...body, crc & 0xff, crc >>> 8]);
}

describe('RTU timing helpers', () => {
  it('computes character time for 8N1 (10 bits) and 8E1 (11 bits)', () => {
    expect(charTimeUs(9600)).toBeCloseTo(1041.667, 2);
    expect(charTimeUs(9600, 11)).toBeCloseTo(1145.833, 2);
    expect(charTimeUs(115200)).toBeCloseTo(86.806, 2);
  });
  it('t3.5 and t1.5 scale with baud up to 19200 and are fixed above', () => {
    expect(interFrameGapUs(9600)).toBeCloseTo(3645.833, 2);
    expect(interFrameGapUs(9600, 11)).toBeCloseTo(4010.417, 2);
    expect(interFrameGapUs(19200)).toBeCloseTo(1822.917, 2);
    expect(interFrameGapUs(38400)).toBe(1750);
    expect(interFrameGapUs(115200)).toBe(1750);
    expect(interCharTimeoutUs(9600)).toBeCloseTo(1562.5, 2);
    expect(interCharTimeoutUs(921600)).toBe(750);
  });
  it('rejects a non-positive baud rate with a typed error', () => {
    expect(codeOf(() => charTimeUs(0))).toBe('INVALID_FIELD');
  });
});

describe('RtuFrameSplitter', () => {
  const a = unhex('01040000000a700d');
  const b = encodeAdu({ address: 7, functionCode: 0x41, data: unhex('0102030405') });

  it('splits frames separated by t3.5 and completes the last on flush()', () => {
    const s = new RtuFrameSplitter({ baud: 115200 });
    expect(s.push(a.subarray(0, 3), 0)).toEqual([]);
    expect(s.push(a.subarray(3), 300)).toEqual([]); // < t3.5: same frame
    const r1 = s.push(b, 300 + 1750); // exactly t3.5 later: new frame
    expect(r1).toHaveLength(1);
    expect(r1[0].kind).toBe('frame');
    expect(hex(r1[0].raw)).toBe(hex(a));
    const r2 = s.flush();
    expect(r2).toHaveLength(1);
    expect(r2[0].kind === 'frame' && r2[0].adu.address).toBe(7);
    expect(s.flush()).toEqual([]);
    expect(s.stats.frames).toBe(2);
  });

  it('does not split on a gap just under t3.5', () => {
    const s = new RtuFrameSplitter({ baud: 9600 });
    const gap = interFrameGapUs(9600);
    s.push(a.subarray(0, 4), 1000);
    expect(s.push(a.subarray(4), 1000 + gap - 1)).toEqual([]);
    const r = s.flush();
    expect(r[0].kind).toBe('frame');
    expect(s.stats.interCharViolations).toBe(1); // gap > t1.5 inside the frame
  });

  it('flags CRC failures, counts them, and keeps going', () => {
    const s = new RtuFrameSplitter({ baud: 115200 });
    const bad = a.slice();
    bad[3] ^= 0x10;
    s.push(bad, 0);
    const r = s.push(a, 5000);
    expect(r).toHaveLength(1);
    expect(r[0].kind).toBe('error');
    expect(r[0].kind === 'error' && r[0].error.code).toBe('BAD_CRC');
    expect(s.flush()[0].kind).toBe('frame');
    expect(s.stats).toMatchObject({ frames: 1, crcErrors: 1, malformed: 0 });
  });

  it('rejects a run of bytes longer than 256 without storing the excess', () => {
    const s = new RtuFrameSplitter({ baud: 115200 });
    for (let i = 0; i < 10; i++) s.push(new Uint8Array(100).fill(0x55), i * 10);
    expect(s.pending()).toBe(1000);
    const r = s.flush();
    expect(r[0].kind === 'error' && r[0].error.code).toBe('TOO_LARGE');
    expect(s.stats.malformed).toBe(1);
    s.push(a, 10_000);
    expect(s.flush()[0].kind).toBe('frame');
  });

  it('in strict mode drops frames with an inner silence over t1.5', () => {
    const s = new RtuFrameSplitter({ baud: 115200, strictInterChar: true });
    s.push(a.subarray(0, 4), 0);
    s.push(a.subarray(4), 1000); // 1000 µs > 750 µs t1.5, < 1750 µs t3.5
    const r = s.flush();
    expect(r[0].kind === 'error' && r[0].error.code).toBe('BAD_FRAME');
  });

  it('splits any sequence of frames fed in random chunks with gaps', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({ address: fc.integer({ min: 0, max: 247 }), data: fc.uint8Array({ maxLength: 252 }) }),
          { minLength: 1, maxLength: 8 },
        ),
        fc.integer({ min: 1, max: 64 }),
        (frames, chunk) => {
          const s = new RtuFrameSplitter({ baud: 115200 });
          const got: string[] = [];
          let t = 0;
          for (const f of frames) {
            const bytes = encodeAdu({ address: f.address, functionCode: 0x41, data: f.data });
            for (let i = 0; i < bytes.length; i += chunk) {
              for (const r of s.push(bytes.subarray(i, i + chunk), t)) got.push(r.kind === 'frame' ? hex(r.raw) : 'ERR');
              t += 100;
            }
            t += 2000;
          }
          for (const r of s.flush()) got.push(r.kind === 'frame' ? hex(r.raw) : 'ERR');
          expect(got).toEqual(frames.map((f) => hex(encodeAdu({ address: f.address, functionCode: 0x41, data: f.data }))));
        },
      ),
    );
  });
});
