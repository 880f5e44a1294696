import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ProtocolError } from '../../../protocol/errors.ts';
import { decodeAdu, encodeAdu, RTU_MAX_ADU, RtuFrameSplitter } from '../../../protocol/framing/modbus-rtu.ts';
import {
  FC_PRECHECK_TRANSFER,
  RtuMasterTransfer,
  RtuSlaveTransfer,
  TRANSFER_OP,
  decodeTransferPdu,
  encodeTransferPdu,
  type RtuMasterStep,
} from '../../../protocol/framing/modbus-transfer.ts';
import { encodeStatusRegisters } from '../../../protocol/framing/modbus-registers.ts';
import { hex, loadVectors, unhex } from './helpers.ts';

function pattern(len: number, seed: number): Uint8Array {
  const b = new Uint8Array(len);
  for (let i = 0; i < len; i++) b[i] = (seed * 7 + i * 13) & 0xff;
  return b;
}

/** Echo-ish upper layer: response = reversed request XOR 0xAA (same length, so a 7609-byte
 * request gets a 7609-byte response), answered synchronously or later. */
function makeSlave(address: number, opts: { deferred?: boolean; maxMessageSize?: number } = {}) {
  const requests: Uint8Array[] = [];
  const slave: RtuSlaveTransfer = new RtuSlaveTransfer({
    address,
    maxMessageSize: opts.maxMessageSize,
    onRequest: (m, tid) => {
      requests.push(m);
      if (!opts.deferred) slave.respond(respFor(m), tid);
    },
    inputRegisters: () =>
      encodeStatusRegisters({
        protocolVersion: 1,
        firmwareVersion: 0x00010203,
        datasetVersion: 42,
        datasetState: 'fresh',
        verificationsServed: 7,
        framesRejected: slave.stats.rejected,
      }),
  });
  return { slave, requests };
}
function respFor(m: Uint8Array): Uint8Array {
  return Uint8Array.from([...m].reverse().map((x) => x ^ 0xaa));
}

/**
 * Run a transfer over an in-memory bus. `lose(i)` drops the i-th frame on the wire (either
 * direction); the master then retransmits current() as its timeout would. Each frame crosses the
 * real splitter so the bytes are exactly what a UART would carry.
 */
function run(master: RtuMasterTransfer, slave: RtuSlaveTransfer, lose: (i: number) => boolean = () => false, onPoll?: () => void) {
  const toSlave = new RtuFrameSplitter({ baud: 115200 });
  const toMaster = new RtuFrameSplitter({ baud: 115200 });
  let wire = 0;
  let t = 0;
  let out = master.current();
  const sent: Uint8Array[] = [];
  for (let guard = 0; guard < 5000; guard++) {
    sent.push(out);
    expect(out.length).toBeLessThanOrEqual(RTU_MAX_ADU);
    let step: RtuMasterStep | undefined;
    if (!lose(wire++)) {
      toSlave.push(out, (t += 10_000));
      const [f] = toSlave.flush();
      expect(f.kind).toBe('frame');
      const reply = f.kind === 'frame' ? slave.handle(f.adu) : null;
      if (reply && !lose(wire++)) {
        toMaster.push(reply, (t += 10_000));
        const [g] = toMaster.flush();
        if (g.kind === 'frame') step = master.receive(g.adu);
      }
    }
    if (!step) {
      out = master.current(); // response timeout → retransmit
      continue;
    }
    if (step.kind === 'done' || step.kind === 'error') return { step, sent };
    if (step.kind === 'ignore') {
      out = master.current();
      continue;
    }
    if (step.kind === 'poll') onPoll?.();
    out = step.adu;
  }
  throw new Error('transfer did not finish');
}

