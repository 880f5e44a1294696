// Sync benchmark: how fast the bridge's sync job moves datasets over each link, against what the
// link can carry, and how long a device takes from empty to 10^6 restricted cards and through a
// 1 % delta.
//
// Run alone:   node --import tsx bench/sync.bench.ts
// Quick run:   BENCH_SCALE=0.1 node --import tsx bench/sync.bench.ts   (a tenth of the cards)
// Or with all: npm run bench   (bench/run.ts collects run())
//
// Setup (all real): the network service in process (HTTP on loopback, SQLite, Ed25519 signing,
// 4096-byte chunks); three emulated devices, each the real emulator (device/emulator/emulate.ts,
// what `precheck device emulate` runs) in its own child process (bench/lib/emulator-process.ts),
// one per link: RS485 at 115200 baud on a socat pty pair (both ends PACED at the baud rate by the
// project's PacedSerialWriter, because a pty is instantaneous), the USB HID virtual cable and the
// BLE virtual cable (unix sockets, not paced); the bridge side is the real registry,
// SecureDeviceClient (Noise session), SyncFetcher (download + full verification) and SyncEngine.
//
// Figures
// - Throughput: per-chunk exchange time during the snapshot transfer (SYNC_CHUNK sent → answer),
//   median and p99; payload B/s = 4096 / chunk time; ratio = payload B/s ÷ what the link carries:
//   RS485 115200 8N1 = 11 520 B/s; USB full-speed HID interrupt = one 64-byte report per 1 ms =
//   64 000 B/s; BLE = 244-byte fragments, one per 7.5 ms connection interval = 32 533 B/s (same
//   stated assumptions as bench/links.bench.ts). The cables are not paced, so a ratio above 1
//   means the emulation outruns the bus it stands for.
// - Ratios are measured ÷ bound, as in every bench: rate ÷ line rate (≤ 1 when the link limits),
//   time ÷ line-rate time (≥ 1).
// - Empty → N cards and the 1 % delta, split into download+verify (bridge), transfer (link) and
//   commit (device installs into its inactive SQLite slot and switches). Measured sizes: HID at
//   10^6 cards; BLE at 10^5 and RS485 at 10^4 (10^6 over a paced 115200 bus is ~45 min), then
//   extrapolated to 10^6: transfer scales with payload bytes at the measured throughput, commit is
//   device CPU and taken from the 10^6 HID run. Extrapolated figures are marked "(extrapolated)".
import crypto from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { validateConfig } from '../host-bridge/config.ts';
import { createDeviceRegistry } from '../host-bridge/discovery/registry.ts';
import { PinStore } from '../host-bridge/session/pin-store.ts';
import { DeviceLocks } from '../host-bridge/sync/device-lock.ts';
import { SyncFetcher } from '../host-bridge/sync/fetcher.ts';
import { syncLockDir, syncTargetsOf } from '../host-bridge/sync/index.ts';
import { SyncEngine, type DeviceSyncResult, type SyncProgress } from '../host-bridge/sync/sync-engine.ts';
import { provision } from '../device/core/identity.ts';
import { startServer, type RunningServer } from '../server/start.ts';
import { killAllTracked } from '../testkit/process.ts';
import { startEmulatorProcess, type EmulatorProcess } from './lib/emulator-process.ts';
import { openPtyPair } from '../testkit/pty-pair.ts';
import { scaled } from './lib/scale.ts';
import { markdownTable, summarize } from './lib/stats.ts';
import { makeTempDir } from '../testkit/tmp.ts';
import type { BenchResult, SummaryRow } from './run.ts';

const CHUNK = 4096;
// BENCH_SCALE=0.1 for a quick run: a tenth of the cards on every link (the "10^6" figures then
// stand for the HID run's card count, which the headings name).
const LINKS = {
  rs485: { name: 'RS485 115200 baud (paced pty)', lineBps: 115200 / 10, cards: scaled(10_000, 100) },
  ble: { name: 'BLE cable (244 B / 7.5 ms bound)', lineBps: (244 * 1000) / 7.5, cards: scaled(100_000, 1000) },
  hid: { name: 'USB HID cable (64 B / 1 ms bound)', lineBps: 64_000, cards: scaled(1_000_000, 10_000) },
} as const;
type LinkKey = keyof typeof LINKS;
/** The card count every link's figures are given for (measured on HID, extrapolated for the others). */
const TARGET = LINKS.hid.cards;
const TARGET_LABEL = TARGET === 1_000_000 ? '10^6' : TARGET.toLocaleString('en');

