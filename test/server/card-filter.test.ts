// New cards answered from memory (server/storage/card-filter.ts, SqliteStorage.watchCards): the
// filter never misses a card or order the file holds — written by this process, or by another
// one (a `precheck server` command) once the generation check has run — and authFacts gives the
// probe statement's answers, with no statement for a card and order never seen.
import { afterEach, describe, expect, it } from 'vitest';
import { CardFilter, CardKeys } from '../../server/storage/card-filter.ts';
import { SqliteStorage } from '../../server/storage/sqlite-storage.ts';
import type { AuthFactsQuery, OutcomeRow } from '../../server/storage/storage.ts';
import { mulberry32 } from '../../server/routing/rng.ts';
import { makeTempDir, type TempDir } from '../../testkit/tmp.ts';
import { authBody, randomToken, startHarness } from './helpers.ts';

const tokenOf = (rnd: () => number): Uint8Array => Uint8Array.from({ length: 16 }, () => Math.floor(rnd() * 256));

describe('CardFilter', () => {
  it('finds every token and order it was given, and few it was not (seeded keys)', () => {
    const rnd = mulberry32(12);
    const f = new CardFilter(40_000);
    const tokens = Array.from({ length: 20_000 }, () => tokenOf(rnd));
    const orders = Array.from({ length: 20_000 }, (_, i) => [`m${i % 37}`, `order-${i}-${Math.floor(rnd() * 1e9)}`] as const);
    for (const t of tokens) f.addToken(t);
    for (const [m, o] of orders) f.addOrder(m, o);
    expect(tokens.every((t) => f.mayHaveToken(t))).toBe(true);
    expect(orders.every(([m, o]) => f.mayHaveOrder(m, o))).toBe(true);
    let wrong = 0;
    for (let i = 0; i < 20_000; i++) if (f.mayHaveToken(tokenOf(rnd))) wrong++;
    for (let i = 0; i < 20_000; i++) if (f.mayHaveOrder(`m${i % 37}`, `other-${i}`)) wrong++;
    expect(wrong).toBeLessThan(40_000 * 0.01);
    // merchant and order id are kept apart: "ab" + "c" is not "a" + "bc"
    expect(f.mayHaveOrder('m1', '0order-1')).toBe(false);
  });

  it('is built from hash pairs read as SQLite hex() gives tokens, growing past its first buffer', () => {
    const rnd = mulberry32(5);
    const keys = new CardKeys();
    const tokens = Array.from({ length: 70_000 }, () => tokenOf(rnd));
    for (const t of tokens) keys.addTokenHex(Buffer.from(t).toString('hex').toUpperCase());
    keys.addOrder('m1', 'o1');
    keys.addTokenHex('00ff'); // not a 16-byte token: kept all the same
    expect(keys.size).toBe(70_002);
    const f = keys.filter();
    expect(tokens.every((t) => f.mayHaveToken(t))).toBe(true);
    expect([f.mayHaveOrder('m1', 'o1'), f.mayHaveToken(Uint8Array.of(0, 255))]).toEqual([true, true]);
  });

  it('says when it holds more keys than it was sized for', () => {
    const f = new CardFilter(0);
    const rnd = mulberry32(3);
    let n = 0;
    while (!f.full) {
      f.addToken(tokenOf(rnd));
      n++;
    }
    expect(n).toBe(f.bytes + 1); // past 8 bits per key
  });
});

