// Two service instances on one PostgreSQL database (PRECHECK_TEST_DATABASE_URL; `.ci/run` starts a
// throwaway cluster): stateless HTTP — a key issued through one works on the other, an outcome's
// idempotency key holds across instances (unique constraint, not process memory), both publish
// and exactly one dataset version results (advisory lock), the build child opens the same store;
// outcomes recorded by two instances never wait on each other's commit (no shared counter row); one
// instance builds on schedule, the other forwards its changes and serves the versions announced,
// and takes over when the publisher stops; each instance's router learns every instance's outcomes.
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { startServer, type RunningServer } from '../../server/start.ts';
import { PgStorage } from '../../server/storage/pg-storage.ts';
import type { OutcomeRow } from '../../server/storage/storage.ts';
import { authBody, outcomeBody, randomToken } from './helpers.ts';
import { dropPgDatabase, freshPgDatabase } from '../../testkit/pg-database.ts';
import { until } from '../e2e/helpers/http.ts';

const PG_URL = process.env.PRECHECK_TEST_DATABASE_URL ?? '';

/**
 * Two instances on one fresh database, sharing the key files (card.key, signing.key: same tokens,
 * same signatures), and a key issued through the first. A starts first and takes the publisher
 * role before B starts (startServer resolves after the instance's first claim).
 */
function twoInstancesEachFile(
  publish: { publishDebounceMs: number; publishMaxDelayMs?: number },
  set: (x: { a: RunningServer; b: RunningServer; key: string }) => void,
): void {
  let dbUrl: string | undefined;
  let dir: string | undefined;
  const servers: RunningServer[] = [];
  beforeAll(async () => {
    dbUrl = await freshPgDatabase(PG_URL, 'precheck_inst');
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'precheck-pg-'));
    const common = { dataDir: dir, database: dbUrl, port: 0, host: '127.0.0.1', logLevel: 'silent' as const, ...publish, train: { schedule: null }, publishOnStart: true };
    servers.push(await startServer(common));
    servers.push(await startServer(common));
    set({ a: servers[0], b: servers[1], key: (await servers[0].issueKey('shop-pg')).key });
  }, 180_000);
  afterAll(async () => {
    for (const s of servers) await s.close();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
    if (dbUrl) await dropPgDatabase(PG_URL, dbUrl);
  });
}

