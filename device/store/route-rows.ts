// Route rows as the slot tables hold them ('*' = any region / band) ↔ dataset routes.
import type { Route, RouteBand, RouteRegion } from '../../protocol/dataset/types.ts';

/** Route rows of the slot tables → dataset routes ('*' = field absent). */
export function routesFromRows(rows: Array<{ brand: string; currency: string; region: string; band: string; gateway: string; successRate: number; rank: number | null }>): Route[] {
  return rows.map((r) => {
    const o: Route = { brand: r.brand, currency: r.currency, gateway: r.gateway, successRate: r.successRate };
    if (r.region !== '*') o.region = r.region as RouteRegion;
    if (r.band !== '*') o.band = r.band as RouteBand;
    if (r.rank !== null) o.rank = r.rank;
    return o;
  });
}

export const ROUTE_COLUMNS = `brand, currency, region, band, gateway, success_rate AS successRate, rank`;