describe('0x41 transfer PDU', () => {
  it('golden vectors', () => {
    const v = loadVectors<{ pdus: { name: string; op: number; tid: number; seq: number; last: boolean; payload: string; adu: string; address: number }[] }>(
      'modbus-transfer.json',
    );
    for (const p of v.pdus) {
      const data = encodeTransferPdu({ op: p.op as never, tid: p.tid, seq: p.seq, last: p.last, payload: unhex(p.payload) });
      expect(hex(encodeAdu({ address: p.address, functionCode: FC_PRECHECK_TRANSFER, data })), p.name).toBe(p.adu);
      const d = decodeTransferPdu(decodeAdu(unhex(p.adu)).data);
      expect(d).toEqual({ op: p.op, tid: p.tid, seq: p.seq, last: p.last, payload: unhex(p.payload) });
    }
  });
  it('rejects malformed PDUs with BAD_FRAME', () => {
    for (const bad of ['01', '0001', '7f0000', '82010000', '11010005', '1f0100', '1f01000102']) {
      try {
        decodeTransferPdu(unhex(bad));
        expect.fail(`accepted ${bad}`);
      } catch (e) {
        expect(e).toBeInstanceOf(ProtocolError);
        expect((e as ProtocolError).code).toBe('BAD_FRAME');
      }
    }
  });
});

