// Link framing codec benchmark: how fast the pure framing code encodes and decodes, and how many
// bytes (and how much wire time) one verify request and its response cost on each link.
//
// Run alone:   node --import tsx bench/codec.bench.ts
// Or with all: npm run bench   (bench/run.ts collects run())
//
// Methodology
// - Throughput: each operation is run in batches (calibrated to ~5 ms, 5 warm-up batches, then
//   50 measured). We report frames per second at the median batch and at the p99 (slowest 1 %)
//   batch, so GC pauses and scheduler noise show in the p99 column. "Frames" are the link's
//   unit: a 64-byte HID report, a Modbus RTU ADU, a BLE fragment. Operations run on a
//   representative SECURE verify request (see sizes below), not on empty frames.
// - Representative messages: a CBOR verify request of ~110 bytes and a response of ~120 bytes,
//   each encrypted inside a SECURE envelope: + 16-byte AEAD tag + ~12 bytes of CBOR envelope
//   (map header, type, explicit nonce up to 5 bytes, byte-string header). So the link carries
//   138 bytes up and 148 bytes down.
// - Bytes on the wire:
//   * USB HID: every report is 64 bytes whatever it carries. A full-speed interrupt endpoint moves
//     at most one 64-byte report per 1 ms frame per direction = 64 000 B/s; wire time = reports
//     × 1 ms (USB packet framing, token and handshake packets are below this layer and not
//     counted).
//   * RS485 (Modbus RTU, function 0x41): request fragments + ACKs, then the response fragments
//     (+ GETs when it takes more than one), each ADU × 10 bits per byte (8N1) at the baud rate,
//     plus the mandatory t3.5 silence after every frame (1750 µs fixed above 19200 baud). The
//     slave's processing and bus turnaround time are not counted. The "ideal" column is the bare
//     message bytes at the baud rate: the ratio shows what framing and silences cost.
//   * BLE: fragments at frame length 20 (default ATT MTU 23), 185 (iOS typical MTU 188) and 244
//     (MTU 247, LE Data Length Extension), each + 3 bytes of ATT header (opcode + handle). L2CAP
//     (4 bytes) and link-layer headers/MIC are below and not counted; air time depends on the
//     connection interval and how many packets the stacks put in one event, so we report bytes
//     and packets only.

import { fileURLToPath } from 'node:url';
import type { BenchResult, SummaryRow } from './run.ts';
import { formatSi, markdownTable, summaryTable, timeBatches, type BatchTiming } from './lib/stats.ts';
import { HID_CMD, HID_REPORT_SIZE, HidReassembler, fragmentHidMessage, hidReportCount } from '../protocol/framing/hid.ts';
import { BLE_ATT_HEADER, BLE_CMD, BleReassembler, fragmentBleMessage } from '../protocol/framing/ble.ts';
import { RtuFrameSplitter, decodeAdu, encodeAdu, interFrameGapUs } from '../protocol/framing/modbus-rtu.ts';
import {
  FC_PRECHECK_TRANSFER,
  RtuMasterTransfer,
  RtuSlaveTransfer,
  TRANSFER_HEADER,
  TRANSFER_MAX_PAYLOAD,
  encodeTransferPdu,
  TRANSFER_OP,
  type RtuMasterStep,
} from '../protocol/framing/modbus-transfer.ts';

const INNER_REQUEST = 110;
const INNER_RESPONSE = 120;
const AEAD_TAG = 16;
const ENVELOPE = 12;
export const REQUEST_BYTES = INNER_REQUEST + AEAD_TAG + ENVELOPE; // 138
export const RESPONSE_BYTES = INNER_RESPONSE + AEAD_TAG + ENVELOPE; // 148

const USB_FS_REPORTS_PER_SEC = 1000; // one interrupt transfer per 1 ms frame
const RTU_BAUDS = [115200, 921600];
const BLE_FRAMES = [20, 185, 244];

function message(len: number, seed: number): Uint8Array {
  const b = new Uint8Array(len);
  for (let i = 0; i < len; i++) b[i] = (seed + i * 73) & 0xff;
  return b;
}

