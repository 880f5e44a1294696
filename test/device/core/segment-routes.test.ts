// Offline routes that follow the market: the device picks the route of the order's segment
// (brand × currency × domestic/cross-border × amount band, falling back to brand × currency),
// skips a gateway the service eliminated until its expiry has passed (and only until then), and
// avoids the gateway that declined this very card, as the service's network path does.
import Database from 'better-sqlite3';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { DatasetContent, Route } from '../../../protocol/dataset/types.ts';
import { NOW, PANS, baseContent, delta, openCore, snapshot, syncAll, tok, coreEachTest } from './helpers.ts';

// Visa USD: gw-a wins in general, gw-b for domestic orders of $20–100, gw-c cross-border above $500.
function marketContent(): DatasetContent {
  const c = baseContent();
  const routes: Route[] = [
    { brand: 'visa', currency: 'USD', gateway: 'gw-a', successRate: 0.9, rank: 0 },
    { brand: 'visa', currency: 'USD', gateway: 'gw-b', successRate: 0.88, rank: 1 },
    { brand: 'visa', currency: 'USD', gateway: 'gw-c', successRate: 0.8, rank: 2 },
    { brand: 'visa', currency: 'USD', region: 'dom', band: '20-100', gateway: 'gw-b', successRate: 0.97, rank: 0 },
    { brand: 'visa', currency: 'USD', region: 'dom', band: '20-100', gateway: 'gw-a', successRate: 0.9, rank: 1 },
    { brand: 'visa', currency: 'USD', region: 'xb', band: 'gt500', gateway: 'gw-c', successRate: 0.93, rank: 0 },
    { brand: 'visa', currency: 'USD', region: 'xb', band: 'gt500', gateway: 'gw-a', successRate: 0.9, rank: 1 },
  ];
  c.routes = routes;
  // a card whose latest answer at gw-b was a soft decline, an hour ago
  c.history.push({ token: tok(PANS.unknown), brand: 'visa', events: [{ at: NOW - 3600, amount: 5000, currency: 'USD', status: 'failure', code: '05', gateway: 'gw-b' }] });
  return c;
}