describe('RtuMasterTransfer ↔ RtuSlaveTransfer', () => {
  it('round-trips random messages 0..7609 bytes at random addresses and fragment sizes', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 247 }),
        fc.integer({ min: 0, max: 7609 }),
        fc.integer({ min: 0, max: 255 }),
        fc.integer({ min: 30, max: 249 }), // 30 × 256 fragments ≥ 7609
        fc.boolean(),
        (address, len, tid, fragmentSize, deferred) => {
          const msg = pattern(len, tid);
          const { slave, requests } = makeSlave(address, { deferred });
          const master = new RtuMasterTransfer({ address, transferId: tid, message: msg, fragmentSize });
          const { step } = run(master, slave, () => false, () => {
            if (deferred && slave.state === 'processing') slave.respond(respFor(requests[0]));
          });
          expect(step.kind).toBe('done');
          expect(requests).toHaveLength(1);
          expect(hex(requests[0])).toBe(hex(msg));
          if (step.kind === 'done') expect(hex(step.message)).toBe(hex(respFor(msg)));
        },
      ),
      { numRuns: 60 },
    );
  });

  it('survives lost frames in both directions: delivers the request exactly once', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 3000 }), fc.array(fc.boolean(), { minLength: 50, maxLength: 50 }), (len, losses) => {
        const msg = pattern(len, 3);
        const { slave, requests } = makeSlave(9);
        const master = new RtuMasterTransfer({ address: 9, transferId: 5, message: msg });
        // lose at most every other frame so it terminates
        const { step } = run(master, slave, (i) => i < 50 && losses[i] && i % 2 === 0);
        expect(step.kind).toBe('done');
        expect(requests).toHaveLength(1);
        if (step.kind === 'done') expect(hex(step.message)).toBe(hex(respFor(msg)));
      }),
      { numRuns: 60 },
    );
  });

  it('carries a maximum-size message (7609 bytes) both ways in 31 fragments each', () => {
    const msg = pattern(7609, 9);
    const { slave, requests } = makeSlave(247);
    const master = new RtuMasterTransfer({ address: 247, transferId: 255, message: msg });
    expect(master.requestFragments).toBe(31);
    const { step, sent } = run(master, slave);
    expect(hex(requests[0])).toBe(hex(msg));
    expect(step.kind === 'done' && hex(step.message)).toBe(hex(respFor(msg)));
    expect(sent).toHaveLength(31 + 30); // 31 REQ, then 30 GETs for response fragments 1..30
  });

  it('polls while the slave is pending, then fetches the response', () => {
    const { slave } = makeSlave(3, { deferred: true });
    const master = new RtuMasterTransfer({ address: 3, transferId: 1, message: pattern(600, 1) });
    let polls = 0;
    const { step } = run(master, slave, () => false, () => {
      polls++;
      if (polls === 3) slave.respond(pattern(1000, 2));
    });
    expect(polls).toBe(3);
    expect(step.kind === 'done' && hex(step.message)).toBe(hex(pattern(1000, 2)));
  });

  it('the slave fail() reaches the master as a typed error', () => {
    const slave: RtuSlaveTransfer = new RtuSlaveTransfer({ address: 3, onRequest: (_m, tid) => slave.fail('DECRYPT_FAILED', tid) });
    const master = new RtuMasterTransfer({ address: 3, transferId: 1, message: pattern(10, 1) });
    const { step } = run(master, slave);
    expect(step.kind === 'error' && step.error.code).toBe('DECRYPT_FAILED');
  });

  it('a request over the slave limit → TOO_LARGE error to the master', () => {
    const { slave, requests } = makeSlave(3, { maxMessageSize: 500 });
    const master = new RtuMasterTransfer({ address: 3, transferId: 1, message: pattern(600, 1) });
    const { step } = run(master, slave);
    expect(step.kind === 'error' && step.error.code).toBe('TOO_LARGE');
    expect(requests).toHaveLength(0);
  });

  it('the master refuses an oversized response', () => {
    const slave: RtuSlaveTransfer = new RtuSlaveTransfer({ address: 3, onRequest: () => slave.respond(pattern(2000, 1)) });
    const master = new RtuMasterTransfer({ address: 3, transferId: 1, message: pattern(1, 1), maxMessageSize: 1000 });
    const { step } = run(master, slave);
    expect(step.kind === 'error' && step.error.code).toBe('TOO_LARGE');
  });

  it('out-of-sequence fragment → ERROR BAD_SEQUENCE with the expected SEQ; state kept', () => {
    const { slave } = makeSlave(4);
    const adu = (op: number, tid: number, seq: number, last: boolean, payload = new Uint8Array(3)) =>
      decodeAdu(encodeAdu({ address: 4, functionCode: 0x41, data: encodeTransferPdu({ op: op as never, tid, seq, last, payload }) }));
    const ack = decodeTransferPdu(decodeAdu(slave.handle(adu(TRANSFER_OP.REQ, 1, 0, false))!).data);
    expect(ack).toMatchObject({ op: TRANSFER_OP.ACK, seq: 0 });
    const err = decodeTransferPdu(decodeAdu(slave.handle(adu(TRANSFER_OP.REQ, 1, 2, false))!).data);
    expect(err).toMatchObject({ op: TRANSFER_OP.ERROR, seq: 1 });
    expect(err.payload[0]).toBe(0x12); // BAD_SEQUENCE
    expect(slave.state).toBe('receiving');
    // SEQ != 0 for an unknown transfer
    const err2 = decodeTransferPdu(decodeAdu(slave.handle(adu(TRANSFER_OP.REQ, 9, 3, false))!).data);
    expect(err2).toMatchObject({ op: TRANSFER_OP.ERROR, tid: 9 });
    // a new transfer id with SEQ 0 aborts the old one
    const r = decodeTransferPdu(decodeAdu(slave.handle(adu(TRANSFER_OP.REQ, 2, 0, true, Uint8Array.of(1, 2)))!).data);
    expect(r).toMatchObject({ op: TRANSFER_OP.RESP, tid: 2, seq: 0, last: true });
    expect([...r.payload]).toEqual([2 ^ 0xaa, 1 ^ 0xaa]);
    // GET for the old transfer now fails
    const old = decodeTransferPdu(decodeAdu(slave.handle(adu(TRANSFER_OP.GET, 1, 0, false, new Uint8Array()))!).data);
    expect(old.op).toBe(TRANSFER_OP.ERROR);
    expect(slave.stats.rejected).toBe(3);
  });

  it('ABORT drops the transfer and is acknowledged; a late respond() returns false', () => {
    const { slave } = makeSlave(4, { deferred: true });
    const master = new RtuMasterTransfer({ address: 4, transferId: 8, message: pattern(10, 1) });
    const first = slave.handle(decodeAdu(master.current()))!;
    expect(master.receive(decodeAdu(first)).kind).toBe('poll');
    expect(slave.state).toBe('processing');
    const ack = decodeTransferPdu(decodeAdu(slave.handle(decodeAdu(master.abortAdu()))!).data);
    expect(ack).toMatchObject({ op: TRANSFER_OP.ACK, tid: 8 });
    expect(slave.state).toBe('idle');
    expect(slave.respond(new Uint8Array(1))).toBe(false);
  });

  it('broadcast is never answered; another address is ignored and not counted as rejected', () => {
    const { slave, requests } = makeSlave(4);
    const data = encodeTransferPdu({ op: TRANSFER_OP.REQ, tid: 1, seq: 0, last: true, payload: new Uint8Array(2) });
    expect(slave.handle({ address: 0, functionCode: 0x41, data })).toBeNull();
    expect(slave.handle({ address: 5, functionCode: 0x41, data })).toBeNull();
    expect(slave.handle({ address: 0, functionCode: 0x04, data: unhex('00000001') })).toBeNull();
    expect(requests).toHaveLength(0);
    expect(slave.stats).toMatchObject({ broadcasts: 2, otherAddress: 1, rejected: 0 });
  });

  it('unknown function → exception 01; malformed 0x41 data → exception 03', () => {
    const { slave } = makeSlave(4);
    expect(hex(slave.handle({ address: 4, functionCode: 0x03, data: unhex('00000001') })!)).toBe(hex(encodeAdu({ address: 4, functionCode: 0x83, data: Uint8Array.of(1) })));
    const r = decodeAdu(slave.handle({ address: 4, functionCode: 0x41, data: unhex('05') })!);
    expect(r).toMatchObject({ functionCode: 0xc1 });
    expect([...r.data]).toEqual([3]);
    // a slave → master op sent to the slave is also illegal data
    const r2 = decodeAdu(slave.handle({ address: 4, functionCode: 0x41, data: unhex('110100') })!);
    expect([...r2.data]).toEqual([3]);
  });

  it('the master maps exceptions, ignores other slaves and stale transfer ids', () => {
    const m = new RtuMasterTransfer({ address: 4, transferId: 8, message: pattern(10, 1) });
    const resp = (tid: number) => ({ address: 4, functionCode: 0x41, data: encodeTransferPdu({ op: TRANSFER_OP.RESP, tid, seq: 0, last: true, payload: Uint8Array.of(1) }) });
    expect(m.receive({ ...resp(8), address: 5 }).kind).toBe('ignore');
    expect(m.receive(resp(7)).kind).toBe('ignore');
    expect(m.receive({ address: 4, functionCode: 0x04, data: new Uint8Array(3) }).kind).toBe('ignore');
    expect(m.receive({ address: 4, functionCode: 0xc1, data: Uint8Array.of(5) }).kind).toBe('poll');
    const e = m.receive({ address: 4, functionCode: 0xc1, data: Uint8Array.of(6) });
    expect(e.kind === 'error' && e.error.code).toBe('BUSY');
    expect(m.finished).toBe(true);
  });

  it('validates constructor arguments', () => {
    expect(() => new RtuMasterTransfer({ address: 0, transferId: 1, message: new Uint8Array() })).toThrow(ProtocolError);
    expect(() => new RtuMasterTransfer({ address: 1, transferId: 256, message: new Uint8Array() })).toThrow(ProtocolError);
    expect(() => new RtuMasterTransfer({ address: 1, transferId: 1, message: new Uint8Array(7610) })).toThrow(ProtocolError);
    expect(() => new RtuSlaveTransfer({ address: 248, onRequest: () => {} })).toThrow(ProtocolError);
  });
});
