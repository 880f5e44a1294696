// New-card trust through the real network service: /v1/auth records each attempt's context,
// /v1/outcomes labels it, `precheck server train` (a real child process on the same SQLite file)
// trains and stores a model, the running service answers with the new version; `train.schedule`
// trains inside the service.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import crypto from 'node:crypto';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../../../server/start.ts';
import type { ServerOptions } from '../../../server/config.ts';

// Random ids without a bare 12-19 digit group: a UUID whose last group is all digits and passes
// Luhn (~1 in 2 800) is refused by the service's PAN guard, which would make the test flaky.
const uid = (): string => `id-${crypto.randomBytes(12).toString('hex')}`;
const CLI = path.resolve(import.meta.dirname, '../../../bin/precheck.js');
const run = promisify(execFile);
const dirs: string[] = [];
const servers: RunningServer[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await s.close();
  while (dirs.length) fs.rmSync(dirs.pop()!, { recursive: true, force: true });
});

async function boot(extra: Partial<ServerOptions> = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'precheck-trust-'));
  dirs.push(dir);
  const s = await startServer({ dataDir: dir, port: 0, host: '127.0.0.1', logLevel: 'silent', publishDebounceMs: -1, train: { schedule: null }, ...extra });
  servers.push(s);
  const key = (await s.issueKey('shop-1')).key;
  const call = async (p: string, body: unknown) => {
    const res = await fetch(s.url + p, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    return { status: res.status, json: (await res.json()) as any };
  };
  return { s, dir, call };
}

const hex = () => crypto.randomBytes(16).toString('hex');

/** One checkout: auth with customer context, then the gateway outcome. Fraud comes from a device farm behind one IP. */
async function checkout(call: Awaited<ReturnType<typeof boot>>['call'], i: number, bad: boolean) {
  const t = hex();
  const orderId = `ord-${i}`;
  const customer = bad
    ? { accountId: `acct-${i}`, deviceId: 'farm-device', ip: '198.51.100.23', ipCountry: 'NG' }
    : { accountId: `acct-${i}`, deviceId: `dev-${i}`, ip: `192.0.2.${i % 250}`, ipCountry: 'US' };
  const a = await call('/v1/auth', { token: t, bin: '411111', last4: '1111', brand: 'visa', expMonth: 12, expYear: 2099, order: { id: orderId, amount: { value: 2500, currency: 'USD' } }, customer });
  expect(a.status, JSON.stringify(a.json)).toBe(200);
  const o = await call('/v1/outcomes', {
    idempotencyKey: uid(), token: t, bin: '411111', last4: '1111', brand: 'visa', orderId, amount: 2500, currency: 'USD', gateway: 'gw-a',
    ...(bad ? { status: 'failure', code: '59', type: 'fraud' } : { status: 'success' }),
  });
  expect(o.status, JSON.stringify(o.json)).toBe(200);
  return a.json;
}

describe('new-card trust through the HTTP service', () => {
  it('trains with `precheck server train` on stored outcomes; every answer names the model version', async () => {
    const { s, dir, call } = await boot();
    for (let i = 0; i < 120; i++) {
      const answer = await checkout(call, i, i % 4 === 0);
      expect(answer.modelVersion).toBe('trust-prior-v1');
    }
    const { stdout } = await run(process.execPath, [CLI, 'server', 'train', '--data', dir, '--json'], { timeout: 60_000 });
    const r = JSON.parse(stdout);
    expect(r).toMatchObject({ trained: true, rows: 120 });
    expect(r.version).toMatch(/^trust-v1-[0-9a-f]{12}$/);
    expect(r.metrics.auc).toBeGreaterThan(0.9);
    expect(r.metrics.n).toBeGreaterThan(0);

    // The running service picks the new model up within its model check interval (asked in the
    // background, never on a request's path), then for every kind of answer.
    const deadline = Date.now() + 10_000;
    let fresh = { status: 0, json: null as any };
    for (let n = 0; Date.now() < deadline; n++) {
      fresh = await call('/v1/auth', { token: hex(), bin: '411111', last4: '1111', brand: 'visa', expMonth: 12, expYear: 2099, order: { id: `new-${n}`, amount: { value: 2500, currency: 'USD' } }, customer: { accountId: 'new-acct', deviceId: 'new-dev', ip: '192.0.2.77', ipCountry: 'US' } });
      if (fresh.json.modelVersion === r.version) break;
      await new Promise((res) => setTimeout(res, 100));
    }
    expect(fresh.json.modelVersion).toBe(r.version);
    expect(fresh.json.trust.modelVersion).toBe(r.version);
    const farm = await call('/v1/auth', { token: hex(), bin: '411111', last4: '1111', brand: 'visa', expMonth: 12, expYear: 2099, order: { id: 'new-2', amount: { value: 2500, currency: 'USD' } }, customer: { accountId: 'acct-x', deviceId: 'farm-device', ip: '198.51.100.23', ipCountry: 'NG' } });
    expect(farm.json.trust.score).toBeLessThan(fresh.json.trust.score);
    expect(['review', 'decline']).toContain(farm.json.decision);
    expect(s.service.trust.currentModel().version).toBe(r.version);
    const expired = await call('/v1/auth', { token: hex(), bin: '411111', last4: '1111', brand: 'visa', expMonth: 1, expYear: 2020, order: { id: 'x', amount: { value: 1, currency: 'USD' } } });
    expect(expired.json).toMatchObject({ decision: 'decline', reason: 'card_expired', modelVersion: r.version });

    // Training stores the model with its held-out metrics in the service database.
    const { default: Database } = await import('better-sqlite3');
    const db = new Database(s.databaseFile, { readonly: true });
    try {
      expect(db.prepare('SELECT version, n, auc FROM trust_models').all()).toEqual([{ version: r.version, n: r.metrics.n, auc: r.metrics.auc }]);
    } finally {
      db.close();
    }
  });

  it('`precheck server train` with too little data says so and exits 1', async () => {
    const { dir } = await boot();
    const err = await run(process.execPath, [CLI, 'server', 'train', '--data', dir], { timeout: 60_000 }).then(
      () => null,
      (e: { code: number; stderr: string }) => e,
    );
    expect(err?.code).toBe(1);
    expect(err?.stderr).toMatch(/not trained: need at least 40 labelled outcomes, have 0/);
  });

  it('train.schedule trains inside the running service', async () => {
    let onTrained: (line: string) => void = () => {};
    const trained = new Promise<string>((resolve) => (onTrained = resolve));
    const { s, call } = await boot({
      train: { schedule: '* * * * * *' }, // every second (croner's 6-field form)
      logLevel: 'info',
      // The schedule may tick while checkouts are still arriving: wait for the run that saw all 60
      // (later runs on the same rows give the same version: training is deterministic).
      logDestination: { write: (line: string) => void (line.includes('trust model trained') && JSON.parse(line).rows === 60 && onTrained(line)) },
    });
    for (let i = 0; i < 60; i++) await checkout(call, i, i % 3 === 0);
    const line = JSON.parse(await Promise.race([trained, new Promise<string>((_, rej) => setTimeout(() => rej(new Error('no scheduled training within 10 s')), 10_000))]));
    expect(line.modelVersion).toMatch(/^trust-v1-/);
    expect(line.metrics.n).toBeGreaterThan(0);
    expect(s.service.trust.currentModel().version).toBe(line.modelVersion);
  });

  it('refuses an invalid train.schedule at start', async () => {
    await expect(boot({ train: { schedule: 'not a cron' } })).rejects.toThrow(/train.schedule/);
  });
});
