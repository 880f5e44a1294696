import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { SqliteStorage } from '../../../server/storage/sqlite-storage.ts';
import { TrustSignals } from '../../../server/trust/signal-store.ts';
import { TRUST_FEATURE_NAMES } from '../../../server/trust/features.ts';
import { sqliteStorageEachTest } from '../sqlite-fixture.ts';

const T = 1_700_000_000;
const card = (n: number) => new Uint8Array(16).fill(n);

describe('TrustSignals (real SQLite file)', () => {
  const sql = sqliteStorageEachTest('trust-signals-');
  let store: TrustSignals;
  beforeEach(() => {
    store = new TrustSignals(sql.db, new Uint8Array(32).fill(7));
  });
  afterEach(async () => {
    await store.close();
  });

  const attempt = (o: Partial<Parameters<TrustSignals['recordAttempt']>[0]> = {}) => ({
    merchant: 'm1', orderId: 'o1', token: card(1), accountId: 'alice', deviceId: 'dev-a', ip: '203.0.113.5', ipCountry: 'DE', cardCountry: 'DE', at: T, ...o,
  });

  it('builds the context from earlier attempts and outcomes only', async () => {
    const first = await store.recordAttempt(attempt({ at: T - 10 * 86_400 }), 'prior');
    expect(first.context.account).toEqual({ createdAt: T - 10 * 86_400, successes: 0, failures: 0, chargebacks: 0, fraud: 0 });
    expect(first.context.device).toEqual({ seenWithAccount: false, accounts: 1, fraud: 0 });
    expect(await store.recordOutcome({ merchant: 'm1', orderId: 'o1', status: 'success', at: T - 10 * 86_400 })).toBe(true);
    await store.recordAttempt(attempt({ orderId: 'o2', at: T - 1800 }), 'prior');
    await store.recordOutcome({ merchant: 'm1', orderId: 'o2', status: 'failure', type: 'soft', at: T - 1800 });
    // Another account on the same device and IP, with fraud.
    await store.recordAttempt(attempt({ orderId: 'o3', accountId: 'mallory', token: card(2), at: T - 600 }), 'prior');
    await store.recordOutcome({ merchant: 'm1', orderId: 'o3', status: 'failure', type: 'fraud', at: T - 600 });

    const { context, features } = await store.recordAttempt(attempt({ orderId: 'o4', at: T }), 'prior');
    expect(context.account).toEqual({ createdAt: T - 10 * 86_400, successes: 1, failures: 1, chargebacks: 0, fraud: 0 });
    expect(context.device).toEqual({ seenWithAccount: true, accounts: 2, fraud: 1 });
    expect(context.environment).toEqual({
      ipCountry: 'DE', cardCountry: 'DE', accountsOnIp: 2, distinctCards: { accountDay: 1, deviceDay: 2, ipHour: 2 },
      attempts: { accountHour: 1, accountDay: 1, cardHour: 1, cardDay: 1, ipHour: 2, ipDay: 2 },
    });
    expect(features.length).toBe(TRUST_FEATURE_NAMES.length);
    // An unknown merchant's account with the same id is a different account (ids are per merchant).
    expect((await store.context(attempt({ merchant: 'm2', orderId: 'x' }))).account.successes).toBe(0);
  });

  it('gives training rows only for labelled attempts, with the features seen at decision time', async () => {
    const a = await store.recordAttempt(attempt({ orderId: 'o1', at: T }), 'prior');
    await store.recordAttempt(attempt({ orderId: 'o2', at: T + 1 }), 'prior');
    await store.recordAttempt(attempt({ orderId: 'o3', at: T + 2 }), 'prior');
    await store.recordOutcome({ merchant: 'm1', orderId: 'o1', status: 'success', at: T + 5 });
    await store.recordOutcome({ merchant: 'm1', orderId: 'o2', status: 'failure', type: 'hard', at: T + 5 });
    await store.recordOutcome({ merchant: 'm1', orderId: 'o3', status: 'failure', type: 'soft', at: T + 5 }); // no label
    expect(await store.recordOutcome({ merchant: 'm1', orderId: 'nope', status: 'success', at: T })).toBe(false);
    const rows = await store.trainingRows();
    expect(rows.map((r) => r.label)).toEqual([1, 0]);
    expect(Array.from(rows[0].features)).toEqual(Array.from(a.features));
    expect(await store.stats()).toEqual({ attempts: 3, labelled: 2 });
  });

  it('stores no raw account, device or IP identifiers', async () => {
    await store.recordAttempt(attempt(), 'prior');
    await store.close();
    await sql.db.close(false);
    const bytes = fs.readFileSync(sql.file).toString('latin1') + (fs.existsSync(`${sql.file}-wal`) ? fs.readFileSync(`${sql.file}-wal`).toString('latin1') : '');
    expect(bytes).not.toContain('alice');
    expect(bytes).not.toContain('dev-a');
    expect(bytes).not.toContain('203.0.113.5');
    store = new TrustSignals(sql.reopen(), new Uint8Array(32).fill(7));
  });

  it('computes the keyed hash of a returning customer\'s identifiers once (the same hashes as computed afresh)', async () => {
    const keys = store.keysOf(attempt());
    const spy = vi.spyOn(crypto, 'createHmac');
    try {
      for (let i = 0; i < 5; i++) expect(store.keysOf(attempt({ orderId: `r${i}`, at: T + i }))).toEqual({ ...keys, at: T + i });
      expect(spy).not.toHaveBeenCalled();
      expect(new TrustSignals(sql.db, new Uint8Array(32).fill(7)).keysOf(attempt())).toEqual(keys);
      expect(spy).toHaveBeenCalledTimes(3); // a fresh instance: account, device, IP
    } finally {
      spy.mockRestore();
    }
  });

  it('counts attempts still queued for writing, and a label finds its queued attempt', async () => {
    const queued = new TrustSignals(sql.db, new Uint8Array(32).fill(7), { flushMs: 60_000 });
    for (let i = 0; i < 3; i++) await queued.recordAttempt(attempt({ orderId: `q${i}`, accountId: `acct-${i}`, at: T + i }), 'prior');
    expect(await sql.db.trustStats()).toEqual({ attempts: 0, labelled: 0 }); // nothing written yet
    const ctx = await queued.context(attempt({ orderId: 'q9', accountId: 'acct-0', at: T + 10 }));
    expect(ctx.environment.attempts).toEqual({ accountHour: 1, accountDay: 1, cardHour: 3, cardDay: 3, ipHour: 3, ipDay: 3 });
    expect(ctx.environment.accountsOnIp).toBe(3);
    expect(ctx.device).toEqual({ seenWithAccount: true, accounts: 3, fraud: 0 });
    expect(ctx.account.createdAt).toBe(T);
    expect(await queued.recordOutcome({ merchant: 'm1', orderId: 'q1', status: 'success', at: T + 20 })).toBe(true);
    expect(await sql.db.trustStats()).toEqual({ attempts: 3, labelled: 1 });
    await queued.close();
  });

  it('keeps a decision on the first undecided queued attempt of the order at that second, also across a failed write', async () => {
    // Several attempts of one order in one second (a checkout retrying with other cards), queued:
    // each decision goes to the first of them without one — then, once written, to the stored row.
    const queued = new TrustSignals(sql.db, new Uint8Array(32).fill(7), { flushMs: 60_000 });
    const tokens = [1, 2, 3, 4].map((n) => new Uint8Array(16).fill(n));
    await queued.recordAttempt(attempt({ orderId: 'other', token: tokens[3], at: T }), 'prior');
    for (const token of tokens.slice(0, 3)) await queued.recordAttempt(attempt({ orderId: 'same', token, at: T }), 'prior');
    await queued.recordAttempt(attempt({ orderId: 'same', token: tokens[3], at: T + 1 }), 'prior');
    expect(queued.recordDecision({ merchant: 'm1', orderId: 'same', at: T }, 'decline', 'first')).toBeUndefined();
    expect(queued.recordDecision({ merchant: 'm1', orderId: 'same', at: T + 1 }, 'review', 'later second')).toBeUndefined();
    // A failed write keeps the queue (and what each queued row carries) for the next one.
    const insert = vi.spyOn(sql.db, 'insertTrustAttempts').mockRejectedValueOnce(new Error('disk full'));
    await expect(queued.flush()).rejects.toThrow('disk full');
    insert.mockRestore();
    expect(queued.recordDecision({ merchant: 'm1', orderId: 'same', at: T }, 'decline', 'second')).toBeUndefined();
    await queued.flush();
    // Written: the next decision of that second goes to the stored row that has none.
    await queued.recordDecision({ merchant: 'm1', orderId: 'same', at: T }, 'review', 'third');
    const rows = sql.db.db.prepare('SELECT order_id, hex(token) AS token, at, decision, reason FROM trust_attempts ORDER BY id').all();
    expect(rows).toEqual([
      { order_id: 'other', token: Buffer.from(tokens[3]).toString('hex').toUpperCase(), at: T, decision: null, reason: null },
      { order_id: 'same', token: Buffer.from(tokens[0]).toString('hex').toUpperCase(), at: T, decision: 'decline', reason: 'first' },
      { order_id: 'same', token: Buffer.from(tokens[1]).toString('hex').toUpperCase(), at: T, decision: 'decline', reason: 'second' },
      { order_id: 'same', token: Buffer.from(tokens[2]).toString('hex').toUpperCase(), at: T, decision: 'review', reason: 'third' },
      { order_id: 'same', token: Buffer.from(tokens[3]).toString('hex').toUpperCase(), at: T + 1, decision: 'review', reason: 'later second' },
    ]);
    // A label of a queued order writes the queue first; of an order not queued, it does not.
    await queued.recordAttempt(attempt({ orderId: 'late', token: tokens[0], at: T + 5 }), 'prior');
    const flush = vi.spyOn(queued, 'flush');
    expect(await queued.recordOutcome({ merchant: 'm1', orderId: 'nothing', status: 'success', at: T + 9 })).toBe(false);
    expect(flush).not.toHaveBeenCalled();
    expect(await queued.recordOutcome({ merchant: 'm1', orderId: 'late', status: 'success', at: T + 9 })).toBe(true);
    expect(flush).toHaveBeenCalledTimes(1);
    await queued.close();
  });
});

