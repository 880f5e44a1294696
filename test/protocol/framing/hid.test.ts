import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  HID_BROADCAST_CID,
  HID_CMD,
  HID_ERR,
  HID_KEEPALIVE,
  HID_MAX_MESSAGE,
  HidReassembler,
  codeToHidError,
  decodeHidError,
  decodeHidInitRequest,
  decodeHidInitResponse,
  decodeHidKeepalive,
  encodeHidError,
  encodeHidInitRequest,
  encodeHidInitResponse,
  encodeHidKeepalive,
  fragmentHidMessage,
  hidErrorReport,
  hidErrorToCode,
  hidReportCount,
  type HidFeedResult,
  type HidInitResponse,
} from '../../../protocol/framing/hid.ts';
import { codeOf } from '../error-code.ts';
import { hex, loadVectors, unhex } from './helpers.ts';

interface HidVectors {
  messages: { name: string; cid: number; cmd: number; payload: string; reports: string[] }[];
  /** The response's fields (nonce as hex) and its encoding. */
  initResponse: Omit<HidInitResponse, 'nonce'> & { nonce: string; payload: string };
}


function feedAll(r: HidReassembler, reports: Uint8Array[]): HidFeedResult[] {
  return reports.map((x) => r.feed(x));
}

describe('HID golden vectors', () => {
  const v = loadVectors<HidVectors>('hid.json');
  for (const m of v.messages) {
    it(m.name, () => {
      const reports = fragmentHidMessage(m.cid, m.cmd, unhex(m.payload));
      expect(reports.map(hex)).toEqual(m.reports);
      const r = new HidReassembler();
      const results = feedAll(r, m.reports.map(unhex));
      const last = results.at(-1)!;
      expect(results.slice(0, -1).every((x) => x.kind === 'pending')).toBe(true);
      expect(last.kind).toBe('message');
      if (last.kind === 'message') {
        expect(last.message.cid).toBe(m.cid);
        expect(last.message.cmd).toBe(m.cmd);
        expect(hex(last.message.payload)).toBe(m.payload);
      }
    });
  }
  it('INIT response encodes and decodes byte-exact', () => {
    const ir = v.initResponse;
    const obj = { ...ir, nonce: unhex(ir.nonce) };
    const { payload, ...fields } = obj;
    expect(hex(encodeHidInitResponse(fields))).toBe(payload);
    expect(decodeHidInitResponse(unhex(payload))).toEqual(fields);
  });
});

describe('HID fragmentation', () => {
  it('round-trips random messages of 0..7609 bytes', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 0xfffffffe }),
        fc.constantFrom(HID_CMD.PING, HID_CMD.MSG, HID_CMD.CANCEL, 0x90),
        fc.integer({ min: 0, max: HID_MAX_MESSAGE }),
        fc.integer(),
        (cid, cmd, len, seed) => {
          const payload = new Uint8Array(len);
          for (let i = 0; i < len; i++) payload[i] = (seed + i * 31) & 0xff;
          const reports = fragmentHidMessage(cid, cmd, payload);
          expect(reports.length).toBe(hidReportCount(len));
          expect(reports.every((x) => x.length === 64)).toBe(true);
          const r = new HidReassembler();
          const res = feedAll(r, reports);
          const last = res.at(-1)!;
          expect(last.kind).toBe('message');
          if (last.kind === 'message') expect(last.message).toEqual({ cid, cmd, payload });
          expect(r.pending()).toBeNull();
        },
      ),
      { numRuns: 200 },
    );
  });

  it('the maximum message takes 129 reports with sequence numbers 0..127', () => {
    const reports = fragmentHidMessage(1, HID_CMD.MSG, new Uint8Array(HID_MAX_MESSAGE));
    expect(reports).toHaveLength(129);
    expect(reports[128][4]).toBe(127);
  });

  it('rejects bad arguments with typed errors', () => {
    expect(codeOf(() => fragmentHidMessage(1, HID_CMD.MSG, new Uint8Array(HID_MAX_MESSAGE + 1)))).toBe('TOO_LARGE');
    expect(codeOf(() => fragmentHidMessage(1, HID_CMD.MSG, new Uint8Array(1001), 1000))).toBe('TOO_LARGE');
    expect(codeOf(() => fragmentHidMessage(0, HID_CMD.MSG, new Uint8Array(1)))).toBe('BAD_CHANNEL');
    expect(codeOf(() => fragmentHidMessage(2 ** 32, HID_CMD.MSG, new Uint8Array(1)))).toBe('BAD_CHANNEL');
    expect(codeOf(() => fragmentHidMessage(1, 0x03, new Uint8Array(1)))).toBe('BAD_FRAME');
  });
});

