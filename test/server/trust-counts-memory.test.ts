// SQLite answers trust counts from memory (server/storage/trust-counts-memory.ts): the answers
// must be the counting statement's, for every key and time — at the hour, day and 30-day window
// edges, within the current second, up to SLACK seconds before the newest attempt (requests that
// read the clock before another's attempt was counted), after labels, for attempts noted but not
// yet written, after a prune and after a restart (loaded from the table again). A seeded random history (many attempts
// per key, keys shared across accounts, devices, IPs and cards) is checked answer by answer.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { TrustAttemptRow, TrustKeys } from '../../server/storage/storage.ts';
import { SqliteStorage } from '../../server/storage/sqlite-storage.ts';
import { mulberry32 } from '../../server/routing/rng.ts';
import { SLACK } from '../../server/storage/trust-counts-memory.ts';
import { sqliteStorageEachTest } from './sqlite-fixture.ts';
import { TrustSignals } from '../../server/trust/signal-store.ts';
import { evaluateNewCard } from '../../server/trust/policy.ts';
import { priorTrustModel } from '../../server/trust/model.ts';

const T = 1_700_000_000;
const HOUR = 3600;
const DAY = 86_400;
const MONTH = 30 * DAY;

/** A seeded generator, so every run checks the same history. */
const rng = mulberry32;

const tok = (n: number) => new Uint8Array(16).fill(n);

