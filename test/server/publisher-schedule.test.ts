// The publisher's schedule on an injected clock: under a steady stream of real changes (restricted
// cards added to a real SQLite file) a publish lands within publish.maxDelay, builds never overlap,
// and a change during a build gets exactly one follow-up build.
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DatasetPublisher, type PublishClock } from '../../server/datasets/publisher.ts';
import type { BuildJob, BuildJobResult } from '../../server/datasets/builder.ts';
import { loadOrCreateKeys } from '../../server/keys.ts';
import { createLogger } from '../../server/log.ts';
import { SqliteStorage } from '../../server/storage/sqlite-storage.ts';

/** A clock that only moves when the test says so; timers fire in time order as it moves. */
class ManualClock implements PublishClock {
  t = 0;
  private seq = 0;
  private timers = new Map<number, { at: number; fn: () => void }>();
  nowMs = () => this.t;
  setTimer = (fn: () => void, ms: number) => {
    const id = ++this.seq;
    this.timers.set(id, { at: this.t + Math.max(0, ms), fn });
    return id;
  };
  clearTimer = (h: unknown) => void this.timers.delete(h as number);
  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.setTimer(resolve, ms));
  }
  /** Moves to `to`, firing due timers in order and letting the work they start settle. */
  async advanceTo(to: number): Promise<void> {
    for (;;) {
      await settle();
      let next: [number, { at: number; fn: () => void }] | null = null;
      for (const e of this.timers) if (e[1].at <= to && (!next || e[1].at < next[1].at || (e[1].at === next[1].at && e[0] < next[0]))) next = e;
      if (!next) break;
      this.timers.delete(next[0]);
      this.t = Math.max(this.t, next[1].at);
      next[1].fn();
    }
    this.t = Math.max(this.t, to);
    await settle();
  }
}

// SQLite (better-sqlite3) and signing are synchronous, so a build is a chain of microtasks:
// a few macrotask turns drain it completely.
async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
}

interface Rig {
  clock: ManualClock;
  storage: SqliteStorage;
  publisher: DatasetPublisher;
  builds: { start: number; end: number | null }[];
  maxConcurrent: number;
  /** The next snapshot build fails (as a full disk would). */
  failNext: boolean;
  change(): Promise<void>;
}

let cleanup: (() => Promise<void>) | null = null;
afterEach(async () => {
  await cleanup?.();
  cleanup = null;
});

const BUILD_MS = 1500;

function rig(o: { debounceMs: number; maxDelayMs: number }): Rig {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'precheck-publisher-'));
  const storage = new SqliteStorage(path.join(dir, 'precheck.db'));
  const clock = new ManualClock();
  const builds: Rig['builds'] = [];
  let running = 0;
  const r: Rig = {
    clock,
    storage,
    builds,
    maxConcurrent: 0,
    failNext: false,
    publisher: null as unknown as DatasetPublisher,
    async change() {
      await storage.addRestricted([{ token: new Uint8Array(crypto.randomBytes(16)), bin: null, last4: null, reason: 'fraud', source: 'test', addedAt: 1, expiresAt: null }]);
      r.publisher.notifyChanged();
    },
  };
  // Each snapshot build takes BUILD_MS on the manual clock, so overlapping builds would show.
  const runJob = async (job: BuildJob, run: (j: BuildJob) => Promise<BuildJobResult>) => {
    if (job.kind !== 'snapshot') return run(job);
    if (r.failNext) {
      r.failNext = false;
      throw new Error('disk full');
    }
    const b = { start: clock.t, end: null as number | null };
    builds.push(b);
    running++;
    r.maxConcurrent = Math.max(r.maxConcurrent, running);
    try {
      const res = await run(job);
      await clock.sleep(BUILD_MS);
      return res;
    } finally {
      running--;
      b.end = clock.t;
    }
  };
  r.publisher = new DatasetPublisher(
    storage,
    loadOrCreateKeys(dir),
    async () => ({ routes: [], gatewayHealth: [] }),
    { now: () => 1_800_000_000_000 + clock.t, ttlSeconds: 7 * 86400, debounceMs: o.debounceMs, maxDelayMs: o.maxDelayMs, keepVersions: 8, chunkSize: 4096, historyWindowSeconds: 30 * 86400, maxEventsPerToken: 32, clock, runJob },
    createLogger({ level: 'silent' }),
  );
  cleanup = async () => {
    await clock.advanceTo(clock.t + 3_600_000); // lets a build that is waiting on the clock end
    await r.publisher.close();
    await storage.close();
    fs.rmSync(dir, { recursive: true, force: true });
  };
  return r;
}

