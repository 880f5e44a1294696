// The sync engine against the real network service (HTTP on loopback, SQLite, Ed25519) and real
// devices (DeviceCore with its SQLite slots, SessionDispatcher, Noise session through the real
// SecureDeviceClient) over an in-process link that fails on demand.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ProtocolError } from '../../protocol/errors.ts';
import { RULES_VERSION } from '../../rules/decide.ts';
import { buildSnapshot, emptyContent, generateSigningKeyPair } from '../../protocol/dataset/index.ts';
import { DeviceLocks } from '../../host-bridge/sync/device-lock.ts';
import { SyncFetcher } from '../../host-bridge/sync/fetcher.ts';
import { SyncEngine, type SyncLogger, type SyncProgress, type SyncReport } from '../../host-bridge/sync/sync-engine.ts';
import { syncLockDir } from '../../host-bridge/sync/index.ts';
import { makeTempDir, type TempDir } from '../../testkit/tmp.ts';
import { deferred, withTimeout } from '../../testkit/wait.ts';
import { run } from '../../testkit/process.ts';
import { PANS, cleanupsEachTest, order, secondHost, serviceWithDevices, startTamperProxy, type Service, type TamperProxy, type TestDevice } from './harness.ts';
import { luhnComplete } from '../../testkit/cards.ts';

const cleanups = cleanupsEachTest();

interface Setup {
  svc: Service;
  bridge: TempDir;
  devices: TestDevice[];
  engine(opts?: { url?: string; onProgress?: (p: SyncProgress) => void; linkRetries?: number; locks?: DeviceLocks; logger?: SyncLogger }): { engine: SyncEngine; fetcher: SyncFetcher };
}

async function setup(nDevices = 1, chunkSize = 256): Promise<Setup> {
  const { svc, dir: bridge, devices } = await serviceWithDevices(cleanups, { devices: nDevices, chunkSize });
  return {
    svc,
    bridge,
    devices,
    engine(o = {}) {
      const fetcher = new SyncFetcher({ serviceUrl: o.url ?? svc.s.url, apiKey: svc.bridgeKey, dataDir: bridge.dir, retries: 1, backoffMs: 10, timeoutMs: 3_000 });
      cleanups.push(() => fetcher.close());
      const engine = new SyncEngine({
        fetcher,
        locks: o.locks ?? new DeviceLocks(syncLockDir(bridge.dir)),
        onProgress: o.onProgress,
        logger: o.logger,
        linkRetries: o.linkRetries ?? 2,
        linkRetryDelayMs: 5,
        rebootTimeoutMs: 5_000,
      });
      return { engine, fetcher };
    },
  };
}

const row = (r: SyncReport, device: string, kind = 'dataset') => r.results.find((x) => x.device === device && x.kind === kind)!;
const decision = (d: TestDevice, pan: string) => d.core.verify(order(pan)).decision;