interface ThroughputRow {
  framing: string;
  op: string;
  framesPerOp: number;
  t: BatchTiming;
}

function throughput(): ThroughputRow[] {
  const req = message(REQUEST_BYTES, 1);
  const rows: ThroughputRow[] = [];
  let sink = 0; // keeps results observable so the JIT cannot drop the work

  // USB HID
  const hidReports = fragmentHidMessage(0x01020304, HID_CMD.MSG, req);
  rows.push({ framing: 'USB HID', op: 'encode (fragment)', framesPerOp: hidReports.length, t: timeBatches(() => {
    sink += fragmentHidMessage(0x01020304, HID_CMD.MSG, req).length;
  }) });
  const hr = new HidReassembler();
  rows.push({ framing: 'USB HID', op: 'decode (reassemble)', framesPerOp: hidReports.length, t: timeBatches(() => {
    for (const r of hidReports) {
      const res = hr.feed(r);
      if (res.kind === 'message') sink += res.message.payload.length;
    }
  }) });

  // Modbus RTU: one ADU carrying the whole request (it fits one 0x41 fragment).
  const pdu = encodeTransferPdu({ op: TRANSFER_OP.REQ, tid: 1, seq: 0, last: true, payload: req });
  const adu = encodeAdu({ address: 17, functionCode: FC_PRECHECK_TRANSFER, data: pdu });
  rows.push({ framing: 'RS485 RTU', op: 'encode ADU (+CRC)', framesPerOp: 1, t: timeBatches(() => {
    sink += encodeAdu({ address: 17, functionCode: FC_PRECHECK_TRANSFER, data: pdu }).length;
  }) });
  rows.push({ framing: 'RS485 RTU', op: 'decode ADU (CRC check)', framesPerOp: 1, t: timeBatches(() => {
    sink += decodeAdu(adu).data.length;
  }) });
  const splitter = new RtuFrameSplitter({ baud: 115200 });
  let ts = 0;
  rows.push({ framing: 'RS485 RTU', op: 'split stream (16-byte chunks) + decode', framesPerOp: 1, t: timeBatches(() => {
    for (let i = 0; i < adu.length; i += 16) splitter.push(adu.subarray(i, i + 16), (ts += 50));
    sink += splitter.flush().length;
  }) });
  // Full 0x41 exchange in memory: master + slave state machines, both directions encoded+decoded.
  const resp = message(RESPONSE_BYTES, 2);
  const slave: RtuSlaveTransfer = new RtuSlaveTransfer({ address: 17, onRequest: (_m, tid) => slave.respond(resp, tid) });
  let tid = 0;
  const exchangeFrames = (() => {
    const m = new RtuMasterTransfer({ address: 17, transferId: 0, message: req });
    return exchange(m, slave).frames;
  })();
  rows.push({ framing: 'RS485 RTU', op: 'verify exchange, master + slave', framesPerOp: exchangeFrames, t: timeBatches(() => {
    tid = (tid + 1) & 0xff;
    const m = new RtuMasterTransfer({ address: 17, transferId: tid, message: req });
    sink += exchange(m, slave).frames;
  }) });

  // BLE
  for (const fl of BLE_FRAMES) {
    const frags = fragmentBleMessage(BLE_CMD.MSG, req, fl);
    rows.push({ framing: `BLE ${fl}`, op: 'encode (fragment)', framesPerOp: frags.length, t: timeBatches(() => {
      sink += fragmentBleMessage(BLE_CMD.MSG, req, fl).length;
    }) });
    const br = new BleReassembler(fl);
    rows.push({ framing: `BLE ${fl}`, op: 'decode (reassemble)', framesPerOp: frags.length, t: timeBatches(() => {
      for (const f of frags) {
        const res = br.feed(f);
        if (res.kind === 'message') sink += res.payload.length;
      }
    }) });
  }
  if (sink === 42) console.log(''); // never true; consumes sink
  return rows;
}

