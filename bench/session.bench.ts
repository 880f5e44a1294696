// Session benchmark: a card verification through the whole host <-> device stack (SECURE sealed by
// the bridge's SecureDeviceClient, the device's SessionDispatcher, the real DeviceCore on SQLite
// with a signed dataset) over each link, next to (a) the same bytes carried by the link alone and
// (b) the link's physical limit for those bytes.
//
// Run alone:   node --import tsx bench/session.bench.ts
// Quick run:   BENCH_SCALE=0.1 node --import tsx bench/session.bench.ts   (a tenth of the verifies)
// Or with all: npm run bench
//
// Methodology
// - One device (DeviceCore in a temp dir, dataset v1 pushed through SYNC), one paired host, one
//   exchange at a time, a known-good card (approve path). Warm-up, then N measured verifies;
//   latency = verify() call to decoded result.
// - "link only": a second driver on the same link whose handler returns a fixed answer of the
//   SECURE_RES size, asked with a request of the SECURE size: what the link costs for the same
//   bytes, so secure ÷ link-only is what the session (AEAD, CBOR, core lookup) adds.
// - Bounds as in links.bench.ts: USB HID = reports × 1 ms; BLE = fragments × 7.5 ms (244-byte
//   fragments, one per connection interval per direction); RS485 = bytes both sides put on the
//   line ÷ (baud/10), paced pty.
// - In process: DeviceCore.verify alone, and dispatcher + client through a direct call (no link).

import { fileURLToPath } from 'node:url';
import { EventEmitter } from 'node:events';
import { BleCableServer } from '../device/links/ble-cable-server.ts';
import { DriverConnection } from '../device/links/connection.ts';
import { HidCableServer } from '../device/links/hid-cable-server.ts';
import { Rs485SlaveDriver } from '../device/links/rs485-slave-driver.ts';
import type { MessageHandler } from '../device/links/types.ts';
import { DeviceCore } from '../device/core/index.ts';
import { openSessionCore, type OpenedCore } from '../device/session/core-adapter.ts';
import { SessionDispatcher } from '../device/session/dispatcher.ts';
import { BleCableTransport } from '../host-bridge/transports/ble-cable-transport.ts';
import { HidCableTransport } from '../host-bridge/transports/hid-cable-transport.ts';
import { Rs485Bus } from '../host-bridge/transports/rs485-bus.ts';
import type { MessageTransport } from '../host-bridge/transports/types.ts';
import { PinStore } from '../host-bridge/session/pin-store.ts';
import { pairDevice } from '../host-bridge/session/pairing.ts';
import { SecureDeviceClient } from '../host-bridge/session/secure-client.ts';
import type { SessionTransport } from '../host-bridge/session/exchange.ts';
import { buildSnapshot, cardToken, generateSigningKeyPair } from '../protocol/dataset/index.ts';
import { bleFragmentCount } from '../protocol/framing/ble.ts';
import { hidReportCount } from '../protocol/framing/hid.ts';
import { openPtyPair } from '../testkit/pty-pair.ts';
import { timeRoundTrips } from './lib/round-trips.ts';
import { scaled } from './lib/scale.ts';
import { markdownTable, summarize } from './lib/stats.ts';
import { makeTempDir, type TempDir } from '../testkit/tmp.ts';
import type { BenchResult, SummaryRow } from './run.ts';
import { randomBytes } from 'node:crypto';

const BLE_FRAME = 244;
const BLE_INTERVAL_MS = 7.5;
const CARD = '4242424242424242';
const ORDER = { pan: CARD, expMonth: 12, expYear: new Date().getFullYear() + 3, amount: 2500, currency: 'EUR', country: 'DE' };

interface Device {
  tmp: TempDir;
  core: OpenedCore;
  dispatcher: SessionDispatcher;
  pins: PinStore;
}

function openDevice(): Device {
  const tmp = makeTempDir('precheck-bench-session-');
  const signing = generateSigningKeyPair();
  const cardKey = new Uint8Array(randomBytes(32));
  DeviceCore.open(tmp.file('dev'), { provision: { serverSigningPublicKey: signing.publicKey, cardKey } }).close();
  const now = Math.floor(Date.now() / 1000);
  const rel = buildSnapshot(
    { restricted: [], knownGood: [{ token: cardToken(cardKey, CARD) }], history: [], binRules: [], prompts: [], routes: [] },
    { version: 1, createdAt: now - 60, expiresAt: now + 86400 },
    signing.privateKey,
  );
  const dcore = DeviceCore.open(tmp.file('dev'));
  let st = dcore.syncBegin(rel.manifestBytes);
  while (st.nextChunk < st.totalChunks) st = dcore.syncChunk(st.version, st.nextChunk, rel.chunks[st.nextChunk]);
  dcore.syncCommit(1);
  dcore.close();
  return { tmp, core: undefined as unknown as OpenedCore, dispatcher: undefined as unknown as SessionDispatcher, pins: PinStore.open(tmp.file('bridge')) };
}

async function startDevice(d: Device): Promise<void> {
  d.core = await openSessionCore(d.tmp.file('dev'));
  d.dispatcher = new SessionDispatcher({ core: d.core, confirmPairing: async () => true });
}

