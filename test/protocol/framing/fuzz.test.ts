// Fuzz every framing decoder with random and mutated bytes: each answer is a frame or a typed
// ProtocolError (thrown by pure decoders, returned by the stateful ones); nothing else escapes;
// and a valid frame still decodes after the garbage.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ProtocolError } from '../../../protocol/errors.ts';
import {
  HID_CMD,
  HidReassembler,
  decodeHidError,
  decodeHidInitRequest,
  decodeHidInitResponse,
  decodeHidKeepalive,
  fragmentHidMessage,
} from '../../../protocol/framing/hid.ts';
import {
  BLE_CMD,
  BleReassembler,
  decodeBleError,
  decodeBleKeepalive,
  decodeControlPointLength,
  decodeServiceRevision,
  fragmentBleMessage,
} from '../../../protocol/framing/ble.ts';
import { RtuFrameSplitter, decodeAdu, encodeAdu, type RtuAdu } from '../../../protocol/framing/modbus-rtu.ts';
import {
  decodeReadInputRegistersRequest,
  decodeReadInputRegistersResponse,
  decodeStatusRegisters,
} from '../../../protocol/framing/modbus-registers.ts';
import {
  RtuMasterTransfer,
  RtuSlaveTransfer,
  decodeTransferPdu,
  type RtuMasterStep,
} from '../../../protocol/framing/modbus-transfer.ts';

const RUNS = { numRuns: 300 };

/** Calls a throwing decoder: returns 'ok' or the typed error; any other throw fails the test. */
function typed(f: () => unknown): 'ok' | ProtocolError {
  try {
    f();
    return 'ok';
  } catch (e) {
    if (!(e instanceof ProtocolError)) throw new Error(`untyped throw: ${String(e)}`);
    expect(typeof e.code).toBe('string');
    return e;
  }
}

/** Every decoder, fed the same random bytes (up to `maxLength`), answers or throws a typed error. */
function onlyTypedErrors(maxLength: number, decoders: ((b: Uint8Array) => unknown)[]): void {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength }), (b) => {
      for (const decode of decoders) typed(() => decode(b));
    }),
    RUNS,
  );
}

