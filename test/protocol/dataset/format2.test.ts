// Dataset format 2 (segment routes, gateway health) next to format 1: content format 1 can carry is
// encoded exactly as before (same bytes, same hash: a device on older firmware keeps taking it);
// content that needs format 2 says so in its format field, and a reader that does not know a
// format refuses it with UNSUPPORTED rather than misreading it.
import { describe, expect, it } from 'vitest';
import { protocolRefusal as refusal } from '../../../testkit/refusal.ts';
import { encodeCbor, decodeDatasetCbor } from '../../../protocol/cbor.ts';
import { decodeContent, decodeDelta, diffContent, emptyContent, encodeContent, encodeDelta } from '../../../protocol/dataset/index.ts';
import type { DatasetContent } from '../../../protocol/dataset/types.ts';
import { applyDelta } from '../../../testkit/dataset-model.ts';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const v1: DatasetContent = { ...emptyContent(), routes: [{ brand: 'visa', currency: 'USD', gateway: 'gw-a', successRate: 0.5 }] };
const v2: DatasetContent = {
  ...emptyContent(),
  routes: [
    { brand: 'visa', currency: 'USD', gateway: 'gw-a', successRate: 0.5, rank: 0 },
    { brand: 'visa', currency: 'USD', region: 'xb', band: 'gt500', gateway: 'gw-b', successRate: 0.93, rank: 0 },
  ],
  gatewayHealth: [{ gateway: 'gw-c', eliminatedUntil: 1_800_000_000 }],
};

describe('dataset format 2', () => {
  it('format-1 content keeps the format-1 bytes (the layout written before segment routes)', () => {
    // built by hand in the format-1 layout: {0: 1, 1: [], 2: h'', 3: [], 4: [], 5: [], 6: [[brand, currency, gateway, rate]]}
    const legacy = encodeCbor(new Map<number, unknown>([[0, 1], [1, []], [2, new Uint8Array(0)], [3, []], [4, []], [5, []], [6, [['visa', 'USD', 'gw-a', 0.5]]]]));
    expect(hex(encodeContent(v1))).toBe(hex(legacy));
    expect(decodeContent(legacy)).toEqual(v1);
  });

  it('segment routes and health need format 2, round-trip, and re-encode to the same bytes', () => {
    const bytes = encodeContent(v2);
    const m = decodeDatasetCbor(bytes, { maxBytes: 1 << 20, maxDepth: 8 }) as Map<number, unknown>;
    expect(m.get(0)).toBe(2);
    expect(m.get(6)).toEqual([
      ['visa', 'USD', null, null, 'gw-a', 0.5, 0],
      ['visa', 'USD', 'xb', 'gt500', 'gw-b', 0.93, 0],
    ]);
    expect(m.get(8)).toEqual([['gw-c', 1_800_000_000]]);
    expect(decodeContent(bytes)).toEqual(v2);
    expect(hex(encodeContent(decodeContent(bytes)))).toBe(hex(bytes));
  });

  it('an unknown format is refused with UNSUPPORTED naming the formats this build reads', () => {
    const m = decodeDatasetCbor(encodeContent(v2), { maxBytes: 1 << 20, maxDepth: 8 }) as Map<number, unknown>;
    m.set(0, 4);
    const r = refusal(() => decodeContent(encodeCbor(m)));
    expect(r.code).toBe('UNSUPPORTED');
    expect(r.message).toMatch(/unsupported format 4.*1, 2, 3/);
  });

  it('non-canonical: a format-2 label on content format 1 can carry, or format-2 rows under format 1', () => {
    const m1 = decodeDatasetCbor(encodeContent(v1), { maxBytes: 1 << 20, maxDepth: 8 }) as Map<number, unknown>;
    m1.set(0, 2);
    expect(refusal(() => decodeContent(encodeCbor(m1))).code).toBe('INVALID_FIELD');
    const m2 = decodeDatasetCbor(encodeContent(v2), { maxBytes: 1 << 20, maxDepth: 8 }) as Map<number, unknown>;
    m2.set(0, 1);
    expect(refusal(() => decodeContent(encodeCbor(m2))).code).toBe('INVALID_FIELD');
    const bad = { ...v2, routes: [{ brand: 'visa', currency: 'USD', region: 'abroad', gateway: 'g', successRate: 0.5 }] } as unknown as DatasetContent;
    expect(refusal(() => encodeContent(bad)).message).toMatch(/region/);
  });

  it('deltas carry segment routes and replace health whole (an empty list clears it)', () => {
    const d = diffContent(v1, v2);
    expect(d.gatewayHealth).toEqual(v2.gatewayHealth);
    expect(applyDelta(v1, decodeDelta(encodeDelta(d)))).toEqual(decodeContent(encodeContent(v2)));
    const back = diffContent(v2, v1);
    expect(back.gatewayHealth).toEqual([]);
    expect(back.routes.remove).toContainEqual({ brand: 'visa', currency: 'USD', region: 'xb', band: 'gt500', gateway: 'gw-b' });
    const bytes = encodeDelta(back);
    expect((decodeDatasetCbor(bytes, { maxBytes: 1 << 20, maxDepth: 8 }) as Map<number, unknown>).get(0)).toBe(2);
    expect(applyDelta(v2, decodeDelta(bytes))).toEqual(decodeContent(encodeContent(v1)));
    // a delta between two format-1 contents stays format 1
    const w = { ...v1, routes: [{ ...v1.routes[0], successRate: 0.7 }] };
    expect((decodeDatasetCbor(encodeDelta(diffContent(v1, w)), { maxBytes: 1 << 20, maxDepth: 8 }) as Map<number, unknown>).get(0)).toBe(1);
  });
});
