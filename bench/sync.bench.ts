// Sync benchmark: how fast the bridge's sync job moves datasets over each link, against what the
// link can carry, and how long a device takes from empty to 10^6 restricted cards and through a
// 1 % delta.
//
// Run alone:   node --import tsx bench/sync.bench.ts
// Or with all: npm run bench   (bench/run.ts collects run())
//
// Setup (all real): the network service in process (HTTP on loopback, SQLite, Ed25519 signing,
// 4096-byte chunks); three emulated devices as `precheck device emulate` child processes, one per
// link: RS485 at 115200 baud on a socat pty pair (both ends PACED at the baud rate by the
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
import { startServer, type RunningServer } from '../server/start.ts';
import { killAllTracked } from '../test/helpers/process.ts';
import { openPtyPair } from '../test/helpers/pty-pair.ts';
import { makeTempDir } from '../test/helpers/tmp.ts';
import { provisionDevice, startEmulator } from '../test/integration/fixtures.ts';
import { markdownTable, summarize } from './lib/stats.ts';
import type { BenchResult, SummaryRow } from './run.ts';

const CHUNK = 4096;
const LINKS = {
  rs485: { name: 'RS485 115200 baud (paced pty)', lineBps: 115200 / 10, cards: 10_000 },
  ble: { name: 'BLE cable (244 B / 7.5 ms bound)', lineBps: (244 * 1000) / 7.5, cards: 100_000 },
  hid: { name: 'USB HID cable (64 B / 1 ms bound)', lineBps: 64_000, cards: 1_000_000 },
} as const;
type LinkKey = keyof typeof LINKS;

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
  try {
    const keys = { signing: { publicKey: s.signingPublicKey, privateKey: new Uint8Array(32) }, cardKey: s.service.keys.cardKey };
    for (const d of ['rs', 'hid', 'ble']) await provisionDevice(tmp.file(d), keys);
    const emus = {
      rs485: await startEmulator(['--data', tmp.file('rs'), '--rs485', `${pty.b}:115200`, '--address', '1', '--auto-confirm']),
      hid: await startEmulator(['--data', tmp.file('hid'), '--hid-socket', tmp.file('hid.sock'), '--auto-confirm']),
      ble: await startEmulator(['--data', tmp.file('ble'), '--ble-socket', tmp.file('ble.sock'), '--ble-frame', '244', '--auto-confirm']),
    };
    const config = validateConfig({
      dataDir: tmp.file('bridge'),
      verify: { deviceTimeoutMs: 10_000 },
      devices: { rs485: { ports: [{ path: pty.a, baud: 115200, addresses: { from: 1, to: 1 } }] }, cables: { hidSocket: tmp.file('hid.sock'), bleSocket: tmp.file('ble.sock') } },
    });
    const registry = createDeviceRegistry(config, PinStore.open(config.dataDir), { statusIntervalMs: 0, reconnectMs: 0, requestTimeoutMs: 10_000 });
    await registry.start();
    const ids: Record<LinkKey, string> = { rs485: emus.rs485.ids[0], hid: emus.hid.ids[0], ble: emus.ble.ids[0] };
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

    // ---- report
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
      ['link', 'chunks', 'chunk p50 ms', 'chunk p99 ms', 'payload B/s at p50', 'payload B/s at p99', 'whole transfer B/s', 'link carries B/s', 'p50 ÷ line rate', 'whole ÷ line rate'],
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
    // 10^6 figures: HID measured; others extrapolated from their measured throughput
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
      lines.push([
        LINKS[link].name,
        `${r.cards.toLocaleString('en')} cards: ${f1(r.snap.downloadS)} + ${f1(r.snap.transferS)} + ${f1(r.snap.commitS)} s (${(r.snap.payloadBytes / 1e6).toFixed(2)} MB); 1 % delta ${f1(r.delta.downloadS)} + ${f1(r.delta.transferS)} + ${f1(r.delta.commitS)} s (${(r.delta.payloadBytes / 1e3).toFixed(0)} kB)`,
        `${f1(snapTotal)} s${measured ? '' : ' (extrapolated)'}`,
        `${f1(deltaTotal)} s${measured ? '' : ' (extrapolated)'}`,
        `${f1(mega / LINKS[link].lineBps)} s / ${f1(megaDelta / LINKS[link].lineBps)} s`,
      ]);
      summary.push({
        figure: `sync empty → 10^6 restricted cards, ${LINKS[link].name}`,
        value: `${f1(snapTotal)} s${measured ? '' : ' (extrapolated)'}`,
        bound: `${f1(mega / LINKS[link].lineBps)} s at line rate`,
        ratio: f2(mega / LINKS[link].lineBps / snapTotal),
      });
      summary.push({
        figure: `sync 1 % delta at 10^6 cards, ${LINKS[link].name}`,
        value: `${f1(deltaTotal)} s${measured ? '' : ' (extrapolated)'}`,
        bound: `${f1(megaDelta / LINKS[link].lineBps)} s at line rate`,
        ratio: f2(megaDelta / LINKS[link].lineBps / deltaTotal),
      });
    }
    for (const t of thr) {
      summary.push({ figure: `sync payload throughput, ${LINKS[t.link].name}`, value: `${Math.round(t.medBps)} B/s (p50 chunk), p99 ${Math.round(t.p99Bps)} B/s`, bound: `${Math.round(LINKS[t.link].lineBps)} B/s line`, ratio: f2(t.ratio) });
    }
    const sizeTable = markdownTable(['link', 'measured: download+verify + transfer + commit', 'empty → 10^6 cards', '1 % delta at 10^6', 'line-rate bound (10^6 / delta)'], lines);
    const markdown = `Snapshot payload at 10^6 restricted cards: ${(mega / 1e6).toFixed(2)} MB in ${Math.ceil(mega / (CHUNK - 32))} chunks of ${CHUNK} B; the 1 % delta (10^4 new cards): ${(megaDelta / 1e3).toFixed(0)} kB.

### Throughput per link (snapshot transfer, per-chunk exchange times)

${thrTable}

### Empty device → 10^6 restricted cards, and a 1 % delta

${sizeTable}

Download+verify is the bridge fetching the release from the service on loopback and checking the
signature, the hash chain and the content hash (the delta's download includes the service building
it on first request); transfer is SYNC_BEGIN..last SYNC_CHUNK over the link; commit is the device
installing into its inactive SQLite slot and switching. RS485 was measured at 10^4 cards and BLE at
10^5, then extrapolated to 10^6 with their measured transfer rate plus the 10^6 download and commit
times of the HID run (device and bridge CPU do not depend on the link). Device and bridge share a
2-core machine with the service. The cables are not paced: on real USB full-speed and BLE
hardware expect at least the line-rate bound.`;
    return { title: 'Dataset sync over each link', markdown, summary };
  } finally {
    await killAllTracked();
    await pty.close();
    await s.close();
    tmp.cleanup();
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const r = await run();
  process.stdout.write(`## ${r.title}\n\n${r.markdown}\n\n`);
  for (const s of r.summary ?? []) process.stdout.write(`- ${s.figure}: ${s.value} (bound ${s.bound}, ratio ${s.ratio})\n`);
}