describe('segment routes on the device', () => {
  const t = coreEachTest({ merchantCountry: 'US' });

  it("takes the route of the order's segment, else the brand × currency route", () => {
    syncAll(t.core, snapshot(marketContent(), 1));
    // a currency without routes: no recommendation
    expect(t.core.verify({ pan: '4000000000000002', amount: 5000, currency: 'EUR' }).gateway).toBeNull();
    const visa = '4000000000000002';
    // domestic $50 → the (dom, 20-100) segment's first choice
    expect(t.core.verify({ pan: visa, amount: 5000, currency: 'USD', country: 'US' })).toMatchObject({ gateway: 'gw-b', alternatives: ['gw-a'] });
    // cross-border $800 → (xb, gt500)
    expect(t.core.verify({ pan: visa, amount: 80000, currency: 'USD', country: 'DE' })).toMatchObject({ gateway: 'gw-c', alternatives: ['gw-a'] });
    // cross-border $50: no segment rows → brand × currency
    expect(t.core.verify({ pan: visa, amount: 5000, currency: 'USD', country: 'DE' })).toMatchObject({ gateway: 'gw-a', alternatives: ['gw-b', 'gw-c'] });
  });

  it('skips a gateway eliminated until a time not yet passed, and uses it again after', () => {
    const c = marketContent();
    c.gatewayHealth = [{ gateway: 'gw-b', eliminatedUntil: NOW + 300 }];
    syncAll(t.core, snapshot(c, 1));
    const visa = '4000000000000002';
    expect(t.core.verify({ pan: visa, amount: 5000, currency: 'USD', country: 'US' })).toMatchObject({ gateway: 'gw-a', alternatives: [] });
    t.clock.now = NOW + 301;
    expect(t.core.verify({ pan: visa, amount: 5000, currency: 'USD', country: 'US' })).toMatchObject({ gateway: 'gw-b', alternatives: ['gw-a'] });
  });

  it('avoids the gateway that declined this card (latest answer there), like the network path', () => {
    syncAll(t.core, snapshot(marketContent(), 1));
    // PANS.unknown was declined (05) at gw-b: a domestic $50 order goes to gw-a instead
    const r = t.core.verify({ pan: PANS.unknown, amount: 5000, currency: 'USD', country: 'US' });
    expect(r.decision).not.toBe('decline');
    expect(r.gateway).toBe('gw-a');
    // a technical failure at gw-a later says nothing about the card: still gw-a over gw-b
    const c = marketContent();
    c.history[c.history.length - 1].events.push({ at: NOW - 60, amount: 5000, currency: 'USD', status: 'failure', type: 'technical', code: '68', gateway: 'gw-a' });
    syncAll(t.core, delta(marketContent(), c, 1, 2));
    expect(t.core.verify({ pan: PANS.unknown, amount: 5000, currency: 'USD', country: 'US' }).gateway).toBe('gw-a');
  });

  it('keeps a card on the gateway that approved it last while its rate is within 2 points of the best', () => {
    const c = marketContent();
    const card = '4000000000000010';
    c.history.push({ token: tok(card), brand: 'visa', events: [{ at: NOW - 7200, amount: 4000, currency: 'USD', status: 'success', gateway: 'gw-b' }] });
    syncAll(t.core, snapshot(c, 1));
    // cross-border $50 → brand × currency: gw-a 0.90, gw-b 0.88 — gw-b approved this card: gw-b
    expect(t.core.verify({ pan: card, amount: 5000, currency: 'USD', country: 'DE' })).toMatchObject({ gateway: 'gw-b', alternatives: ['gw-a', 'gw-c'] });
    // another card without that history: the ranking's first
    expect(t.core.verify({ pan: '4000000000000002', amount: 5000, currency: 'USD', country: 'DE' }).gateway).toBe('gw-a');
    // cross-border $800 → (xb, gt500): gw-c 0.93 first, gw-b not in that segment: gw-c
    expect(t.core.verify({ pan: card, amount: 80000, currency: 'USD', country: 'DE' }).gateway).toBe('gw-c');
  });

  it('health and segment routes arrive by delta too; the device hash check passes', () => {
    syncAll(t.core, snapshot(baseContent(), 1));
    const c = marketContent();
    c.gatewayHealth = [{ gateway: 'gw-a', eliminatedUntil: NOW + 600 }];
    expect(syncAll(t.core, delta(baseContent(), c, 1, 2)).activeVersion).toBe(2);
    expect(t.core.verify({ pan: '4000000000000002', amount: 80000, currency: 'USD', country: 'DE' })).toMatchObject({ gateway: 'gw-c', alternatives: [] });
    // health cleared by the next delta
    const d = marketContent();
    expect(syncAll(t.core, delta(c, d, 2, 3)).activeVersion).toBe(3);
    expect(t.core.verify({ pan: '4000000000000002', amount: 80000, currency: 'USD', country: 'DE' })).toMatchObject({ gateway: 'gw-c', alternatives: ['gw-a'] });
  });

  it('a device database from before segment routes (schema v2) keeps its routes after the upgrade', () => {
    syncAll(t.core, snapshot(baseContent(), 1));
    t.core.close();
    // back to the v2 shape: routes keyed (brand, currency, gateway), no health table, no history encodings
    const db = new Database(path.join(t.dir, 'device.db'));
    for (const s of ['a', 'b']) {
      db.exec(`CREATE TABLE r2 (brand TEXT NOT NULL, currency TEXT NOT NULL, gateway TEXT NOT NULL, success_rate REAL NOT NULL, PRIMARY KEY (brand, currency, gateway)) WITHOUT ROWID;
        INSERT INTO r2 SELECT brand, currency, gateway, success_rate FROM routes_${s}; DROP TABLE routes_${s}; ALTER TABLE r2 RENAME TO routes_${s}; DROP TABLE health_${s};
        DROP INDEX history_${s}_enc_null; ALTER TABLE history_${s} DROP COLUMN enc; DROP TABLE floor_${s};`); // v6's index, v4's column and v5's table too
    }
    db.exec('DROP TABLE floor_spend;');
    db.pragma('user_version = 2');
    db.close();
    t.core = openCore(t.dir, { clock: t.clock, merchantCountry: 'US' });
    expect(t.core.verify({ pan: '4000000000000002', amount: 5000, currency: 'USD' }).gateway).toBe('gw-west');
    // and a delta from that version still applies (same canonical content, same hash)
    const next = { ...baseContent(), prompts: [...baseContent().prompts, { code: 'x', lang: 'en', message: 'y' }] };
    expect(syncAll(t.core, delta(baseContent(), next, 1, 2)).activeVersion).toBe(2);
  });
});