/** Random edits of a valid byte string: bit flips, byte sets, truncation, insertion. */
function mutated(valid: Uint8Array): fc.Arbitrary<Uint8Array> {
  return fc
    .array(
      fc.oneof(
        fc.record({ k: fc.constant('flip' as const), i: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
        fc.record({ k: fc.constant('set' as const), i: fc.nat(), v: fc.integer({ min: 0, max: 255 }) }),
        fc.record({ k: fc.constant('cut' as const), i: fc.nat() }),
        fc.record({ k: fc.constant('ins' as const), i: fc.nat(), v: fc.integer({ min: 0, max: 255 }) }),
      ),
      { minLength: 1, maxLength: 4 },
    )
    .map((edits) => {
      let b = [...valid];
      for (const e of edits) {
        const i = b.length ? e.i % b.length : 0;
        if (e.k === 'flip' && b.length) b[i] ^= 1 << e.bit;
        else if (e.k === 'set' && b.length) b[i] = e.v;
        else if (e.k === 'cut') b = b.slice(0, i);
        else if (e.k === 'ins') b.splice(i, 0, e.v);
      }
      return Uint8Array.from(b);
    });
}

describe('fuzz: USB HID', () => {
  const valid = fragmentHidMessage(0x01020304, HID_CMD.MSG, new Uint8Array(150).map((_, i) => i));
  const report = fc.oneof(
    fc.uint8Array({ minLength: 64, maxLength: 64 }),
    fc.uint8Array({ maxLength: 130 }),
    fc.constantFrom(...valid).chain(mutated),
    // plausible headers: random CID among a few, init or continuation
    fc.tuple(fc.constantFrom(0x01020304, 0xffffffff, 0, 7), fc.integer({ min: 0, max: 255 }), fc.uint8Array({ minLength: 59, maxLength: 59 })).map(
      ([cid, b4, rest]) => Uint8Array.from([cid >>> 24, (cid >>> 16) & 255, (cid >>> 8) & 255, cid & 255, b4, ...rest]),
    ),
  );

  it('HidReassembler answers every report with pending, a message or a typed error, and recovers', () => {
    fc.assert(
      fc.property(fc.array(report, { maxLength: 40 }), fc.constantFrom<'device' | 'host'>('device', 'host'), (reports, role) => {
        const r = new HidReassembler({ role, maxMessageSize: 4096 });
        for (const x of reports) {
          const res = r.feed(x);
          expect(['pending', 'message', 'error']).toContain(res.kind);
          if (res.kind === 'error') expect(res.error).toBeInstanceOf(ProtocolError);
          if (res.kind === 'message') expect(res.message.payload.length).toBeLessThanOrEqual(4096);
        }
        // A fresh INIT on the busy channel resyncs, or the I/O layer's timeout resets; either way
        // a valid message then decodes.
        if (r.pending()) r.reset();
        const out = valid.map((x) => r.feed(x));
        const last = out.at(-1)!;
        expect(last.kind === 'message' && last.message.payload.length).toBe(150);
      }),
      RUNS,
    );
  });

  it('HID payload decoders throw only typed errors', () => {
    onlyTypedErrors(40, [decodeHidInitRequest, decodeHidInitResponse, decodeHidKeepalive, decodeHidError]);
  });
});

describe('fuzz: BLE', () => {
  it('BleReassembler answers every fragment with pending, a message or a typed error, and recovers', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 20, max: 512 }),
        fc.array(fc.uint8Array({ maxLength: 600 }), { maxLength: 30 }),
        (frameLength, garbage) => {
          const valid = fragmentBleMessage(BLE_CMD.MSG, new Uint8Array(700).fill(0x5a), frameLength);
          const r = new BleReassembler(frameLength, { maxMessageSize: 2000 });
          const mixed = [...garbage, ...valid.slice(0, 2).map((f) => f.slice(0, Math.max(1, f.length - 1)))];
          for (const f of mixed) {
            const res = r.feed(f);
            expect(['pending', 'message', 'error']).toContain(res.kind);
            if (res.kind === 'error') expect(res.error).toBeInstanceOf(ProtocolError);
          }
          // A valid init mid-message is refused once (INVALID_SEQ, both dropped); the retry decodes.
          let res = valid.map((f) => r.feed(f)).at(-1)!;
          if (res.kind !== 'message') res = valid.map((f) => r.feed(f)).at(-1)!;
          expect(res.kind === 'message' && res.payload.length).toBe(700);
        },
      ),
      RUNS,
    );
  });

  it('mutated valid fragments never escape as untyped errors', () => {
    const valid = fragmentBleMessage(BLE_CMD.MSG, new Uint8Array(100).fill(1), 20);
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...valid).chain(mutated), { maxLength: 10 }), (frags) => {
        const r = new BleReassembler(20);
        for (const f of frags) expect(['pending', 'message', 'error']).toContain(r.feed(f).kind);
      }),
      RUNS,
    );
  });

  it('BLE payload decoders throw only typed errors', () => {
    onlyTypedErrors(8, [decodeBleKeepalive, decodeBleError, decodeControlPointLength, decodeServiceRevision]);
  });
});

