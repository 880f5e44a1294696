import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { tokenHex } from '../../../protocol/dataset/token.ts';
import { DAY, NOW, PANS, baseContent, openCore, rmrf, snapshot, syncAll, tempDir, tok, coreEachTest } from './helpers.ts';

const order = { amount: 2500, currency: 'USD' };

describe('local authentication through the core (real SQLite file)', () => {
  const t = coreEachTest({ merchantCountry: 'CN' });

  it('without a dataset: escalate no_data, never approve', () => {
    const r = t.core.verify({ pan: PANS.knownGood, ...order });
    expect(r).toMatchObject({ decision: 'escalate', reason: 'no_data', datasetVersion: 0, datasetState: 'none' });
    expect(tokenHex(r.token)).toBe(tokenHex(tok(PANS.knownGood)));
  });

  it('each decision path', () => {
    syncAll(t.core, snapshot(baseContent(), 1));
    expect(t.core.verify({ pan: PANS.restricted, ...order })).toMatchObject({ decision: 'decline', reason: 'restricted', promptCode: 'use_another_card', gateway: null });
    expect(t.core.verify({ pan: PANS.binDeclined, ...order })).toMatchObject({ decision: 'decline', reason: 'bin_rule' });
    expect(t.core.verify({ pan: PANS.hard, ...order })).toMatchObject({ decision: 'decline', reason: 'hard_decline', detail: '43' });
    // 51 (funds) is reviewed only for at least the declined amount (90 000); a smaller one may pass
    expect(t.core.verify({ pan: PANS.soft51, ...order, lang: 'fr' }).reason).not.toBe('soft_decline');
    const soft = t.core.verify({ pan: PANS.soft51, amount: 90000, currency: 'USD', lang: 'fr' });
    expect(soft).toMatchObject({ decision: 'review', reason: 'soft_decline', promptCode: 'try_smaller_amount', promptLang: 'fr', promptMessage: 'Essayez un montant plus petit.' });
    const softZh = t.core.verify({ pan: PANS.soft51, amount: 90000, currency: 'USD', lang: 'zh-CN' });
    expect(softZh.promptLang).toBe('zh');
    expect(softZh.promptMessage).toMatch(/金额/);
    // 57 on a cross-border order (order country US, merchant CN) → review + enable international
    expect(t.core.verify({ pan: PANS.intl57, ...order, country: 'US' })).toMatchObject({
      decision: 'review',
      reason: 'international_disabled',
      promptCode: 'enable_international',
      crossBorder: true,
    });
    // ...the same card on a domestic order → decline
    expect(t.core.verify({ pan: PANS.intl57, ...order, country: 'CN' })).toMatchObject({ decision: 'decline', reason: 'hard_decline', crossBorder: false });
    const good = t.core.verify({ pan: PANS.knownGood, ...order });
    expect(good).toMatchObject({ decision: 'approve', reason: 'known_good', brand: 'mastercard', gateway: 'gw-east', bin: '555555', last4: '4444', datasetVersion: 1 });
    expect(t.core.verify({ pan: PANS.unknown, ...order })).toMatchObject({ decision: 'escalate', reason: 'unknown_card', brand: 'visa', gateway: 'gw-west' });
    expect(t.core.status().verificationsServed).toBe(10);
  });

  it('an expired card is declined by the shared expiry rule, before anything the dataset knows', () => {
    syncAll(t.core, snapshot(baseContent(), 1));
    const d = new Date(NOW * 1000);
    const lastMonth = d.getUTCMonth() === 0 ? { expMonth: 12, expYear: d.getUTCFullYear() - 1 } : { expMonth: d.getUTCMonth(), expYear: d.getUTCFullYear() };
    // NOW is more than a day into its month, so last month's card is past its grace day
    expect(d.getUTCDate()).toBeGreaterThan(1);
    expect(t.core.verify({ pan: PANS.knownGood, ...order, ...lastMonth })).toMatchObject({ decision: 'decline', reason: 'card_expired', promptCode: 'check_card_details', gateway: null });
    expect(t.core.verify({ pan: PANS.knownGood, ...order, expMonth: d.getUTCMonth() + 1, expYear: d.getUTCFullYear() })).toMatchObject({ decision: 'approve' });
  });

  it('stale data never approves, but still declines', () => {
    syncAll(t.core, snapshot(baseContent(), 1));
    t.clock.now = NOW + 8 * DAY; // past expiresAt
    expect(t.core.status().datasetState).toBe('stale');
    expect(t.core.verify({ pan: PANS.knownGood, ...order })).toMatchObject({ decision: 'escalate', reason: 'stale_data' });
    expect(t.core.verify({ pan: PANS.restricted, ...order })).toMatchObject({ decision: 'decline', reason: 'restricted' });
  });

  it('rejects malformed requests with typed errors that do not echo the card number', () => {
    expect(() => t.core.verify({ pan: '4111-1111-1111-111x', ...order })).toThrow(expect.objectContaining({ code: 'INVALID_FIELD' }));
    expect(() => t.core.verify({ pan: PANS.unknown, amount: -1, currency: 'USD' })).toThrow(expect.objectContaining({ code: 'INVALID_FIELD' }));
    expect(() => t.core.verify({ pan: PANS.unknown, amount: 1, currency: 'usd' })).toThrow(expect.objectContaining({ code: 'INVALID_FIELD' }));
  });

  it('the database never holds a card number; the journal holds tokens', () => {
    syncAll(t.core, snapshot(baseContent(), 1));
    for (const pan of Object.values(PANS)) t.core.verify({ pan, ...order, country: 'US' });
    const journal = t.core.recentVerifications(50);
    expect(journal.length).toBe(Object.values(PANS).length);
    expect(journal.map((j) => tokenHex(j.token))).toContain(tokenHex(tok(PANS.restricted)));
    t.core.close();
    const files = fs.readdirSync(t.dir, { recursive: true }) as string[];
    let scanned = 0;
    for (const f of files) {
      const p = `${t.dir}/${f}`;
      if (!fs.statSync(p).isFile()) continue;
      const bytes = fs.readFileSync(p);
      scanned += bytes.length;
      for (const pan of Object.values(PANS)) {
        expect(bytes.includes(Buffer.from(pan)), `${pan.slice(0, 6)}… in ${f}`).toBe(false);
        expect(bytes.includes(Buffer.from(pan, 'utf16le')), `utf16 in ${f}`).toBe(false);
      }
    }
    expect(scanned).toBeGreaterThan(4096);
    t.core = openCore(t.dir, { clock: t.clock });
  });

  it('counts rejected frames and keeps counters across restarts', () => {
    t.core.countRejectedFrame();
    t.core.countRejectedFrame();
    t.core.verify({ pan: PANS.unknown, ...order });
    t.core.close();
    t.core = openCore(t.dir, { clock: t.clock });
    expect(t.core.status()).toMatchObject({ framesRejected: 2, verificationsServed: 1 });
  });

  it('journal is bounded', () => {
    t.core.close();
    t.core = openCore(t.dir, { clock: t.clock, journalRows: 5 });
    for (let i = 0; i < 12; i++) t.core.verify({ pan: PANS.unknown, ...order });
    expect(t.core.recentVerifications(100).length).toBe(5);
    expect(t.core.status().verificationsServed).toBe(12);
  });

  it('paired hosts: add, list, full, remove', () => {
    t.core.close();
    t.core = openCore(t.dir, { clock: t.clock, maxPairedHosts: 2 });
    const k = (n: number) => new Uint8Array(32).fill(n);
    t.core.pairedHosts.add(k(1), 'desk');
    t.core.pairedHosts.add(k(2), 'till');
    t.core.pairedHosts.add(k(2), 'till-2'); // re-pair renames, does not count twice
    expect(() => t.core.pairedHosts.add(k(3), 'third')).toThrow(expect.objectContaining({ code: 'PAIRING_FULL' }));
    expect(t.core.pairedHosts.list().map((h) => h.name)).toEqual(['desk', 'till-2']);
    expect(t.core.pairedHosts.isPaired(k(1))).toBe(true);
    expect(t.core.pairedHosts.remove(k(1))).toBe(true);
    expect(t.core.pairedHosts.isPaired(k(1))).toBe(false);
    expect(t.core.info()).toMatchObject({ pairedHosts: 1, maxPairedHosts: 2 });
  });
});

describe('info and status', () => {
  it('report every STATUS_RES field', () => {
    const dir = tempDir();
    const core = openCore(dir);
    try {
      syncAll(core, snapshot(baseContent(), 3));
      const info = core.info();
      expect(info).toMatchObject({ datasetVersion: 3, datasetState: 'fresh', datasetExpiresAt: NOW + 7 * DAY, pairedHosts: 0, maxPairedHosts: 4 });
      expect(info.deviceId).toMatch(/^pc-[0-9a-f]{12}$/);
      expect(Buffer.from(info.staticKey)).toEqual(Buffer.from(core.staticKeyPair().publicKey));
      expect(Object.keys(core.status()).sort()).toEqual(
        [
          'deviceId',
          'firmwareVersion',
          'firmwareState',
          'datasetVersion',
          'datasetState',
          'datasetCreatedAt',
          'datasetExpiresAt',
          'verificationsServed',
          'framesRejected',
          'syncVersion',
          'syncNextChunk',
          'syncTotalChunks',
        ].sort(),
      );
      expect(core.status()).toMatchObject({ datasetCreatedAt: NOW - 60, firmwareState: 'confirmed', firmwareVersion: 1 });
    } finally {
      core.close();
      rmrf(dir);
    }
  });
});
