import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { NewCardTrust } from '../../../server/trust/new-card-service.ts';
import { SqliteStorage } from '../../../server/storage/sqlite-storage.ts';
import { mulberry32 } from '../../../server/routing/rng.ts';
import { sqliteStorageEachTest } from '../sqlite-fixture.ts';

const T = 1_700_000_000;

describe('NewCardTrust (real SQLite)', () => {
  const sql = sqliteStorageEachTest('new-card-', 'precheck.db');

  it('answers with the prior model, trains from labelled attempts, then answers with the trained version', async () => {
    const clock = { t: T };
    const trust = await NewCardTrust.open({ store: sql.db, secret: new Uint8Array(32).fill(1), now: () => clock.t * 1000 });
    const first = await trust.assess({ merchant: 'm', orderId: 'o0', token: new Uint8Array(16), accountId: 'a0', at: T }, { amount: 1000, currency: 'EUR' });
    expect(first.modelVersion).toBe('trust-prior-v1');
    expect(await trust.train()).toMatchObject({ trained: false });
    for (let i = 1; i <= 120; i++) {
      const bad = i % 3 === 0;
      const at = T + i * 120;
      await trust.assess({ merchant: 'm', orderId: `o${i}`, token: new Uint8Array(16).fill(i), accountId: `a${i}`, deviceId: bad ? 'farm' : `d${i}`, ip: bad ? '198.51.100.7' : `192.0.2.${i}`, ipCountry: bad ? 'NG' : 'DE', cardCountry: 'DE', at }, { amount: 1000, currency: 'EUR' });
      await trust.recordOutcome({ merchant: 'm', orderId: `o${i}`, status: bad ? 'failure' : 'success', type: bad ? 'fraud' : null, at: at + 5 });
    }
    clock.t = T + 121 * 120;
    const r = await trust.train();
    expect(r.trained).toBe(true);
    const version = trust.currentModel().version;
    expect(version).toMatch(/^trust-v1-/);
    const next = await trust.assess({ merchant: 'm', orderId: 'new', token: new Uint8Array(16).fill(200), accountId: 'z', deviceId: 'farm', ip: '198.51.100.7', ipCountry: 'NG', cardCountry: 'DE', at: clock.t }, { amount: 1000, currency: 'EUR' });
    expect(next.modelVersion).toBe(version);
    // A second instance on the same database (another process) loads the trained model.
    const other = await NewCardTrust.open({ store: sql.db, secret: new Uint8Array(32).fill(1) });
    expect(other.currentModel().version).toBe(version);
    await trust.close();
    await other.close();
  });

  it('assessNow (counts read by the caller, no promise) answers and records exactly what assess does, written behind or at once', async () => {
    // The auth path's fast form against the general one, on two stores fed the same seeded
    // attempts (small pools of accounts, devices and IPs: velocity evidence, declines, labels),
    // with the write-behind as deployed and with writes at once or every third attempt.
    for (const signals of [{}, { flushMs: 0 }, { maxPending: 3 }]) {
      const other = new SqliteStorage(path.join(sql.dir, `other-${Object.keys(signals).join('')}.db`));
      try {
        const a = await NewCardTrust.open({ store: sql.db, secret: new Uint8Array(32).fill(3), signals });
        const b = await NewCardTrust.open({ store: other, secret: new Uint8Array(32).fill(3), signals });
        const r = mulberry32(11);
        const pick = <X>(xs: X[]): X => xs[Math.floor(r() * xs.length)];
        let at = T;
        const reasons = new Set<string>();
        let written = 0;
        for (let i = 0; i < 300; i++) {
          at += pick([0, 0, 1, 30, 700]);
          const attempt = { merchant: 'm', orderId: `o${i % 250}`, token: new Uint8Array(16).fill(1 + Math.floor(r() * 90)), accountId: pick(['a1', 'a2', 'a3', undefined]), deviceId: pick(['d1', 'd2', undefined]), ip: pick(['i1', 'i2', 'i3']), ipCountry: 'DE', cardCountry: null, at };
          const order = { amount: pick([500, 20_000, 90_000]), currency: 'EUR' };
          const ka = a.trustKeys(attempt);
          const want = await a.assess(attempt, order, await sql.db.trustCounts(ka), ka);
          const kb = b.trustKeys(attempt);
          const now = b.assessNow(attempt, order, await other.trustCounts(kb), kb);
          // A promise only when the attempt is written before the answer (at once, or a full queue).
          if (!('maxPending' in signals)) expect(now instanceof Promise).toBe('flushMs' in signals);
          else if (now instanceof Promise) written++;
          const got = await now;
          expect(got).toEqual(want);
          reasons.add(`${got.decision}/${got.reason}`);
          if (r() < 0.6) {
            await a.applied(attempt, want);
            await b.applied(attempt, got);
          }
          if (r() < 0.2) {
            const o = { merchant: 'm', orderId: attempt.orderId, status: pick(['success', 'failure'] as const), type: pick([null, 'fraud']), at: at + 1 };
            expect(await b.recordOutcome(o)).toBe(await a.recordOutcome(o));
          }
        }
        expect(reasons.size).toBeGreaterThan(2);
        if ('maxPending' in signals) expect(written).toBeGreaterThan(10);
        expect(await b.falseDeclines()).toEqual(await a.falseDeclines());
        expect(await b.signals.trainingRows()).toEqual(await a.signals.trainingRows());
        expect(await other.trustStats()).toEqual(await sql.db.trustStats());
        await a.close();
        await b.close();
        await sql.db.pruneTrustAttempts(Number.MAX_SAFE_INTEGER);
      } finally {
        await other.close();
        for (const f of fs.readdirSync(sql.dir)) if (f.startsWith('other-')) fs.rmSync(path.join(sql.dir, f), { force: true });
      }
    }
  }, 60_000);
});
