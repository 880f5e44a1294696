// The link I/O primitives under the drivers: RTU frame detection over reads that split and merge,
// the paced writer's line-rate bound, fixed-size report splitting and the BLE cable records.

import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import fc from 'fast-check';
import { BLE_CABLE_OP, BleCableRecordDecoder, encodeBleCableRecord } from '../../link-io/ble-cable-record.ts';
import { FixedReportSplitter } from '../../link-io/fixed-report-splitter.ts';
import { PacedSerialWriter, type SerialWriteSink } from '../../link-io/paced-serial-writer.ts';
import { RtuStreamReceiver } from '../../link-io/rtu-stream-receiver.ts';
import { ProtocolError } from '../../protocol/errors.ts';
import { aduWireTimeUs, encodeAdu, type RtuAdu } from '../../protocol/framing/modbus-rtu.ts';
import { encodeReadInputRegistersRequest } from '../../protocol/framing/modbus-registers.ts';
import { FC_PRECHECK_TRANSFER, TRANSFER_OP, encodeTransferPdu } from '../../protocol/framing/modbus-transfer.ts';

const read04 = (address: number): Uint8Array =>
  encodeAdu({ address, functionCode: 0x04, data: encodeReadInputRegistersRequest(0, 10) });
const transfer = (address: number, n: number): Uint8Array =>
  encodeAdu({
    address,
    functionCode: FC_PRECHECK_TRANSFER,
    data: encodeTransferPdu({ op: TRANSFER_OP.REQ, tid: 1, seq: 0, last: true, payload: new Uint8Array(n).fill(0x5a) }),
  });
const cat = (...parts: Uint8Array[]): Uint8Array => Uint8Array.from(parts.flatMap((p) => [...p]));

describe('RtuStreamReceiver', () => {
  let frames: RtuAdu[];
  let rejects: { error: ProtocolError; bytes: number }[];
  const make = (cutOnCrc = false, role: 'slave' | 'master' = 'slave') =>
    new RtuStreamReceiver({
      baud: 115200,
      role,
      cutOnCrc,
      onFrame: (adu) => frames.push(adu),
      onReject: (error, bytes) => rejects.push({ error, bytes }),
    });

  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });
    frames = [];
    rejects = [];
  });
  afterEach(() => vi.useRealTimers());

  it('splits two known-length frames merged into one read, without waiting for silence', () => {
    make().push(cat(read04(1), read04(2)));
    expect(frames.map((f) => f.address)).toEqual([1, 2]);
    expect(rejects).toEqual([]);
  });

  it('joins a known-length frame torn across reads farther apart than t3.5', () => {
    const r = make();
    const f = read04(3);
    r.push(f.subarray(0, 3));
    vi.advanceTimersByTime(5); // > t3.5 (1.75 ms): a scheduling pause, not the end of the frame
    expect(frames).toEqual([]);
    r.push(f.subarray(3));
    expect(frames.map((x) => x.address)).toEqual([3]);
    expect(rejects).toEqual([]);
  });

  it('ends an unknown-length frame on silence (t3.5), or at once on a CRC match when paced', () => {
    const slow = make(false);
    slow.push(transfer(4, 100));
    expect(frames).toEqual([]);
    vi.advanceTimersByTime(2);
    expect(frames.map((x) => x.address)).toEqual([4]);
    frames = [];
    make(true).push(transfer(5, 100));
    expect(frames.map((x) => x.address)).toEqual([5]);
  });

  it('joins a 0x41 frame (no length field) torn by a pause longer than t3.5', () => {
    const r = make(true);
    const f = transfer(9, 100);
    r.push(f.subarray(0, 50));
    vi.advanceTimersByTime(10);
    expect(rejects).toEqual([]);
    r.push(f.subarray(50));
    expect(frames.map((x) => x.address)).toEqual([9]);
  });

  it('rejects garbage once and counts its bytes, then takes the next frame', () => {
    const r = make();
    r.push(Uint8Array.of(0x01, 0x41, 0xff, 0x00, 0x13, 0x99, 0x42));
    vi.advanceTimersByTime(50);
    expect(rejects).toHaveLength(1);
    expect(rejects[0].bytes).toBe(7);
    r.push(read04(6));
    expect(frames.map((x) => x.address)).toEqual([6]);
  });

  it('salvages a good frame glued behind garbage', () => {
    const r = make();
    r.push(cat(Uint8Array.of(0xde, 0xad, 0xbe), read04(7)));
    vi.advanceTimersByTime(50);
    expect(frames.map((x) => x.address)).toEqual([7]);
    expect(rejects).toHaveLength(1);
    expect(rejects[0].bytes).toBe(3);
  });

  it('rejects a bit-flipped frame as BAD_CRC', () => {
    const r = make();
    const f = read04(8);
    f[4] ^= 1;
    r.push(f);
    vi.advanceTimersByTime(50);
    expect(frames).toEqual([]);
    expect(rejects.map((x) => x.error.code)).toEqual(['BAD_CRC']);
  });

  it('drops an over-long run of bytes as TOO_LARGE', () => {
    const r = make();
    r.push(new Uint8Array(700).fill(0x11));
    vi.advanceTimersByTime(50);
    expect(rejects.map((x) => x.error.code)).toEqual(['TOO_LARGE']);
    expect(rejects[0].bytes).toBe(700);
  });

  it('property: any split of a stream of known-length frames yields exactly those frames', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 247 }), { minLength: 1, maxLength: 6 }), fc.array(fc.integer({ min: 1, max: 20 }), { maxLength: 10 }), (addrs, cuts) => {
        frames = [];
        rejects = [];
        const stream = cat(...addrs.map(read04));
        const r = make();
        let off = 0;
        for (const c of cuts) {
          if (off >= stream.length) break;
          r.push(stream.subarray(off, off + c));
          off += c;
        }
        r.push(stream.subarray(off));
        vi.advanceTimersByTime(100);
        expect(frames.map((f) => f.address)).toEqual(addrs);
        expect(rejects).toEqual([]);
      }),
      { numRuns: 200 },
    );
  });
});

