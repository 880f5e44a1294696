// Small pieces of the sync job: the schedule's overlap guard, the device lock files, the chunk
// cache, dataset ages for health/metrics, the summary table and the plain progress lines.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import crypto from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { startSyncScheduler } from '../../host-bridge/sync/scheduler.ts';
import { DeviceLocks } from '../../host-bridge/sync/device-lock.ts';
import { ChunkCache } from '../../host-bridge/sync/chunk-cache.ts';
import { deviceDatasetAges, formatAge } from '../../host-bridge/devices/freshness.ts';
import { failureLine, formatSummaryTable } from '../../host-bridge/sync/summary-table.ts';
import { createProgressView } from '../../host-bridge/sync/progress-view.ts';
import { exitCodeOf, type SyncReport } from '../../host-bridge/sync/sync-engine.ts';
import type { DeviceSummary } from '../../host-bridge/devices/types.ts';
import { makeTempDir, type TempDir } from '../../testkit/tmp.ts';
import { deferred, withTimeout } from '../../testkit/wait.ts';
import { run } from '../../testkit/process.ts';

const dirs: TempDir[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) d.cleanup();
});
const tmp = () => {
  const d = makeTempDir('precheck-sync-unit-');
  dirs.push(d);
  return d;
};

describe('scheduler', () => {
  it('runs on the cron schedule and never starts a second run while one is going', async () => {
    const gate = deferred<void>();
    const started = deferred<void>();
    let runs = 0;
    const sched = startSyncScheduler({
      schedule: '* * * * * *', // every second (croner's 6-field form)
      run: async () => {
        runs++;
        started.resolve();
        await gate.promise;
      },
    });
    try {
      expect(sched.nextRun()).toBeInstanceOf(Date);
      await withTimeout(started.promise, 5_000, 'the first scheduled run');
      expect(sched.isBusy()).toBe(true);
      expect(sched.trigger()).toBe(false); // overlap refused
      expect(sched.stats.skipped).toBeGreaterThanOrEqual(1);
      expect(runs).toBe(1);
    } finally {
      gate.resolve();
      sched.stop();
    }
    expect(sched.nextRun()).toBeNull();
  });

  it('a failing run is counted and logged, not thrown', async () => {
    const failed = deferred<string>();
    const sched = startSyncScheduler({
      schedule: '0 0 1 1 *',
      run: async () => {
        throw new Error('boom');
      },
      logger: { info: () => undefined, warn: () => undefined, error: (m) => failed.resolve(m) },
    });
    try {
      expect(sched.trigger()).toBe(true);
      expect(await withTimeout(failed.promise, 5_000, 'the failure log')).toMatch(/scheduled run failed: boom/);
      expect(sched.stats.failed).toBe(1);
    } finally {
      sched.stop();
    }
  });
});