describe('sync engine: datasets', () => {
  it('brings an empty device to the snapshot, then reports up to date with nothing sent', async () => {
    const st = await setup(1);
    const v1 = await st.svc.restrict([PANS.a]);
    const [dev] = st.devices;
    expect(decision(dev, PANS.a)).toBe('escalate'); // no dataset: cannot decide
    const { engine } = st.engine();
    const r1 = await engine.run([dev.client]);
    expect(r1.exitCode).toBe(0);
    // the service's manifest names the rules it built the dataset for
    expect(row(r1, dev.client.id)).toMatchObject({ result: 'updated', from: 0, to: v1, via: 'snapshot', resumedFrom: 0, rulesVersion: RULES_VERSION });
    expect(row(r1, dev.client.id).bytesSent).toBeGreaterThan(0);
    expect(decision(dev, PANS.a)).toBe('decline');
    expect(dev.core.status()).toMatchObject({ datasetVersion: v1, datasetState: 'fresh', syncVersion: 0 });
    expect(r1.service.trust).toMatch(/^[0-9a-f]{16} \(first-contact\)$/);

    const r2 = await engine.run([dev.client]);
    expect(row(r2, dev.client.id)).toMatchObject({ result: 'up-to-date', from: v1, to: v1, bytesSent: 0 });
    expect(r2.exitCode).toBe(0);
  });

  it('a restricted card added on the service reaches the device as a delta; the snapshot is not resent', async () => {
    const st = await setup(1);
    const v1 = await st.svc.restrict([PANS.a, ...Array.from({ length: 60 }, (_, i) => luhn(`4000${String(500000000 + i * 7919).padStart(11, '0')}`))]);
    const [dev] = st.devices;
    const { engine } = st.engine();
    const first = await engine.run([dev.client]);
    const snapshotBytes = row(first, dev.client.id).bytesSent;
    expect(decision(dev, PANS.b)).toBe('escalate');

    const v2 = await st.svc.restrict([PANS.b]);
    expect(v2).toBeGreaterThan(v1);
    const r = await engine.run([dev.client]);
    expect(row(r, dev.client.id)).toMatchObject({ result: 'updated', from: v1, to: v2, via: 'delta', rulesVersion: RULES_VERSION });
    expect(row(r, dev.client.id).bytesSent).toBeLessThan(snapshotBytes);
    expect(decision(dev, PANS.b)).toBe('decline');
    expect(decision(dev, PANS.a)).toBe('decline');
  });

  it('several devices share one verified download; a new process reuses the disk cache', async () => {
    const st = await setup(2);
    await st.svc.restrict([PANS.a, PANS.b, PANS.c]);
    const { engine, fetcher } = st.engine();
    const r = await engine.run(st.devices.map((d) => d.client));
    expect(r.results.map((x) => x.result)).toEqual(['updated', 'updated']);
    const chunkBytes = row(r, st.devices[0].client.id).bytesSent;
    // one download for both devices: what came from the service is about one release
    expect(fetcher.downloadedBytes).toBeLessThan(chunkBytes * 1.5);

    const fresh = new SyncFetcher({ serviceUrl: st.svc.s.url, apiKey: st.svc.bridgeKey, dataDir: st.bridge.dir });
    cleanups.push(() => fresh.close());
    const latest = (await fresh.latestDataset())!;
    const rel = await fresh.snapshotRelease(latest.version);
    expect(rel.cachedChunks).toBe(rel.manifest.chunkCount);
    expect(rel.downloadedChunks).toBe(0);
    expect((await fresh.trustedKey()).source).toBe('pinned');
  });

  it('keeps answering verifications during a sync (requests interleave with chunks)', async () => {
    const st = await setup(1, 128);
    await st.svc.restrict([PANS.a]);
    const [dev] = st.devices;
    await st.engine().engine.run([dev.client]);
    // a bigger second version: many chunks
    const many = Array.from({ length: 300 }, (_, i) => luhn(`4000${String(100000000 + i * 7919).padStart(11, '0')}`));
    await st.svc.restrict(many);
    let sent = 0;
    let finished = false;
    let reachedThird: () => void = () => undefined;
    const third = new Promise<void>((r) => (reachedThird = r));
    const { engine } = st.engine({
      onProgress: (p) => {
        if (p.phase === 'send') sent = p.chunk;
        if (p.phase === 'send' && p.chunk >= 3) reachedThird();
      },
    });
    const syncing = engine.run([dev.client]).then((r) => {
      finished = true;
      return r;
    });
    await withTimeout(third, 20_000, 'the sync to send 3 chunks');
    const res = await dev.client.verify(order(PANS.a));
    expect(res.decision).toBe('decline');
    expect(finished).toBe(false);
    const total = row(await syncing, dev.client.id).chunks!;
    expect(sent).toBe(total);
    expect(total).toBeGreaterThan(10);
  });
});