describe('HidReassembler errors', () => {
  const cid = 0x11223344;
  const other = 0x55667788;
  const msg = new Uint8Array(200).map((_, i) => i);
  const reports = fragmentHidMessage(cid, HID_CMD.MSG, msg);

  it('wrong report length → INVALID_LEN, message in progress kept', () => {
    const r = new HidReassembler();
    r.feed(reports[0]);
    const res = r.feed(reports[1].subarray(0, 63));
    expect(res).toMatchObject({ kind: 'error', cid, hidError: HID_ERR.INVALID_LEN, aborted: false });
    expect(res.kind === 'error' && res.error.code).toBe('BAD_FRAME');
    const rest = feedAll(r, reports.slice(1));
    expect(rest.at(-1)!.kind).toBe('message');
  });

  it('continuation without init → INVALID_SEQ', () => {
    const r = new HidReassembler();
    const res = r.feed(reports[1]);
    expect(res).toMatchObject({ kind: 'error', cid, hidError: HID_ERR.INVALID_SEQ });
    expect(res.kind === 'error' && res.error.code).toBe('BAD_SEQUENCE');
  });

  it('out-of-order sequence → INVALID_SEQ and the message is dropped', () => {
    const r = new HidReassembler();
    r.feed(reports[0]);
    const res = r.feed(reports[2]);
    expect(res).toMatchObject({ kind: 'error', cid, hidError: HID_ERR.INVALID_SEQ, aborted: true });
    expect(r.pending()).toBeNull();
    // a clean retransmission then works
    expect(feedAll(r, reports).at(-1)!.kind).toBe('message');
  });

  it('BCNT over the max → INVALID_LEN / TOO_LARGE', () => {
    const r = new HidReassembler({ maxMessageSize: 1000 });
    const big = fragmentHidMessage(cid, HID_CMD.MSG, new Uint8Array(1001));
    const res = r.feed(big[0]);
    expect(res).toMatchObject({ kind: 'error', hidError: HID_ERR.INVALID_LEN });
    expect(res.kind === 'error' && res.error.code).toBe('TOO_LARGE');
    expect(r.pending()).toBeNull();
  });

  it('another channel interrupting → CHANNEL_BUSY to that channel, transaction continues', () => {
    const r = new HidReassembler();
    r.feed(reports[0]);
    const intr = fragmentHidMessage(other, HID_CMD.PING, new Uint8Array(3))[0];
    const res = r.feed(intr);
    expect(res).toMatchObject({ kind: 'error', cid: other, hidError: HID_ERR.CHANNEL_BUSY, aborted: false });
    expect(res.kind === 'error' && res.error.code).toBe('BUSY');
    expect(r.pending()).toMatchObject({ cid, received: 57, expected: 200 });
    const rest = feedAll(r, reports.slice(1));
    const last = rest.at(-1)!;
    expect(last.kind === 'message' && hex(last.message.payload)).toBe(hex(msg));
  });

  it('INIT on the busy channel resynchronises; other init commands → INVALID_SEQ', () => {
    const r = new HidReassembler();
    r.feed(reports[0]);
    const init = fragmentHidMessage(cid, HID_CMD.INIT, new Uint8Array(8).fill(9))[0];
    const res = r.feed(init);
    expect(res.kind).toBe('message');
    r.feed(reports[0]);
    const ping = fragmentHidMessage(cid, HID_CMD.PING, new Uint8Array(1))[0];
    expect(r.feed(ping)).toMatchObject({ kind: 'error', hidError: HID_ERR.INVALID_SEQ, aborted: true });
  });

  it('broadcast channel only carries INIT; channel 0 is invalid', () => {
    const r = new HidReassembler();
    const p = new Uint8Array(64);
    p.set([0xff, 0xff, 0xff, 0xff, HID_CMD.MSG, 0, 1, 7]);
    expect(r.feed(p)).toMatchObject({ kind: 'error', cid: HID_BROADCAST_CID, hidError: HID_ERR.INVALID_CHANNEL });
    p.set([0, 0, 0, 0]);
    expect(r.feed(p)).toMatchObject({ kind: 'error', cid: 0, hidError: HID_ERR.INVALID_CHANNEL });
    const init = fragmentHidMessage(HID_BROADCAST_CID, HID_CMD.INIT, new Uint8Array(8))[0];
    expect(r.feed(init).kind).toBe('message');
    // a host hears the device's ERROR on the broadcast channel; a device refuses it
    const err = hidErrorReport(HID_BROADCAST_CID, HID_ERR.CHANNEL_BUSY);
    expect(r.feed(err)).toMatchObject({ kind: 'error', hidError: HID_ERR.INVALID_CHANNEL });
    const host = new HidReassembler({ role: 'host' });
    const got = host.feed(err);
    expect(got.kind === 'message' && got.message.cmd).toBe(HID_CMD.ERROR);
  });

  it('reset() drops the message in progress (transaction timeout)', () => {
    const r = new HidReassembler();
    r.feed(reports[0]);
    expect(r.pending()).not.toBeNull();
    r.reset();
    expect(r.pending()).toBeNull();
    expect(r.feed(reports[1]).kind).toBe('error');
  });
});

