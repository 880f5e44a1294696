// Link benchmark: echo round trips through each link's real I/O and framing code, next to the
// physical limit of the link it stands for.
//
// Run alone:   node --import tsx bench/links.bench.ts
// Quick run:   BENCH_SCALE=0.1 node --import tsx bench/links.bench.ts   (a tenth of the round trips)
// Or with all: npm run bench   (bench/run.ts collects run())
//
// Methodology
// - One host transport and one device driver per link, echo handler, one exchange at a time.
//   Each scenario: warm-up round trips, then N measured ones; latency is request() call to
//   answer. Goodput = 2 × message size / median round trip (the message goes both ways).
// - RS485: Rs485Bus (master) ↔ Rs485SlaveDriver over a socat pty pair, both PACED at the baud
//   rate by PacedSerialWriter (a pty itself is instantaneous): every ADU is delivered when its
//   last byte plus the t3.5 silence would have left a real UART. Bound = bytes both sides put on
//   the line ÷ (baud / 10) (8N1); silences, turnaround and processing are not in the bound, so
//   the ratio shows what they cost. "payload bound" = 2 × message ÷ (baud / 10).
// - USB HID: HidCableTransport ↔ HidCableServer over a unix socket (not paced). Bound: a
//   full-speed interrupt endpoint moves one 64-byte report per 1 ms frame per direction, and the
//   answer starts after the request, so round trip ≥ (request reports + answer reports) × 1 ms.
// - BLE: BleCableTransport ↔ BleCableServer over a unix socket (not paced). Bound, stated
//   assumption: 244-byte fragments (ATT MTU 247 with Data Length Extension), ONE fragment per
//   7.5 ms connection interval per direction (the minimum interval; stacks that send several
//   packets per event do better), request then answer: round trip ≥ fragments × 7.5 ms.
// - The cables are not paced, so their ratio < 1 means the emulation is faster than the bus it
//   stands for; the bound is then the figure to expect on hardware.

import { fileURLToPath } from 'node:url';
import { BleCableServer } from '../device/links/ble-cable-server.ts';
import { HidCableServer } from '../device/links/hid-cable-server.ts';
import { Rs485SlaveDriver } from '../device/links/rs485-slave-driver.ts';
import { BleCableTransport } from '../host-bridge/transports/ble-cable-transport.ts';
import { HidCableTransport } from '../host-bridge/transports/hid-cable-transport.ts';
import { Rs485Bus } from '../host-bridge/transports/rs485-bus.ts';
import type { MessageTransport } from '../host-bridge/transports/types.ts';
import { bleFragmentCount } from '../protocol/framing/ble.ts';
import { hidReportCount } from '../protocol/framing/hid.ts';
import { interFrameGapUs } from '../protocol/framing/modbus-rtu.ts';
import { openPtyPair } from '../testkit/pty-pair.ts';
import { timeRoundTrips } from './lib/round-trips.ts';
import { scaled } from './lib/scale.ts';
import { formatSi, markdownTable, summarize } from './lib/stats.ts';
import { makeTempDir } from '../testkit/tmp.ts';
import type { BenchResult, SummaryRow } from './run.ts';

const SIZES = [128, 4096] as const;
const BLE_FRAME = 244;
const BLE_INTERVAL_MS = 7.5;

interface Row {
  link: string;
  size: number;
  n: number;
  p50: number;
  p99: number;
  goodput: number;
  wireBytes: number;
  boundMs: number;
  payloadBoundMs?: number;
  /** RS485: the bound plus the t3.5 silence after every frame. */
  gapBoundMs?: number;
}

function row(link: string, size: number, ms: number[], wireBytes: number, boundMs: number, payloadBoundMs?: number): Row {
  const s = summarize(ms);
  return { link, size, n: s.n, p50: s.median, p99: s.p99, goodput: (2 * size * 1000) / s.median, wireBytes, boundMs, payloadBoundMs };
}

async function rs485(baud: number, rounds: Record<number, number>): Promise<Row[]> {
  const pty = await openPtyPair();
  const slave = new Rs485SlaveDriver({ path: pty.b, baud, addresses: [1], handler: async (m) => m });
  await slave.start();
  const bus = await Rs485Bus.open({ path: pty.a, baud });
  const rows: Row[] = [];
  try {
    for (const size of SIZES) {
      const t = bus.device(1);
      await timeRoundTrips(t, size, 0, 2, { echo: true });
      const before = bus.wire.bytes + slave.wire.bytes;
      const framesBefore = bus.wire.frames + slave.wire.frames;
      const ms = await timeRoundTrips(t, size, rounds[size], 0, { echo: true });
      const wire = (bus.wire.bytes + slave.wire.bytes - before) / rounds[size];
      const frames = (bus.wire.frames + slave.wire.frames - framesBefore) / rounds[size];
      const bytesPerSec = baud / 10;
      const r = row(`RS485 ${baud} baud (paced pty)`, size, ms, wire, (wire * 1000) / bytesPerSec, (2 * size * 1000) / bytesPerSec);
      r.gapBoundMs = r.boundMs + (frames * interFrameGapUs(baud)) / 1000;
      rows.push(r);
    }
  } finally {
    await bus.close();
    await slave.close();
    await pty.close();
  }
  return rows;
}