describe('sync engine: faults lose nothing', () => {
  it('link cut mid-transfer: the run fails clearly, the device keeps its dataset, the next run resumes at the last good chunk', async () => {
    const st = await setup(1, 128);
    const v1 = await st.svc.restrict([PANS.a]);
    const [dev] = st.devices;
    await st.engine().engine.run([dev.client]);
    await st.svc.restrict(Array.from({ length: 120 }, (_, i) => luhn(`5100${String(200000000 + i * 104729).padStart(11, '0')}`)));
    dev.link.cutAfterRequests(12);
    const r1 = await st.engine({ linkRetries: 1 }).engine.run([dev.client]);
    expect(r1.exitCode).toBe(4);
    expect(row(r1, dev.client.id)).toMatchObject({ result: 'failed', code: 'DEVICE_UNAVAILABLE' });
    const mid = dev.core.status();
    expect(mid.datasetVersion).toBe(v1);
    expect(mid.syncNextChunk).toBeGreaterThan(0);
    expect(mid.syncNextChunk).toBeLessThan(mid.syncTotalChunks);
    expect(decision(dev, PANS.a)).toBe('decline'); // old data still active

    dev.link.heal();
    const r2 = await st.engine().engine.run([dev.client]);
    expect(row(r2, dev.client.id)).toMatchObject({ result: 'updated', resumedFrom: mid.syncNextChunk });
  });

  it('device restarted mid-transfer: resumes after the restart from its stored chunks', async () => {
    const st = await setup(1, 128);
    await st.svc.restrict(Array.from({ length: 80 }, (_, i) => luhn(`4000${String(300000000 + i * 7907).padStart(11, '0')}`)));
    const [dev] = st.devices;
    dev.link.cutAfterRequests(15);
    const r1 = await st.engine({ linkRetries: 0 }).engine.run([dev.client]);
    expect(row(r1, dev.client.id).result).toBe('failed');
    const before = dev.core.status().syncNextChunk;
    expect(before).toBeGreaterThan(0);
    dev.restart(); // power cycle: new core from the same SQLite files, sessions forgotten
    expect(dev.core.status()).toMatchObject({ syncNextChunk: before, datasetVersion: 0 });
    const r2 = await st.engine().engine.run([dev.client]);
    expect(row(r2, dev.client.id)).toMatchObject({ result: 'updated', resumedFrom: before, from: 0 });
  });

  it('service down: fails clearly (exit 3), the device keeps its data and keeps deciding', async () => {
    const st = await setup(1);
    await st.svc.restrict([PANS.a]);
    const [dev] = st.devices;
    await st.engine().engine.run([dev.client]);
    const url = st.svc.s.url;
    await st.svc.s.close();
    const r = await st.engine({ url }).engine.run([dev.client]);
    expect(r.exitCode).toBe(3);
    expect(r.service).toMatchObject({ reachable: false, code: 'SERVICE_UNAVAILABLE' });
    expect(row(r, dev.client.id)).toMatchObject({ result: 'failed', code: 'SERVICE_UNAVAILABLE' });
    expect(row(r, dev.client.id).error).toMatch(/unreachable/);
    expect(decision(dev, PANS.a)).toBe('decline');
  });
});

describe('sync engine: refuses bad data before the device sees it', () => {
  async function withProxy(): Promise<{ st: Setup; proxy: TamperProxy; dev: TestDevice; v1: number; v2: number }> {
    const st = await setup(1);
    const proxy = await startTamperProxy(st.svc.s.url);
    cleanups.push(() => proxy.close());
    const v1 = await st.svc.restrict([PANS.a]);
    const [dev] = st.devices;
    await st.engine({ url: proxy.url }).engine.run([dev.client]);
    const v2 = await st.svc.restrict([PANS.b]);
    return { st, proxy, dev, v1, v2 };
  }
  const sentNothing = (dev: TestDevice, v1: number) => {
    expect(dev.core.status()).toMatchObject({ datasetVersion: v1, syncVersion: 0, syncNextChunk: 0 });
    expect(decision(dev, PANS.a)).toBe('decline');
    expect(decision(dev, PANS.b)).toBe('escalate');
  };

  it('a tampered chunk (one flipped byte) is refused: nothing sent, old data active', async () => {
    const { st, proxy, dev, v1 } = await withProxy();
    proxy.rewrite = (p, body) => (/\/chunks\/0$/.test(p) ? Buffer.from(body.map((b, i) => (i === 5 ? b ^ 0x01 : b))) : null);
    const r = await st.engine({ url: proxy.url }).engine.run([dev.client]);
    expect(row(r, dev.client.id)).toMatchObject({ result: 'failed', code: 'CHUNK_HASH' });
    expect(row(r, dev.client.id).error).toMatch(/chunk 0 .*nothing was sent/);
    expect(r.exitCode).toBe(4);
    sentNothing(dev, v1);
    // the cache holds no bad chunk: with the proxy honest again the same bridge syncs
    proxy.rewrite = null;
    const ok = await st.engine({ url: proxy.url }).engine.run([dev.client]);
    expect(row(ok, dev.client.id).result).toBe('updated');
  });

  it('a forged manifest (signed by another key) is refused with exit 5', async () => {
    const { st, proxy, dev, v1, v2 } = await withProxy();
    const forger = generateSigningKeyPair();
    const now = Math.floor(Date.now() / 1000);
    const forged = buildSnapshot(emptyContent(), { version: v2, createdAt: now, expiresAt: now + 86400, chunkSize: 256 }, forger.privateKey);
    proxy.rewrite = (p) => (/\/manifest$|\/delta\?/.test(p) ? Buffer.from(forged.manifestBytes) : null);
    const r = await st.engine({ url: proxy.url }).engine.run([dev.client]);
    expect(row(r, dev.client.id)).toMatchObject({ result: 'failed', code: 'SIGNATURE_INVALID' });
    expect(r.exitCode).toBe(5);
    sentNothing(dev, v1);
  });

  it('an older, genuinely signed manifest replayed for the new version is refused; the device refuses it too', async () => {
    const { st, proxy, dev, v1 } = await withProxy();
    const oldManifest = Buffer.from(await (await fetch(`${st.svc.s.url}/v1/datasets/${v1}/manifest`, { headers: { authorization: `Bearer ${st.svc.bridgeKey}` } })).arrayBuffer());
    proxy.rewrite = (p) => (/\/manifest$|\/delta\?/.test(p) ? oldManifest : null);
    const r = await st.engine({ url: proxy.url }).engine.run([dev.client]);
    expect(row(r, dev.client.id)).toMatchObject({ result: 'failed', code: 'MANIFEST_REJECTED' });
    sentNothing(dev, v1);
    // and the device's own no-rollback rule, had it been sent
    const e = await dev.client.syncBegin(new Uint8Array(oldManifest)).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ProtocolError);
    expect((e as ProtocolError).code).toBe('DATASET_OLDER');
  });
});

