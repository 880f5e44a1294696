// Incremental publishing (protocol/dataset/dataset-index.ts) must produce exactly the bytes a full
// build produces: the snapshot of every version and the delta from each of the previous versions.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DatasetIndex, type IndexedHistory } from '../../../protocol/dataset/dataset-index.ts';
import { historyEntryBytes, normHistoryEntry } from '../../../protocol/dataset/codec.ts';
import { diffContent, emptyContent, encodeContent, encodeDelta } from '../../../protocol/dataset/index.ts';
import type { DatasetContent, HistoryEntry, RestrictedEntry } from '../../../protocol/dataset/types.ts';
import { contentArb } from './arbitraries.ts';

const key = (t: Uint8Array) => Buffer.from(t).toString('hex');
const bytes = (b: Uint8Array) => Buffer.from(b).toString('hex');
const MASK = 48;

interface Step {
  keep: boolean[];
  retoken: boolean[];
  extra: DatasetContent;
  smallFromExtra: boolean;
  reverseEvents: boolean;
}

const stepArb: fc.Arbitrary<Step> = fc.record({
  keep: fc.array(fc.boolean(), { minLength: MASK, maxLength: MASK }),
  retoken: fc.array(fc.boolean(), { minLength: MASK, maxLength: MASK }),
  extra: contentArb,
  smallFromExtra: fc.boolean(),
  reverseEvents: fc.boolean(),
});

/** The next version: some of prev's entries kept, some changed in place (same token), some new. */
function next(prev: DatasetContent, s: Step): DatasetContent {
  const merge = <T extends { token: Uint8Array }>(old: T[], add: T[], change: (o: T, a: T) => T): T[] => {
    const m = new Map<string, T>();
    old.forEach((x, i) => s.keep[i % MASK] && m.set(key(x.token), x));
    add.forEach((a, i) => {
      const o = old[i];
      const x = o && s.retoken[i % MASK] ? change(o, a) : a;
      m.set(key(x.token), x);
    });
    return [...m.values()];
  };
  const restricted = merge<RestrictedEntry>(prev.restricted, s.extra.restricted, (o, a) => ({ token: o.token, reason: a.reason }));
  const knownGood = merge(prev.knownGood, s.extra.knownGood, (o) => ({ token: o.token }));
  const history = merge<HistoryEntry>(prev.history, s.extra.history, (o, a) => ({ ...a, token: o.token }))
    // the same entry read back with its events in another order must not count as a change
    .map((h) => (s.reverseEvents ? { ...h, events: h.events.slice().reverse() } : h));
  const small = s.smallFromExtra ? s.extra : prev;
  const c: DatasetContent = { restricted, knownGood, history, binRules: small.binRules, prompts: small.prompts, routes: small.routes };
  if (small.gatewayHealth !== undefined) c.gatewayHealth = small.gatewayHealth;
  if (small.floorLimits !== undefined) c.floorLimits = small.floorLimits;
  if (small.restrictedFilter !== undefined) c.restrictedFilter = small.restrictedFilter;
  return c;
}

/** DatasetIndex.buildNext of `c` from `prev`, as server/datasets/builder.ts calls it. */
function buildNextOf(c: DatasetContent, prev: DatasetIndex): DatasetIndex {
  const kept = new Map(prev.history.map((h) => [h.key, h]));
  const tokenOfItem = (x: IndexedHistory | HistoryEntry) => ('bytes' in x ? x.entry.token : x.token);
  const history = c.history
    .map((h): IndexedHistory | HistoryEntry => {
      const p = kept.get(Buffer.from(h.token).toString('latin1'));
      // an entry equal to prev's (same encoding) is passed as prev's own object, as for an unchanged card
      return p && bytes(p.bytes) === bytes(historyEntryBytes(normHistoryEntry(h, 'h'))) ? p : h;
    })
    .sort((a, b) => Buffer.compare(Buffer.from(tokenOfItem(a)), Buffer.from(tokenOfItem(b))));
  const kg = c.knownGood.map((k) => Buffer.from(k.token)).sort(Buffer.compare);
  return DatasetIndex.buildNext(c, prev, history, new Uint8Array(Buffer.concat(kg)));
}