interface Timed {
  row: DeviceSyncResult;
  downloadS: number;
  transferS: number;
  commitS: number;
  chunkMs: number[];
  payloadBytes: number;
}

async function addCards(s: RunningServer, n: number): Promise<void> {
  const now = Math.floor(Date.now() / 1000);
  for (let done = 0; done < n; ) {
    const batch = Math.min(50_000, n - done);
    const rows = Array.from({ length: batch }, () => ({
      token: new Uint8Array(crypto.randomBytes(16)),
      bin: '400000',
      last4: '0000',
      reason: 'stolen',
      source: 'bench',
      addedAt: now,
      expiresAt: null,
    }));
    await s.service.storage.addRestricted(rows);
    done += batch;
  }
}

export async function run(): Promise<BenchResult> {
  const tmp = makeTempDir('precheck-bench-sync-');
  const s = await startServer({ dataDir: tmp.file('svc'), port: 0, host: '127.0.0.1', logLevel: 'silent', publishDebounceMs: -1, publishOnStart: false, chunkSize: CHUNK });
  const pty = await openPtyPair();
  const emus: Partial<Record<LinkKey, EmulatorProcess>> = {};
  try {
    // Provisioned like `precheck device provision` does it (same function), trusting the service's keys.
    for (const d of ['rs', 'hid', 'ble']) provision(tmp.file(d), { serverSigningPublicKey: s.signingPublicKey, cardKey: s.service.keys.cardKey });
    // The real emulator, each in its own process (auto-confirming pairing), as a device is its own machine.
    const start = async (link: LinkKey, opts: Parameters<typeof startEmulatorProcess>[0]): Promise<string> => {
      const emu = await startEmulatorProcess(opts);
      emus[link] = emu;
      return emu.ids[0];
    };
    const ids: Record<LinkKey, string> = {
      rs485: await start('rs485', { dataDir: tmp.file('rs'), rs485: { path: pty.b, baud: 115200, addresses: [1] } }),
      hid: await start('hid', { dataDir: tmp.file('hid'), hidSocket: tmp.file('hid.sock') }),
      ble: await start('ble', { dataDir: tmp.file('ble'), bleSocket: tmp.file('ble.sock'), bleFrame: 244 }),
    };
    const config = validateConfig({
      dataDir: tmp.file('bridge'),
      verify: { deviceTimeoutMs: 10_000 },
      devices: { rs485: { ports: [{ path: pty.a, baud: 115200, addresses: { from: 1, to: 1 } }] }, cables: { hidSocket: tmp.file('hid.sock'), bleSocket: tmp.file('ble.sock') } },
    });
    const registry = createDeviceRegistry(config, PinStore.open(config.dataDir), { statusIntervalMs: 0, reconnectMs: 0, requestTimeoutMs: 10_000 });
    await registry.start();
    for (const id of Object.values(ids)) await registry.pair(id, async () => true);
    const client = await s.issueKey('bench', 'sync bench');

    const marks = new Map<string, { t: number; p: SyncProgress }[]>();
    const fetcher = new SyncFetcher({ serviceUrl: s.url, apiKey: client.key, dataDir: config.dataDir, timeoutMs: 60_000 });
    const engine = new SyncEngine({
      fetcher,
      locks: new DeviceLocks(syncLockDir(config.dataDir)),
      commitTimeoutMs: 600_000,
      onProgress: (p) => {
        const l = marks.get(p.device) ?? [];
        l.push({ t: performance.now(), p });
        marks.set(p.device, l);
      },
    });
    const targets = syncTargetsOf(registry);

    const timedSync = async (link: LinkKey): Promise<Timed> => {
      const id = ids[link];
      marks.set(id, []);
      fetcher.forget();
      const t0 = performance.now();
      const r = await engine.run(targets, { devices: [id] });
      const t1 = performance.now();
      const row = r.results[0];
      if (row.result !== 'updated') throw new Error(`${link}: sync ${row.result}: ${row.error ?? ''}`);
      const m = marks.get(id)!;
      const sends = m.filter((x) => x.p.phase === 'send');
      const commit = m.find((x) => x.p.phase === 'commit')!;
      // the first 'send' mark is SYNC_BEGIN's answer (transfer starts); then one per chunk
      const firstSend = sends[0]?.t ?? commit.t;
      const chunkMs = sends.slice(1).map((x, i) => x.t - sends[i].t);
      const payloadBytes = sends.length ? sends[sends.length - 1].p.bytesTotal : 0;
      return { row, downloadS: (firstSend - t0) / 1000, transferS: (commit.t - firstSend) / 1000, commitS: (t1 - commit.t) / 1000, chunkMs, payloadBytes };
    };

    const results: Record<LinkKey, { snap: Timed; delta: Timed; cards: number }> = {} as never;
    let total = 0;
    for (const link of ['rs485', 'ble', 'hid'] as LinkKey[]) {
      const want = LINKS[link].cards;
      process.stderr.write(`bench sync: ${link}: ${want} cards...\n`);
      await addCards(s, want - total);
      total = want;
      await s.publish();
      const snap = await timedSync(link);
      await addCards(s, Math.round(want / 100));
      total += Math.round(want / 100);
      await s.publish();
      const delta = await timedSync(link);
      results[link] = { snap, delta, cards: want };
    }
    await registry.stop();
    await fetcher.close();

    // ---- report. Every ratio is measured ÷ bound: for a time, above 1 = slower than the line
    // allows; for a rate, below 1 = slower (the same direction as every other bench).
    const f1 = (x: number) => x.toFixed(1);
    const f2 = (x: number) => x.toFixed(2);
    const thr = (['rs485', 'hid', 'ble'] as LinkKey[]).map((link) => {
      const { snap } = results[link];
      const st = summarize(snap.chunkMs);
      const medBps = (CHUNK * 1000) / st.median;
      const p99Bps = (CHUNK * 1000) / st.p99;
      const overall = snap.payloadBytes / snap.transferS;
      return { link, st, medBps, p99Bps, overall, ratio: medBps / LINKS[link].lineBps, overallRatio: overall / LINKS[link].lineBps };
    });
    const thrTable = markdownTable(
      [
        'link',
        'chunks',
        'chunk p50 ms',
        'chunk p99 ms',
        'payload B/s at p50',
        'payload B/s at p99',
        'whole transfer B/s',
        'link carries B/s',
        'p50 B/s ÷ line B/s (≤ 1 when the link limits)',
        'whole B/s ÷ line B/s',
      ],
      thr.map((t) => [
        LINKS[t.link].name,
        t.st.n + 1,
        f2(t.st.median),
        f2(t.st.p99),
        Math.round(t.medBps),
        Math.round(t.p99Bps),
        Math.round(t.overall),
        Math.round(LINKS[t.link].lineBps),
        f2(t.ratio),
        f2(t.overallRatio),
      ]),
    );
    // TARGET-card figures: HID measured; others extrapolated from their measured throughput
    const hid = results.hid;
    const mega = hid.snap.payloadBytes;
    const megaDelta = hid.delta.payloadBytes;
    const lines: (string | number)[][] = [];
    const summary: SummaryRow[] = [];
    for (const link of ['rs485', 'ble', 'hid'] as LinkKey[]) {
      const r = results[link];
      const measured = link === 'hid';
      const bps = r.snap.payloadBytes / r.snap.transferS;
      const dBps = r.delta.payloadBytes / Math.max(r.delta.transferS, 1e-6);
      const snapTransfer = measured ? r.snap.transferS : mega / bps;
      const deltaTransfer = measured ? r.delta.transferS : megaDelta / (r.delta.payloadBytes > 4 * CHUNK ? dBps : bps);
      const snapTotal = measured ? r.snap.downloadS + r.snap.transferS + r.snap.commitS : hid.snap.downloadS + snapTransfer + hid.snap.commitS;
      const deltaTotal = measured ? r.delta.downloadS + r.delta.transferS + r.delta.commitS : hid.delta.downloadS + deltaTransfer + hid.delta.commitS;
      const snapBound = mega / LINKS[link].lineBps;
      const deltaBound = megaDelta / LINKS[link].lineBps;
      const note = measured ? '' : ' (extrapolated)';
      lines.push([
        LINKS[link].name,
        `${r.cards.toLocaleString('en')} cards: ${f1(r.snap.downloadS)} + ${f1(r.snap.transferS)} + ${f1(r.snap.commitS)} s (${(r.snap.payloadBytes / 1e6).toFixed(2)} MB); 1 % delta ${f1(r.delta.downloadS)} + ${f1(r.delta.transferS)} + ${f1(r.delta.commitS)} s (${(r.delta.payloadBytes / 1e3).toFixed(0)} kB)`,
        `${f1(snapTotal)} s${note}`,
        `${f1(deltaTotal)} s${note}`,
        `${f1(snapBound)} s / ${f1(deltaBound)} s`,
        `${f2(snapTotal / snapBound)} / ${f2(deltaTotal / deltaBound)}`,
      ]);
      summary.push({
        figure: `sync empty → ${TARGET_LABEL} restricted cards, ${LINKS[link].name}`,
        value: `${f1(snapTotal)} s${note}`,
        bound: `${f1(snapBound)} s at line rate`,
        ratio: f2(snapTotal / snapBound),
      });
      summary.push({
        figure: `sync 1 % delta at ${TARGET_LABEL} cards, ${LINKS[link].name}`,
        value: `${f1(deltaTotal)} s${note}`,
        bound: `${f1(deltaBound)} s at line rate`,
        ratio: f2(deltaTotal / deltaBound),
      });
    }
    for (const t of thr) {
      summary.push({ figure: `sync payload throughput, ${LINKS[t.link].name}`, value: `${Math.round(t.medBps)} B/s (p50 chunk), p99 ${Math.round(t.p99Bps)} B/s`, bound: `${Math.round(LINKS[t.link].lineBps)} B/s line`, ratio: f2(t.ratio) });
    }
    const sizeTable = markdownTable(
      [
        'link',
        'measured: download+verify + transfer + commit',
        `empty → ${TARGET_LABEL} cards`,
        `1 % delta at ${TARGET_LABEL}`,
        `line-rate bound (${TARGET_LABEL} / delta)`,
        'time ÷ bound (≥ 1; snapshot / delta)',
      ],
      lines,
    );
    const markdown = `Snapshot payload at ${TARGET_LABEL} restricted cards: ${(mega / 1e6).toFixed(2)} MB in ${Math.ceil(mega / (CHUNK - 32))} chunks of ${CHUNK} B; the 1 % delta (${Math.round(TARGET / 100).toLocaleString('en')} new cards): ${(megaDelta / 1e3).toFixed(0)} kB.

### Throughput per link (snapshot transfer, per-chunk exchange times)

${thrTable}

### Empty device → ${TARGET_LABEL} restricted cards, and a 1 % delta

${sizeTable}

Ratios are measured ÷ bound everywhere: a rate ÷ the line rate is at most 1 when the link is the
limit, a time ÷ the line-rate time is at least 1. Download+verify is the bridge fetching the
release from the service on loopback and checking the signature, the hash chain and the content
hash (the delta's download includes the service building it on first request); transfer is
SYNC_BEGIN..last SYNC_CHUNK over the link; commit is the device installing into its inactive
SQLite slot and switching. RS485 was measured at ${LINKS.rs485.cards.toLocaleString('en')} cards and BLE at
${LINKS.ble.cards.toLocaleString('en')}, then extrapolated to ${TARGET_LABEL} with their measured transfer rate plus the
download and commit times of the HID run (device and bridge CPU do not depend on the link). Device
and bridge share a 2-core machine with the service. The cables are not paced: on real USB
full-speed and BLE hardware expect at least the line-rate bound.`;
    return { title: 'Dataset sync over each link', markdown, summary };
  } finally {
    // Ask each emulator to close (its SQLite files), then kill anything still running.
    await Promise.all(Object.values(emus).map((e) => e.stop().catch(() => undefined)));
    await killAllTracked();
    await pty.close();
    await s.close();
    tmp.cleanup();
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const r = await run();
  process.stdout.write(`## ${r.title}\n\n${r.markdown}\n\n`);
  for (const s of r.summary ?? []) process.stdout.write(`- ${s.figure}: ${s.value} (bound ${s.bound}, measured ÷ bound ${s.ratio})\n`);
}