describe('sync engine: one sync per device at a time', () => {
  it('two engines (two bridges on one data dir) on one device: one wins, the other fails with SYNC_BUSY at once', async () => {
    const st = await setup(1, 128);
    await st.svc.restrict(Array.from({ length: 40 }, (_, i) => luhn(`4000${String(400000000 + i * 7901).padStart(11, '0')}`)));
    const [dev] = st.devices;
    const hold = dev.link.holdAt(6); // the first sync stops mid-transfer until released
    const a = st.engine({ locks: new DeviceLocks(syncLockDir(st.bridge.dir)) }).engine.run([dev.client]);
    await withTimeout(hold.reached, 10_000, 'first sync mid-transfer');
    const lockFile = path.join(syncLockDir(st.bridge.dir), `${dev.client.id}.lock`);
    expect(JSON.parse(fs.readFileSync(lockFile, 'utf8')).pid).toBe(process.pid);
    const b = await st.engine({ locks: new DeviceLocks(syncLockDir(st.bridge.dir)) }).engine.run([dev.client]);
    expect(row(b, dev.client.id)).toMatchObject({ result: 'failed', code: 'SYNC_BUSY', bytesSent: 0 });
    expect(row(b, dev.client.id).error).toMatch(/being synced by pid \d+/);
    expect(b.exitCode).toBe(4);
    hold.release();
    expect(row(await a, dev.client.id).result).toBe('updated');
    expect(fs.existsSync(lockFile)).toBe(false);
  });

  it('two bridges with their own data dirs (no shared lock) on one device: the device refuses the second with a clear SYNC_BUSY', async () => {
    const st = await setup(1, 128);
    await st.svc.restrict(Array.from({ length: 40 }, (_, i) => luhn(`4000${String(500000000 + i * 7901).padStart(11, '0')}`)));
    const [dev] = st.devices;
    const other = makeTempDir('precheck-sync-bridge-b-');
    cleanups.push(() => other.cleanup());
    const b = await secondHost(dev, other.dir);
    cleanups.push(() => b.link.close());
    expect(Buffer.from(b.pins.hostKeyPair().publicKey)).not.toEqual(Buffer.from(dev.pins.hostKeyPair().publicKey));
    const fetcherB = new SyncFetcher({ serviceUrl: st.svc.s.url, apiKey: st.svc.bridgeKey, dataDir: other.dir, retries: 1, backoffMs: 10, timeoutMs: 3_000 });
    cleanups.push(() => fetcherB.close());
    const engineB = new SyncEngine({ fetcher: fetcherB, locks: new DeviceLocks(syncLockDir(other.dir)), linkRetries: 2, linkRetryDelayMs: 5, rebootTimeoutMs: 5_000 });

    const hold = dev.link.holdAt(6); // bridge A stops mid-transfer until released
    const a = st.engine().engine.run([dev.client]);
    await withTimeout(hold.reached, 10_000, 'first sync mid-transfer');
    const rb = await engineB.run([b.client]);
    expect(row(rb, dev.client.id)).toMatchObject({ result: 'failed', code: 'SYNC_BUSY' });
    expect(row(rb, dev.client.id).error).toMatch(/being synced by another host: dataset transfer v\d+ in progress from another host/);
    expect(rb.exitCode).toBe(4);
    // the loser's failed attempt did not make the device unhealthy for its verifications
    expect(b.client.summary().healthy).toBe(true);
    hold.release();
    const ra = await a;
    expect(row(ra, dev.client.id).result).toBe('updated');
    // once the winner is done, the other bridge finds the device up to date
    expect(row(await engineB.run([b.client]), dev.client.id).result).toBe('up-to-date');
  });

  it('the same engine asked twice at once (schedule + API): the second waits for the first, then finds the device up to date', async () => {
    const st = await setup(1, 128);
    const v = await st.svc.restrict([PANS.a, PANS.b]);
    const [dev] = st.devices;
    const waits = deferred<string>();
    const logger: SyncLogger = { info: (m) => void (/waits for the sync/.test(m) && waits.resolve(m)), warn: () => undefined, error: () => undefined };
    const { engine } = st.engine({ logger });
    const hold = dev.link.holdAt(4);
    const a = engine.run([dev.client]);
    await withTimeout(hold.reached, 10_000, 'first sync mid-transfer');
    let bDone = false;
    const b = engine.run([dev.client]).finally(() => (bDone = true));
    expect(await withTimeout(waits.promise, 10_000, 'the second run waiting')).toMatch(new RegExp(`sync: ${dev.client.id} waits for the sync of it already running in this process`));
    expect(bDone).toBe(false);
    hold.release();
    expect(row(await a, dev.client.id).result).toBe('updated');
    const rb = await b;
    expect(row(rb, dev.client.id)).toMatchObject({ result: 'up-to-date', from: v, to: v, bytesSent: 0 });
    expect(rb.exitCode).toBe(0);
  });

  it('a lock left by a process that died (bridge killed mid-sync) is taken over', async () => {
    const st = await setup(1);
    await st.svc.restrict([PANS.a]);
    const [dev] = st.devices;
    const dead = await run(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']);
    const dir = syncLockDir(st.bridge.dir);
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, `${dev.client.id}.lock`), JSON.stringify({ pid: Number(dead.stdout), hostname: (await import('node:os')).hostname(), startedAt: Date.now() - 1000, purpose: 'sync' }));
    const r = await st.engine().engine.run([dev.client]);
    expect(row(r, dev.client.id).result).toBe('updated');
  });
});

