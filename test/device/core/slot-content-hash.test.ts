// The delta check hashes the installed slot straight out of SQLite (device/store/slot-content-hash.ts)
// instead of reading it back into objects. These tests hold that hash to the protocol's own
// contentHash on contents that cross every CBOR length boundary the streaming code writes itself,
// and check that a delta install no longer materialises the slot.
import crypto from 'node:crypto';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { contentHash } from '../../../protocol/dataset/codec.ts';
import { diffContent } from '../../../protocol/dataset/delta.ts';
import { buildFuseFilter } from '../../../protocol/dataset/fuse-filter.ts';
import type { DatasetContent, HistoryEntry } from '../../../protocol/dataset/types.ts';
import { type Db, openDatabase } from '../../../device/store/database.ts';
import { DatasetSlots } from '../../../device/store/dataset-slots.ts';
import { slotContentHash } from '../../../device/store/slot-content-hash.ts';
import { cborHead } from '../../../protocol/dataset/dataset-index.ts';
import { NOW, baseContent, delta, rmrf, snapshot, tempDir } from './helpers.ts';

const rnd = (n: number) => new Uint8Array(crypto.randomBytes(n));
const tokens = (n: number) => Array.from({ length: n }, () => rnd(16));

function installSnapshot(slots: DatasetSlots, content: DatasetContent, version: number) {
  const built = snapshot(content, version, { chunkSize: 1 << 20 });
  return { slot: slots.install(built.manifest, { kind: 'snapshot', content }, NOW), hash: built.manifest.contentHash };
}

