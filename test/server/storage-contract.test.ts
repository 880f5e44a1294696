// One storage contract, every backend: what the service relies on from Storage, run against a
// real SQLite file and a real PostgreSQL server (PRECHECK_TEST_DATABASE_URL, a user that may
// CREATE DATABASE: each test gets a fresh database, dropped afterwards). `.ci/run` starts a
// throwaway cluster and sets it; without it the PostgreSQL run is skipped, saying so.
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PgStorage } from '../../server/storage/pg-storage.ts';
import { SqliteStorage } from '../../server/storage/sqlite-storage.ts';
import { routingCardKey, type OutcomeRow, type Storage } from '../../server/storage/storage.ts';
import { dropPgDatabase, freshPgDatabase } from '../../testkit/pg-database.ts';

const T = 1_700_000_000;
const tok = (n: number) => new Uint8Array(16).fill(n);

interface Backend {
  name: string;
  open(): Promise<{ storage: Storage; reopen(): Promise<Storage>; cleanup(): Promise<void> }>;
}

const PG_URL = process.env.PRECHECK_TEST_DATABASE_URL ?? '';

const backends: Backend[] = [
  {
    name: 'SQLite',
    async open() {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'precheck-contract-'));
      const file = path.join(dir, 'precheck.db');
      return {
        storage: new SqliteStorage(file),
        reopen: async () => new SqliteStorage(file),
        cleanup: async () => fs.rmSync(dir, { recursive: true, force: true }),
      };
    },
  },
  {
    name: 'PostgreSQL',
    async open() {
      const url = await freshPgDatabase(PG_URL, 'precheck_contract');
      return {
        storage: await PgStorage.open(url),
        reopen: () => PgStorage.open(url),
        cleanup: () => dropPgDatabase(PG_URL, url),
      };
    },
  },
];

if (!PG_URL) {
  describe('storage contract: PostgreSQL', () => {
    it.skip('skipped: no PostgreSQL available (set PRECHECK_TEST_DATABASE_URL; .ci/run starts one)', () => undefined);
  });
}

function outcome(over: Partial<OutcomeRow> = {}): OutcomeRow {
  return {
    idempotencyKey: crypto.randomUUID(), merchant: 'm1', token: tok(1), bin: '411111', last4: '1111', brand: 'visa', orderId: 'o1',
    amount: 2500, currency: 'USD', gateway: 'gw-a', status: 'success', code: null, type: null, advice: null, at: T, hard: false, ...over,
  };
}

