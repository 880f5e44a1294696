import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ProtocolError } from '../../../protocol/errors.ts';
import {
  BLE_CMD,
  BLE_DEFAULT_MAX_MESSAGE,
  BLE_ERR,
  BLE_KEEPALIVE,
  BleReassembler,
  PRECHECK_BLE_CONTROL_POINT_LENGTH_UUID,
  PRECHECK_BLE_CONTROL_POINT_UUID,
  PRECHECK_BLE_SERVICE_REVISION_UUID,
  PRECHECK_BLE_SERVICE_UUID,
  PRECHECK_BLE_STATUS_UUID,
  bleErrorToCode,
  bleFragmentCount,
  bleUuidCompact,
  codeToBleError,
  decodeBleError,
  decodeBleKeepalive,
  decodeControlPointLength,
  decodeServiceRevision,
  encodeBleError,
  encodeBleKeepalive,
  encodeControlPointLength,
  encodeServiceRevision,
  fragmentBleMessage,
  negotiateBleFrameLength,
  type BleFeedResult,
} from '../../../protocol/framing/ble.ts';
import { codeOf } from '../error-code.ts';
import { hex, loadVectors, unhex } from './helpers.ts';

interface BleVectors {
  messages: { name: string; cmd: number; frameLength: number; payload: string; fragments: string[] }[];
  wrap: { cmd: number; frameLength: number; length: number; fragmentCount: number; lastTwo: string[] };
  gatt: { controlPointLength244: string; serviceRevision: string };
}
const v = loadVectors<BleVectors>('ble.json');

function feedAll(r: BleReassembler, frags: Uint8Array[]): BleFeedResult[] {
  return frags.map((f) => r.feed(f));
}

describe('BLE golden vectors', () => {
  for (const m of v.messages) {
    it(m.name, () => {
      const frags = fragmentBleMessage(m.cmd, unhex(m.payload), m.frameLength);
      expect(frags.map(hex)).toEqual(m.fragments);
      const res = feedAll(new BleReassembler(m.frameLength), m.fragments.map(unhex));
      const last = res.at(-1)!;
      expect(last.kind === 'message' && last.cmd).toBe(m.cmd);
      expect(last.kind === 'message' && hex(last.payload)).toBe(m.payload);
    });
  }
  it('sequence numbers wrap from 0x7F to 0x00', () => {
    const p = new Uint8Array(v.wrap.length).map((_, i) => (i * 7) & 0xff);
    const frags = fragmentBleMessage(v.wrap.cmd, p, v.wrap.frameLength);
    expect(frags).toHaveLength(v.wrap.fragmentCount);
    expect(frags.slice(-2).map(hex)).toEqual(v.wrap.lastTwo);
    const last = feedAll(new BleReassembler(20), frags).at(-1)!;
    expect(last.kind === 'message' && hex(last.payload)).toBe(hex(p));
  });
  it('GATT values', () => {
    expect(hex(encodeControlPointLength(244))).toBe(v.gatt.controlPointLength244);
    expect(decodeControlPointLength(unhex(v.gatt.controlPointLength244))).toBe(244);
    expect(hex(encodeServiceRevision())).toBe(v.gatt.serviceRevision);
    expect(decodeServiceRevision(unhex('01'))).toBe(1);
  });
});

describe('BLE fragmentation', () => {
  it('round-trips random payloads 0..7609 at random frame lengths 20..512', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 20, max: 512 }),
        fc.integer({ min: 0, max: BLE_DEFAULT_MAX_MESSAGE }),
        fc.constantFrom(...Object.values(BLE_CMD)),
        fc.integer(),
        (frameLength, len, cmd, seed) => {
          const payload = new Uint8Array(len).map((_, i) => (seed + i * 29) & 0xff);
          const frags = fragmentBleMessage(cmd, payload, frameLength);
          expect(frags.length).toBe(bleFragmentCount(len, frameLength));
          expect(frags.every((f) => f.length >= 1 && f.length <= frameLength)).toBe(true);
          expect(frags.slice(0, -1).every((f) => f.length === frameLength)).toBe(true);
          const r = new BleReassembler(frameLength);
          const res = feedAll(r, frags);
          expect(res.slice(0, -1).every((x) => x.kind === 'pending')).toBe(true);
          const last = res.at(-1)!;
          expect(last).toEqual({ kind: 'message', cmd, payload });
          expect(r.pending()).toBeNull();
        },
      ),
      { numRuns: 200 },
    );
  });
  it('a maximum message at frame length 20 takes 401 fragments, SEQ wrapping three times', () => {
    const payload = new Uint8Array(BLE_DEFAULT_MAX_MESSAGE).map((_, i) => i & 0xff);
    const frags = fragmentBleMessage(BLE_CMD.MSG, payload, 20);
    expect(frags).toHaveLength(401);
    expect(frags.slice(1).map((f) => f[0])).toEqual(Array.from({ length: 400 }, (_, i) => i % 128));
    const last = feedAll(new BleReassembler(20), frags).at(-1)!;
    expect(last.kind === 'message' && hex(last.payload)).toBe(hex(payload));
  });

  it('rejects bad arguments with typed errors', () => {
    expect(codeOf(() => fragmentBleMessage(0x03, new Uint8Array(1), 20))).toBe('BAD_FRAME');
    expect(codeOf(() => fragmentBleMessage(BLE_CMD.MSG, new Uint8Array(1), 19))).toBe('INVALID_FIELD');
    expect(codeOf(() => fragmentBleMessage(BLE_CMD.MSG, new Uint8Array(1), 513))).toBe('INVALID_FIELD');
    expect(codeOf(() => fragmentBleMessage(BLE_CMD.MSG, new Uint8Array(7610), 244))).toBe('TOO_LARGE');
    expect(() => new BleReassembler(600)).toThrow(ProtocolError);
  });
});

