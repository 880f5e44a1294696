// Verification over every link, through the real stack: an emulated device (its own process,
// the real firmware core on SQLite with a realistic dataset) behind RS485 (115200 and 921600
// baud, paced pty), the USB HID virtual cable and the BLE virtual cable (185- and 244-byte
// frames); on the host the real transports, the Noise session (SecureDeviceClient) and the host
// bridge's HTTP API.
//
// Run alone:   node --import tsx bench/verify-links.bench.ts
// Or with all: npm run bench   (bench/run.ts collects run())
// Quick run:   BENCH_VERIFY_SCALE=0.1 node --import tsx bench/verify-links.bench.ts
//
// Method
// - Dataset: 10^5 restricted cards, 2000 known-good, 3000 with outcome history, signed and
//   loaded into the device through DeviceCore's SYNC path before the emulator starts
//   (bench/lib/verify-dataset.ts). Cards asked cycle restricted → known-good → soft-decline
//   history → hard-decline history (decline, approve, review, decline: every answer is a local
//   decision, checked against the expected one). The same card sample on every link.
// - Device level: SecureDeviceClient.verify, one at a time, after a warm-up that opens the
//   session; latency = call → decoded result; verifies/s = n ÷ wall time.
// - Bytes on the wire per verify, from the framing: HID = reports × 64; BLE = fragment bytes +
//   3-byte ATT header per fragment; RS485 = ADU bytes both ends wrote (counted by both paced
//   writers; the device's over IPC).
// - Line-rate bound per verify (one request, then its answer): RS485 = bytes ÷ (baud/10 B/s) +
//   one t3.5 silence per ADU; USB full-speed HID interrupt = one 64-byte report per 1 ms frame
//   per direction → reports × 1 ms; BLE (assumption) = one fragment per 7.5 ms connection
//   event per direction → fragments × 7.5 ms. Ratio = measured p50 ÷ bound. RS485 is paced at
//   the baud rate on the pty; the cables are unix sockets and are not paced, so their ratio < 1
//   means the emulation outruns the bus it stands for (the bound is what hardware would give).
// - Bridge: the real bridge (startBridge: registry discovers the device on that link only,
//   pipeline, SQLite outbox, Fastify) on loopback; POST /v1/verify with undici, 1 and 4
//   connections. Bridge overhead = HTTP p50 (c=1) − p50 of the bridge's own device client called
//   directly, in alternating blocks (same machine load for both). Floor: DeviceCore.verify called
//   in process on the same data.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { Pool } from 'undici';
import { DeviceCore } from '../device/core/device-core.ts';
import { startBridge } from '../host-bridge/bridge.ts';
import { validateConfig } from '../host-bridge/config.ts';
import { createDeviceRegistry } from '../host-bridge/discovery/registry.ts';
import { pairDevice } from '../host-bridge/session/pairing.ts';
import { PinStore } from '../host-bridge/session/pin-store.ts';
import { SecureDeviceClient } from '../host-bridge/session/secure-client.ts';
import type { SessionTransport } from '../host-bridge/session/exchange.ts';
import { BleCableTransport } from '../host-bridge/transports/ble-cable-transport.ts';
import { HidCableTransport } from '../host-bridge/transports/hid-cable-transport.ts';
import { Rs485Bus } from '../host-bridge/transports/rs485-bus.ts';
import { BLE_ATT_HEADER, BLE_CONT_HEADER, BLE_INIT_HEADER, bleFragmentCount } from '../protocol/framing/ble.ts';
import { HID_REPORT_SIZE, hidReportCount } from '../protocol/framing/hid.ts';
import { interFrameGapUs } from '../protocol/framing/modbus-rtu.ts';
import { killAllTracked } from '../testkit/process.ts';
import { CountingTransport } from './lib/counting-transport.ts';
import { startEmulatorProcess, type EmulatorProcess } from './lib/emulator-process.ts';
import { openPtyPair, type PtyPair } from '../testkit/pty-pair.ts';
import { formatSi, markdownTable, median, p99, summaryTable } from './lib/stats.ts';
import { DEFAULT_SIZES, EXPECTED, buildAndLoadDataset, type BenchCard, type LoadedDataset } from './lib/verify-dataset.ts';
import type { BenchResult, SummaryRow } from './run.ts';

const BLE_EVENT_MS = 7.5;
const HID_FRAME_MS = 1;
const EXP_YEAR = new Date().getFullYear() + 3;