describe('PacedSerialWriter', () => {
  function sink(): SerialWriteSink & { at: number[] } {
    const at: number[] = [];
    return {
      at,
      write(_d, cb) {
        at.push(performance.now());
        cb?.(null);
        return true;
      },
      drain(cb) {
        cb?.(null);
      },
    };
  }

  it('never delivers faster than the line: frame n arrives no earlier than the sum of wire times', async () => {
    const s = sink();
    const w = new PacedSerialWriter(s, { baud: 115200, paced: true });
    const t0 = performance.now();
    const sizes = [8, 256, 40, 256];
    await Promise.all(sizes.map((n) => w.write(new Uint8Array(n))));
    let due = 0;
    sizes.forEach((n, i) => {
      due += aduWireTimeUs(n, 115200) / 1000;
      // 1 ms slack: timers are ms-granular and may round down.
      expect(s.at[i] - t0).toBeGreaterThanOrEqual(due - 1);
    });
    expect(w.stats.frames).toBe(4);
    expect(w.stats.bytes).toBe(560);
  });

  it('close() releases queued writes instead of leaving them pending', async () => {
    const s = sink();
    const w = new PacedSerialWriter(s, { baud: 1200, paced: true });
    const p = w.write(new Uint8Array(256)); // ~2.1 s on the wire at 1200 baud
    w.close();
    await p;
    expect(s.at).toEqual([]);
  });
});

describe('FixedReportSplitter and BLE cable records', () => {
  it('cuts a stream into 64-byte reports whatever the read sizes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 640 }), fc.array(fc.integer({ min: 1, max: 200 })), (bytes, cuts) => {
        const s = new FixedReportSplitter(64);
        const out: Uint8Array[] = [];
        let off = 0;
        for (const c of cuts) {
          out.push(...s.push(bytes.subarray(off, off + c)));
          off += c;
        }
        out.push(...s.push(bytes.subarray(Math.min(off, bytes.length))));
        expect(out.length).toBe(Math.floor(bytes.length / 64));
        expect(s.pending()).toBe(bytes.length % 64);
        out.forEach((r, i) => expect([...r]).toEqual([...bytes.subarray(i * 64, i * 64 + 64)]));
      }),
    );
  });

  it('round-trips records across arbitrary read boundaries', () => {
    const recs = [
      encodeBleCableRecord(BLE_CABLE_OP.READ_CONTROL_POINT_LENGTH),
      encodeBleCableRecord(BLE_CABLE_OP.WRITE_CONTROL_POINT, new Uint8Array(512).fill(7)),
      encodeBleCableRecord(BLE_CABLE_OP.NOTIFY_STATUS, Uint8Array.of(0x83, 0, 1, 9)),
    ];
    const stream = cat(...recs);
    const d = new BleCableRecordDecoder();
    const got = [];
    for (let i = 0; i < stream.length; i += 5) got.push(...d.push(stream.subarray(i, i + 5)));
    expect(got.map((r) => [r.op, r.value.length])).toEqual([
      [3, 0],
      [1, 512],
      [2, 4],
    ]);
  });

  it('refuses unknown ops and over-long values, and stays failed', () => {
    const d = new BleCableRecordDecoder();
    expect(() => d.push(Uint8Array.of(0x7e, 0, 0))).toThrow(ProtocolError);
    expect(() => d.push(encodeBleCableRecord(BLE_CABLE_OP.DISCONNECT))).toThrow(/unknown BLE cable op/);
    expect(() => new BleCableRecordDecoder().push(Uint8Array.of(1, 0x02, 0x01))).toThrow(/too long/);
    expect(() => encodeBleCableRecord(BLE_CABLE_OP.NOTIFY_STATUS, new Uint8Array(513))).toThrow(ProtocolError);
  });
});