/** Run a master/slave exchange in memory; returns the ADUs each way. */
function exchange(m: RtuMasterTransfer, slave: RtuSlaveTransfer): { frames: number; up: number[]; down: number[] } {
  const up: number[] = [];
  const down: number[] = [];
  let out = m.current();
  for (let i = 0; i < 1000; i++) {
    up.push(out.length);
    const reply = slave.handle(decodeAdu(out));
    if (!reply) throw new Error('slave did not answer');
    down.push(reply.length);
    const step: RtuMasterStep = m.receive(decodeAdu(reply));
    if (step.kind === 'done') return { frames: up.length + down.length, up, down };
    if (step.kind === 'send' || step.kind === 'poll') out = step.adu;
    else throw new Error(`exchange failed: ${step.kind}`);
  }
  throw new Error('exchange did not finish');
}

interface WireRow {
  link: string;
  direction: string;
  frames: number;
  wireBytes: number;
  payloadBytes: number;
  timeUs?: number;
  idealUs?: number;
  note: string;
}

function wire(): WireRow[] {
  const rows: WireRow[] = [];
  // USB HID
  for (const [dir, n] of [['request', REQUEST_BYTES], ['response', RESPONSE_BYTES]] as const) {
    const reports = hidReportCount(n);
    rows.push({
      link: 'USB HID (full speed)',
      direction: dir,
      frames: reports,
      wireBytes: reports * HID_REPORT_SIZE,
      payloadBytes: n,
      timeUs: (reports * 1e6) / USB_FS_REPORTS_PER_SEC,
      idealUs: (n / (USB_FS_REPORTS_PER_SEC * HID_REPORT_SIZE)) * 1e6,
      note: '64 B/ms per direction = 64 000 B/s',
    });
  }
  // RS485: the real state machines produce the ADUs.
  const req = message(REQUEST_BYTES, 1);
  const resp = message(RESPONSE_BYTES, 2);
  const slave: RtuSlaveTransfer = new RtuSlaveTransfer({ address: 17, onRequest: (_m, tid) => slave.respond(resp, tid) });
  const ex = exchange(new RtuMasterTransfer({ address: 17, transferId: 1, message: req }), slave);
  for (const baud of RTU_BAUDS) {
    const gap = interFrameGapUs(baud);
    const byteUs = (10 * 1e6) / baud;
    for (const [dir, sizes, n] of [['request', ex.up, REQUEST_BYTES], ['response', ex.down, RESPONSE_BYTES]] as const) {
      const bytes = sizes.reduce((a, b) => a + b, 0);
      rows.push({
        link: `RS485 ${baud} baud`,
        direction: dir,
        frames: sizes.length,
        wireBytes: bytes,
        payloadBytes: n,
        timeUs: bytes * byteUs + sizes.length * gap,
        idealUs: n * byteUs,
        note: `ADU ≤ 256 B, 10 bit/byte, t3.5 = ${gap} µs per frame`,
      });
    }
  }
  // BLE
  for (const fl of BLE_FRAMES) {
    for (const [dir, n] of [['request', REQUEST_BYTES], ['response', RESPONSE_BYTES]] as const) {
      const frags = fragmentBleMessage(BLE_CMD.MSG, message(n, 3), fl);
      const bytes = frags.reduce((a, f) => a + f.length + BLE_ATT_HEADER, 0);
      rows.push({
        link: `BLE frame ${fl}`,
        direction: dir,
        frames: frags.length,
        wireBytes: bytes,
        payloadBytes: n,
        note: `ATT MTU ${fl + 3}; +3 B ATT header per fragment`,
      });
    }
  }
  return rows;
}

const fmtUs = (us: number | undefined) => (us === undefined ? '–' : us >= 1000 ? `${(us / 1000).toFixed(2)} ms` : `${us.toFixed(0)} µs`);