describe('SqliteStorage with the cards in memory', () => {
  let tmp: TempDir;
  const open: SqliteStorage[] = [];
  afterEach(async () => {
    for (const s of open.splice(0)) await s.close();
    tmp?.cleanup();
  });
  const storage = (): SqliteStorage => {
    const s = new SqliteStorage(tmp.file('service.db'));
    open.push(s);
    return s;
  };
  const NOW = 1_800_000_000;
  const query = (token: Uint8Array | null, orderId: string, merchant = 'm1'): AuthFactsQuery => ({
    token, merchant, orderId, now: NOW, since: NOW - 86_400 * 365, historyLimit: 1000,
    trust: { account: null, device: null, ip: null, token: token ?? new Uint8Array(16), at: NOW },
  });
  const outcome = (token: Uint8Array | null, orderId: string, over: Partial<OutcomeRow> = {}): OutcomeRow => ({
    idempotencyKey: `k-${orderId}`, merchant: 'm1', token, bin: '411111', last4: '1111', brand: 'visa', orderId, amount: 1000, currency: 'USD',
    gateway: 'gw-a', status: 'success', code: null, type: null, at: NOW - 60, hard: false, ...over,
  });
  /** authFacts without the parts that differ only by object identity. */
  const facts = async (s: SqliteStorage, q: AuthFactsQuery) => {
    const f = await s.authFacts(q);
    return { restricted: f.restricted && { ...f.restricted, token: Buffer.from(f.restricted.token).toString('hex') }, knownGood: f.knownGood, history: f.history, hard: f.hard, orderRows: f.orderRows };
  };

  it('answers a new card and order without a statement, and sees its own writes at once', async () => {
    tmp = makeTempDir('precheck-cards-');
    const s = storage();
    s.watchCards(60_000);
    await s.whenCardsChecked();
    expect(s.cardsInMemory).toBe(true);
    const rnd = mulberry32(7);
    const a = tokenOf(rnd);
    expect(await facts(s, query(a, 'o1'))).toEqual({ restricted: null, knownGood: false, history: [], hard: [], orderRows: [] });
    expect(await facts(s, query(null, 'o1'))).toMatchObject({ orderRows: [] });
    expect(s.cardProbes).toBe(0);

    await s.addRestricted([{ token: a, bin: '411111', last4: '1111', reason: 'stolen', source: 'admin', addedAt: NOW - 10, expiresAt: null }]);
    expect((await facts(s, query(a, 'o1'))).restricted).toMatchObject({ reason: 'stolen' });

    const b = tokenOf(rnd);
    await s.recordOutcome(outcome(b, 'o2'), 'fp', { restrict: null, knownGood: true }, { ok: 1 });
    const fb = await facts(s, query(b, 'o3'));
    expect([fb.knownGood, fb.history.length]).toEqual([true, 1]);
    // the order is known through its outcome, for another card and without one
    expect((await facts(s, query(tokenOf(rnd), 'o2'))).orderRows).toHaveLength(1);
    expect((await facts(s, query(null, 'o2'))).orderRows).toHaveLength(1);

    const c = tokenOf(rnd);
    await s.addKnownGood('m2', c, NOW);
    expect((await facts(s, query(c, 'o9', 'm2'))).knownGood).toBe(true);
    expect(s.cardsInMemory).toBe(true); // its own writes never drop the filter
  });

  it("reads another process's writes again once the generation check has run", async () => {
    tmp = makeTempDir('precheck-cards-');
    const s = storage();
    s.watchCards(60_000);
    await s.whenCardsChecked();
    const other = storage(); // a `precheck server` command on the same file
    const rnd = mulberry32(8);
    const [a, b, c] = [tokenOf(rnd), tokenOf(rnd), tokenOf(rnd)];
    await other.addRestricted([{ token: a, bin: null, last4: null, reason: 'imported', source: 'import', addedAt: NOW - 10, expiresAt: null }]);
    await other.importOutcomes([outcome(b, 'o-imp', { idempotencyKey: '' })]);
    await other.addKnownGood('m1', c, NOW);
    await s.checkCards();
    expect(s.cardsInMemory).toBe(true);
    expect((await facts(s, query(a, 'x'))).restricted).toMatchObject({ reason: 'imported' });
    expect((await facts(s, query(b, 'x'))).history).toHaveLength(1);
    expect((await facts(s, query(null, 'o-imp'))).orderRows).toHaveLength(1);
    expect((await facts(s, query(c, 'x'))).knownGood).toBe(true);
    // and on its own schedule: a short interval, waited for by event
    const s2 = storage();
    s2.watchCards(5);
    await s2.whenCardsChecked();
    const d = tokenOf(rnd);
    await other.recordOutcome(outcome(d, 'o-late'), 'fp', { restrict: { reason: 'fraud' }, knownGood: false }, { ok: 1 });
    await s2.whenCardsChecked();
    expect((await facts(s2, query(d, 'x'))).restricted).toMatchObject({ reason: 'fraud' });
  });

  it('gives the probe statement’s answers over a seeded mix of cards, orders, expiry and removals', async () => {
    tmp = makeTempDir('precheck-cards-');
    const s = storage();
    s.watchCards(60_000);
    await s.whenCardsChecked();
    const probe = storage(); // never watches: every answer is the statement's
    const rnd = mulberry32(21);
    const known: Uint8Array[] = [];
    const orders: string[] = [];
    for (let i = 0; i < 300; i++) {
      const t = tokenOf(rnd);
      const r = rnd();
      if (r < 0.3) await s.addRestricted([{ token: t, bin: '411111', last4: '0000', reason: 'r', source: 'admin', addedAt: NOW - 100, expiresAt: rnd() < 0.3 ? NOW - 1 : null }]);
      else if (r < 0.6) {
        orders.push(`o${i}`);
        await s.recordOutcome(outcome(t, `o${i}`, { status: rnd() < 0.5 ? 'success' : 'failure', hard: rnd() < 0.2 }), `fp${i}`, { restrict: null, knownGood: rnd() < 0.5 }, { i });
      } else if (r < 0.7) await s.addKnownGood(`m${i % 3}`, t, NOW);
      else if (r < 0.8 && known.length > 0) await s.removeRestricted(known[Math.floor(rnd() * known.length)]);
      known.push(t);
    }
    let asked = 0;
    for (let i = 0; i < 600; i++) {
      const t = rnd() < 0.5 && known.length > 0 ? known[Math.floor(rnd() * known.length)] : rnd() < 0.8 ? tokenOf(rnd) : null;
      const order = rnd() < 0.3 && orders.length > 0 ? orders[Math.floor(rnd() * orders.length)] : `new-${i}`;
      const q = query(t, order, `m${i % 3 === 0 ? 1 : i % 3}`);
      expect(await facts(s, q)).toEqual(await facts(probe, q));
      asked++;
    }
    expect(asked).toBe(600);
    expect(s.cardProbes).toBeLessThan(probe.cardProbes); // new cards and orders skipped the statement
  });
});

describe('the service', () => {
  it('answers new cards from memory and a restricted card added through the API at once', async () => {
    const h = await startHarness();
    try {
      const storage = h.s.service.storage as SqliteStorage;
      await storage.whenCardsChecked();
      expect(storage.cardsInMemory).toBe(true);
      const before = storage.cardProbes;
      const token = randomToken();
      expect((await h.call('POST', '/v1/auth', authBody(token))).json.decision).not.toBe('decline');
      expect(storage.cardProbes).toBe(before);
      expect((await h.admin('POST', '/v1/admin/restricted', { token, reason: 'stolen' })).status).toBe(200);
      const r = await h.call('POST', '/v1/auth', authBody(token));
      expect([r.json.decision, r.json.reason]).toEqual(['decline', 'restricted']);
      const metrics = await (await fetch(`${h.s.url}/metrics`)).text();
      expect(metrics).toMatch(/^precheck_auth_cards_in_memory 1$/m);
      expect(metrics).toMatch(new RegExp(`^precheck_auth_card_probes_total ${storage.cardProbes}$`, 'm'));
    } finally {
      await h.close();
    }
  });
});