describe('HID command payloads', () => {
  it('INIT request: 8-byte nonce only', () => {
    const n = unhex('0102030405060708');
    expect(hex(decodeHidInitRequest(encodeHidInitRequest(n)))).toBe(hex(n));
    expect(codeOf(() => encodeHidInitRequest(new Uint8Array(7)))).toBe('INVALID_FIELD');
    expect(codeOf(() => decodeHidInitRequest(new Uint8Array(9)))).toBe('BAD_FRAME');
  });
  it('INIT response: accepts the plain 17-byte CTAPHID form with the default max size', () => {
    const full = encodeHidInitResponse({
      nonce: new Uint8Array(8),
      cid: 5,
      protocolVersion: 2,
      versionMajor: 1,
      versionMinor: 0,
      versionBuild: 0,
      capabilities: 4,
      maxMessageSize: 1024,
    });
    expect(decodeHidInitResponse(full).maxMessageSize).toBe(1024);
    expect(decodeHidInitResponse(full.subarray(0, 17)).maxMessageSize).toBe(HID_MAX_MESSAGE);
    expect(codeOf(() => decodeHidInitResponse(full.subarray(0, 18)))).toBe('BAD_FRAME');
    const bcast = full.slice();
    bcast.set([0xff, 0xff, 0xff, 0xff], 8);
    expect(codeOf(() => decodeHidInitResponse(bcast))).toBe('BAD_CHANNEL');
  });
  it('KEEPALIVE and ERROR payloads', () => {
    expect(decodeHidKeepalive(encodeHidKeepalive(HID_KEEPALIVE.UPNEEDED))).toBe(2);
    expect(codeOf(() => decodeHidKeepalive(Uint8Array.of(3)))).toBe('INVALID_FIELD');
    const e = decodeHidError(encodeHidError(HID_ERR.CHANNEL_BUSY));
    expect(e.hidError).toBe(6);
    expect(e.error.code).toBe('BUSY');
    expect(hex(hidErrorReport(0x1a2b3c4d, HID_ERR.CHANNEL_BUSY).subarray(0, 8))).toBe('1a2b3c4dbf000106');
  });
  it('error code mapping round-trips for every CTAPHID code', () => {
    for (const code of Object.values(HID_ERR)) expect(codeToHidError(hidErrorToCode(code))).toBe(code);
    expect(hidErrorToCode(0x42)).toBe('INTERNAL');
  });
});