type LinkSpec =
  | { kind: 'rs485'; baud: number; name: string; n: number; httpN: number }
  | { kind: 'hid'; name: string; n: number; httpN: number }
  | { kind: 'ble'; frame: number; name: string; n: number; httpN: number };

interface DeviceRow {
  spec: LinkSpec;
  n: number;
  p50: number;
  p99: number;
  perSec: number;
  reqBytes: number;
  resBytes: number;
  wireBytes: number;
  /** ADUs, reports or fragments per verify */
  units: number;
  unitName: string;
  boundMs: number;
}

interface HttpRun {
  c: number;
  n: number;
  p50: number;
  p99: number;
  rps: number;
}

interface LinkResult {
  device: DeviceRow;
  /** c=1 (interleaved with bridgeDirect), c=4 */
  http: HttpRun[];
  /** the bridge's own device client called directly, in blocks alternating with HTTP c=1 */
  bridgeDirect: HttpRun;
}

// ------------------------------------------------------------------------------------------
// wire accounting

function hidWire(ex: [number, number][]): { bytes: number; units: number; boundMs: number } {
  let reports = 0;
  for (const [q, a] of ex) reports += hidReportCount(q) + hidReportCount(a);
  return { bytes: reports * HID_REPORT_SIZE, units: reports, boundMs: reports * HID_FRAME_MS };
}

function bleWire(ex: [number, number][], frame: number): { bytes: number; units: number; boundMs: number } {
  let frags = 0;
  let bytes = 0;
  for (const len of ex.flat()) {
    const f = bleFragmentCount(len, frame);
    frags += f;
    bytes += len + BLE_INIT_HEADER + (f - 1) * BLE_CONT_HEADER + f * BLE_ATT_HEADER;
  }
  return { bytes, units: frags, boundMs: frags * BLE_EVENT_MS };
}

function rs485Bound(bytes: number, frames: number, baud: number): number {
  return (bytes * 10 * 1000) / baud + (frames * interFrameGapUs(baud)) / 1000;
}

// ------------------------------------------------------------------------------------------
// requests

function deviceRequest(c: BenchCard, orderId: string) {
  return { pan: c.pan, expMonth: 12, expYear: EXP_YEAR, amount: 2500, currency: 'EUR', country: 'DE', lang: 'en', orderId };
}

function httpBody(c: BenchCard, orderId: string): string {
  return JSON.stringify({
    card: { number: c.pan, expMonth: 12, expYear: EXP_YEAR },
    order: { id: orderId, amount: { value: 2500, currency: 'EUR' }, country: 'DE' },
    lang: 'en',
  });
}

let orderSeq = 0;
const nextOrderId = (tag: string): string => `vl-${tag}-${(++orderSeq).toString(36).padStart(6, '0')}`;

async function timeDevice(client: SecureDeviceClient, cards: BenchCard[], tag: string): Promise<{ lat: number[]; wallMs: number }> {
  const lat: number[] = [];
  const t0 = performance.now();
  for (const c of cards) {
    const t = performance.now();
    const r = await client.verify(deviceRequest(c, nextOrderId(tag)), { timeoutMs: 10_000 });
    lat.push(performance.now() - t);
    if (r.decision !== EXPECTED[c.cls]) throw new Error(`device answered ${r.decision}/${r.reason} for a ${c.cls} card (expected ${EXPECTED[c.cls]})`);
  }
  return { lat, wallMs: performance.now() - t0 };
}

async function httpVerify(pool: Pool, c: BenchCard, tag: string): Promise<number> {
  const t = performance.now();
  const res = await pool.request({ path: '/v1/verify', method: 'POST', headers: { 'content-type': 'application/json' }, body: httpBody(c, nextOrderId(tag)) });
  const text = await res.body.text();
  const dt = performance.now() - t;
  if (res.statusCode !== 200) throw new Error(`POST /v1/verify answered ${res.statusCode}: ${text.slice(0, 200)}`);
  const j = JSON.parse(text) as { decision: string; stage: string };
  if (j.decision !== EXPECTED[c.cls] || j.stage !== 'local') throw new Error(`bridge answered ${j.decision}/${j.stage} for a ${c.cls} card`);
  return dt;
}