describe('trust counts in memory (SQLite)', () => {
  const sql = sqliteStorageEachTest('trust-counts-mem-');

  /** The memory's answer, checked to come from memory, next to the statement's. */
  async function both(db: SqliteStorage, k: TrustKeys) {
    const calls = db.trustCountsFromSqlCalls;
    const mem = await db.trustCounts(k);
    expect(db.trustCountsFromSqlCalls, 'answered from memory').toBe(calls);
    return { mem, sql: db.trustCountsFromSql(k) };
  }

  it('equals the counting statement at window edges, within a second, with labels, unwritten attempts, prune and restart', async () => {
    let db = sql.db;
    const r = rng(12);
    const pick = <X>(xs: X[]): X => xs[Math.floor(r() * xs.length)];
    const accounts = ['a1', 'a2', 'a3', 'a4', null];
    const devices = ['d1', 'd2', 'd3', null];
    const ips = ['i1', 'i2', 'i3', null];
    const attempts: TrustAttemptRow[] = [];
    const unwritten: TrustAttemptRow[] = [];
    const written: TrustAttemptRow[] = [];
    let now = T;
    let checked = 0;
    const keysAt = (at: number): TrustKeys => ({ account: pick(accounts), device: pick(devices), ip: pick(ips), token: tok(1 + Math.floor(r() * 6)), at });
    const check = async (at: number) => {
      // At `at`, and a little before it (up to SLACK before the newest attempt).
      for (const t of [at, at, at - 1, at - pick([2, 59, 3600, SLACK])]) {
        const { mem, sql: want } = await both(db, keysAt(t));
        expect(mem).toEqual(want);
        checked++;
      }
    };
    for (let i = 0; i < 600; i++) {
      // The next attempt's time: the same second, the next, or exactly (±1 s) an hour, a day or
      // 30 days after an earlier attempt, so windows open and close on attempts.
      const step = r();
      // Now and then the clock steps back, by more than SLACK: the counts are loaded again up to
      // then, and the attempts after it count once the clock passes them again.
      if (i % 97 === 96) now -= SLACK + 1 + Math.floor(r() * 2 * DAY);
      else if (step < 0.3) now += 0;
      else if (step < 0.55) now += 1 + Math.floor(r() * 600);
      else {
        const base = pick(attempts.length ? attempts : [{ at: now } as TrustAttemptRow]).at + pick([HOUR, DAY, MONTH]) + pick([-1, 0, 1]);
        if (base > now) now = base;
        else now += Math.floor(r() * 5);
      }
      await check(now);
      const a: TrustAttemptRow = {
        merchant: 'm', orderId: `o${i % 400}`, token: tok(1 + Math.floor(r() * 6)), account: pick(accounts), device: pick(devices), ip: pick(ips),
        ipCountry: null, cardCountry: null, at: now, features: [0], modelVersion: null,
      };
      // Now and then an attempt from a request that read the clock a moment earlier (out of order).
      if (i > 0 && r() < 0.15) a.at = now - Math.floor(r() * 3);
      db.noteTrustAttempts([a]);
      attempts.push(a);
      unwritten.push(a);
      await check(now); // an attempt just noted at `now` is not counted before it
      if (r() < 0.3) {
        const batch = unwritten.splice(0);
        await db.insertTrustAttempts(batch);
        written.push(...batch);
      }
      if (r() < 0.25 && written.length > 0) {
        // Labels (often of an attempt in the current second) change account and device counts.
        const w = r() < 0.5 ? written[written.length - 1] : pick(written);
        const status = pick(['success', 'failure', 'failure']);
        await db.labelTrustAttempt({ merchant: 'm', orderId: w.orderId, status, type: status === 'failure' ? pick(['fraud', 'chargeback', 'soft', null]) : null, label: null, at: now });
        await check(now);
      }
      if (i === 400) {
        // A prune drops old attempts from the all-time counts too.
        const batch = unwritten.splice(0);
        await db.insertTrustAttempts(batch);
        written.push(...batch);
        expect(await db.pruneTrustAttempts(now - 20 * DAY)).toBeGreaterThan(0);
        await check(now);
      }
    }
    expect(checked).toBeGreaterThan(3000);

    // A time more than SLACK before the newest attempt: loaded again, still from memory.
    const old = keysAt(db.trustCountsNewest() - SLACK - 1);
    const { mem: oldMem, sql: oldSql } = await both(db, old);
    expect(oldMem).toEqual(oldSql);

    // Restart: the counts are loaded from the table and answer the same.
    await db.insertTrustAttempts(unwritten.splice(0));
    const probes = Array.from({ length: 40 }, (_, j) => keysAt(now + pick([-SLACK, -1, 0, 1, HOUR, DAY, MONTH + 1]) * (j % 2)));
    const before = await Promise.all(probes.map((k) => db.trustCounts(k)));
    await db.close();
    db = sql.reopen();
    for (let j = 0; j < probes.length; j++) {
      const { mem, sql: want } = await both(db, probes[j]);
      expect(mem).toEqual(want);
      expect(mem).toEqual(before[j]);
    }
  });

  it('a start reads the attempts of the last day one by one and the older ones grouped, and answers as the counting statement does', async () => {
    const r = rng(20261206);
    const pick = <X>(xs: X[]): X => xs[Math.floor(r() * xs.length)];
    const accounts = ['a1', 'a2', 'a3', 'a4', 'a5', 'a6', null];
    const devices = ['d1', 'd2', 'd3', 'd4', null];
    const ips = ['i1', 'i2', 'i3', 'i4', null];
    // 90 days of attempts (most in time order, some a moment out of order), labelled now and then
    // (fraud and chargebacks too), written as the service writes them.
    let db = sql.db;
    let now = T;
    const rows: TrustAttemptRow[] = [];
    for (let i = 0; i < 3000; i++) {
      now += Math.floor(r() * 2 * 2600);
      const at = r() < 0.1 ? now - Math.floor(r() * 3) : now;
      rows.push({ merchant: 'm', orderId: `o${i}`, token: tok(1 + Math.floor(r() * 40)), account: pick(accounts), device: pick(devices), ip: pick(ips), ipCountry: null, cardCountry: null, at, features: [0], modelVersion: null });
    }
    await db.insertTrustAttempts(rows);
    for (let i = 0; i < 900; i++) {
      const status = pick(['success', 'failure', 'failure']);
      await db.labelTrustAttempt({ merchant: 'm', orderId: `o${Math.floor(r() * rows.length)}`, status, type: status === 'failure' ? pick(['fraud', 'chargeback', 'soft', null]) : null, label: null, at: now });
    }
    const latest = Math.max(...rows.map((x) => x.at));
    expect(latest - T).toBeGreaterThan(60 * DAY);
    await db.close();
    db = sql.reopen();
    // The answers at and after the newest attempt (within SLACK before it, and as time moves on past
    // the hour, day and 30-day edges of the attempts) equal the statement's over the whole table.
    let checked = 0;
    for (const dt of [-SLACK, -SLACK + 1, -60, -1, 0, 1, 600, HOUR, HOUR + 1, DAY - 1, DAY, DAY + SLACK, 10 * DAY, MONTH - 1, MONTH, MONTH + 1, 40 * DAY]) {
      for (let j = 0; j < 25; j++) {
        const k: TrustKeys = { account: pick(accounts), device: pick(devices), ip: pick(ips), token: tok(1 + Math.floor(r() * 40)), at: latest + dt };
        const { mem, sql: want } = await both(db, k);
        expect(mem).toEqual(want);
        checked++;
      }
    }
    expect(checked).toBe(17 * 25);
    // Only the attempts of the last day (and SLACK) were read one by one.
    const recent = rows.filter((x) => x.at >= latest - DAY - SLACK).length;
    expect(recent).toBeGreaterThan(0);
    expect(recent).toBeLessThan(rows.length / 20);
    expect(db.trustRowsLoaded).toBe(recent);
  });

  it('answers as the counting statement does across a sweep that drops the day-old cards and reuses their ids, with thousands of cards', async () => {
    // Cards are held by id in a table that grows, and ids of cards swept out of the day (every
    // 65 536 attempts) are given to new cards: 70 000 attempts over ~3 days, cards changing with
    // time (so the sweep finds cards a day old) and now and then an old card again; a few keys
    // that are not 16 bytes; answers checked against the statement before and after the sweep.
    const db = sql.db;
    const r = rng(7);
    const pick = <X>(xs: X[]): X => xs[Math.floor(r() * xs.length)];
    const accounts = [...Array.from({ length: 40 }, (_, j) => `a${j}`), null];
    const devices = [...Array.from({ length: 25 }, (_, j) => `d${j}`), null];
    const ips = [...Array.from({ length: 30 }, (_, j) => `i${j}`), null];
    const card = (n: number): Uint8Array => {
      if (n % 997 === 5) return new Uint8Array([n & 255, n >> 8, 1, 2, 3]); // another length
      const t = new Uint8Array(16);
      for (let b = 0; b < 16; b++) t[b] = (n * 2654435761 + b * 40503) >>> (b % 3) * 8 & 255;
      t[0] = n & 255;
      t[1] = n >> 8;
      return t;
    };
    const phase = (i: number) => Math.floor(i / 20_000);
    // Mostly this phase's cards (2 000 per phase), sometimes any earlier one.
    const cardAt = (i: number) => (r() < 0.1 ? Math.floor(r() * 2000 * (phase(i) + 1)) : phase(i) * 2000 + Math.floor(r() * 2000));
    let now = T;
    let pending: TrustAttemptRow[] = [];
    let checked = 0;
    const check = async (n: number, i: number) => {
      for (let j = 0; j < n; j++) {
        const at = now - pick([0, 0, 1, 60, SLACK]);
        const k: TrustKeys = { account: pick(accounts), device: pick(devices), ip: pick(ips), token: card(r() < 0.5 ? cardAt(i) : Math.floor(r() * 2000 * (phase(i) + 1))), at };
        const { mem, sql: want } = await both(db, k);
        expect(mem).toEqual(want);
        checked++;
      }
    };
    for (let i = 0; i < 70_000; i++) {
      now += Math.floor(r() * 8);
      const a: TrustAttemptRow = {
        merchant: 'm', orderId: `o${i}`, token: card(cardAt(i)), account: pick(accounts), device: pick(devices), ip: pick(ips),
        ipCountry: null, cardCountry: null, at: r() < 0.05 ? now - Math.floor(r() * 3) : now, features: [0], modelVersion: null,
      };
      db.noteTrustAttempts([a]);
      pending.push(a);
      if (pending.length === 2000) {
        await db.insertTrustAttempts(pending);
        pending = [];
      }
      if (i % 5000 === 4999 && i < 60_000) await check(5, i);
      if (i >= 65_600 && i % 500 === 0) await check(12, i); // after the sweep at the 65 536th attempt
    }
    await db.insertTrustAttempts(pending);
    await check(40, 69_999);
    expect(now - T).toBeGreaterThan(2 * DAY + HOUR);
    expect(checked).toBe(196);
  }, 120_000);

  it('counts an attempt as soon as it is noted, before it is written, and once when written', async () => {
    const db = sql.db;
    const row = (o: Partial<TrustAttemptRow>): TrustAttemptRow => ({ merchant: 'm', orderId: 'o1', token: tok(1), account: 'acc', device: 'dev', ip: 'ip', ipCountry: null, cardCountry: null, at: T, features: [0], modelVersion: null, ...o });
    const k: TrustKeys = { account: 'acc', device: 'dev', ip: 'ip', token: tok(1), at: T + 10 };
    const a = row({});
    db.noteTrustAttempts([a]);
    expect(await db.trustStats()).toEqual({ attempts: 0, labelled: 0 });
    expect((await db.trustCounts(k)).attempts).toEqual({ accountHour: 1, accountDay: 1, cardHour: 1, cardDay: 1, ipHour: 1, ipDay: 1 });
    await db.insertTrustAttempts([a, row({ orderId: 'o2', at: T + 5 })]); // the second was never noted
    expect((await db.trustCounts(k)).attempts).toEqual({ accountHour: 2, accountDay: 2, cardHour: 2, cardDay: 2, ipHour: 2, ipDay: 2 });
    expect(await db.trustCounts(k)).toEqual(db.trustCountsFromSql(k));
  });

  it('places an attempt noted out of time order (a request that read the clock a moment earlier)', async () => {
    const db = sql.db;
    const row = (o: Partial<TrustAttemptRow>): TrustAttemptRow => ({ merchant: 'm', orderId: 'o1', token: tok(1), account: 'new', device: 'dev', ip: 'ip', ipCountry: null, cardCountry: null, at: T, features: [0], modelVersion: null, ...o });
    db.noteTrustAttempts([row({ account: 'old', at: T - 50 }), row({ at: T + 10 }), row({ orderId: 'o2', at: T + 8, token: tok(2) })]);
    const k: TrustKeys = { account: 'new', device: 'dev', ip: 'ip', token: tok(2), at: T + 10 };
    const { mem, sql: want } = await both(db, k);
    expect(mem).toEqual(want);
    expect(mem.account?.firstAt).toBe(T + 8);
    expect(mem.device).toEqual({ withAccount: true, accounts: 2, mine: true, fraud: 0 });
    expect(mem.cards.deviceDay).toEqual({ n: 2, mine: true }); // cards 1 (T - 50) and 2 (T + 8); T + 10 is not before
    // Before the newest attempt: 'new' (first on the device at T + 8, again at T + 10) is not before T + 8.
    const earlier = await both(db, { ...k, at: T + 8 });
    expect(earlier.mem).toEqual(earlier.sql);
    expect(earlier.mem.device).toEqual({ withAccount: false, accounts: 1, mine: false, fraud: 0 });
    expect(earlier.mem.account?.firstAt).toBeNull();
  });

  it('gives TrustSignals the contexts, features and new-card answers that counting by statement gives', async () => {
    // The same attempts and outcomes into two files: one counted in memory with attempts queued
    // (written behind), one as before — each attempt written before answering, counted by the statement.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'trust-counts-sql-'));
    const other = new SqliteStorage(path.join(dir, 'server.sqlite'));
    const bySql = new Proxy(other, {
      get(t, p) {
        if (p === 'noteTrustAttempts') return undefined;
        if (p === 'trustCounts') return (k: TrustKeys) => Promise.resolve(t.trustCountsFromSql(k));
        const v = Reflect.get(t, p) as unknown;
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(t) : v;
      },
    });
    const key = new Uint8Array(32).fill(3);
    const mem = new TrustSignals(sql.db, key, { flushMs: 60_000 });
    const old = new TrustSignals(bySql, key, { flushMs: 0 });
    try {
      const r = rng(7);
      const pick = <X>(xs: X[]): X => xs[Math.floor(r() * xs.length)];
      const model = priorTrustModel();
      let now = T;
      const answers = new Set<string>();
      for (let i = 0; i < 300; i++) {
        now += pick([0, 0, 1, 30, 600, HOUR, HOUR + 1, DAY - 1, DAY]);
        const a = { merchant: pick(['m1', 'm2']), orderId: `o${i}`, token: tok(1 + Math.floor(r() * 8)), accountId: pick(['alice', 'bob', 'carol', undefined]), deviceId: pick(['d1', 'd2', undefined]), ip: pick(['192.0.2.1', '192.0.2.2', undefined]), ipCountry: 'DE', cardCountry: pick(['DE', 'US']), at: now };
        const x = await mem.recordAttempt(a, model.version);
        const y = await old.recordAttempt(a, model.version);
        expect(x.context).toEqual(y.context);
        expect(Array.from(x.features)).toEqual(Array.from(y.features));
        const order = { amount: 1000 + Math.floor(r() * 90_000), currency: 'EUR' };
        const dx = evaluateNewCard(model, x.context, order);
        expect(dx).toEqual(evaluateNewCard(model, y.context, order));
        answers.add(`${dx.decision}/${dx.reason}`);
        if (r() < 0.4) {
          const o = { merchant: a.merchant, orderId: `o${Math.max(0, i - Math.floor(r() * 5))}`, status: pick(['success', 'failure'] as const), type: pick([null, 'fraud', 'chargeback', 'soft']), at: now };
          expect(await mem.recordOutcome(o)).toBe(await old.recordOutcome(o));
        }
      }
      expect(answers.size).toBeGreaterThan(1); // the sequence reaches more than one answer
    } finally {
      await mem.close();
      await old.close();
      await other.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