describe('fuzz: Modbus RTU', () => {
  const validAdu = encodeAdu({ address: 5, functionCode: 0x41, data: Uint8Array.of(0x81, 1, 0, 9, 9) });

  it('decodeAdu throws only typed errors on random and mutated bytes; mutations are caught', () => {
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 300 }), mutated(validAdu)), (b) => {
        const r = typed(() => decodeAdu(b));
        // CRC-16 catches all 1-4 bit edits and all bursts ≤ 16 bits of an 8-byte frame
        if (r === 'ok' && b.length === validAdu.length) {
          const diff = b.reduce((n, x, i) => n + (x !== validAdu[i] ? 1 : 0), 0);
          if (diff > 0 && diff <= 2) expect.fail('CRC missed a small corruption');
        }
      }),
      RUNS,
    );
  });

  it('RtuFrameSplitter: garbage yields frames or typed errors, and a valid frame after a gap decodes', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.uint8Array({ minLength: 1, maxLength: 300 }), fc.integer({ min: 0, max: 5000 })), { maxLength: 20 }),
        (chunks) => {
          const s = new RtuFrameSplitter({ baud: 19200 });
          let t = 0;
          let errors = 0;
          for (const [c, dt] of chunks) {
            for (const r of s.push(c, (t += dt))) {
              if (r.kind === 'error') {
                expect(r.error).toBeInstanceOf(ProtocolError);
                errors++;
              }
            }
          }
          for (const r of s.flush()) if (r.kind === 'error') errors++;
          expect(s.stats.crcErrors + s.stats.malformed).toBe(errors);
          s.push(validAdu, (t += 100_000));
          const [r] = s.flush();
          expect(r.kind === 'frame' && r.adu.address).toBe(5);
        },
      ),
      RUNS,
    );
  });

  const anyAdu: fc.Arbitrary<RtuAdu> = fc.record({
    address: fc.constantFrom(0, 5, 6),
    functionCode: fc.oneof(fc.constantFrom(0x41, 0x04, 0xc1), fc.integer({ min: 1, max: 255 })),
    data: fc.oneof(
      fc.uint8Array({ maxLength: 252 }),
      fc.tuple(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 3 }), fc.uint8Array({ maxLength: 20 })).map(
        ([c, t, s, p]) => Uint8Array.from([c, t, s, ...p]),
      ),
    ),
  });

  it('RtuSlaveTransfer.handle never throws on random ADUs and still serves a clean transfer after', () => {
    fc.assert(
      fc.property(fc.array(anyAdu, { maxLength: 40 }), (adus) => {
        let served = 0;
        const slave: RtuSlaveTransfer = new RtuSlaveTransfer({
          address: 5,
          maxMessageSize: 1000,
          onRequest: (m, tid) => {
            served++;
            slave.respond(m, tid);
          },
          inputRegisters: () => new Uint16Array(10),
        });
        for (const a of adus) {
          const out = slave.handle(a);
          if (a.address !== 5) expect(out).toBeNull();
          if (out) {
            const d = decodeAdu(out); // every answer is a well-formed ADU
            expect(d.address).toBe(5);
          }
        }
        // No reset: a master's next transfer id differs from the one left half-open, which
        // aborts it.
        const tid = ((slave.transferId ?? 0) + 1) & 0xff;
        const before = served;
        const master = new RtuMasterTransfer({ address: 5, transferId: tid, message: new Uint8Array(600).fill(3) });
        let adu = master.current();
        let step: RtuMasterStep = { kind: 'ignore', reason: '' };
        for (let i = 0; i < 20 && step.kind !== 'done'; i++) {
          step = master.receive(decodeAdu(slave.handle(decodeAdu(adu))!));
          if (step.kind === 'send' || step.kind === 'poll') adu = step.adu;
        }
        expect(step.kind === 'done' && step.message.length).toBe(600);
        expect(served).toBe(before + 1);
      }),
      RUNS,
    );
  });

  it('RtuMasterTransfer.receive never throws on random ADUs', () => {
    fc.assert(
      fc.property(fc.array(anyAdu, { maxLength: 30 }), (adus) => {
        const m = new RtuMasterTransfer({ address: 5, transferId: 1, message: new Uint8Array(300) });
        for (const a of adus) {
          const s = m.receive(a);
          expect(['send', 'poll', 'done', 'error', 'ignore']).toContain(s.kind);
          if (s.kind === 'error') expect(s.error).toBeInstanceOf(ProtocolError);
        }
      }),
      RUNS,
    );
  });

  it('PDU and register decoders throw only typed errors', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 260 }), fc.array(fc.integer({ min: 0, max: 0xffff }), { maxLength: 12 }), (b, words) => {
        typed(() => decodeTransferPdu(b));
        typed(() => decodeReadInputRegistersResponse(b));
        typed(() => decodeStatusRegisters(words));
        const r = decodeReadInputRegistersRequest(b, 10);
        expect(typeof r.ok).toBe('boolean');
      }),
      RUNS,
    );
  });
});