for (const backend of backends.filter((b) => b.name !== 'PostgreSQL' || PG_URL)) {
  describe(`storage contract: ${backend.name}`, () => {
    let storage: Storage;
    let env: Awaited<ReturnType<Backend['open']>>;
    beforeEach(async () => {
      env = await backend.open();
      storage = env.storage;
    });
    afterEach(async () => {
      await storage.close();
      await env.cleanup();
    });

    it('records outcomes idempotently under concurrency: one row per key, the first answer on every retry', async () => {
      const keys = Array.from({ length: 40 }, () => crypto.randomUUID());
      // Every key sent three times at once (a bridge retrying while the first is in flight).
      const results = await Promise.all(
        keys.flatMap((k, i) => [0, 1, 2].map((r) => storage.recordOutcome(outcome({ idempotencyKey: k, orderId: `o${i}` }), `fp-${k}`, { restrict: null, knownGood: true }, { outcomeId: `${k}-${r}` }))),
      );
      expect(await storage.countOutcomes()).toBe(40);
      for (let i = 0; i < keys.length; i++) {
        const three = results.slice(i * 3, i * 3 + 3);
        expect(three.filter((r) => r.created)).toHaveLength(1);
        const first = three.find((r) => r.created)!.response;
        for (const r of three) expect(r.response).toEqual(first);
      }
      // A different request under a used key is a conflict, not a second row.
      const again = await storage.recordOutcome(outcome({ idempotencyKey: keys[0], amount: 1 }), 'other', { restrict: null, knownGood: false }, {});
      expect(again).toMatchObject({ created: false, conflict: true });
      expect(await storage.isKnownGood('m1', tok(1))).toBe(true);
    });

    it('one bad outcome in a concurrent batch fails alone; the others are stored and survive a reopen', async () => {
      const good = [outcome({ orderId: 'a' }), outcome({ orderId: 'b' })];
      const bad = outcome({ orderId: 'c', status: 'maybe' as 'success' }); // violates the status check
      const settled = await Promise.allSettled([
        storage.recordOutcome(good[0], 'f0', { restrict: null, knownGood: false }, { n: 0 }),
        storage.recordOutcome(bad, 'f1', { restrict: null, knownGood: false }, { n: 1 }),
        storage.recordOutcome(good[1], 'f2', { restrict: { reason: '05' }, knownGood: false }, { n: 2 }),
      ]);
      expect(settled.map((s) => s.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
      await storage.close();
      storage = await env.reopen();
      expect(await storage.countOutcomes()).toBe(2);
      expect((await storage.getRestricted(tok(1), T))?.reason).toBe('05');
      expect((await storage.orderOutcomes('m1', 'b')).map((r) => r.gateway)).toEqual(['gw-a']);
    });

    it('keeps trust attempts, counts them before `at` only, labels the latest unlabelled attempt of an order', async () => {
      const row = (o: Record<string, unknown>) => ({ merchant: 'm1', orderId: 'o1', token: tok(1), account: 'acc', device: 'dev', ip: 'ip1', ipCountry: 'DE', cardCountry: null, at: T, features: [1, 2], modelVersion: 'prior', ...o });
      await storage.insertTrustAttempts([row({}), row({ orderId: 'o2', account: 'acc2', at: T + 10 }), row({ orderId: 'o3', at: T + 20, token: tok(2) })]);
      expect(await storage.labelTrustAttempt({ merchant: 'm1', orderId: 'o1', status: 'failure', type: 'fraud', label: 0, at: T + 30 })).toBe(true);
      expect(await storage.labelTrustAttempt({ merchant: 'm1', orderId: 'o1', status: 'success', type: null, label: 1, at: T + 31 })).toBe(false);
      const c = await storage.trustCounts({ account: 'acc', device: 'dev', ip: 'ip1', token: tok(1), at: T + 15 });
      expect(c.account).toEqual({ firstAt: T, successes: 0, failures: 1, fraud: 1, chargebacks: 0 });
      expect(c.device).toEqual({ withAccount: true, accounts: 2, mine: true, fraud: 1 });
      expect(c.ip).toEqual({ accounts: 2, mine: true });
      expect(c.attempts).toEqual({ accountHour: 1, accountDay: 1, cardHour: 2, cardDay: 2, ipHour: 2, ipDay: 2 });
      expect(c.cards).toEqual({ accountDay: { n: 1, mine: true }, deviceDay: { n: 1, mine: true }, ipHour: { n: 1, mine: true } });
      // Distinct cards and accounts with another card, after all three attempts; keys left out count nothing.
      const later = await storage.trustCounts({ account: 'acc', device: 'dev', ip: null, token: tok(5), at: T + 25 });
      expect(later.cards).toEqual({ accountDay: { n: 2, mine: false }, deviceDay: { n: 2, mine: false }, ipHour: { n: 0, mine: false } });
      expect(later.device).toEqual({ withAccount: true, accounts: 2, mine: true, fraud: 1 });
      expect(later.ip).toBeNull();
      expect(later.attempts).toEqual({ accountHour: 2, accountDay: 2, cardHour: 0, cardDay: 0, ipHour: 0, ipDay: 0 });
      expect(await storage.trustTrainingRows(0)).toEqual([{ id: expect.any(Number), features: '[1,2]', label: 0 }]);
      expect(await storage.trustStats()).toEqual({ attempts: 3, labelled: 1 });
      await storage.saveTrustModel({ version: 'v1', trainedAt: T, auc: 0.9, precision: null, recall: null, n: 10, json: '{"a":1}' });
      await storage.saveTrustModel({ version: 'v2', trainedAt: T + 1, auc: null, precision: null, recall: null, n: 10, json: '{"a":2}' });
      await storage.saveTrustModel({ version: 'v1', trainedAt: T + 2, auc: 0.9, precision: null, recall: null, n: 10, json: '{"a":3}' });
      expect(await storage.latestTrustModelVersion()).toBe('v1');
      expect((await storage.latestTrustModel())?.json).toBe('{"a":3}');
      expect(await storage.pruneTrustAttempts(T + 5)).toBe(1);
    });

    it('authFacts answers what getRestricted, isKnownGood, history, hardDeclines, orderOutcomes and trustCounts answer', async () => {
      await storage.addRestricted([{ token: tok(1), bin: '411111', last4: '1111', reason: 'fraud', source: 'test', addedAt: T, expiresAt: null }, { token: tok(3), bin: null, last4: null, reason: 'lost', source: 'test', addedAt: T, expiresAt: T + 5 }]);
      await storage.addKnownGood('m1', tok(1), T);
      await storage.importOutcomes([
        outcome({ at: T - 100, code: '05', status: 'failure', type: 'soft', country: 'DE', crossBorder: true }),
        outcome({ at: T - 50, orderId: 'o2', gateway: 'gw-b', amount: 9_000_000_000_000 }),
        outcome({ at: T - 10 * 86_400, code: '14', status: 'failure', type: 'hard', hard: true }),
        outcome({ at: T - 20, token: tok(2), orderId: 'o2', bin: '555555', last4: '4444' }),
        outcome({ at: T - 20, token: null, orderId: 'o2', bin: '555555', last4: '4444' }),
      ]);
      await storage.insertTrustAttempts([
        { merchant: 'm1', orderId: 'o1', token: tok(1), account: 'acc', device: 'dev', ip: 'ip1', ipCountry: 'DE', cardCountry: null, at: T - 30, features: [1], modelVersion: 'prior' },
        { merchant: 'm1', orderId: 'o2', token: tok(2), account: 'acc', device: 'dev', ip: 'ip2', ipCountry: 'DE', cardCountry: null, at: T - 20, features: [1], modelVersion: 'prior' },
      ]);
      const cases = [
        { token: tok(1), merchant: 'm1', orderId: 'o2', now: T, since: T - 86_400, historyLimit: 1000, trust: { account: 'acc', device: 'dev', ip: 'ip1', token: tok(1), at: T } },
        { token: tok(1), merchant: 'm1', orderId: 'o1', now: T, since: T - 86_400, historyLimit: 1, trust: { account: null, device: null, ip: null, token: tok(1), at: T } },
        { token: tok(3), merchant: 'm2', orderId: 'none', now: T + 4, since: 0, historyLimit: 10, trust: { account: 'x', device: null, ip: 'ip2', token: tok(3), at: T + 4 } },
        { token: null, merchant: 'm1', orderId: 'o2', now: T, since: 0, historyLimit: 10, trust: { account: 'acc', device: 'dev', ip: null, token: tok(9), at: T } },
      ];
      for (const q of cases) {
        const t = q.token;
        const expected = {
          restricted: t ? await storage.getRestricted(t, q.now) : null,
          knownGood: t ? await storage.isKnownGood(q.merchant, t) : false,
          history: t ? await storage.history(t, q.since, q.historyLimit) : [],
          hard: t ? await storage.hardDeclines(t) : [],
          orderRows: await storage.orderOutcomes(q.merchant, q.orderId),
          trust: await storage.trustCounts(q.trust),
        };
        const got = await storage.authFacts(q);
        expect(got).toEqual(expected);
      }
      // The cases above are not vacuous.
      const first = await storage.authFacts(cases[0]);
      expect(first.restricted?.reason).toBe('fraud');
      expect(first.knownGood).toBe(true);
      expect(first.history.map((h) => h.at)).toEqual([T - 100, T - 50]);
      expect(first.history[0]).toMatchObject({ code: '05', status: 'failure' });
      expect(first.history[1].amount).toBe(9_000_000_000_000);
      expect(first.hard.map((h) => h.code)).toEqual(['14']);
      expect(first.orderRows.map((r) => r.last4).sort()).toEqual(['1111', '4444', '4444']);
      expect(first.trust.attempts.accountDay).toBe(2);
      expect((await storage.authFacts(cases[2])).restricted?.expiresAt).toBe(T + 5);
      expect((await storage.authFacts({ ...cases[2], now: T + 5 })).restricted).toBeNull();
    });

    it('outcomesSince: the outcomes at or after a time, oldest first, every field the router replays as stored', async () => {
      await storage.importOutcomes([
        outcome({ idempotencyKey: 'a', at: T + 5, status: 'failure', code: '05', type: 'soft', advice: '03', country: 'DE', crossBorder: true, brand: null }),
        outcome({ idempotencyKey: 'b', at: T - 1 }),
        outcome({ idempotencyKey: 'c', at: T, token: null, gateway: 'gw-b', amount: 99, currency: 'EUR', hard: true, status: 'failure', code: '14', type: 'hard', crossBorder: false, country: 'FR' }),
      ]);
      expect(await storage.outcomesSince(T)).toEqual([
        { at: T, merchant: 'm1', amount: 99, currency: 'EUR', gateway: 'gw-b', status: 'failure', code: '14', type: 'hard', advice: null, hard: true, brand: 'visa', country: 'FR', crossBorder: false, card: null },
        // the router's card key (routingCardKey): the token's first 12 bytes in hex, computed by the database
        { at: T + 5, merchant: 'm1', amount: 2500, currency: 'USD', gateway: 'gw-a', status: 'failure', code: '05', type: 'soft', advice: '03', hard: false, brand: null, country: 'DE', crossBorder: true, card: routingCardKey(tok(1)) },
      ]);
      expect(routingCardKey(tok(1))).toBe('01'.repeat(12));
    });

    it('stores order contexts in batches and reads them back', async () => {
      await storage.saveOrderContexts([
        { merchant: 'm1', orderId: 'a', ctx: { country: 'DE', crossBorder: true }, at: T },
        { merchant: 'm1', orderId: 'b', ctx: { country: null, crossBorder: null }, at: T },
      ]);
      expect(await storage.orderContext('m1', 'a')).toEqual({ country: 'DE', crossBorder: true });
      expect(await storage.orderContext('m1', 'b')).toEqual({ country: null, crossBorder: null });
      expect(await storage.orderContext('m2', 'a')).toBeNull();
    });

    it('upserts restricted cards in batches (new ones counted), reads dataset tables in key order, keeps datasets and deltas', async () => {
      const rows = [3, 1, 2, 1].map((n, i) => ({ token: tok(n), bin: null, last4: i === 3 ? '0001' : null, reason: `r${i}`, source: 'import', addedAt: T, expiresAt: n === 2 ? T - 1 : null }));
      expect(await storage.addRestricted(rows)).toBe(3);
      expect(await storage.addRestricted([{ ...rows[0], reason: 'again' }])).toBe(0);
      expect(await storage.countRestricted()).toBe(3);
      expect((await storage.getRestricted(tok(1), T))?.reason).toBe('r3');
      expect(await storage.getRestricted(tok(2), T)).toBeNull(); // expired
      await storage.addKnownGood('m1', tok(9), T);
      await storage.addKnownGood('m2', tok(9), T + 1);
      await storage.addKnownGood('m1', tok(1), T); // restricted wins
      await storage.importOutcomes([
        outcome({ idempotencyKey: '', token: tok(5), at: T - 100 }),
        outcome({ idempotencyKey: '', token: tok(5), at: T - 50, status: 'failure', code: '05', hard: true }),
        outcome({ idempotencyKey: '', token: tok(4), at: T - 10 }),
        outcome({ idempotencyKey: '', token: null, at: T - 5 }),
      ]);
      await storage.upsertBinRule({ prefix: '4111', action: 'review', reason: 'x' });
      await storage.upsertBinRule({ prefix: '411111', action: 'decline', reason: 'y' });
      expect(await storage.matchBinRule('41111122')).toEqual({ prefix: '411111', action: 'decline', reason: 'y' });
      const t = await storage.readDatasetTables(T, T - 60, 32);
      expect(t.restricted.map((r) => [r.token[0], r.reason])).toEqual([[1, 'r3'], [3, 'again']]);
      expect(t.knownGood.map((k) => k[0])).toEqual([9]);
      expect(t.history.map((h) => [h.token[0], h.events.map((e) => e.at)])).toEqual([[4, [T - 10]], [5, [T - 50]]]);
      expect((await storage.gatewayStats())[0]).toMatchObject({ gateway: 'gw-a', attempts: 4, successes: 3 });
      for (const v of [1, 2, 3]) {
        await storage.saveDataset({ version: v, createdAt: T, expiresAt: T + 9, contentHash: `h${v}`, chunkCount: 2, bytes: 6 }, { manifest: new Uint8Array([v]), chunks: [new Uint8Array([v, 0]), new Uint8Array([v, 1])] });
      }
      await storage.saveDelta(1, 3, { manifest: new Uint8Array([13]), chunks: [new Uint8Array([7])] });
      expect(Array.from((await storage.datasetChunk(2, 1))!)).toEqual([2, 1]);
      expect((await storage.datasetChunks(3))!.map((c) => Array.from(c))).toEqual([[3, 0], [3, 1]]);
      expect(Array.from((await storage.deltaChunk(1, 3, 0))!)).toEqual([7]);
      expect(await storage.pruneDatasets(2)).toEqual([1]);
      expect(await storage.deltaManifest(1, 3)).toBeNull();
      expect((await storage.latestDataset())?.version).toBe(3);
    });

    it('lets one holder build at a time (publish lock), and frees it afterwards', async () => {
      let inside = 0;
      let release!: () => void;
      const gate = new Promise<void>((r) => (release = r));
      const first = storage.withPublishLock(async () => {
        inside++;
        await gate;
        return 'first';
      });
      while (inside === 0) await new Promise((r) => setImmediate(r));
      if (storage.dialect === 'postgres') {
        // Another instance on the database (its own pool) is refused while the first holds it.
        const other = await env.reopen();
        try {
          expect(await other.withPublishLock(async () => 'second')).toBeNull();
          release();
          expect(await first).toBe('first');
          expect(await other.withPublishLock(async () => 'second')).toBe('second');
        } finally {
          await other.close();
        }
      } else {
        release();
        expect(await first).toBe('first');
      }
    });
  });
}