if (!PG_URL) {
  describe('two service instances on PostgreSQL', () => {
    it.skip('skipped: no PostgreSQL available (set PRECHECK_TEST_DATABASE_URL; .ci/run starts one)', () => undefined);
  });
} else {
  describe('two service instances on PostgreSQL', () => {
    let a: RunningServer;
    let b: RunningServer;
    let key: string;
    twoInstancesEachFile({ publishDebounceMs: -1 }, (x) => ({ a, b, key } = x));

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

  describe('outcomes from two instances on PostgreSQL', () => {
    let dbUrl: string;
    let s1: PgStorage;
    let s2: PgStorage;
    let admin: pg.Client;
    beforeAll(async () => {
      dbUrl = await freshPgDatabase(PG_URL, 'precheck_inst');
      s1 = await PgStorage.open(dbUrl, { max: 2 });
      s2 = await PgStorage.open(dbUrl, { max: 2 });
      admin = new pg.Client({ connectionString: dbUrl });
      await admin.connect();
      // Holds an outcome's transaction open at its commit, with every lock it took, for as long
      // as the test holds advisory lock 4242: a deferred trigger for merchant 'slow' waits on it.
      await admin.query(`CREATE FUNCTION test_hold_commit() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN IF NEW.merchant = 'slow' THEN PERFORM pg_advisory_xact_lock(4242); END IF; RETURN NULL; END $$`);
      await admin.query(`CREATE CONSTRAINT TRIGGER test_hold_commit AFTER INSERT ON outcomes DEFERRABLE INITIALLY DEFERRED
        FOR EACH ROW EXECUTE FUNCTION test_hold_commit()`);
    }, 120_000);
    afterAll(async () => {
      await admin?.end();
      await s1?.close();
      await s2?.close();
      if (dbUrl) await dropPgDatabase(PG_URL, dbUrl);
    });

    const row = (merchant: string, over: Partial<OutcomeRow> = {}): OutcomeRow => ({
      idempotencyKey: crypto.randomUUID(), merchant, token: crypto.randomBytes(16), bin: '411111', last4: '1111', brand: 'visa', orderId: crypto.randomUUID(),
      amount: 2500, currency: 'USD', gateway: 'gw-a', status: 'success', code: null, type: null, advice: null, at: 1_700_000_000, hard: false, ...over,
    });

    it('an outcome commits while another instance\'s outcome of the same gateway, brand and currency is still committing', async () => {
      await admin.query('SELECT pg_advisory_lock(4242)');
      let slowDone = false;
      const slow = s1.recordOutcome(row('slow'), 'f1', { restrict: null, knownGood: true }, { n: 1 }).then((r) => {
        slowDone = true;
        return r;
      });
      // Wait until the slow outcome is inside its commit (waiting on the advisory lock).
      for (;;) {
        const w = await admin.query(`SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND wait_event = 'advisory' AND datname = current_database()`);
        if (w.rows.length > 0) break;
        await new Promise((r) => setImmediate(r));
      }
      // Same gateway × brand × currency, the other instance: with a per-segment counter row this
      // waited for the slow commit (and so for this test's lock: the test would time out).
      const fast = await s2.recordOutcome(row('fast'), 'f2', { restrict: null, knownGood: true }, { n: 2 });
      expect(fast.created).toBe(true);
      expect(slowDone).toBe(false);
      await admin.query('SELECT pg_advisory_unlock(4242)');
      expect((await slow).created).toBe(true);
      // The per-gateway counts are the outcomes'.
      await s2.importOutcomes([row('m', { status: 'failure', code: '05', idempotencyKey: '' }), row('m', { brand: null, gateway: 'gw-b', idempotencyKey: '' })]);
      expect(await s1.gatewayStats()).toEqual([
        { gateway: 'gw-a', brand: 'visa', currency: 'USD', attempts: 3, successes: 2 },
        { gateway: 'gw-b', brand: 'unknown', currency: 'USD', attempts: 1, successes: 1 },
      ]);
    }, 60_000);

    it('commits outcomes after their WAL flush, learning-only writes without waiting for it', async () => {
      expect(await s1.commitModes()).toEqual({ outcomes: 'on', learning: 'off' });
      // ...and the learning writes are visible at once to the other instance's reads.
      const token = crypto.randomBytes(16);
      await s1.insertTrustAttempts([{ merchant: 'm', orderId: 'o-l', token, account: 'acc', device: null, ip: null, ipCountry: null, cardCountry: null, at: 1_700_000_000, features: [0], modelVersion: null }]);
      expect((await s2.trustCounts({ account: 'acc', device: null, ip: null, token, at: 1_700_000_001 })).attempts.cardDay).toBe(1);
      expect(await s2.labelTrustAttempt({ merchant: 'm', orderId: 'o-l', status: 'success', type: null, label: 1, at: 1_700_000_002 })).toBe(true);
      expect(await s1.trustStats()).toEqual({ attempts: 1, labelled: 1 });
    });
  });

  describe('one publishing instance among two on PostgreSQL', () => {
    let a: RunningServer;
    let b: RunningServer;
    let key: string;
    twoInstancesEachFile({ publishDebounceMs: 20, publishMaxDelayMs: 200 }, (x) => ({ a, b, key } = x));

    const postOutcome = async (s: RunningServer) => {
      const res = await fetch(`${s.url}/v1/outcomes`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: JSON.stringify(outcomeBody(randomToken())) });
      expect(res.status).toBe(200);
      return res.headers.get('precheck-dataset-version');
    };
    const nextPublish = (s: RunningServer) => new Promise<number>((resolve) => {
      const off = s.service.publisher.onPublished((r) => {
        off();
        resolve(r.info.version);
      });
    });

    it('a change ingested by the other instance is published by the publishing one, and both serve that version', async () => {
      const v1 = (await a.service.storage.latestDataset())!.version;
      const published = nextPublish(a);
      await postOutcome(b); // a new known-good card: the dataset's content changes
      const v2 = await published;
      expect(v2).toBeGreaterThan(v1);
      // B learns the version from A's NOTIFY on another connection: polled, generous deadline.
      await until(async () => b.service.datasetVersion() === v2, 60_000, 'instance B to serve the announced version', 25);
      expect(await postOutcome(a)).not.toBeNull();
      // B never built on its own schedule (it did not even start a build child).
      expect(b.service.publisher.status().builds).toBe(0);
      expect(b.service.publisher.buildChild).toBeNull();
      expect(a.service.publisher.status().published).toBeGreaterThanOrEqual(1);
    }, 120_000);

    it("each instance's router learns the outcomes the other ingested, and each outcome once", async () => {
      const recorded = (s: RunningServer) => s.service.router.router.stats().recorded;
      await Promise.all([a.service.routingFollower!.poll(), b.service.routingFollower!.poll()]);
      const [a0, b0] = [recorded(a), recorded(b)];
      await postOutcome(a);
      await postOutcome(b);
      await postOutcome(b);
      // One read by each follower after the three commits: every instance has all three, once.
      await Promise.all([a.service.routingFollower!.poll(), b.service.routingFollower!.poll()]);
      expect([recorded(a) - a0, recorded(b) - b0]).toEqual([3, 3]);
      await Promise.all([a.service.routingFollower!.poll(), b.service.routingFollower!.poll()]);
      expect([recorded(a) - a0, recorded(b) - b0]).toEqual([3, 3]);
    }, 120_000);

    it('the other instance takes the role when the publisher stops, and builds what was forwarded', async () => {
      await a.close();
      const published = nextPublish(b);
      await postOutcome(b);
      const v = await published; // after B claimed the role (within 2 s) and built
      expect((await b.service.storage.latestDataset())!.version).toBe(v);
      expect(b.service.datasetVersion()).toBe(v);
    }, 120_000);
  });
}
