// A delta is applied in place to the active slot (device/store/dataset-slots.ts): it writes only
// the rows it names — proven with SQLite's own row-change counter, not timing — and a failure
// anywhere inside the install (hash mismatch, a fault before the meta switch) still leaves the
// previous dataset active with every row as it was, because the install is one transaction.
import crypto from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { diffContent } from '../../../protocol/dataset/delta.ts';
import type { DatasetContent } from '../../../protocol/dataset/types.ts';
import { type Db, openDatabase } from '../../../device/store/database.ts';
import { DatasetSlots } from '../../../device/store/dataset-slots.ts';
import { slotContentHash } from '../../../device/store/slot-content-hash.ts';
import { NOW, baseContent, delta, rmrf, snapshot, tempDir } from './helpers.ts';

// Deterministic tokens (no chance involved): SHA-256 of a label, first 16 bytes.
const token = (label: string) => new Uint8Array(crypto.createHash('sha256').update(label).digest().subarray(0, 16));

function bigContent(cards: number): DatasetContent {
  const c = baseContent();
  for (let i = 0; i < cards; i++) c.knownGood.push({ token: token(`kg${i}`) });
  for (let i = 0; i < cards; i++) c.history.push({ token: token(`h${i}`), brand: 'visa', events: [{ at: NOW - 1000 - i, amount: 100 + i, currency: 'EUR', status: 'success' }] });
  for (let i = 0; i < 50; i++) c.restricted.push({ token: token(`r${i}`), reason: 'fraud' });
  return c;
}

/** v with one history card changed, one known-good card added and one restricted card removed. */
function touched(v: DatasetContent, n: number): DatasetContent {
  const history = v.history.map((h) => (Buffer.compare(Buffer.from(h.token), Buffer.from(token('h7'))) === 0 ? { ...h, events: [...h.events, { at: NOW - n, amount: 5 + n, currency: 'EUR', status: 'success' as const }] } : h));
  const restrictedGone = token(`r${n}`);
  return {
    ...v,
    history,
    knownGood: [...v.knownGood, { token: token(`new${n}`) }],
    restricted: v.restricted.filter((r) => Buffer.compare(Buffer.from(r.token), Buffer.from(restrictedGone)) !== 0),
  };
}

describe('delta applied in place', () => {
  let dir: string;
  let db: Db;
  let slots: DatasetSlots;
  const changes = () => db.prepare('SELECT total_changes()').pluck().get() as number;
  const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
  beforeEach(() => {
    dir = tempDir();
    db = openDatabase(dir);
    slots = new DatasetSlots(db);
  });
  afterEach(() => {
    db.close();
    rmrf(dir);
  });

  function installChain(cards: number): { v2: DatasetContent } {
    const v1 = bigContent(cards);
    const s1 = snapshot(v1, 1, { chunkSize: 1 << 20 });
    slots.install(s1.manifest, { kind: 'snapshot', content: v1 }, NOW);
    // the first delta after a snapshot stores every history row's encoding (once)
    const v2 = touched(v1, 2);
    slots.install(delta(v1, v2, 1, 2).manifest, { kind: 'delta', delta: diffContent(v1, v2) }, NOW);
    return { v2 };
  }

  it('writes only the rows the delta names, however many cards the slot holds', () => {
    const { v2 } = installChain(2000);
    const slot = slots.activeSlot()!;
    const other = slot === 'a' ? 'b' : 'a';
    const otherRows = db.prepare(`SELECT count(*) FROM known_good_${other}`).pluck().get() as number;
    const v3 = touched(v2, 3);
    const before = changes();
    const installedIn = slots.install(delta(v2, v3, 2, 3).manifest, { kind: 'delta', delta: diffContent(v2, v3) }, NOW);
    const written = changes() - before;
    // 1 restricted removed, 1 known-good and 1 history row upserted (a replace: delete + insert),
    // that row's encoding, the slot's meta, the pointer — a handful, not the slot's 4000+ rows
    expect(written).toBeLessThanOrEqual(12);
    expect(installedIn).toBe(slot);
    expect(slots.activeMeta()?.version).toBe(3);
    expect(hex(slotContentHash(db, slot))).toBe(hex(delta(v2, v3, 2, 3).manifest.contentHash));
    // the other slot was not touched either
    expect(db.prepare(`SELECT count(*) FROM known_good_${other}`).pluck().get()).toBe(otherRows);
  });

  it('a delta whose result does not match the manifest leaves every row of the active dataset as it was', () => {
    const { v2 } = installChain(200);
    const slot = slots.activeSlot()!;
    const hashBefore = hex(slotContentHash(db, slot));
    const v3 = touched(v2, 3);
    const wrong = touched(v2, 4); // the manifest promises a different result than the delta makes
    const m = delta(v2, wrong, 2, 3).manifest;
    expect(() => slots.install(m, { kind: 'delta', delta: diffContent(v2, v3) }, NOW)).toThrow(expect.objectContaining({ code: 'CHUNK_HASH' }));
    expect(slots.activeMeta()?.version).toBe(2);
    expect(slots.activeSlot()).toBe(slot);
    expect(hex(slotContentHash(db, slot))).toBe(hashBefore);
    expect(slots.facts(slot, token('r3')).restricted).toEqual({ reason: 'fraud' });
  });

  it('a fault after the rows are written and before the meta switch rolls the whole delta back', () => {
    const { v2 } = installChain(200);
    const slot = slots.activeSlot()!;
    const hashBefore = hex(slotContentHash(db, slot));
    const v3 = touched(v2, 3);
    const d3 = delta(v2, v3, 2, 3);
    expect(() =>
      slots.install(d3.manifest, { kind: 'delta', delta: diffContent(v2, v3) }, NOW, {
        beforeSwitch: () => {
          // the delta is in the slot at this point...
          expect(slots.facts(slot, token('new3')).knownGood).toBe(true);
          throw new Error('power cut (simulated)');
        },
      }),
    ).toThrow('power cut');
    // ...and gone after the rollback
    expect(slots.activeMeta()?.version).toBe(2);
    expect(slots.facts(slot, token('new3')).knownGood).toBe(false);
    expect(slots.facts(slot, token('r3')).restricted).toEqual({ reason: 'fraud' });
    expect(hex(slotContentHash(db, slot))).toBe(hashBefore);
    // and the same delta installs once the fault is gone
    expect(slots.install(d3.manifest, { kind: 'delta', delta: diffContent(v2, v3) }, NOW)).toBe(slot);
    expect(slots.activeMeta()?.version).toBe(3);
  });

  it('the hash of a slot whose rows all have their encoding is the same read in pages of any size', () => {
    const { v2 } = installChain(40);
    const slot = slots.activeSlot()!;
    expect(db.prepare(`SELECT count(*) FROM history_${slot} WHERE enc IS NULL`).pluck().get()).toBe(0);
    const want = hex(delta(bigContent(40), v2, 1, 2).manifest.contentHash);
    for (const page of [1, 7, 41, 8192]) expect(hex(slotContentHash(db, slot, page))).toBe(want);
  });

  it('a snapshot after in-place deltas still goes to the other slot and switches', () => {
    const { v2 } = installChain(50);
    const slot = slots.activeSlot()!;
    const s3 = snapshot(v2, 3, { chunkSize: 1 << 20 });
    const now = slots.install(s3.manifest, { kind: 'snapshot', content: v2 }, NOW);
    expect(now).not.toBe(slot);
    expect(hex(slotContentHash(db, now))).toBe(hex(s3.manifest.contentHash));
  });
});
