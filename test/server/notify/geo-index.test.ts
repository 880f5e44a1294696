// The catalogue's spatial index against a brute-force scan on random data: the same merchants in
// the same order (up to ties), for random points, categories, k and radii, including the poles'
// neighbourhood and the antimeridian.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { CatalogueIndex, greatCircleKm } from '../../../server/notify/geo-index.ts';
import type { CatalogueMerchant } from '../../../server/notify/store.ts';

const CATS = ['5411', '5812', '5912'];

function randomMerchants(seed: number, n: number, box: { lat: [number, number]; lon: [number, number] }): CatalogueMerchant[] {
  let s = seed >>> 0 || 1;
  const rnd = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
  return Array.from({ length: n }, (_, i) => ({
    id: `m${i}`,
    name: `Merchant ${i}`,
    category: CATS[Math.floor(rnd() * CATS.length)],
    lat: box.lat[0] + rnd() * (box.lat[1] - box.lat[0]),
    lon: box.lon[0] + rnd() * (box.lon[1] - box.lon[0]),
  }));
}

function bruteForce(ms: CatalogueMerchant[], cat: string, lat: number, lon: number, k: number, r: number, skip?: string): { id: string; d: number }[] {
  return ms
    .filter((m) => m.category === cat && m.id !== skip)
    .map((m) => ({ id: m.id, d: greatCircleKm(lon, lat, m.lon, m.lat) }))
    .filter((x) => x.d <= r)
    .sort((a, b) => a.d - b.d)
    .slice(0, k);
}

describe('catalogue spatial index (kdbush + geokdbush) vs brute force', () => {
  const city = randomMerchants(42, 5000, { lat: [48.7, 49.0], lon: [2.1, 2.6] }); // ~ Paris
  const world = randomMerchants(7, 5000, { lat: [-89, 89], lon: [-180, 180] });
  const cityIdx = CatalogueIndex.build(city, []);
  const worldIdx = CatalogueIndex.build(world, []);

  it('k nearest of a category within a radius, nearest first, in a dense city', () => {
    fc.assert(
      fc.property(
        fc.double({ min: 48.7, max: 49.0, noNaN: true }),
        fc.double({ min: 2.1, max: 2.6, noNaN: true }),
        fc.constantFrom(...CATS),
        fc.integer({ min: 1, max: 20 }),
        fc.double({ min: 0.05, max: 15, noNaN: true }),
        (lat, lon, cat, k, r) => {
          const got = cityIdx.nearest(cat, lat, lon, k, r).map((n) => ({ id: n.merchant.id, d: n.distanceKm }));
          const want = bruteForce(city, cat, lat, lon, k, r);
          expect(got.length).toBe(want.length);
          // Same distances in order (ids may swap only between equidistant merchants).
          got.forEach((g, i) => expect(g.d).toBeCloseTo(want[i].d, 9));
          expect(got.every((g) => city.find((m) => m.id === g.id)!.category === cat)).toBe(true);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('great-circle distances on the whole globe (antimeridian, near the poles)', () => {
    fc.assert(
      fc.property(
        fc.double({ min: -89, max: 89, noNaN: true }),
        fc.double({ min: -180, max: 180, noNaN: true }),
        fc.constantFrom(...CATS),
        fc.integer({ min: 1, max: 10 }),
        fc.double({ min: 10, max: 3000, noNaN: true }),
        (lat, lon, cat, k, r) => {
          const got = worldIdx.nearest(cat, lat, lon, k, r).map((n) => n.distanceKm);
          const want = bruteForce(world, cat, lat, lon, k, r).map((x) => x.d);
          expect(got.length).toBe(want.length);
          got.forEach((d, i) => expect(d).toBeCloseTo(want[i], 6));
        },
      ),
      { numRuns: 200 },
    );
  });

  it('a skipped merchant does not cost one of the k places; unknown category is empty', () => {
    const q = { lat: 48.85, lon: 2.35 };
    const first = cityIdx.nearest('5411', q.lat, q.lon, 3, 50);
    const skipped = cityIdx.nearest('5411', q.lat, q.lon, 3, 50, (m) => m.id === first[0].merchant.id);
    expect(skipped.map((n) => n.merchant.id)).toEqual(bruteForce(city, '5411', q.lat, q.lon, 3, 50, first[0].merchant.id).map((x) => x.id));
    expect(skipped).toHaveLength(3);
    expect(cityIdx.nearest('0000', q.lat, q.lon, 3, 50)).toEqual([]);
  });
});