describe('device locks', () => {
  it('one holder at a time, across instances (processes) sharing the dir; released on release()', () => {
    const d = tmp();
    const a = new DeviceLocks(d.dir);
    const b = new DeviceLocks(d.dir);
    const held = a.acquire('pc-000000000001');
    expect(() => b.acquire('pc-000000000001')).toThrow(/SYNC_BUSY|being synced by pid/);
    expect(() => a.acquire('pc-000000000001')).toThrow(/already being synced by this process/);
    expect(b.holder('pc-000000000001')?.pid).toBe(process.pid);
    b.acquire('pc-000000000002').release(); // other devices are free
    held.release();
    b.acquire('pc-000000000001').release();
    expect(fs.readdirSync(d.dir)).toEqual([]);
  });

  it('a lock whose process died is stale and taken over; a live one in another process is not', async () => {
    const d = tmp();
    const dead = await run(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']);
    const file = path.join(d.dir, 'pc-0000000000aa.lock');
    fs.writeFileSync(file, JSON.stringify({ pid: Number(dead.stdout), hostname: os.hostname(), startedAt: 1, purpose: 'sync' }));
    const locks = new DeviceLocks(d.dir);
    expect(locks.holder('pc-0000000000aa')).toBeNull();
    const l = locks.acquire('pc-0000000000aa');
    expect(JSON.parse(fs.readFileSync(file, 'utf8')).pid).toBe(process.pid);
    l.release();
    // a live holder elsewhere (pid 1 always exists) keeps the lock
    fs.writeFileSync(file, JSON.stringify({ pid: 1, hostname: os.hostname(), startedAt: 1, purpose: 'sync' }));
    expect(() => locks.acquire('pc-0000000000aa')).toThrow(/being synced by pid 1 /);
  });

  it('device ids cannot escape the lock dir', () => {
    const d = tmp();
    const locks = new DeviceLocks(d.dir);
    expect(path.dirname(locks.fileOf('../../etc/passwd'))).toBe(d.dir);
  });
});

describe('chunk cache', () => {
  it('returns what was stored by its SHA-256, and treats a damaged file as a miss', () => {
    const d = tmp();
    const cache = new ChunkCache(d.dir);
    const data = new Uint8Array(crypto.randomBytes(300));
    const h = crypto.createHash('sha256').update(data).digest();
    expect(cache.get(h)).toBeNull();
    cache.put(h, data);
    expect(Buffer.from(cache.get(h)!)).toEqual(Buffer.from(data));
    const file = path.join(d.dir, h.toString('hex').slice(0, 2), h.toString('hex'));
    fs.writeFileSync(file, Buffer.from('tampered'));
    expect(cache.get(h)).toBeNull();
    expect(fs.existsSync(file)).toBe(false);
    cache.put(h, data);
    expect(cache.prune(60_000, Date.now() + 120_000)).toBe(1);
  });
});

describe('dataset ages for /v1/health and /metrics', () => {
  it('age from creation, and stale once past expiry by the bridge clock', () => {
    const now = 1_800_000_000;
    const sum = (over: Partial<DeviceSummary>): { summary(): DeviceSummary } => ({
      summary: () => ({
        id: 'pc-1',
        link: 'rs485',
        address: 'x',
        paired: true,
        healthy: true,
        firmwareVersion: 1,
        firmwareState: 'confirmed',
        datasetVersion: 3,
        datasetState: 'fresh',
        datasetCreatedAt: now - 600,
        datasetExpiresAt: now + 100,
        rulesVersion: null,
        ...over,
      }),
    });
    const [a, b, c] = deviceDatasetAges([sum({}), sum({ datasetExpiresAt: now - 1 }), sum({ datasetVersion: 0, datasetState: 'none', datasetCreatedAt: null, datasetExpiresAt: null })], now * 1000);
    expect(a).toMatchObject({ datasetState: 'fresh', ageSeconds: 600, expiresInSeconds: 100 });
    expect(b).toMatchObject({ datasetState: 'stale', expiresInSeconds: -1 });
    expect(c).toMatchObject({ datasetState: 'none', ageSeconds: null });
  });

  it('an age for people in its largest unit: spaced on the status page, compact in `precheck status`', () => {
    const ages = [null, 0, 119, 120, 7199, 7200, 172_799, 172_800];
    expect(ages.map((s) => formatAge(s))).toEqual(['no dataset', '0 s', '119 s', '2 min', '120 min', '2 h', '48 h', '2 d']);
    expect(ages.map((s) => formatAge(s, true))).toEqual(['no dataset', '0s', '119s', '2m', '120m', '2h', '48h', '2d']);
  });
});

describe('report rendering and exit codes', () => {
  const report = (results: SyncReport['results'], service: SyncReport['service'] = { url: 'http://svc', reachable: true }): SyncReport => {
    const r: SyncReport = { startedAt: '', seconds: 1, service, latest: { dataset: 5, firmware: null }, results, exitCode: 0 };
    r.exitCode = exitCodeOf(r);
    return r;
  };
  const ok = { device: 'pc-a', link: 'rs485', kind: 'dataset' as const, from: 4, to: 5, via: 'delta' as const, bytesSent: 18_600, seconds: 1.94, result: 'updated' as const, resumedFrom: 12 };
  const bad = { device: 'pc-b', link: 'hid-cable', kind: 'dataset' as const, from: 3, to: 5, bytesSent: 0, seconds: 0.1, result: 'failed' as const, code: 'DEVICE_UNAVAILABLE', error: 'DEVICE_UNAVAILABLE: gave up' };

  it('table: one row per device with versions, bytes, seconds and result; failures say why', () => {
    const r = report([ok, bad]);
    const out = formatSummaryTable(r).split('\n');
    expect(out[0]).toMatch(/^DEVICE\s+LINK\s+WHAT\s+VERSION\s+VIA\s+BYTES SENT\s+SECONDS\s+RESULT$/);
    expect(out[1]).toMatch(/^pc-a\s+rs485\s+dataset\s+v4 → v5\s+delta \(resumed at 12\)\s+18\.2 KiB\s+1\.9\s+updated$/);
    expect(out[2]).toMatch(/^pc-b\s+hid-cable\s+dataset\s+v3 → v5\s+-\s+0 B\s+0\.1\s+failed$/);
    expect(out[3]).toBe('pc-b dataset failed: DEVICE_UNAVAILABLE: gave up');
    // a row that failed before any version was known shows no version, not "v0"
    const early = formatSummaryTable(report([{ ...bad, from: 0, to: 0 }])).split('\n');
    expect(early[1]).toMatch(/^pc-b\s+hid-cable\s+dataset\s+-\s+-\s+0 B/);
    expect(formatSummaryTable(report([{ ...ok, from: 0, to: 5 }])).split('\n')[1]).toMatch(/\snone → v5\s/);
    expect(r.exitCode).toBe(4);
    expect(failureLine(r)).toBe('sync: 1 of 2 device(s) not brought up to date: pc-b dataset failed (DEVICE_UNAVAILABLE: gave up)');
  });

  it('exit codes: 0 fine, 3 service unreachable, 5 forged, 4 rolled back', () => {
    expect(report([ok]).exitCode).toBe(0);
    expect(report([{ ...bad, code: 'SERVICE_UNAVAILABLE' }], { url: 'u', reachable: false, code: 'SERVICE_UNAVAILABLE', error: 'x' }).exitCode).toBe(3);
    expect(report([ok, { ...bad, code: 'SIGNATURE_INVALID' }]).exitCode).toBe(5);
    expect(report([{ ...ok, kind: 'firmware', result: 'rolled-back', code: 'FIRMWARE_INVALID', error: 'x' }]).exitCode).toBe(4);
  });

  it('plain progress lines off a TTY: start, every tenth, done', () => {
    const lines: string[] = [];
    const stream = { write: (s: string) => lines.push(s), isTTY: false } as unknown as NodeJS.WriteStream;
    const view = createProgressView(stream);
    const p = { device: 'pc-a', kind: 'dataset' as const, from: 1, to: 2, chunks: 100, bytesSent: 0, bytesTotal: 409_600 };
    view.update({ ...p, phase: 'download', chunk: 0 });
    for (let i = 0; i <= 100; i++) view.update({ ...p, phase: 'send', chunk: i, bytesSent: i * 4096 });
    view.update({ ...p, phase: 'commit', chunk: 100 });
    view.update({ ...p, phase: 'done', chunk: 0, chunks: 0 });
    view.stop();
    expect(lines[0]).toBe('sync: pc-a dataset v1 → v2: download\n');
    expect(lines.filter((l) => / chunk \d+\/100 /.test(l))).toHaveLength(11);
    expect(lines.at(-2)).toBe('sync: pc-a dataset v1 → v2: commit\n');
    expect(lines.at(-1)).toBe('sync: pc-a dataset v1 → v2: finished\n');
  });
});
