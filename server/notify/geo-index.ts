// Spatial index of the merchant-offers catalogue: one static k-d tree (kdbush) per merchant
// category, queried with geokdbush's great-circle k-nearest search, so "the k nearest merchants of
// the same category within r km" touches only nearby tree nodes instead of every merchant.
// Immutable: a catalogue change builds a new index (CatalogueIndex.build), swapped in whole.
import KDBush from 'kdbush';
import { around, distance } from 'geokdbush';
import type { CatalogueMerchant, Offer } from './store.ts';

export interface Nearby {
  merchant: CatalogueMerchant;
  distanceKm: number;
  /** The merchant's offers, cheapest first. */
  offers: Offer[];
}

interface CategoryIndex {
  tree: KDBush;
  merchants: CatalogueMerchant[];
}

export class CatalogueIndex {
  private constructor(
    private readonly byCategory: Map<string, CategoryIndex>,
    private readonly offersOf: Map<string, Offer[]>,
    readonly version: number,
    readonly size: number,
  ) {}

  static build(merchants: readonly CatalogueMerchant[], offers: readonly Offer[], version = 0): CatalogueIndex {
    const groups = new Map<string, CatalogueMerchant[]>();
    for (const m of merchants) {
      let g = groups.get(m.category);
      if (!g) groups.set(m.category, (g = []));
      g.push(m);
    }
    const byCategory = new Map<string, CategoryIndex>();
    for (const [category, list] of groups) {
      const tree = new KDBush(list.length, 64, Float64Array);
      for (const m of list) tree.add(m.lon, m.lat);
      tree.finish();
      byCategory.set(category, { tree, merchants: list });
    }
    const offersOf = new Map<string, Offer[]>();
    for (const o of offers) {
      let l = offersOf.get(o.merchantId);
      if (!l) offersOf.set(o.merchantId, (l = []));
      l.push(o);
    }
    for (const l of offersOf.values()) l.sort((a, b) => a.price - b.price || (a.item < b.item ? -1 : 1));
    return new CatalogueIndex(byCategory, offersOf, version, merchants.length);
  }

  /**
   * The k merchants of `category` nearest to (lat, lon) within radiusKm, nearest first; `skip`
   * filters merchants out (e.g. the paying merchant itself) without costing one of the k places.
   */
  nearest(category: string, lat: number, lon: number, k: number, radiusKm: number, skip?: (m: CatalogueMerchant) => boolean): Nearby[] {
    const idx = this.byCategory.get(category);
    if (!idx || k <= 0) return [];
    const ids = around(idx.tree, lon, lat, k, radiusKm, skip ? (i: number) => !skip(idx.merchants[i]) : undefined);
    return ids.map((i) => {
      const m = idx.merchants[i];
      return { merchant: m, distanceKm: distance(lon, lat, m.lon, m.lat), offers: this.offersOf.get(m.id) ?? [] };
    });
  }
}

export { distance as greatCircleKm };