async function timeHttp(url: string, cards: BenchCard[], concurrency: number, tag: string): Promise<HttpRun> {
  const pool = new Pool(url, { connections: concurrency });
  const lat: number[] = [];
  let next = 0;
  const t0 = performance.now();
  const worker = async (): Promise<void> => {
    while (next < cards.length) lat.push(await httpVerify(pool, cards[next++], tag));
  };
  try {
    await Promise.all(Array.from({ length: concurrency }, worker));
  } finally {
    await pool.close();
  }
  const wall = performance.now() - t0;
  return { c: concurrency, n: cards.length, p50: median(lat), p99: p99(lat), rps: (cards.length / wall) * 1000 };
}

/**
 * Bridge overhead, measured in pairs: blocks of direct verifies through the bridge's own device
 * client (registry.get(id).verify, what the pipeline calls) alternate with blocks of
 * POST /v1/verify over one connection, so both halves see the same machine load.
 */
async function timeInterleaved(url: string, client: SecureDeviceClient, cards: BenchCard[], tag: string, blocks = 10): Promise<{ direct: HttpRun; http: HttpRun }> {
  const pool = new Pool(url, { connections: 1 });
  const dLat: number[] = [];
  const hLat: number[] = [];
  let dWall = 0;
  let hWall = 0;
  try {
    const per = Math.ceil(cards.length / blocks);
    for (let b = 0; b * per < cards.length; b++) {
      const slice = cards.slice(b * per, (b + 1) * per);
      let t0 = performance.now();
      for (const c of slice) {
        const t = performance.now();
        const r = await client.verify(deviceRequest(c, nextOrderId(tag)), { timeoutMs: 10_000 });
        dLat.push(performance.now() - t);
        if (r.decision !== EXPECTED[c.cls]) throw new Error(`device answered ${r.decision} for a ${c.cls} card`);
      }
      dWall += performance.now() - t0;
      t0 = performance.now();
      for (const c of slice) hLat.push(await httpVerify(pool, c, tag));
      hWall += performance.now() - t0;
    }
  } finally {
    await pool.close();
  }
  const n = cards.length;
  return {
    direct: { c: 1, n, p50: median(dLat), p99: p99(dLat), rps: (n / dWall) * 1000 },
    http: { c: 1, n, p50: median(hLat), p99: p99(hLat), rps: (n / hWall) * 1000 },
  };
}

// ------------------------------------------------------------------------------------------
// one link