describe('training run on stored signals (real SQLite)', () => {
  it('trains from labelled attempts, stores the model with version and metrics, and is idempotent', async () => {
    const { StorageTrustModelStore } = await import('../../../server/trust/model-store.ts');
    const { runTrustTraining } = await import('../../../server/trust/train-job.ts');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'trust-train-'));
    const db = new SqliteStorage(path.join(dir, 'server.sqlite'));
    try {
      const signals = new TrustSignals(db, new Uint8Array(32));
      const models = new StorageTrustModelStore(db);
      expect(await runTrustTraining(signals, models)).toEqual({ trained: false, reason: 'need at least 40 labelled outcomes, have 0', rows: 0 });
      // Fraudsters share one device and fail; regular customers each have their own device and pay.
      for (let i = 0; i < 200; i++) {
        const bad = i % 4 === 0;
        const at = T + i * 60;
        await signals.recordAttempt({ merchant: 'm', orderId: `o${i}`, token: card(i % 250), accountId: `acc${i}`, deviceId: bad ? 'farm' : `dev${i}`, ip: bad ? '198.51.100.1' : `192.0.2.${i % 250}`, ipCountry: bad ? 'NG' : 'DE', cardCountry: 'DE', at }, null);
        await signals.recordOutcome({ merchant: 'm', orderId: `o${i}`, status: bad ? 'failure' : 'success', type: bad ? 'fraud' : null, at: at + 1 });
      }
      const r = await runTrustTraining(signals, models, { trainedAt: T });
      expect(r.trained).toBe(true);
      if (!r.trained) return;
      expect(r.rows).toBe(200);
      expect(r.model.metrics.auc).toBeGreaterThan(0.9);
      const reopened = await new StorageTrustModelStore(db).loadLatestModel();
      expect(reopened?.version).toBe(r.model.version);
      expect(reopened?.metrics).toEqual(r.model.metrics);
      const again = await runTrustTraining(signals, models, { trainedAt: T + 3600 });
      expect(again.trained && again.model.version).toBe(r.model.version);
      expect((db.db.prepare('SELECT count(*) AS n FROM trust_models').get() as { n: number }).n).toBe(1);
      await signals.close();
    } finally {
      await db.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
