import { describe, expect, it } from 'vitest';
import { NewCardTrust } from '../../../server/trust/new-card-service.ts';
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
});