describe('BleReassembler errors', () => {
  const msg = new Uint8Array(100).map((_, i) => i);
  const frags = fragmentBleMessage(BLE_CMD.MSG, msg, 20); // 17 + 19×5 - 12 → 6 fragments

  it('fragment longer than the frame length, or empty → INVALID_LEN, state kept', () => {
    const r = new BleReassembler(20);
    r.feed(frags[0]);
    expect(r.feed(new Uint8Array(21))).toMatchObject({ kind: 'error', bleError: BLE_ERR.INVALID_LEN, aborted: false });
    expect(r.feed(new Uint8Array(0))).toMatchObject({ kind: 'error', bleError: BLE_ERR.INVALID_LEN });
    expect(feedAll(r, frags.slice(1)).at(-1)!.kind).toBe('message');
  });
  it('continuation while idle → INVALID_SEQ', () => {
    const res = new BleReassembler(20).feed(frags[1]);
    expect(res).toMatchObject({ kind: 'error', bleError: BLE_ERR.INVALID_SEQ });
    expect(res.kind === 'error' && res.error.code).toBe('BAD_SEQUENCE');
  });
  it('wrong SEQ → INVALID_SEQ, message dropped; retransmission then works', () => {
    const r = new BleReassembler(20);
    r.feed(frags[0]);
    expect(r.feed(frags[2])).toMatchObject({ kind: 'error', bleError: BLE_ERR.INVALID_SEQ, aborted: true });
    expect(r.pending()).toBeNull();
    expect(feedAll(r, frags).at(-1)!.kind).toBe('message');
  });
  it('init in the middle of a message → INVALID_SEQ, aborted', () => {
    const r = new BleReassembler(20);
    r.feed(frags[0]);
    expect(r.feed(frags[0])).toMatchObject({ kind: 'error', bleError: BLE_ERR.INVALID_SEQ, aborted: true });
  });
  it('length over the limit, data past the announced length, empty continuation → INVALID_LEN', () => {
    const r = new BleReassembler(20, { maxMessageSize: 50 });
    const res = r.feed(unhex('830033'));
    expect(res).toMatchObject({ kind: 'error', bleError: BLE_ERR.INVALID_LEN });
    expect(res.kind === 'error' && res.error.code).toBe('TOO_LARGE');
    expect(r.feed(unhex('83000201020304'))).toMatchObject({ kind: 'error', bleError: BLE_ERR.INVALID_LEN });
    expect(r.feed(unhex('8300'))).toMatchObject({ kind: 'error', bleError: BLE_ERR.INVALID_LEN });
    r.feed(unhex('830014' + '00'.repeat(17)));
    expect(r.feed(unhex('00010203040506'))).toMatchObject({ kind: 'error', bleError: BLE_ERR.INVALID_LEN, aborted: true });
    r.feed(unhex('830014' + '00'.repeat(17)));
    expect(r.feed(unhex('00'))).toMatchObject({ kind: 'error', bleError: BLE_ERR.INVALID_LEN, aborted: true });
  });
  it('reset() drops a message in progress', () => {
    const r = new BleReassembler(20);
    r.feed(frags[0]);
    expect(r.pending()).toMatchObject({ cmd: BLE_CMD.MSG, received: 17, expected: 100 });
    r.reset();
    expect(r.pending()).toBeNull();
  });
});

describe('BLE GATT and payloads', () => {
  it('UUIDs are distinct 128-bit UUIDs on one base', () => {
    const all = [PRECHECK_BLE_SERVICE_UUID, PRECHECK_BLE_CONTROL_POINT_UUID, PRECHECK_BLE_STATUS_UUID, PRECHECK_BLE_CONTROL_POINT_LENGTH_UUID, PRECHECK_BLE_SERVICE_REVISION_UUID];
    expect(new Set(all).size).toBe(5);
    for (const u of all) expect(u).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(bleUuidCompact(PRECHECK_BLE_SERVICE_UUID)).toMatch(/^[0-9a-f]{32}$/);
  });
  it('negotiates the frame length from the ATT MTU and the control point length', () => {
    expect(negotiateBleFrameLength(23)).toBe(20);
    expect(negotiateBleFrameLength(247)).toBe(244);
    expect(negotiateBleFrameLength(517, 185)).toBe(185);
    expect(negotiateBleFrameLength(1000)).toBe(512);
    expect(codeOf(() => negotiateBleFrameLength(22))).toBe('INVALID_FIELD');
    expect(codeOf(() => decodeControlPointLength(unhex('0013')))).toBe('INVALID_FIELD');
    expect(codeOf(() => decodeControlPointLength(unhex('00')))).toBe('BAD_FRAME');
  });
  it('KEEPALIVE / ERROR payloads and the error mapping', () => {
    expect(decodeBleKeepalive(encodeBleKeepalive(BLE_KEEPALIVE.PROCESSING))).toBe(1);
    expect(codeOf(() => decodeBleKeepalive(unhex('0102')))).toBe('BAD_FRAME');
    expect(decodeBleError(encodeBleError(BLE_ERR.BUSY)).error.code).toBe('BUSY');
    for (const c of Object.values(BLE_ERR)) expect(codeToBleError(bleErrorToCode(c))).toBe(c);
  });
});