async function measureLink(spec: LinkSpec, ds: LoadedDataset, pins: PinStore, bridgeDir: string, tmp: string): Promise<LinkResult> {
  let pty: PtyPair | null = null;
  let emu: EmulatorProcess | null = null;
  const tag = spec.name.replace(/[^a-z0-9]+/gi, '').toLowerCase();
  try {
    const sock = path.join(tmp, `${tag}.sock`);
    if (spec.kind === 'rs485') {
      pty = await openPtyPair();
      emu = await startEmulatorProcess({ dataDir: ds.dataDir, rs485: { path: pty.b, baud: spec.baud, addresses: [1] } });
    } else if (spec.kind === 'hid') {
      emu = await startEmulatorProcess({ dataDir: ds.dataDir, hidSocket: sock });
    } else {
      emu = await startEmulatorProcess({ dataDir: ds.dataDir, bleSocket: sock, bleFrame: spec.frame });
    }

    // ---- device level ----
    let bus: Rs485Bus | null = null;
    let raw: SessionTransport;
    if (spec.kind === 'rs485') {
      bus = await Rs485Bus.open({ path: pty!.a, baud: spec.baud });
      raw = bus.device(1);
    } else if (spec.kind === 'hid') {
      raw = await HidCableTransport.open({ socketPath: sock });
    } else {
      raw = await BleCableTransport.open({ socketPath: sock });
    }
    const t = new CountingTransport(raw);
    const client = new SecureDeviceClient({ transport: t, pinStore: pins, requestTimeoutMs: 10_000 });
    let device: DeviceRow;
    try {
      const info = await client.info();
      if (!pins.isPinned(info.deviceId)) {
        // First link: pair once (the emulator confirms on its side); later links reuse the pin.
        await pairDevice(t, async () => true, { pinStore: pins, pollIntervalMs: 10, requestTimeoutMs: 10_000 });
      }
      await timeDevice(client, ds.cards(spec.kind === 'rs485' ? 12 : 100, 7), tag); // warm-up: session + JIT
      const cards = ds.cards(spec.n, 11);
      t.reset();
      const hostBefore = bus?.wire ?? { bytes: 0, frames: 0 };
      const devBefore = await emu.wire();
      const { lat, wallMs } = await timeDevice(client, cards, tag);
      const hostAfter = bus?.wire ?? { bytes: 0, frames: 0 };
      const devAfter = await emu.wire();
      const n = cards.length;
      const ex = t.exchanges;
      if (ex.length !== n) throw new Error(`expected ${n} exchanges, saw ${ex.length} (session re-opened mid-run?)`);
      const reqBytes = ex.reduce((a, e) => a + e[0], 0) / n;
      const resBytes = ex.reduce((a, e) => a + e[1], 0) / n;
      let wire: { bytes: number; units: number; boundMs: number };
      let unitName: string;
      if (spec.kind === 'rs485') {
        const bytes = hostAfter.bytes - hostBefore.bytes + devAfter.bytes - devBefore.bytes;
        const frames = hostAfter.frames - hostBefore.frames + devAfter.frames - devBefore.frames;
        wire = { bytes, units: frames, boundMs: rs485Bound(bytes, frames, spec.baud) };
        unitName = 'ADUs';
      } else if (spec.kind === 'hid') {
        wire = hidWire(ex);
        unitName = 'reports';
      } else {
        wire = bleWire(ex, spec.frame);
        unitName = 'fragments';
      }
      device = {
        spec,
        n,
        p50: median(lat),
        p99: p99(lat),
        perSec: (n / wallMs) * 1000,
        reqBytes,
        resBytes,
        wireBytes: wire.bytes / n,
        units: wire.units / n,
        unitName,
        boundMs: wire.boundMs / n,
      };
    } finally {
      await client.close().catch(() => undefined);
      await bus?.close().catch(() => undefined);
    }

    // ---- through the bridge ----
    const devices =
      spec.kind === 'rs485'
        ? { rs485: { ports: [{ path: pty!.a, baud: spec.baud, addresses: { from: 1, to: 1 } }] } }
        : spec.kind === 'hid'
          ? { cables: { hidSocket: sock } }
          : { cables: { bleSocket: sock } };
    const config = validateConfig({ listen: { port: 0 }, rateLimit: { perMinute: 0 }, dataDir: bridgeDir, log: { level: 'silent' }, verify: { deviceTimeoutMs: 10_000 }, devices });
    const registry = createDeviceRegistry(config, pins, { statusIntervalMs: 0, reconnectMs: 0 });
    const bridge = await startBridge({ config, registry, logger: pino({ level: 'silent' }) });
    const http: HttpRun[] = [];
    let bridgeDirect: HttpRun | null = null;
    try {
      const picked = registry.pick();
      if (!picked || picked.id !== emu.ids[0]) throw new Error(`the bridge did not find the paired device on ${spec.name} (sources: ${JSON.stringify(registry.list().map((c) => c.summary()))})`);
      await timeHttp(bridge.url, ds.cards(spec.kind === 'rs485' ? 12 : 100, 5), 1, tag); // warm-up: session, JIT, pool
      const paired = await timeInterleaved(bridge.url, picked, ds.cards(spec.httpN, 101), tag);
      http.push(paired.http, await timeHttp(bridge.url, ds.cards(spec.httpN, 104), 4, tag));
      bridgeDirect = paired.direct;
    } finally {
      await bridge.close();
    }
    return { device, http, bridgeDirect: bridgeDirect! };
  } finally {
    await emu?.stop();
    await pty?.close();
  }
}

// ------------------------------------------------------------------------------------------

function coreFloor(ds: LoadedDataset, n: number): { p50: number; p99: number; perSec: number } {
  const core = DeviceCore.open(ds.dataDir);
  try {
    const cards = ds.cards(n, 3);
    for (const c of ds.cards(1000, 2)) core.verify(deviceRequest(c, nextOrderId('core')));
    const lat: number[] = [];
    const t0 = performance.now();
    for (const c of cards) {
      const req = deviceRequest(c, nextOrderId('core'));
      const t = performance.now();
      const r = core.verify(req);
      lat.push(performance.now() - t);
      if (r.decision !== EXPECTED[c.cls]) throw new Error(`core answered ${r.decision} for a ${c.cls} card`);
    }
    return { p50: median(lat), p99: p99(lat), perSec: (n / (performance.now() - t0)) * 1000 };
  } finally {
    core.close();
  }
}

const ms = (x: number): string => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x >= 1 ? x.toFixed(2) : x.toFixed(3));

