// Two service instances on one PostgreSQL database (PRECHECK_TEST_DATABASE_URL; `.ci/run` starts a
// throwaway cluster): stateless HTTP — a key issued through one works on the other, an outcome's
// idempotency key holds across instances (unique constraint, not process memory), both publish
// and exactly one dataset version results (advisory lock), the build child opens the same store.
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../../server/start.ts';
import { authBody, outcomeBody, randomToken } from './helpers.ts';
import { dropPgDatabase, freshPgDatabase } from '../../testkit/pg-database.ts';

const PG_URL = process.env.PRECHECK_TEST_DATABASE_URL ?? '';

if (!PG_URL) {
  describe('two service instances on PostgreSQL', () => {
    it.skip('skipped: no PostgreSQL available (set PRECHECK_TEST_DATABASE_URL; .ci/run starts one)', () => undefined);
  });
} else {
  describe('two service instances on PostgreSQL', () => {
    let dbUrl: string;
    let dir: string;
    let a: RunningServer;
    let b: RunningServer;
    let key: string;
    beforeAll(async () => {
      dbUrl = await freshPgDatabase(PG_URL, 'precheck_inst');
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'precheck-pg-'));
      // Both instances share the key files (card.key, signing.key): same tokens, same signatures.
      const common = { dataDir: dir, database: dbUrl, port: 0, host: '127.0.0.1', logLevel: 'silent', publishDebounceMs: -1, train: { schedule: null } };
      a = await startServer({ ...common, publishOnStart: true });
      b = await startServer({ ...common, publishOnStart: true });
      key = (await a.issueKey('shop-pg')).key;
    }, 180_000);
    afterAll(async () => {
      await a?.close();
      await b?.close();
      if (dir) fs.rmSync(dir, { recursive: true, force: true });
      if (dbUrl) await dropPgDatabase(PG_URL, dbUrl);
    });

    const post = async (s: RunningServer, p: string, body: unknown, k = key) => {
      const res = await fetch(s.url + p, { method: 'POST', headers: { authorization: `Bearer ${k}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
      return { status: res.status, json: (await res.json()) as any, replay: res.headers.get('idempotent-replay') };
    };

    it('answers on either instance with a key issued on one; one outcome per idempotency key across both', async () => {
      const t = randomToken();
      expect((await post(b, '/v1/auth', authBody(t))).status).toBe(200);
      const o = outcomeBody(t, { status: 'failure', code: '05', type: 'hard' });
      const [ra, rb] = await Promise.all([post(a, '/v1/outcomes', o), post(b, '/v1/outcomes', o)]);
      expect([ra.status, rb.status]).toEqual([200, 200]);
      expect(ra.json).toEqual(rb.json); // the first answer, on both
      expect([ra.replay, rb.replay].filter((x) => x === 'true')).toHaveLength(1);
      expect(await a.service.storage.countOutcomes()).toBe(1);
      // The hard decline restricted the card for every instance.
      expect((await post(a, '/v1/auth', authBody(t, {}, { id: 'o2' }))).json.decision).toBe('decline');
      expect((await post(b, '/v1/auth', authBody(t, {}, { id: 'o3' }))).json.decision).toBe('decline');
    });

    it('publishes one version at a time: both instances publishing at once never collide, built in a child on the same store', async () => {
      const before = (await a.service.storage.listDatasets()).length;
      expect(before).toBe(1); // both started with publishOnStart: the second found it published
      await a.service.storage.addRestricted([{ token: crypto.randomBytes(16), bin: null, last4: null, reason: 'stolen', source: 'admin', addedAt: Math.floor(Date.now() / 1000), expiresAt: null }]);
      // Without the lock both would number their build latest + 1 and one would fail on the
      // primary key; with it the second waits and builds on the first. (Each instance's router
      // learns from the outcomes it ingested, so their route tables — part of the content — may
      // differ: the second may publish its own version.)
      const [va, vb] = await Promise.all([a.publish(), b.publish()]);
      const versions = (await b.service.storage.listDatasets()).map((d) => d.version);
      expect(versions.slice(0, 2)).toEqual([1, 2]);
      expect(versions).toEqual(Array.from({ length: versions.length }, (_, i) => i + 1));
      expect(Math.max(va, vb)).toBe(versions.at(-1));
      const latest = await fetch(`${b.url}/v1/datasets/latest`, { headers: { authorization: `Bearer ${key}` } });
      expect(((await latest.json()) as { version: number }).version).toBe(versions.at(-1));
    });
  });
}