async function hidCable(rounds: Record<number, number>): Promise<Row[]> {
  const tmp = makeTempDir('precheck-bench-');
  const server = new HidCableServer({ socketPath: tmp.file('hid.sock'), handler: async (m) => m });
  await server.start();
  const t = await HidCableTransport.open({ socketPath: tmp.file('hid.sock') });
  const rows: Row[] = [];
  try {
    for (const size of SIZES) {
      const ms = await timeRoundTrips(t, size, rounds[size], 20, { echo: true });
      const reports = 2 * hidReportCount(size);
      rows.push(row('USB HID (cable)', size, ms, reports * 64, reports * 1));
    }
  } finally {
    await t.close();
    await server.close();
    tmp.cleanup();
  }
  return rows;
}

async function bleCable(rounds: Record<number, number>): Promise<Row[]> {
  const tmp = makeTempDir('precheck-bench-');
  const server = new BleCableServer({ socketPath: tmp.file('ble.sock'), frameLength: BLE_FRAME, handler: async (m) => m });
  await server.start();
  const t = await BleCableTransport.open({ socketPath: tmp.file('ble.sock'), attMtu: BLE_FRAME + 3 });
  const rows: Row[] = [];
  try {
    for (const size of SIZES) {
      const ms = await timeRoundTrips(t, size, rounds[size], 20, { echo: true });
      const frags = 2 * bleFragmentCount(size, BLE_FRAME);
      rows.push(row(`BLE (cable, ${BLE_FRAME}-byte fragments)`, size, ms, 2 * (size + 3 + (frags / 2 - 1)), frags * BLE_INTERVAL_MS));
    }
  } finally {
    await t.close();
    await server.close();
    tmp.cleanup();
  }
  return rows;
}

export async function run(): Promise<BenchResult> {
  const n = (x: number) => scaled(x, 3);
  const rows = [
    ...(await rs485(115200, { 128: n(30), 4096: n(5) })),
    ...(await rs485(921600, { 128: n(50), 4096: n(15) })),
    ...(await hidCable({ 128: n(300), 4096: n(100) })),
    ...(await bleCable({ 128: n(300), 4096: n(100) })),
  ];
  const f = (x: number) => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2));
  const table = markdownTable(
    ['link', 'message', 'n', 'p50 ms', 'p99 ms', 'goodput B/s', 'wire bytes / round trip', 'line-rate bound ms', 'p50 ÷ bound', 'bound + t3.5 silences ms', 'payload-only bound ms'],
    rows.map((r) => [
      r.link,
      `${r.size} B`,
      r.n,
      f(r.p50),
      f(r.p99),
      formatSi(r.goodput),
      Math.round(r.wireBytes),
      f(r.boundMs),
      (r.p50 / r.boundMs).toFixed(2),
      r.gapBoundMs === undefined ? '' : f(r.gapBoundMs),
      r.payloadBoundMs === undefined ? '' : f(r.payloadBoundMs),
    ]),
  );
  const summary: SummaryRow[] = rows.map((r) => ({
    figure: `${r.link} echo ${r.size} B, p50 round trip`,
    value: `${f(r.p50)} ms (p99 ${f(r.p99)})`,
    bound: `${f(r.boundMs)} ms line rate`,
    ratio: (r.p50 / r.boundMs).toFixed(2),
  }));
  const notes = `
Round trip = request() → answer, echo handler, one exchange at a time. Bounds: RS485 = bytes both
sides put on the line ÷ (baud/10) (8N1; t3.5 silences and turnaround not included);
USB HID = (request + answer reports) × 1 ms (full-speed interrupt, 64 B/frame/direction);
BLE = (request + answer fragments) × 7.5 ms (assumption: 244-byte fragments, one per 7.5 ms
connection interval per direction). RS485 runs paced on a pty; the HID and BLE cables are unix
sockets without pacing, so ratios below 1 mean the emulation outruns the real bus. Above 19200
baud every RTU frame is followed by a fixed 1.75 ms silence, which dominates at 921600 baud
(the "bound + t3.5 silences" column); the rest of the gap is timer granularity (~1 ms per paced
frame) and the master's turnaround.`;
  return { title: 'Links: echo round trips vs line rate', markdown: `${table}\n${notes}`, summary };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const r = await run();
  process.stdout.write(`${r.markdown}\n`);
  process.exit(0);
}