describe('dataset publisher schedule', () => {
  it('publishes within maxDelay under a steady stream of changes, one build at a time', async () => {
    const r = rig({ debounceMs: 2000, maxDelayMs: 10_000 });
    // The service publishes at first start; that build also tells the schedule how long one takes.
    const first = r.publisher.publish('first start');
    await r.clock.advanceTo(BUILD_MS);
    await first;
    const published: { at: number; version: number }[] = [];
    r.publisher.onPublished((p) => published.push({ at: r.clock.t, version: p.info.version }));

    // A change every 50 ms for 60 s: the debounce alone would never fire.
    const changes: number[] = [];
    let maxAge = 0;
    const start = r.clock.t;
    for (let t = start; t < start + 60_000; t += 50) {
      await r.clock.advanceTo(t);
      await r.change();
      changes.push(r.clock.t);
      maxAge = Math.max(maxAge, r.publisher.status().oldestUnpublishedChangeAgeMs ?? 0);
    }
    await r.clock.advanceTo(start + 80_000);

    expect(published.length).toBeGreaterThanOrEqual(6);
    expect(r.maxConcurrent).toBe(1);
    for (let i = 1; i < r.builds.length; i++) expect(r.builds[i].start).toBeGreaterThanOrEqual(r.builds[i - 1].end!);
    // Every change is read by the first build that starts after it, and that build ends in time.
    for (const c of changes) {
      const b = r.builds.find((x) => x.start >= c)!;
      expect(b, `a build after the change at ${c}`).toBeDefined();
      expect(b.end! - c).toBeLessThanOrEqual(10_000);
    }
    expect(maxAge).toBeLessThanOrEqual(10_000);
    expect(r.publisher.status().oldestUnpublishedChangeAgeMs).toBeNull();
    expect(await r.storage.countRestricted()).toBe(changes.length);
  });

  it('a change during a build schedules exactly one follow-up, which includes it', async () => {
    const r = rig({ debounceMs: 2000, maxDelayMs: 10_000 });
    await r.change();
    await r.clock.advanceTo(1999);
    expect(r.builds).toHaveLength(0); // the debounce has not passed
    await r.clock.advanceTo(2000);
    expect(r.builds).toHaveLength(1);
    expect(r.publisher.status().building).toBe(true);
    // Five changes while the build runs.
    for (let i = 1; i <= 5; i++) {
      await r.clock.advanceTo(2000 + i * 100);
      await r.change();
    }
    expect(r.publisher.status().oldestUnpublishedChangeAgeMs).toBe(r.clock.t); // the first build's change, at 0, is not published yet
    await r.clock.advanceTo(60_000);
    expect(r.builds).toHaveLength(2);
    expect(r.maxConcurrent).toBe(1);
    expect(r.builds[1].start).toBeGreaterThanOrEqual(r.builds[0].end!);
    const latest = await r.storage.latestDataset();
    expect(latest!.version).toBe(2);
    expect(r.publisher.status()).toMatchObject({ oldestUnpublishedChangeAgeMs: null, building: false, published: 2, builds: 2 });
  });

  it('a failed build keeps the changes pending and retries after a back-off', async () => {
    const r = rig({ debounceMs: 100, maxDelayMs: 1000 });
    r.failNext = true;
    await r.change();
    await r.clock.advanceTo(100);
    expect(r.publisher.status()).toMatchObject({ failures: 1, oldestUnpublishedChangeAgeMs: 100 });
    await r.clock.advanceTo(1099);
    expect(r.builds).toHaveLength(0); // backing off, not spinning
    await r.clock.advanceTo(10_000);
    expect(r.builds).toHaveLength(1);
    expect(r.publisher.status()).toMatchObject({ oldestUnpublishedChangeAgeMs: null, published: 1 });
  });
});
