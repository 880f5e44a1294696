// The dataset's offline routes: for every brand × currency the router has seen, its ranking of the
// gateways at any region and amount (rows without region/band), and per segment — domestic or
// cross-border × amount band — the ranking for a typical order of that segment wherever it differs
// from the brand × currency one (a device falls back to the coarser rows, so equal rankings are not
// repeated). Rankings come from the router's own comparison (GatewayRouter.ranking: what
// recommend() prefers, without exploration), so a device's offline pick equals the service's for
// the same segment. Plus the gateway health: breakers open now (cooling down or half-open), each
// with the time a device stops skipping the gateway (cool-down end + HALF_OPEN_HOLD_SECONDS).
import type { FloorLimits, GatewayHealth, Route } from '../../protocol/dataset/types.ts';
import { ROUTE_BANDS, ROUTE_REGIONS } from '../../protocol/dataset/types.ts';
import { BAND_TYPICAL_USD, minorFromRoughUsd } from '../../rules/segment.ts';
import type { GatewayRouter } from '../routing/router.ts';

export interface DatasetRoutes {
  routes: Route[];
  gatewayHealth: GatewayHealth[];
  /** floor limits for unknown cards (floor-limits.ts), when any segment has one */
  floorLimits?: FloorLimits;
}

/**
 * How long past its cool-down's end a device keeps skipping a gateway whose breaker is still open. When a
 * breaker's cool-down ends it is half-open, not closed: the service sends ONE probe there and keeps
 * the gateway out of every other recommendation until a processed answer closes it
 * (server/routing/elimination.ts). Published only until the cool-down's end, every device went
 * back to the gateway at that moment and probed too, once per verification (the simulator's
 * drift-outage: 3–4 local verifications per run timed out at beta 0.5–2.6 h into its outage). So
 * an open breaker is published until its cool-down's end plus this hold: the probe's outcome is a
 * change, so the dataset published seconds after a successful probe drops the breaker, and a failed
 * probe re-opens it (a later end). Bounded, not renewed by each publish: if the service sends no
 * probe (no network-path order for the gateway), devices try it again this long after the
 * cool-down, as they did before at its end. With one device the simulator shows no gain in failed
 * attempts (the service's probes took the device's place: 14 timeouts in beta's outage either way);
 * the gain is every further device's probes.
 */
export const HALF_OPEN_HOLD_SECONDS = 15 * 60;

/** Ranks beyond this are not published (a device needs the first few to skip a failing one). */
const MAX_RANK = 8;

export function datasetRoutes(router: GatewayRouter, registered: readonly string[], now: number): DatasetRoutes {
  const eligible = new Set(registered);
  const allowed = (g: string) => eligible.size === 0 || eligible.has(g);
  // brand × currency groups, each already ranked like recommend() at the group's mean amount
  const groups = new Map<string, { brand: string; currency: string; ranked: Array<{ gateway: string; successRate: number }> }>();
  for (const row of router.routesTable(now)) {
    if (!allowed(row.gateway)) continue;
    const key = `${row.brand}\u0000${row.currency}`;
    let g = groups.get(key);
    if (!g) groups.set(key, (g = { brand: row.brand, currency: row.currency, ranked: [] }));
    g.ranked.push({ gateway: row.gateway, successRate: row.successRate });
  }
  const routes: Route[] = [];
  for (const { brand, currency, ranked } of groups.values()) {
    const any = ranked.slice(0, MAX_RANK);
    any.forEach((r, rank) => routes.push({ brand, currency, gateway: r.gateway, successRate: clampRate(r.successRate), rank }));
    const anyOrder = any.map((r) => r.gateway).join('\u0000');
    for (const region of ROUTE_REGIONS) {
      for (const band of ROUTE_BANDS) {
        const seg = {
          brand,
          currency,
          crossBorder: region === 'xb',
          issuerCountry: null,
          amount: minorFromRoughUsd(BAND_TYPICAL_USD[band], currency),
          eligible: eligible.size > 0 ? [...eligible] : undefined,
        };
        const r = router.ranking(seg, now).slice(0, MAX_RANK);
        if (r.length === 0 || r.map((x) => x.gateway).join('\u0000') === anyOrder) continue;
        r.forEach((x, rank) => routes.push({ brand, currency, region, band, gateway: x.gateway, successRate: clampRate(x.successRate ?? 0), rank }));
      }
    }
  }
  // Every open breaker, half-open ones included (see HALF_OPEN_HOLD_SECONDS).
  const gatewayHealth = router
    .stats(now)
    .breakers.filter((b) => allowed(b.gateway))
    .map((b) => ({ gateway: b.gateway, eliminatedUntil: Math.floor(b.until + HALF_OPEN_HOLD_SECONDS) }));
  return { routes, gatewayHealth };
}

function clampRate(x: number): number {
  return Number.isFinite(x) ? Math.min(1, Math.max(0, x)) : 0;
}
