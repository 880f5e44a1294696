// The dataset build's incremental history read (SQLite readDatasetTablesSince) and the publisher
// that uses it: what they produce must equal a complete read of the same tables, as outcomes
// arrive and time moves events out of the window.
import { afterEach, describe, expect, it } from 'vitest';
import path from 'node:path';
import { SqliteStorage } from '../../server/storage/sqlite-storage.ts';
import type { DatasetTables, HistoryCursor, OutcomeRow } from '../../server/storage/storage.ts';
import { openService, type Service } from '../../server/service.ts';
import { contentHash } from '../../protocol/dataset/index.ts';
import { makeTempDir, type TempDir } from '../../testkit/tmp.ts';
import { mulberry32 as rng } from '../../server/routing/rng.ts'; // seeded: every run sees the same outcomes

let tmp: TempDir | null = null;
let storage: SqliteStorage | null = null;
let svc: Service | null = null;
afterEach(async () => {
  await svc?.close();
  await storage?.close();
  tmp?.cleanup();
  svc = null;
  storage = null;
  tmp = null;
});

const DAY = 86400;
const tokenOf = (i: number) => new Uint8Array(16).fill(0).map((_, k) => (k === 0 ? i : k === 15 ? 7 : 0));

function outcomes(r: () => number, now: number, n: number, seq: { j: number }): OutcomeRow[] {
  return Array.from({ length: n }, () => {
    const fail = r() < 0.4;
    const hard = fail && r() < 0.2;
    const j = seq.j++;
    return {
      idempotencyKey: `k${j}`,
      merchant: 'm',
      token: tokenOf(Math.floor(r() * 24)),
      bin: '411111',
      last4: '0000',
      brand: r() < 0.5 ? 'visa' : null,
      orderId: `o${j}`,
      amount: 100 + Math.floor(r() * 1000),
      currency: 'EUR',
      gateway: 'gw-a',
      status: fail ? 'failure' : 'success',
      code: fail ? (hard ? '57' : '51') : null,
      type: fail ? (hard ? 'hard' : 'soft') : null,
      // some land exactly on another's second, some already older than the window
      at: now - Math.floor(r() * 35 * DAY) + (r() < 0.2 ? 0 : Math.floor(r() * 3)),
      hard,
    } as OutcomeRow;
  });
}

const byToken = (h: DatasetTables['history']) => new Map(h.map((e) => [Buffer.from(e.token).toString('hex'), JSON.stringify([e.brand, e.events])]));

describe('incremental dataset reads', () => {
  it('the history read from a cursor, applied to the previous read, equals a complete read, round after round', async () => {
    tmp = makeTempDir('precheck-dsinc-');
    storage = new SqliteStorage(path.join(tmp.dir, 'service.db'));
    const r = rng(20261206);
    const seq = { j: 0 };
    let now = 1_800_000_000;
    const window = 30 * DAY;
    const max = 4; // small, so the per-card cap is exercised
    let cursor: HistoryCursor | null = null;
    let held = new Map<string, string>();
    let incremental = 0;
    for (let round = 0; round < 40; round++) {
      await storage.importOutcomes(outcomes(r, now, Math.floor(r() * 6), seq));
      now += Math.floor(r() * 3 * DAY);
      const t = await storage.readDatasetTablesSince(cursor, now, now - window, max);
      if (t.changed === null) held = byToken(t.history);
      else {
        incremental++;
        for (const c of t.changed) held.delete(Buffer.from(c).toString('hex'));
        for (const [k, v] of byToken(t.history)) held.set(k, v);
        // only changed cards are read
        expect(t.history.length).toBeLessThanOrEqual(t.changed.length);
      }
      const full = await storage.readDatasetTables(now, now - window, max);
      expect(held).toEqual(byToken(full.history));
      cursor = t.cursor;
    }
    expect(incremental).toBe(39);
    // a cursor that does not fit (window moved back, other cap) gives a complete read
    expect((await storage.readDatasetTablesSince(cursor, now, now - window - 1, max)).changed).toBeNull();
    expect((await storage.readDatasetTablesSince(cursor, now, now - window, max + 1)).changed).toBeNull();
  });

  it('every version the publisher builds incrementally has the content hash of a complete build of the same tables', async () => {
    tmp = makeTempDir('precheck-dsinc-');
    let now = 1_800_000_000;
    svc = await openService({ dataDir: tmp.dir, logLevel: 'silent', publishDebounceMs: -1, buildInChild: false, now: () => now * 1000, train: { schedule: null } } as Parameters<typeof openService>[0]);
    const r = rng(7);
    const seq = { j: 0 };
    let created = 0;
    for (let round = 0; round < 25; round++) {
      await svc.storage.importOutcomes(outcomes(r, now, 1 + Math.floor(r() * 4), seq));
      // known-good cards too (the packed section the build takes whole from SQLite), some of them restricted
      await svc.storage.addKnownGood(r() < 0.5 ? 'm' : 'n', tokenOf(Math.floor(r() * 40)), now);
      now += Math.floor(r() * 2 * DAY);
      const p = await svc.publisher.publish('test');
      if (p.created) created++;
      expect(p.info.contentHash).toBe(Buffer.from(contentHash(await svc.publisher.currentContent())).toString('hex'));
    }
    expect(created).toBeGreaterThan(20);
    expect((await svc.publisher.currentContent()).knownGood.length).toBeGreaterThan(5);
  });

  it('the build reads the known-good section as one packed string (no object per card), the distinct unrestricted tokens in order', async () => {
    tmp = makeTempDir('precheck-dsinc-');
    storage = new SqliteStorage(path.join(tmp.dir, 'service.db'));
    const now = 1_800_000_000;
    for (const [m, i] of [['m', 9], ['m', 3], ['m', 7], ['x', 3], ['m', 5]] as const) await storage.addKnownGood(m, tokenOf(i), now);
    await storage.addKnownGood('other', tokenOf(9), now); // the same card at a second merchant: once
    const t = await storage.readDatasetTablesSince(null, now, now - DAY, 10);
    expect(t.knownGood).toEqual([]);
    expect(Buffer.from(t.knownGoodPacked!).toString('hex')).toBe([3, 5, 7, 9].map((i) => Buffer.from(tokenOf(i)).toString('hex')).join(''));
    // the complete read still lists them one by one
    expect((await storage.readDatasetTables(now, now - DAY, 10)).knownGood.map((k) => k[0])).toEqual([3, 5, 7, 9]);
  });
});
