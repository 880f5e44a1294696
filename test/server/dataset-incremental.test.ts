// The dataset build's incremental history read (readDatasetTablesSince, SQLite and PostgreSQL —
// PRECHECK_TEST_DATABASE_URL, else the PostgreSQL cases are skipped, saying so) and the publisher
// that uses it: what they produce must equal a complete read of the same tables, as outcomes
// arrive and time moves events out of the window.
import { afterEach, describe, expect, it } from 'vitest';
import path from 'node:path';
import pg from 'pg';
import { SqliteStorage } from '../../server/storage/sqlite-storage.ts';
import { PgStorage } from '../../server/storage/pg-storage.ts';
import type { DatasetTables, HistoryCursor, OutcomeRow, Storage } from '../../server/storage/storage.ts';
import { dropPgDatabase, freshPgDatabase } from '../../testkit/pg-database.ts';
import { openService, type Service } from '../../server/service.ts';
import { contentHash } from '../../protocol/dataset/index.ts';
import { makeTempDir, type TempDir } from '../../testkit/tmp.ts';
import { mulberry32 as rng } from '../../server/routing/rng.ts'; // seeded: every run sees the same outcomes

const PG_URL = process.env.PRECHECK_TEST_DATABASE_URL ?? '';
let tmp: TempDir | null = null;
let storage: Storage | null = null;
let svc: Service | null = null;
let pgDb: string | null = null;
afterEach(async () => {
  await svc?.close();
  await storage?.close();
  tmp?.cleanup();
  if (pgDb) await dropPgDatabase(PG_URL, pgDb);
  svc = null;
  storage = null;
  tmp = null;
  pgDb = null;
});

type IncrementalStorage = Storage & Required<Pick<Storage, 'readDatasetTablesSince'>>;
const backends: { name: string; open(): Promise<IncrementalStorage> }[] = [
  {
    name: 'SQLite',
    async open() {
      tmp = makeTempDir('precheck-dsinc-');
      return new SqliteStorage(path.join(tmp.dir, 'service.db'));
    },
  },
];
if (PG_URL) {
  backends.push({
    name: 'PostgreSQL',
    async open() {
      pgDb = await freshPgDatabase(PG_URL, 'precheck_dsinc');
      return PgStorage.open(pgDb);
    },
  });
} else {
  describe('incremental dataset reads: PostgreSQL', () => {
    it.skip('skipped: no PostgreSQL available (set PRECHECK_TEST_DATABASE_URL; .ci/run starts one)', () => undefined);
  });
}

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