describe('incremental dataset build (DatasetIndex)', () => {
  it('builds every version of a sequence of changes byte-identical to a full build, with the deltas from the two previous versions', () => {
    fc.assert(
      fc.property(contentArb, fc.array(stepArb, { minLength: 1, maxLength: 6 }), (first, steps) => {
        const contents = [first];
        for (const s of steps) contents.push(next(contents[contents.length - 1], s));
        const indexes: DatasetIndex[] = [];
        contents.forEach((c, k) => {
          const idx = DatasetIndex.build(c, indexes[k - 1] ?? null);
          const full = encodeContent(c);
          expect(bytes(idx.encode())).toBe(bytes(full));
          // the publisher's path: prev's entries kept as they are, the others merged in, known-good packed
          if (k > 0) expect(bytes(buildNextOf(c, indexes[k - 1]).encode())).toBe(bytes(full));
          // a version read back from storage indexes to the same bytes and deltas
          const stored = DatasetIndex.fromPayload(full);
          expect(bytes(stored.encode())).toBe(bytes(full));
          for (const back of [1, 2]) {
            if (k - back < 0) continue;
            const want = bytes(encodeDelta(diffContent(contents[k - back], c)));
            expect(bytes(encodeDelta(idx.deltaFrom(indexes[k - back])))).toBe(want);
            expect(bytes(encodeDelta(stored.deltaFrom(DatasetIndex.fromPayload(encodeContent(contents[k - back])))))).toBe(want);
          }
          indexes.push(idx);
        });
      }),
      { seed: 20261206, numRuns: 80 },
    );
  });

  it('keeps the objects of unchanged entries, so a publish re-encodes only what changed', () => {
    const [c] = fc.sample(contentArb.filter((x) => x.history.length >= 2 && x.restricted.length > 0), { numRuns: 1, seed: 11 });
    const a = DatasetIndex.build(c);
    const changed = { ...c, history: c.history.map((h, i) => (i === 0 ? { ...h, events: [...h.events, { at: 1, amount: 5, currency: 'EUR', status: 'success' as const }] } : h)) };
    const b = DatasetIndex.build(changed, a);
    const reused = b.history.filter((h) => a.history.includes(h)).length;
    expect(reused).toBe(c.history.length - 1);
    expect(b.restricted.every((g, i) => g.packed === a.restricted[i].packed)).toBe(true);
    expect(bytes(b.encode())).toBe(bytes(encodeContent(changed)));
  });

  it('buildNext refuses a packed known-good section that is not whole, ascending tokens, and a history out of order', () => {
    const [c] = fc.sample(contentArb.filter((x) => x.history.length >= 2), { numRuns: 1, seed: 3 });
    const a = DatasetIndex.build(c);
    const t = (i: number) => new Uint8Array(16).fill(i);
    const packed = (...xs: Uint8Array[]) => new Uint8Array(Buffer.concat(xs));
    expect(() => DatasetIndex.buildNext(c, a, a.history, packed(t(2), t(1)))).toThrow(expect.objectContaining({ code: 'INVALID_FIELD' }));
    expect(() => DatasetIndex.buildNext(c, a, a.history, packed(t(1), t(1)))).toThrow(expect.objectContaining({ code: 'INVALID_FIELD' }));
    expect(() => DatasetIndex.buildNext(c, a, a.history, new Uint8Array(17))).toThrow(expect.objectContaining({ code: 'INVALID_FIELD' }));
    expect(() => DatasetIndex.buildNext(c, a, [...a.history].reverse(), a.knownGood)).toThrow(expect.objectContaining({ code: 'INVALID_FIELD' }));
    // unchanged: prev's entries and buffer, as they were
    const b = DatasetIndex.buildNext(c, a, a.history, packed(...c.knownGood.map((k) => k.token).sort(Buffer.compare)));
    expect(b.history.every((h, i) => h === a.history[i])).toBe(true);
    expect(b.knownGood).toBe(a.knownGood);
  });

  it('builds from and to the empty content', () => {
    const e = DatasetIndex.build(emptyContent());
    expect(bytes(e.encode())).toBe(bytes(encodeContent(emptyContent())));
    const [c] = fc.sample(contentArb, { numRuns: 1, seed: 5 });
    const x = DatasetIndex.build(c, e);
    expect(bytes(encodeDelta(x.deltaFrom(e)))).toBe(bytes(encodeDelta(diffContent(emptyContent(), c))));
    expect(bytes(encodeDelta(e.deltaFrom(x)))).toBe(bytes(encodeDelta(diffContent(c, emptyContent()))));
  });
});