/** Records the sizes of the last request and answer. */
class Sizing extends EventEmitter implements SessionTransport {
  req = 0;
  res = 0;
  constructor(readonly inner: SessionTransport) {
    super();
  }
  get link() {
    return this.inner.link;
  }
  get address() {
    return this.inner.address;
  }
  async request(m: Uint8Array, o?: { timeoutMs?: number }) {
    this.req = m.length;
    const a = await this.inner.request(m, o);
    this.res = a.length;
    return a;
  }
  close() {
    return this.inner.close();
  }
}

interface Row {
  link: string;
  n: number;
  p50: number;
  p99: number;
  sessionOpenMs: number;
  linkOnlyP50: number;
  reqBytes: number;
  resBytes: number;
  boundMs: number;
}

async function timeVerifies(c: SecureDeviceClient, n: number, warm: number): Promise<number[]> {
  for (let i = 0; i < warm; i++) await c.verify(ORDER);
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    const r = await c.verify(ORDER);
    out.push(performance.now() - t0);
    if (r.decision !== 'approve') throw new Error(`unexpected decision ${r.decision}`);
  }
  return out;
}

/** Pair, open a session (timed), measure verifies; returns the client and sizes. */
async function secureRun(d: Device, t: MessageTransport, n: number, warm: number) {
  const sizing = new Sizing(t);
  await pairDevice(sizing, async () => true, { pinStore: d.pins, pollIntervalMs: 1 });
  const c = new SecureDeviceClient({ transport: sizing, pinStore: d.pins, requestTimeoutMs: 30_000 });
  await c.info();
  const t0 = performance.now();
  await c.secureStatus(); // SESSION_INIT/RESP + one SECURE
  const openPlusOne = performance.now() - t0;
  const t1 = performance.now();
  await c.secureStatus();
  const oneSecure = performance.now() - t1;
  const ms = await timeVerifies(c, n, warm);
  return { ms, reqBytes: sizing.req, resBytes: sizing.res, sessionOpenMs: openPlusOne - oneSecure };
}

async function hid(n: number): Promise<Row> {
  const d = openDevice();
  await startDevice(d);
  const server = new HidCableServer({ socketPath: d.tmp.file('hid.sock'), handler: d.dispatcher.handle });
  await server.start();
  const t = await HidCableTransport.open({ socketPath: d.tmp.file('hid.sock') });
  try {
    const r = await secureRun(d, t, n, 20);
    const fixed = randomBytes(r.resBytes);
    const echo = new HidCableServer({ socketPath: d.tmp.file('echo.sock'), handler: async () => fixed });
    await echo.start();
    const et = await HidCableTransport.open({ socketPath: d.tmp.file('echo.sock') });
    const link = await timeRoundTrips(et, r.reqBytes, n, 20);
    await et.close();
    await echo.close();
    const s = summarize(r.ms);
    return { link: 'USB HID (cable)', n, p50: s.median, p99: s.p99, sessionOpenMs: r.sessionOpenMs, linkOnlyP50: summarize(link).median, reqBytes: r.reqBytes, resBytes: r.resBytes, boundMs: hidReportCount(r.reqBytes) + hidReportCount(r.resBytes) };
  } finally {
    await t.close();
    await server.close();
    d.core.close();
    d.tmp.cleanup();
  }
}

async function ble(n: number): Promise<Row> {
  const d = openDevice();
  await startDevice(d);
  const server = new BleCableServer({ socketPath: d.tmp.file('ble.sock'), frameLength: BLE_FRAME, handler: d.dispatcher.handle });
  await server.start();
  const t = await BleCableTransport.open({ socketPath: d.tmp.file('ble.sock'), attMtu: BLE_FRAME + 3 });
  try {
    const r = await secureRun(d, t, n, 20);
    const fixed = randomBytes(r.resBytes);
    const echo = new BleCableServer({ socketPath: d.tmp.file('echo.sock'), frameLength: BLE_FRAME, handler: async () => fixed });
    await echo.start();
    const et = await BleCableTransport.open({ socketPath: d.tmp.file('echo.sock'), attMtu: BLE_FRAME + 3 });
    const link = await timeRoundTrips(et, r.reqBytes, n, 20);
    await et.close();
    await echo.close();
    const s = summarize(r.ms);
    const frags = bleFragmentCount(r.reqBytes, BLE_FRAME) + bleFragmentCount(r.resBytes, BLE_FRAME);
    return { link: `BLE (cable, ${BLE_FRAME}-byte fragments)`, n, p50: s.median, p99: s.p99, sessionOpenMs: r.sessionOpenMs, linkOnlyP50: summarize(link).median, reqBytes: r.reqBytes, resBytes: r.resBytes, boundMs: frags * BLE_INTERVAL_MS };
  } finally {
    await t.close();
    await server.close();
    d.core.close();
    d.tmp.cleanup();
  }
}