export async function run(): Promise<BenchResult> {
  const t = throughput();
  const w = wire();
  const tput = markdownTable(
    ['framing', 'operation', 'frames/op', 'frames/s median', 'frames/s p99', 'ns/op median', 'ns/op p99'],
    t.map((r) => [
      r.framing,
      r.op,
      r.framesPerOp,
      formatSi(r.t.medianOpsPerSec * r.framesPerOp),
      formatSi(r.t.p99OpsPerSec * r.framesPerOp),
      r.t.medianNsPerOp.toFixed(0),
      r.t.p99NsPerOp.toFixed(0),
    ]),
  );
  const wireTable = markdownTable(
    ['link', 'direction', 'frames', 'bytes on wire', 'message bytes', 'efficiency', 'wire time', 'ideal (bare bytes)', 'wire time ÷ ideal', 'note'],
    w.map((r) => [
      r.link,
      r.direction,
      r.frames,
      r.wireBytes,
      r.payloadBytes,
      `${((100 * r.payloadBytes) / r.wireBytes).toFixed(0)} %`,
      fmtUs(r.timeUs),
      fmtUs(r.idealUs),
      r.timeUs && r.idealUs ? `${(r.timeUs / r.idealUs).toFixed(2)}×` : '–',
      r.note,
    ]),
  );

  const rate = (framing: string, op: string) => t.find((r) => r.framing === framing && r.op.startsWith(op))!;
  const hidDec = rate('USB HID', 'decode');
  const rtuEx = rate('RS485 RTU', 'verify exchange');
  const rtuWire = w.filter((r) => r.link === 'RS485 115200 baud');
  const rtuUs = rtuWire.reduce((a, r) => a + (r.timeUs ?? 0), 0);
  const hidWire = w.filter((r) => r.link.startsWith('USB HID'));
  const hidUs = hidWire.reduce((a, r) => a + (r.timeUs ?? 0), 0);
  const summary: SummaryRow[] = [
    {
      figure: 'HID reassembly, 64-byte reports/s (median)',
      value: formatSi(hidDec.t.medianOpsPerSec * hidDec.framesPerOp),
      bound: `${USB_FS_REPORTS_PER_SEC} reports/s (USB FS interrupt, 64 000 B/s)`,
      ratio: `${formatSi((hidDec.t.medianOpsPerSec * hidDec.framesPerOp) / USB_FS_REPORTS_PER_SEC)}× headroom`,
    },
    {
      figure: 'RS485 0x41 verify exchanges/s, codec only (median)',
      value: formatSi(rtuEx.t.medianOpsPerSec),
      bound: `${formatSi(1e6 / rtuUs)} /s wire-bound at 115200 baud`,
      ratio: `${formatSi(rtuEx.t.medianOpsPerSec / (1e6 / rtuUs))}× headroom`,
    },
    {
      figure: 'Verify round trip wire time, USB HID',
      value: fmtUs(hidUs),
      bound: `${fmtUs(hidWire.reduce((a, r) => a + (r.idealUs ?? 0), 0))} bare bytes at 64 000 B/s`,
      ratio: `${(hidUs / hidWire.reduce((a, r) => a + (r.idealUs ?? 0), 0)).toFixed(2)}×`,
    },
    {
      figure: 'Verify round trip wire time, RS485 115200 baud',
      value: fmtUs(rtuUs),
      bound: `${fmtUs(rtuWire.reduce((a, r) => a + (r.idealUs ?? 0), 0))} bare bytes`,
      ratio: `${(rtuUs / rtuWire.reduce((a, r) => a + (r.idealUs ?? 0), 0)).toFixed(2)}×`,
    },
  ];
  const markdown = `Representative verify exchange: request ${REQUEST_BYTES} B, response ${RESPONSE_BYTES} B on the link
(inner ${INNER_REQUEST} / ${INNER_RESPONSE} B + ${AEAD_TAG} B AEAD tag + ~${ENVELOPE} B SECURE envelope).
RS485 fragments carry up to ${TRANSFER_MAX_PAYLOAD} B (${TRANSFER_HEADER}-byte 0x41 header); methodology in bench/codec.bench.ts.

### Codec throughput (one core, pure code, no I/O)

${tput}

### Bytes and wire time per verify request/response

${wireTable}
`;
  return { title: 'Link framing codecs', markdown, summary };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const r = await run();
  console.log(`# ${r.title}\n\n${r.markdown}`);
  if (r.summary) console.log(summaryTable(r.summary));
}
