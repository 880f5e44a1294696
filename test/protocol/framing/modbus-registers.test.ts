import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ProtocolError } from '../../../protocol/errors.ts';
import { decodeAdu } from '../../../protocol/framing/modbus-rtu.ts';
import { DATASET_STATES } from '../../../protocol/messages/catalogue.ts';
import {
  decodeReadInputRegistersRequest,
  decodeReadInputRegistersResponse,
  decodeStatusRegisters,
  encodeReadInputRegistersRequest,
  encodeReadInputRegistersResponse,
  encodeStatusRegisters,
  serveReadInputRegisters,
  type DeviceStatusRegisters,
} from '../../../protocol/framing/modbus-registers.ts';
import { RtuSlaveTransfer } from '../../../protocol/framing/modbus-transfer.ts';
import { hex, loadVectors, unhex } from './helpers.ts';

interface RegVectors {
  status: DeviceStatusRegisters;
  words: number[];
  request: { start: number; quantity: number; adu: string };
  response: { adu: string };
  partial: { start: number; quantity: number; request: string; response: string };
  exceptions: { name: string; request: string; response: string }[];
}

const v = loadVectors<RegVectors>('modbus-registers.json');

function slaveWith(status: DeviceStatusRegisters) {
  return new RtuSlaveTransfer({ address: 1, onRequest: () => {}, inputRegisters: () => encodeStatusRegisters(status) });
}

describe('status registers', () => {
  it('golden: status ↔ words', () => {
    expect([...encodeStatusRegisters(v.status)]).toEqual(v.words);
    expect(decodeStatusRegisters(v.words)).toEqual(v.status);
  });

  it('golden: a full 0x04 exchange through the slave, byte-exact', () => {
    const slave = slaveWith(v.status);
    expect(hex(encodeReadInputRegistersRequest(v.request.start, v.request.quantity))).toBe(v.request.adu.slice(4, 12));
    const resp = slave.handle(decodeAdu(unhex(v.request.adu)))!;
    expect(hex(resp)).toBe(v.response.adu);
    const words = decodeReadInputRegistersResponse(decodeAdu(resp).data, 10);
    expect(decodeStatusRegisters(words)).toEqual(v.status);
    expect(hex(slave.handle(decodeAdu(unhex(v.partial.request)))!)).toBe(v.partial.response);
  });

  for (const e of v.exceptions) {
    it(`golden exception: ${e.name}`, () => {
      expect(hex(slaveWith(v.status).handle(decodeAdu(unhex(e.request)))!)).toBe(e.response);
    });
  }

  it('round-trips random status values; counters wrap at 2^32', () => {
    fc.assert(
      fc.property(
        fc.record({
          protocolVersion: fc.integer({ min: 0, max: 0xffff }),
          firmwareVersion: fc.integer({ min: 0, max: 0xffffffff }),
          datasetVersion: fc.integer({ min: 0, max: 0xffffffff }),
          datasetState: fc.constantFrom(...DATASET_STATES),
          verificationsServed: fc.integer({ min: 0, max: 0xffffffff }),
          framesRejected: fc.integer({ min: 0, max: 0xffffffff }),
        }),
        (s) => {
          expect(decodeStatusRegisters(encodeStatusRegisters(s))).toEqual(s);
        },
      ),
    );
    const w = encodeStatusRegisters({ ...v.status, verificationsServed: 2 ** 32 + 5 });
    expect(decodeStatusRegisters(w).verificationsServed).toBe(5);
  });

  it('rejects out-of-range values with typed errors', () => {
    expect(() => encodeStatusRegisters({ ...v.status, firmwareVersion: 2 ** 32 })).toThrow(ProtocolError);
    expect(() => encodeStatusRegisters({ ...v.status, datasetState: 'gone' as never })).toThrow(ProtocolError);
    expect(() => encodeStatusRegisters({ ...v.status, framesRejected: -1 })).toThrow(ProtocolError);
    expect(() => decodeStatusRegisters([1, 2, 3])).toThrow(ProtocolError);
    expect(() => decodeStatusRegisters([...v.words.slice(0, 5), 9, 0, 0, 0, 0])).toThrow(ProtocolError);
  });
});

describe('function 0x04 codecs', () => {
  it('request validation order: length/quantity → 03, range → 02', () => {
    expect(decodeReadInputRegistersRequest(unhex('000000'), 10)).toEqual({ ok: false, exception: 3 });
    expect(decodeReadInputRegistersRequest(unhex('0000007e'), 200)).toEqual({ ok: false, exception: 3 });
    expect(decodeReadInputRegistersRequest(unhex('00080003'), 10)).toEqual({ ok: false, exception: 2 });
    expect(decodeReadInputRegistersRequest(unhex('0008007d'), 10)).toEqual({ ok: false, exception: 2 });
    expect(decodeReadInputRegistersRequest(unhex('00000001'), 10)).toEqual({ ok: true, request: { start: 0, quantity: 1 } });
  });
  it('encode request limits', () => {
    expect(() => encodeReadInputRegistersRequest(0, 0)).toThrow(ProtocolError);
    expect(() => encodeReadInputRegistersRequest(0, 126)).toThrow(ProtocolError);
    expect(() => encodeReadInputRegistersRequest(0xffff, 2)).toThrow(ProtocolError);
    expect(hex(encodeReadInputRegistersRequest(0xfff0, 0x10))).toBe('fff00010');
  });
  it('response codec round-trip and byte-count checks', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 0xffff }), { minLength: 1, maxLength: 125 }), (words) => {
        expect([...decodeReadInputRegistersResponse(encodeReadInputRegistersResponse(words))]).toEqual(words);
      }),
    );
    for (const bad of ['', '02', '0300ff01', '04000100', '0200010002']) {
      expect(() => decodeReadInputRegistersResponse(unhex(bad))).toThrow(ProtocolError);
    }
    expect(() => decodeReadInputRegistersResponse(unhex('0400010002'), 1)).toThrow(ProtocolError);
  });
  it('serveReadInputRegisters returns a slice of the bank', () => {
    const r = serveReadInputRegisters(unhex('00020002'), [10, 11, 12, 13]);
    expect(r.ok && hex(r.data)).toBe('04000c000d');
  });
  it('a slave without a register bank answers 0x04 with exception 01', () => {
    const s = new RtuSlaveTransfer({ address: 1, onRequest: () => {} });
    expect([...decodeAdu(s.handle({ address: 1, functionCode: 4, data: unhex('00000001') })!).data]).toEqual([1]);
  });
});