describe('slot content hash (streamed from SQLite)', () => {
  let dir: string;
  let db: Db;
  let slots: DatasetSlots;
  beforeEach(() => {
    dir = tempDir();
    db = openDatabase(dir);
    slots = new DatasetSlots(db);
  });
  afterEach(() => {
    db.close();
    rmrf(dir);
  });

  it('CBOR heads are the shortest forms', () => {
    expect([...cborHead(4, 23)]).toEqual([0x97]);
    expect([...cborHead(4, 24)]).toEqual([0x98, 24]);
    expect([...cborHead(2, 0x100)]).toEqual([0x59, 1, 0]);
    expect([...cborHead(2, 0x10000)]).toEqual([0x5a, 0, 1, 0, 0]);
    expect([...cborHead(2, 0xffffffff)]).toEqual([0x5a, 0xff, 0xff, 0xff, 0xff]);
  });

  it('equals contentHash for an empty dataset and the base fixture', () => {
    const empty: DatasetContent = { restricted: [], knownGood: [], history: [], binRules: [], prompts: [], routes: [] };
    const a = installSnapshot(slots, empty, 1);
    expect(Buffer.from(slotContentHash(db, a.slot))).toEqual(Buffer.from(contentHash(empty)));
    const b = installSnapshot(slots, baseContent(), 2);
    expect(Buffer.from(slotContentHash(db, b.slot))).toEqual(Buffer.from(b.hash));
  });

  it('equals contentHash across every length boundary of the streamed sections', () => {
    const restricted = [
      // one group over 65 535 bytes of tokens (4-byte byte-string head)
      ...tokens(4200).map((token) => ({ token, reason: 'stolen' })),
      // 30 more groups (1-byte array count head), non-ASCII and 64-byte reasons, one 24+ char
      ...Array.from({ length: 30 }, (_, i) => ({ token: rnd(16), reason: i === 0 ? 'é'.repeat(32) : i === 1 ? 'x'.repeat(64) : `reason-${i}-ü` })),
    ];
    const history: HistoryEntry[] = tokens(1500).map((token, i) => {
      const e: HistoryEntry = {
        token,
        events: [
          { at: NOW - 10 - i, amount: 100 + i, currency: 'USD', status: 'failure', code: '51', type: 'soft', advice: '01', gateway: 'gw-a', crossBorder: i % 2 === 0 },
          { at: NOW - i, amount: 5, currency: 'EUR', status: 'success' },
        ],
      };
      if (i % 3) e.brand = 'visa';
      return e;
    });
    const content: DatasetContent = {
      restricted,
      knownGood: tokens(20).map((token) => ({ token })), // 320 bytes: 2-byte head
      history, // 1500 entries: 2-byte array head, two history batches
      binRules: [{ prefix: '4', action: 'review', reason: 'r' }, { prefix: '41111111', action: 'decline', reason: 'test' }],
      prompts: [{ code: 'use_another_card', lang: 'zh', message: '请使用另一张卡' }],
      routes: [{ brand: 'visa', currency: 'USD', gateway: 'gw-a', successRate: 0.875 }, { brand: 'visa', currency: 'USD', gateway: 'gw-b', successRate: 1 }],
      restrictedFilter: buildFuseFilter(tokens(500)),
    };
    const { slot, hash } = installSnapshot(slots, content, 1);
    expect(Buffer.from(slotContentHash(db, slot))).toEqual(Buffer.from(hash));
  });

  it('equals contentHash for random small datasets', () => {
    const reason = fc.constantFrom('stolen', 'fraud', 'lost', 'ä', 'z'.repeat(40));
    const token = fc.uint8Array({ minLength: 16, maxLength: 16 });
    const arb = fc.record({
      restricted: fc.uniqueArray(fc.record({ token, reason }), { selector: (r) => Buffer.from(r.token).toString('hex'), maxLength: 40 }),
      knownGood: fc.uniqueArray(fc.record({ token }), { selector: (r) => Buffer.from(r.token).toString('hex'), maxLength: 30 }),
      history: fc.uniqueArray(
        fc.record({
          token,
          events: fc.array(fc.record({ at: fc.integer({ min: 0, max: 2 ** 31 }), amount: fc.integer({ min: 0, max: 10 ** 9 }), currency: fc.constantFrom('USD', 'JPY'), status: fc.constantFrom('success' as const, 'failure' as const) }), { maxLength: 4 }),
        }),
        { selector: (r) => Buffer.from(r.token).toString('hex'), maxLength: 30 },
      ),
    });
    let version = 0;
    fc.assert(
      fc.property(arb, (c) => {
        const content: DatasetContent = { ...c, binRules: [], prompts: [], routes: [] };
        const { slot, hash } = installSnapshot(slots, content, ++version);
        expect(Buffer.from(slotContentHash(db, slot))).toEqual(Buffer.from(hash));
      }),
      { numRuns: 40 },
    );
  });

  it('a delta install checks the result without reading the slot back into objects', () => {
    const v1 = baseContent();
    installSnapshot(slots, v1, 1);
    const v2 = { ...baseContent(), restricted: [...v1.restricted, { token: rnd(16), reason: 'fraud' }] };
    const d = delta(v1, v2, 1, 2);
    const readBack = vi.spyOn(DatasetSlots.prototype, 'readContent');
    try {
      slots.install(d.manifest, { kind: 'delta', delta: diffContent(v1, v2) }, NOW);
      expect(slots.activeMeta()?.version).toBe(2);
      expect(readBack).not.toHaveBeenCalled();
    } finally {
      readBack.mockRestore();
    }
  });

  it('after a delta every history row keeps its encoding, and the next delta hashes those bytes', () => {
    const v1 = baseContent();
    installSnapshot(slots, v1, 1);
    const nullEnc = (slot: string) => db.prepare(`SELECT count(*) FROM history_${slot} WHERE enc IS NULL`).pluck().get() as number;
    expect(nullEnc(slots.activeSlot()!)).toBe(v1.history.length); // a snapshot leaves them to the first delta
    const changed: HistoryEntry = { ...v1.history[0], events: [...v1.history[0].events, { at: NOW - 10, amount: 500, currency: 'USD', status: 'success' }] };
    const v2 = { ...v1, history: [changed, ...v1.history.slice(1), { token: rnd(16), brand: 'visa', events: [{ at: NOW - 5, amount: 7, currency: 'EUR', status: 'success' as const }] }] };
    slots.install(delta(v1, v2, 1, 2).manifest, { kind: 'delta', delta: diffContent(v1, v2) }, NOW);
    const s2 = slots.activeSlot()!;
    expect(nullEnc(s2)).toBe(0);
    expect(Buffer.from(slotContentHash(db, s2)).toString('hex')).toBe(Buffer.from(contentHash(v2)).toString('hex'));
    // the stored bytes are what is hashed: a wrong one shows
    db.prepare(`UPDATE history_${s2} SET enc = x'00' WHERE token = ?`).run(changed.token);
    expect(Buffer.from(slotContentHash(db, s2)).toString('hex')).not.toBe(Buffer.from(contentHash(v2)).toString('hex'));
    db.prepare(`UPDATE history_${s2} SET enc = NULL WHERE token = ?`).run(changed.token);
    // the next delta: an upserted row's stale encoding is gone with the row it replaced
    const v3 = { ...v2, history: v2.history.map((h, i) => (i === 0 ? { ...h, events: h.events.slice(1) } : h)) };
    slots.install(delta(v2, v3, 2, 3).manifest, { kind: 'delta', delta: diffContent(v2, v3) }, NOW);
    expect(slots.activeMeta()?.version).toBe(3);
    expect(nullEnc(slots.activeSlot()!)).toBe(0);
  });
});