describe('sync engine: firmware', () => {
  it('sends, trial-boots and confirms a good image; an image whose self-test fails rolls back and is reported', async () => {
    const st = await setup(1);
    await st.svc.restrict([PANS.a]);
    const [dev] = st.devices;
    await st.svc.firmware(2, 'ok');
    const { engine } = st.engine();
    const r = await engine.run([dev.client], { firmware: true });
    expect(row(r, dev.client.id, 'dataset').result).toBe('updated');
    expect(row(r, dev.client.id, 'firmware')).toMatchObject({ result: 'updated', from: 1, to: 2, via: 'firmware' });
    expect(dev.core.firmware()).toMatchObject({ version: 2, state: 'confirmed' });

    await st.svc.firmware(3, 'fail');
    const bad = await engine.run([dev.client], { firmware: true, dataset: false });
    expect(row(bad, dev.client.id, 'firmware')).toMatchObject({ result: 'rolled-back', from: 2, to: 3, code: 'FIRMWARE_INVALID' });
    expect(row(bad, dev.client.id, 'firmware').error).toMatch(/self_test_failed/);
    expect(bad.exitCode).toBe(4);
    expect(dev.core.firmware()).toMatchObject({ version: 2, state: 'confirmed', lastRollbackReason: 'self_test_failed' });
    expect(decision(dev, PANS.a)).toBe('decline'); // still working on the old image and data
  });

  it('a device that rebooted into the trial image and rolled back at boot is reported rolled-back', async () => {
    const st = await setup(1);
    const [dev] = st.devices;
    await st.svc.firmware(2, 'fail');
    // reboot between commit and confirm: the device's boot check runs the self-test
    const origCommit = dev.client.call.bind(dev.client);
    (dev.client as unknown as { call: typeof origCommit }).call = (async (req: Parameters<typeof origCommit>[0], t?: Parameters<typeof origCommit>[1]) => {
      const res = await origCommit(req, t);
      if (req.type === 'FW_COMMIT') dev.restart();
      return res;
    }) as typeof origCommit;
    const r = await st.engine().engine.run([dev.client], { firmware: true, dataset: false });
    expect(row(r, dev.client.id, 'firmware')).toMatchObject({ result: 'rolled-back', to: 2 });
    expect(row(r, dev.client.id, 'firmware').error).toMatch(/came back on firmware 1/);
    expect(dev.core.firmware()).toMatchObject({ version: 1, lastRollbackReason: 'self_test_failed' });
  });
});

/** Make a 16-digit number Luhn-valid by fixing its last digit. */
const luhn = (num15or16: string): string => luhnComplete(num15or16.slice(0, 15));