async function rs485(baud: number, n: number): Promise<Row> {
  const d = openDevice();
  await startDevice(d);
  const pty = await openPtyPair();
  let fixedAnswer = new Uint8Array(0);
  // address 1: the device; address 2: the link-only answerer on the same bus
  const slave = new Rs485SlaveDriver({ path: pty.b, baud, addresses: [{ address: 1, handler: d.dispatcher.handle }, { address: 2, handler: async () => fixedAnswer }] });
  await slave.start();
  const bus = await Rs485Bus.open({ path: pty.a, baud });
  try {
    const r = await secureRun(d, bus.device(1), n, 2);
    fixedAnswer = new Uint8Array(randomBytes(r.resBytes));
    const w0 = bus.wire.bytes + slave.wire.bytes;
    const link = await timeRoundTrips(bus.device(2), r.reqBytes, n, 2);
    const wirePerRound = (bus.wire.bytes + slave.wire.bytes - w0) / (n + 2);
    const s = summarize(r.ms);
    return { link: `RS485 ${baud} baud (paced pty)`, n, p50: s.median, p99: s.p99, sessionOpenMs: r.sessionOpenMs, linkOnlyP50: summarize(link).median, reqBytes: r.reqBytes, resBytes: r.resBytes, boundMs: (wirePerRound * 1000) / (baud / 10) };
  } finally {
    await bus.close();
    await slave.close();
    await pty.close();
    d.core.close();
    d.tmp.cleanup();
  }
}

/** Core alone and the whole session stack without a link (direct handler call). */
async function inProcess(n: number): Promise<{ coreUs: number; stackUs: number; stackP99Us: number }> {
  const d = openDevice();
  await startDevice(d);
  const conn = new DriverConnection('bench:1', 'hid-cable');
  const handler: MessageHandler = d.dispatcher.handle;
  const direct: SessionTransport = { link: 'hid-cable', address: 'direct', request: (m) => handler(m, conn), close: () => undefined };
  try {
    await pairDevice(direct, async () => true, { pinStore: d.pins, pollIntervalMs: 1 });
    const c = new SecureDeviceClient({ transport: direct, pinStore: d.pins });
    const stack = await timeVerifies(c, n, 200);
    const core: number[] = [];
    for (let i = 0; i < n; i++) {
      const t0 = performance.now();
      d.core.verify(ORDER);
      core.push(performance.now() - t0);
    }
    return { coreUs: summarize(core).median * 1000, stackUs: summarize(stack).median * 1000, stackP99Us: summarize(stack).p99 * 1000 };
  } finally {
    d.core.close();
    d.tmp.cleanup();
  }
}

export async function run(): Promise<BenchResult> {
  const local = await inProcess(scaled(2000, 20));
  const rows = [await hid(scaled(300, 3)), await ble(scaled(300, 3)), await rs485(115200, scaled(30, 3))];
  const f = (x: number) => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2));
  const table = markdownTable(
    ['link', 'n', 'verify p50 ms', 'p99 ms', 'link only, same bytes p50 ms', 'secure ÷ link only', 'SECURE / SECURE_RES bytes', 'line-rate bound ms', 'p50 ÷ bound', 'session open ms'],
    rows.map((r) => [
      r.link,
      r.n,
      f(r.p50),
      f(r.p99),
      f(r.linkOnlyP50),
      (r.p50 / r.linkOnlyP50).toFixed(2),
      `${r.reqBytes} / ${r.resBytes}`,
      f(r.boundMs),
      (r.p50 / r.boundMs).toFixed(2),
      f(r.sessionOpenMs),
    ]),
  );
  const notes = `
In process (no link): DeviceCore.verify alone ${local.coreUs.toFixed(0)} µs median; the whole
session stack (seal, CBOR, dispatcher, core, seal, open) ${local.stackUs.toFixed(0)} µs median
(p99 ${local.stackP99Us.toFixed(0)} µs), so the secure session adds about
${(local.stackUs - local.coreUs).toFixed(0)} µs per verification on this CPU.
"link only" carries the same request and answer sizes through the same link code with a handler
that answers at once: secure ÷ link only is the session's share of the round trip. Session open
= SESSION_INIT/SESSION_RESP (Noise KK, 5 X25519 operations per side) round trip, done once per
link connection. Bounds: see links.bench.ts (HID reports × 1 ms, BLE fragments × 7.5 ms, RS485
bytes on the line at baud/10 for the link-only exchange).`;
  const summary: SummaryRow[] = rows.map((r) => ({
    figure: `secure verify over ${r.link}, p50`,
    value: `${f(r.p50)} ms (p99 ${f(r.p99)})`,
    bound: `${f(r.linkOnlyP50)} ms link only; ${f(r.boundMs)} ms line rate`,
    ratio: `${(r.p50 / r.linkOnlyP50).toFixed(2)} / ${(r.p50 / r.boundMs).toFixed(2)}`,
  }));
  summary.push({ figure: 'secure session overhead per verify (in process)', value: `${(local.stackUs - local.coreUs).toFixed(0)} µs`, bound: `core verify ${local.coreUs.toFixed(0)} µs` });
  return { title: 'Session: secure verify end to end vs link and line rate', markdown: `${table}\n${notes}`, summary };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const r = await run();
  process.stdout.write(`${r.markdown}\n`);
  process.exit(0);
}