describe.each(backends)('incremental dataset reads: $name', (backend) => {
  it('the history read from a cursor, applied to the previous read, equals a complete read, round after round', async () => {
    const store = await backend.open();
    storage = store;
    const r = rng(20261206);
    const seq = { j: 0 };
    let now = 1_800_000_000;
    const window = 30 * DAY;
    const max = 4; // small, so the per-card cap is exercised
    let cursor: HistoryCursor | null = null;
    let held = new Map<string, string>();
    let incremental = 0;
    for (let round = 0; round < 40; round++) {
      await store.importOutcomes(outcomes(r, now, Math.floor(r() * 6), seq));
      now += Math.floor(r() * 3 * DAY);
      const t = await store.readDatasetTablesSince(cursor, now, now - window, max);
      if (t.changed === null) held = byToken(t.history);
      else {
        incremental++;
        for (const c of t.changed) held.delete(Buffer.from(c).toString('hex'));
        for (const [k, v] of byToken(t.history)) held.set(k, v);
        // only changed cards are read
        expect(t.history.length).toBeLessThanOrEqual(t.changed.length);
      }
      const full = await store.readDatasetTables(now, now - window, max);
      expect(held).toEqual(byToken(full.history));
      cursor = t.cursor;
    }
    expect(incremental).toBe(39);
    // a cursor that does not fit (window moved back, other cap) gives a complete read
    expect((await store.readDatasetTablesSince(cursor, now, now - window - 1, max)).changed).toBeNull();
    expect((await store.readDatasetTablesSince(cursor, now, now - window, max + 1)).changed).toBeNull();
  });

  it('every version the publisher builds incrementally has the content hash of a complete build of the same tables', async () => {
    tmp = makeTempDir('precheck-dsinc-');
    if (backend.name === 'PostgreSQL') pgDb = await freshPgDatabase(PG_URL, 'precheck_dsinc');
    let now = 1_800_000_000;
    svc = await openService({ dataDir: tmp.dir, database: pgDb ?? undefined, logLevel: 'silent', publishDebounceMs: -1, buildInChild: false, now: () => now * 1000, train: { schedule: null } } as Parameters<typeof openService>[0]);
    const r = rng(7);
    const seq = { j: 0 };
    let created = 0;
    for (let round = 0; round < 25; round++) {
      await svc.storage.importOutcomes(outcomes(r, now, 1 + Math.floor(r() * 4), seq));
      // known-good cards too (the packed section the build takes whole from SQLite), some of them restricted
      await svc.storage.addKnownGood(r() < 0.5 ? 'm' : 'n', tokenOf(Math.floor(r() * 40)), now);
      now += Math.floor(r() * 2 * DAY);
      // PostgreSQL: the router follows stored outcomes once a second; read them now, so the routes
      // of the build and of the complete read below are the same.
      await svc.routingFollower?.poll();
      const p = await svc.publisher.publish('test');
      if (p.created) created++;
      expect(p.info.contentHash).toBe(Buffer.from(contentHash(await svc.publisher.currentContent())).toString('hex'));
    }
    expect(created).toBeGreaterThan(20);
    expect((await svc.publisher.currentContent()).knownGood.length).toBeGreaterThan(5);
  });

  it('the build reads the known-good section as one packed string (no object per card), the distinct unrestricted tokens in order', async () => {
    tmp = makeTempDir('precheck-dsinc-');
    const sq = new SqliteStorage(path.join(tmp.dir, 'service.db'));
    storage = sq;
    const now = 1_800_000_000;
    for (const [m, i] of [['m', 9], ['m', 3], ['m', 7], ['x', 3], ['m', 5]] as const) await sq.addKnownGood(m, tokenOf(i), now);
    await sq.addKnownGood('other', tokenOf(9), now); // the same card at a second merchant: once
    const t = await sq.readDatasetTablesSince(null, now, now - DAY, 10);
    expect(t.knownGood).toEqual([]);
    expect(Buffer.from(t.knownGoodPacked!).toString('hex')).toBe([3, 5, 7, 9].map((i) => Buffer.from(tokenOf(i)).toString('hex')).join(''));
    // the complete read still lists them one by one
    expect((await sq.readDatasetTables(now, now - DAY, 10)).knownGood.map((k) => k[0])).toEqual([3, 5, 7, 9]);
  });
});

describe.skipIf(!PG_URL)('incremental dataset reads: PostgreSQL, rows committed late', () => {
  it('an outcome whose transaction commits after a read that saw a larger id is in the next read', async () => {
    pgDb = await freshPgDatabase(PG_URL, 'precheck_dsinc');
    const store = await PgStorage.open(pgDb);
    storage = store;
    const now = 1_800_000_000;
    const row = (i: number, tok: number): OutcomeRow => ({
      idempotencyKey: `k${i}`, merchant: 'm', token: tokenOf(tok), bin: '411111', last4: '0000', brand: 'visa', orderId: `o${i}`,
      amount: 100, currency: 'EUR', gateway: 'gw-a', status: 'success', code: null, type: null, at: now - 60, hard: false,
    });
    await store.importOutcomes([row(0, 1)]);
    let t = await store.readDatasetTablesSince(null, now, now - DAY, 8);
    expect(t.changed).toBeNull();
    // Another instance's outcome: its id is taken now, its commit comes after a larger id's.
    const other = new pg.Client({ connectionString: pgDb });
    await other.connect();
    try {
      await other.query('BEGIN');
      await other.query(
        `INSERT INTO outcomes (merchant, token, bin, last4, brand, order_id, amount, currency, gateway, status, at, hard)
         VALUES ('m', $1, '411111', '0000', 'visa', 'late', 100, 'EUR', 'gw-a', 'success', $2, false)`,
        [Buffer.from(tokenOf(2)), now - 30],
      );
      await store.importOutcomes([row(1, 3)]);
      t = await store.readDatasetTablesSince(t.cursor, now, now - DAY, 8);
      // (more cards may come back: a transaction of another database on the cluster holds the
      // snapshot's xmin back, and rows at or above it are read again — never fewer)
      expect(t.changed!.map((x) => x[0])).toContain(3);
      expect(t.changed!.map((x) => x[0])).not.toContain(2);
      await other.query('COMMIT');
    } finally {
      await other.end();
    }
    const before = store.historyRowsRead;
    t = await store.readDatasetTablesSince(t.cursor, now, now - DAY, 8);
    expect(t.changed!.map((x) => x[0])).toContain(2);
    expect(t.history.map((h) => h.token[0])).toContain(2);
    expect(store.historyRowsRead - before).toBe(t.history.reduce((n, h) => n + h.events.length, 0));
  });
});