export async function run(): Promise<BenchResult> {
  const scale = Number(process.env.BENCH_VERIFY_SCALE ?? '1');
  const k = (n: number): number => Math.max(20, Math.round(n * (Number.isFinite(scale) && scale > 0 ? scale : 1)));
  const specs: LinkSpec[] = [
    { kind: 'rs485', baud: 115200, name: 'RS485 115200', n: k(300), httpN: k(300) },
    { kind: 'rs485', baud: 921600, name: 'RS485 921600', n: k(600), httpN: k(600) },
    { kind: 'hid', name: 'USB HID cable', n: k(2000), httpN: k(2000) },
    { kind: 'ble', frame: 185, name: 'BLE cable 185', n: k(2000), httpN: k(2000) },
    { kind: 'ble', frame: 244, name: 'BLE cable 244', n: k(2000), httpN: k(2000) },
  ];
  const only = process.env.BENCH_VERIFY_LINKS?.split(',').map((s) => s.trim().toLowerCase());
  const chosen = only ? specs.filter((s) => only.some((o) => s.name.toLowerCase().includes(o))) : specs;

  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'precheck-bench-vl-'));
  const results: LinkResult[] = [];
  let ds: LoadedDataset;
  let floor: { p50: number; p99: number; perSec: number };
  try {
    ds = buildAndLoadDataset(path.join(tmp, 'device'), DEFAULT_SIZES);
    floor = coreFloor(ds, k(5000));
    const pins = PinStore.open(path.join(tmp, 'bridge'));
    for (const spec of chosen) {
      process.stderr.write(`verify-links: ${spec.name} ...\n`);
      results.push(await measureLink(spec, ds, pins, path.join(tmp, 'bridge'), tmp));
    }
  } finally {
    await killAllTracked();
    fs.rmSync(tmp, { recursive: true, force: true });
  }

  // ---- report ----
  const devTable = markdownTable(
    ['link', 'n', 'p50 ms', 'p99 ms', 'verifies/s', 'message req / ans B', 'wire B / verify', 'frames / verify', 'line-rate bound ms', 'p50 ÷ bound', 'p50 ÷ core floor'],
    results.map(({ device: d }) => [
      d.spec.name,
      d.n,
      ms(d.p50),
      ms(d.p99),
      formatSi(d.perSec),
      `${d.reqBytes.toFixed(0)} / ${d.resBytes.toFixed(0)}`,
      d.wireBytes.toFixed(0),
      `${d.units.toFixed(1)} ${d.unitName}`,
      ms(d.boundMs),
      (d.p50 / d.boundMs).toFixed(2),
      `${(d.p50 / floor.p50).toFixed(0)}×`,
    ]),
  );
  const httpTable = markdownTable(
    ['link', 'n per run', "bridge's device call p50 ms", 'HTTP c=1 p50 ms', 'c=1 p99 ms', 'c=1 req/s', 'bridge overhead ms (c=1 p50 − device call p50)', 'c=4 p50 ms', 'c=4 p99 ms', 'c=4 req/s'],
    results.map(({ device: d, http, bridgeDirect: b }) => {
      const [h1, h4] = http;
      return [d.spec.name, h1.n, ms(b.p50), ms(h1.p50), ms(h1.p99), formatSi(h1.rps), ms(h1.p50 - b.p50), ms(h4.p50), ms(h4.p99), formatSi(h4.rps)];
    }),
  );
  const markdown = `Dataset on the device: ${formatSi(ds.sizes.restricted)} restricted cards, ${ds.sizes.knownGood} known-good, ${ds.sizes.history} with history
(${(ds.payloadBytes / 2 ** 20).toFixed(2)} MiB signed payload, ${ds.chunks} chunks; built in ${ds.buildMs.toFixed(0)} ms, loaded through
DeviceCore's SYNC path in ${ds.loadMs.toFixed(0)} ms). Cards asked: restricted, known-good, soft-decline history, hard-decline
history in turn (decline / approve / review / decline), every answer checked.

**Floor: DeviceCore.verify in process** (tokenise, SQLite lookups, rules, journal): p50 ${(floor.p50 * 1000).toFixed(1)} µs,
p99 ${(floor.p99 * 1000).toFixed(1)} µs, ${formatSi(floor.perSec)} verifies/s.

### Secure verify round trip, device level (SecureDeviceClient.verify, one at a time)

${devTable}

### Through the bridge: POST /v1/verify (undici, 1 and 4 connections) and the bridge's own cost

${httpTable}

Method and assumptions
- The device is the real emulator (\`device/emulator/emulate.ts\`) in its own process; the host
  side (transport, Noise session, bridge) is this process. A verify is one SECURE request and its
  SECURE_RES (AES-GCM sealed CBOR) — the "message" column — framed by the link.
- Wire bytes: HID = reports × 64 B; BLE = fragment bytes + 3-byte ATT header each; RS485 = the
  ADU bytes both paced writers put on the line (t3.5 silences not counted as bytes).
- Bounds, one request then its answer: RS485 = wire bytes ÷ (baud/10 B/s, 8N1) + one t3.5
  silence per ADU (fixed 1.75 ms above 19200 baud); USB full-speed HID interrupt endpoint = one
  64-byte report per 1 ms frame per direction; BLE = one fragment per 7.5 ms connection event per
  direction (the minimum interval, one packet per event: an assumption, stacks that send several
  packets per event do better).
- RS485 runs over a socat pty pair paced at the baud rate by the project's PacedSerialWriter
  (both ends; on by default for /dev/pts paths), so its ratio is what the bus, the protocol and
  the device cost together (ADUs per verify in the table: 2 = the request and the answer each fit
  one ADU); the gap to the bound is the master's and slave's turnaround, the device's
  processing, and timer granularity (about 1 ms per paced frame). The HID and BLE cables
  are unix sockets, not paced: a ratio below 1 means the emulation is faster than the bus it
  stands for, and on hardware expect the bound.
- Bridge overhead = HTTP c=1 p50 − p50 of the bridge's own device client called directly
  (\`registry.get(id).verify\`, the call the pipeline makes), measured in 10 alternating blocks so
  both see the same machine load: format checks, device pick, Fastify + JSON Schema, the SQLite
  outbox write, serialisation and loopback HTTP. (The device-level table uses a separate client
  with wire counting; on a shared machine its p50 can differ a little from the bridge client's.)
  With 4 connections the requests still reach the one device one at a time (a device answers one
  exchange at a time), so c=4 shows queueing and overlap of HTTP work with device time, not
  parallel devices.
- Compared with other sections: session.bench.ts asks a known-good card with the smallest
  request (no order id, language or country; no prompt in the answer: about 74 / 93 B) and its
  RS485 bound leaves out the t3.5 silences; this section sends what the bridge's pipeline sends
  and three answers in four carry a prompt text, hence larger messages and bounds. codec.bench.ts
  computes wire time for a representative 138 / 148 B exchange without running it.
- 2-core machine shared with other jobs: p99 includes scheduler noise.`;

  const summary: SummaryRow[] = [];
  summary.push({
    figure: 'verify floor: DeviceCore.verify in process (10^5 restricted)',
    value: `p50 ${(floor.p50 * 1000).toFixed(1)} µs (p99 ${(floor.p99 * 1000).toFixed(1)} µs)`,
    bound: `${formatSi(floor.perSec)} verifies/s; the floor under every verify row below`,
    ratio: '1 (floor)',
  });
  for (const { device: d, http, bridgeDirect } of results) {
    summary.push({
      figure: `verify p50 ${d.spec.name} (secure, device level)`,
      value: `${ms(d.p50)} ms (p99 ${ms(d.p99)}, ${formatSi(d.perSec)}/s)`,
      bound: `${ms(d.boundMs)} ms line rate (${d.wireBytes.toFixed(0)} B on the wire)`,
      ratio: (d.p50 / d.boundMs).toFixed(2),
    });
    const [h1, h4] = http;
    summary.push({
      figure: `bridge POST /v1/verify p50 ${d.spec.name} (c=1)`,
      value: `${ms(h1.p50)} ms (p99 ${ms(h1.p99)}; c=4 ${formatSi(h4.rps)} req/s); bridge overhead ${ms(h1.p50 - bridgeDirect.p50)} ms`,
      bound: `bridge's device call p50 ${ms(bridgeDirect.p50)} ms (interleaved)`,
      ratio: `${(h1.p50 / bridgeDirect.p50).toFixed(2)}×`,
    });
  }
  return { title: 'Verification over every link (device level and through the bridge)', markdown, summary };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const r = await run();
  process.stdout.write(`# ${r.title}\n\n${r.markdown}\n\n`);
  process.stdout.write(`${summaryTable(r.summary ?? [])}\n`);
  process.exit(0);
}
