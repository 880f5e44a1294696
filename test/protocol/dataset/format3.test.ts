// Dataset format 3: floor limits for unknown cards (content key 9, delta key 15). Content without
// them keeps its format-1/2 bytes; content with them says format 3, round-trips, re-encodes to the
// same bytes, and every field has a limit the decoder enforces.
import { describe, expect, it } from 'vitest';
import { protocolRefusal as refusal } from '../../../testkit/refusal.ts';
import { decodeDatasetCbor, encodeCbor } from '../../../protocol/cbor.ts';
import { decodeContent, decodeDelta, diffContent, emptyContent, encodeContent, encodeDelta, isEmptyDelta } from '../../../protocol/dataset/index.ts';
import type { DatasetContent, FloorLimits } from '../../../protocol/dataset/types.ts';
import { LIMITS } from '../../../protocol/dataset/validate.ts';
import { applyDelta } from '../../../testkit/dataset-model.ts';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const cbor = (b: Uint8Array) => decodeDatasetCbor(b, { maxBytes: 1 << 20, maxDepth: 8 }) as Map<number, unknown>;
const floor: FloorLimits = {
  maxApprovals: 40,
  windowSeconds: 3600,
  limits: [
    { brand: 'visa', currency: 'EUR', region: 'xb', limit: 5000 },
    { brand: 'visa', currency: 'EUR', region: 'dom', limit: 10000 },
  ],
};
const v1: DatasetContent = { ...emptyContent(), routes: [{ brand: 'visa', currency: 'EUR', gateway: 'gw-a', successRate: 0.9 }] };
const v3: DatasetContent = { ...v1, floorLimits: floor };

describe('dataset format 3 (floor limits)', () => {
  it('needs format 3, is key 9 in canonical order, round-trips and re-encodes to the same bytes', () => {
    const bytes = encodeContent(v3);
    const m = cbor(bytes);
    expect(m.get(0)).toBe(3);
    expect(m.get(9)).toEqual([40, 3600, [['visa', 'EUR', 'dom', 10000], ['visa', 'EUR', 'xb', 5000]]]);
    const back = decodeContent(bytes);
    expect(back.floorLimits?.limits.map((l) => l.region)).toEqual(['dom', 'xb']);
    expect(hex(encodeContent(back))).toBe(hex(bytes));
    // without floor limits the content keeps its older format and bytes
    expect(cbor(encodeContent(v1)).get(0)).toBe(1);
    expect(hex(encodeContent({ ...v1, floorLimits: { ...floor, limits: [] } }))).toBe(hex(encodeContent(v1)));
  });

  it('refuses what the limits forbid, naming the field', () => {
    const bad = (f: Partial<FloorLimits>) => refusal(() => encodeContent({ ...v1, floorLimits: { ...floor, ...f } }));
    expect(bad({ maxApprovals: 0 }).message).toMatch(/maxApprovals/);
    expect(bad({ maxApprovals: LIMITS.floorApprovals + 1 }).message).toMatch(/maxApprovals/);
    expect(bad({ windowSeconds: 59 }).message).toMatch(/windowSeconds/);
    expect(bad({ windowSeconds: LIMITS.floorWindowMax + 1 }).message).toMatch(/windowSeconds/);
    expect(bad({ limits: [{ brand: 'visa', currency: 'EUR', region: 'dom', limit: 0 }] }).message).toMatch(/limit/);
    expect(bad({ limits: [{ brand: 'visa', currency: 'EUR', region: 'dom', limit: 1.5 }] }).message).toMatch(/limit/);
    expect(bad({ limits: [{ brand: 'visa', currency: 'EUR', region: 'dom', limit: LIMITS.floorLimit + 1 }] }).message).toMatch(/limit/);
    expect(bad({ limits: [{ brand: 'visa', currency: 'eur', region: 'dom', limit: 1 }] }).message).toMatch(/currency/);
    expect(bad({ limits: [{ brand: 'visa', currency: 'EUR', region: 'abroad' as 'dom', limit: 1 }] }).message).toMatch(/region/);
    expect(bad({ limits: [floor.limits[0], { ...floor.limits[0], limit: 7 }] }).message).toMatch(/duplicate/);
    const many = Array.from({ length: LIMITS.floorSegments + 1 }, (_, i) => ({ brand: `b${i}`, currency: 'EUR', region: 'dom' as const, limit: 1 }));
    expect(bad({ limits: many }).message).toMatch(/at most/);
  });

  it('the decoder refuses a non-canonical or out-of-limits section', () => {
    const m = cbor(encodeContent(v3));
    const variant = (v: unknown, format = 3) => {
      const x = new Map(m);
      x.set(0, format);
      x.set(9, v);
      return refusal(() => decodeContent(encodeCbor(x)));
    };
    expect(variant([40, 3600, [['visa', 'EUR', 'xb', 5000], ['visa', 'EUR', 'dom', 10000]]]).message).toMatch(/ascending/);
    expect(variant([40, 3600, []]).message).toMatch(/limits/);
    expect(variant([40, 30, [['visa', 'EUR', 'dom', 1]]]).message).toMatch(/windowSeconds/);
    expect(variant([40, 3600, [['visa', 'EUR', 'dom', -1]]]).message).toMatch(/limit/);
    expect(variant([40, 3600]).message).toMatch(/floorLimits/);
    // key 9 under format 2 is an unknown key; format 3 without key 9 is not canonical
    expect(variant([40, 3600, [['visa', 'EUR', 'dom', 1]]], 2).code).toBe('INVALID_FIELD');
    const noFloor = new Map(m);
    noFloor.delete(9);
    expect(refusal(() => decodeContent(encodeCbor(noFloor))).message).toMatch(/format 3 for content of format/);
  });

  it('deltas replace the section whole (key 15) and remove it with null', () => {
    const add = diffContent(v1, v3);
    expect(isEmptyDelta(add)).toBe(false);
    const addBytes = encodeDelta(add);
    expect(cbor(addBytes).get(0)).toBe(3);
    expect(applyDelta(v1, decodeDelta(addBytes))).toEqual(decodeContent(encodeContent(v3)));

    const lower = { ...v3, floorLimits: { ...floor, limits: [{ ...floor.limits[0], limit: 100 }] } };
    const change = decodeDelta(encodeDelta(diffContent(v3, lower)));
    expect(change.floorLimits?.limits).toEqual([{ brand: 'visa', currency: 'EUR', region: 'xb', limit: 100 }]);
    expect(applyDelta(v3, change)).toEqual(decodeContent(encodeContent(lower)));

    const remove = diffContent(v3, v1);
    expect(remove.floorLimits).toBeNull();
    const removeBytes = encodeDelta(remove);
    expect(cbor(removeBytes).get(15)).toBeNull();
    expect(applyDelta(v3, decodeDelta(removeBytes))).toEqual(decodeContent(encodeContent(v1)));

    // unchanged floor limits: no key 15, and the delta keeps the older format
    const same = diffContent(v3, { ...v3, routes: [{ ...v1.routes[0], successRate: 0.8 }] });
    expect(same.floorLimits).toBeUndefined();
    expect(cbor(encodeDelta(same)).has(15)).toBe(false);
    expect(refusal(() => encodeDelta({ ...same, floorLimits: { ...floor, limits: [] } })).message).toMatch(/null/);
  });
});
