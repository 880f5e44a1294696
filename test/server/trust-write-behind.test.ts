// The trust attempts' write-behind on SQLite, in its compact form: features stored as float64
// bytes instead of JSON text (training must read exactly the text the JSON column held), and the
// noted-but-unwritten attempts kept in an array instead of a Set and a WeakSet (every count must
// stay the counting statement's, whatever order the attempts are written in). Seeded throughout.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { TrustAttemptRow, TrustKeys } from '../../server/storage/storage.ts';
import { featuresBlob, featuresText } from '../../server/storage/rows.ts';
import { mulberry32 } from '../../server/routing/rng.ts';
import { SLACK } from '../../server/storage/trust-counts-memory.ts';
import { sqliteStorageEachTest } from './sqlite-fixture.ts';
import { extractTrustFeatures } from '../../server/trust/features.ts';
import { TrustSignals } from '../../server/trust/signal-store.ts';

const T = 1_700_000_000;
const tok = (n: number) => new Uint8Array(16).fill(n);

describe('trust attempts written behind, compact (SQLite)', () => {
  const sql = sqliteStorageEachTest('trust-write-behind-');

  it('reads stored feature bytes back as the exact JSON text the column held', () => {
    const doubles = fc.oneof(fc.double(), fc.constantFrom(0, -0, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 5e-324, Number.MAX_VALUE, 1 / 3));
    fc.assert(
      fc.property(fc.array(doubles, { maxLength: 40 }), (xs) => {
        const want = JSON.stringify(xs);
        expect(featuresText(featuresBlob(xs))).toBe(want);
        expect(featuresText(featuresBlob(Float64Array.from(xs)))).toBe(want);
        expect(featuresText(want)).toBe(want); // rows written as text before
      }),
      { seed: 20261207, numRuns: 2000 },
    );
  });

  it('stores features as 8 bytes each and trains on the same text as before, next to rows written as text', async () => {
    const db = sql.db;
    const ctx = { now: T, account: { createdAt: T - 86_400 * 40, successes: 3, failures: 1, chargebacks: 0, fraud: 0 }, device: { seenWithAccount: true, accounts: 2, fraud: 0 }, environment: { ipCountry: 'DE', cardCountry: 'US', accountsOnIp: 3, distinctCards: { accountDay: 2, deviceDay: 2, ipHour: 1 }, attempts: { accountHour: 1, accountDay: 4, cardHour: 0, cardDay: 1, ipHour: 2, ipDay: 9 } } };
    const f = extractTrustFeatures(ctx);
    const row = (o: Partial<TrustAttemptRow>): TrustAttemptRow => ({ merchant: 'm', orderId: 'o1', token: tok(1), account: 'acc', device: 'dev', ip: 'ip', ipCountry: null, cardCountry: null, at: T, features: f, modelVersion: 'prior', ...o });
    // A row as the JSON-text encoding wrote it (an older file).
    db.db
      .prepare('INSERT INTO trust_attempts (merchant, order_id, token, account, device, ip, ip_country, card_country, at, features, model_version) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)')
      .run('m', 'o0', Buffer.from(tok(9)), 'acc', null, null, null, null, T - 10, JSON.stringify(Array.from(f)), 'prior');
    await db.insertTrustAttempts([row({}), row({ orderId: 'o2', at: T + 1, features: [0.1, -0, 2 ** 60] })]);
    const stored = db.db.prepare('SELECT order_id, typeof(features) AS t, length(features) AS n FROM trust_attempts ORDER BY id').all();
    expect(stored).toEqual([
      { order_id: 'o0', t: 'text', n: JSON.stringify(Array.from(f)).length },
      { order_id: 'o1', t: 'blob', n: 8 * f.length },
      { order_id: 'o2', t: 'blob', n: 24 },
    ]);
    for (const o of ['o0', 'o1', 'o2']) await db.labelTrustAttempt({ merchant: 'm', orderId: o, status: 'success', type: null, label: 1, at: T + 2 });
    expect((await db.trustTrainingRows(0)).map((r) => r.features)).toEqual([JSON.stringify(Array.from(f)), JSON.stringify(Array.from(f)), JSON.stringify([0.1, 0, 2 ** 60])]);
    // TrustSignals' training rows: the numbers extracted at decision time, exactly.
    const signals = new TrustSignals(db, new Uint8Array(32).fill(1), { flushMs: 0 });
    const rows = await signals.trainingRows(0);
    expect(rows.map((r) => r.features)).toEqual([Array.from(f), Array.from(f)]); // o2 has another feature count
  });

  it('caches identifier hashes per merchant without changing one (also across the cache being cleared when full)', () => {
    const key = new Uint8Array(32).fill(5);
    const cached = new TrustSignals(sql.db, key);
    const keys = (s: TrustSignals, merchant: string, id: string) => {
      const k = s.keysOf({ merchant, orderId: 'o', token: tok(1), accountId: id, deviceId: id, ip: id, at: T });
      return [k.account, k.device, k.ip];
    };
    const fresh = (merchant: string, id: string) => keys(new TrustSignals(sql.db, key), merchant, id);
    const a1 = keys(cached, 'm1', 'alice');
    const a2 = keys(cached, 'm2', 'alice');
    expect(a1[0]).not.toBe(a2[0]); // accounts and devices are per merchant
    expect(a1[2]).toBe(a2[2]); // IPs are global facts
    for (let i = 0; i < 70_000; i += 3) keys(cached, `m${i % 3}`, `id${i}`); // past the cache's 65 536 entries: cleared once
    expect(keys(cached, 'm1', 'alice')).toEqual(a1);
    expect(keys(cached, 'm2', 'alice')).toEqual(fresh('m2', 'alice'));
    expect(keys(cached, 'm1', 'id3')).toEqual(fresh('m1', 'id3'));
    expect(a1).toEqual(fresh('m1', 'alice'));
  });

  it('counts as the statement does whatever order noted attempts are written in, with never-noted ones and reloads', async () => {
    const db = sql.db;
    const r = mulberry32(41);
    const pick = <X>(xs: readonly X[]): X => xs[Math.floor(r() * xs.length)];
    const accounts = ['a1', 'a2', 'a3', null] as const;
    const devices = ['d1', 'd2', null] as const;
    const ips = ['i1', 'i2', null] as const;
    let unwritten: TrustAttemptRow[] = [];
    let now = T;
    let n = 0;
    let outOfOrder = 0;
    let reloads = 0;
    // Cards seen often, and many seen once or twice a day (the common case: held as one time, not a list).
    const card = () => (r() < 0.4 ? tok(1 + Math.floor(r() * 5)) : tok(6 + Math.floor(r() * 240)));
    const make = (): TrustAttemptRow => ({ merchant: 'm', orderId: `o${n++}`, token: card(), account: pick(accounts), device: pick(devices), ip: pick(ips), ipCountry: null, cardCountry: null, at: now, features: [n], modelVersion: null });
    const keysAt = (at: number): TrustKeys => ({ account: pick(accounts), device: pick(devices), ip: pick(ips), token: card(), at });
    const check = async (at: number) => {
      const k = keysAt(at);
      expect(await db.trustCounts(k)).toEqual(db.trustCountsFromSql(k));
    };
    for (let i = 0; i < 1500; i++) {
      now += pick([0, 0, 1, 7, 600, 3600]);
      const a = make();
      db.noteTrustAttempts([a]);
      unwritten.push(a);
      const x = r();
      if (x < 0.2) {
        // The write-behind: the queue in order.
        await db.insertTrustAttempts(unwritten);
        unwritten = [];
      } else if (x < 0.3 && unwritten.length > 1) {
        // Out of order: some noted rows shuffled, others left unwritten, plus a row never noted.
        const batch = unwritten.filter(() => r() < 0.5);
        for (let j = batch.length - 1; j > 0; j--) {
          const s = Math.floor(r() * (j + 1));
          [batch[j], batch[s]] = [batch[s], batch[j]];
        }
        const fresh = make();
        await db.insertTrustAttempts([...batch, fresh]);
        unwritten = unwritten.filter((u) => !batch.includes(u));
        outOfOrder++;
      }
      await check(now);
      await check(now - 1);
      if (r() < 0.02) {
        // A clock stepped back past SLACK: the counts are loaded again (table + unwritten rows).
        await check(now - SLACK - 1 - Math.floor(r() * 3600));
        reloads++;
        await check(now);
      }
    }
    expect(outOfOrder).toBeGreaterThan(50);
    expect(reloads).toBeGreaterThan(5);
    // All written: a restart loads the same counts.
    await db.insertTrustAttempts(unwritten);
    const probes = Array.from({ length: 30 }, (_, j) => keysAt(now - (j % 3) * 5));
    const before = await Promise.all(probes.map((k) => db.trustCounts(k)));
    for (const [j, k] of probes.entries()) expect(before[j]).toEqual(db.trustCountsFromSql(k));
    await db.close();
    const again = sql.reopen();
    expect(await Promise.all(probes.map((k) => again.trustCounts(k)))).toEqual(before);
  });
});
