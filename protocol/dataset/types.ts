// Dataset content and manifest types. A dataset is what a verifier device holds for local
// authentication (restricted and known-good card tokens, outcome history, BIN rules, prompt
// texts, gateway routes); a manifest describes one signed version of it (or a firmware image).
import type { FuseFilter } from './fuse-filter.ts';

export type { FuseFilter };

/** How a gateway attempt ended (outcomes, history events). */
export const HISTORY_STATUSES = ['success', 'failure'] as const;
export type HistoryStatus = (typeof HISTORY_STATUSES)[number];
/** Failure classes: hard = the issuer will never approve (Visa category 1 / MC advice 03, 21),
 * soft = may succeed later or with another amount, technical = not about the card, fraud.
 * The order is the dataset wire encoding (codec.ts writes the index): only append. */
export const FAILURE_TYPES = ['hard', 'soft', 'technical', 'fraud'] as const;
export type FailureType = (typeof FAILURE_TYPES)[number];

export interface HistoryEvent {
  /** unix seconds */
  at: number;
  /** integer minor units */
  amount: number;
  /** ISO 4217 alphabetic code, e.g. "USD" */
  currency: string;
  status: HistoryStatus;
  /** issuer/network response code as reported by the gateway, e.g. "05", "51", "N7", "R0" */
  code?: string;
  type?: FailureType;
  /** Mastercard Merchant Advice Code ("01".."40"), when the gateway reports one */
  advice?: string;
  gateway?: string;
  crossBorder?: boolean;
}

export interface RestrictedEntry {
  token: Uint8Array;
  reason: string;
}
export interface KnownGoodEntry {
  token: Uint8Array;
}
export interface HistoryEntry {
  token: Uint8Array;
  /** credit-card-type brand id ("visa", "mastercard", ...) */
  brand?: string;
  /** oldest first after normalisation */
  events: HistoryEvent[];
}
export const BIN_ACTIONS = ['decline', 'review'] as const;
export type BinAction = (typeof BIN_ACTIONS)[number];
export interface BinRule {
  /** 1–8 digits */
  prefix: string;
  action: BinAction;
  reason: string;
}
export interface Prompt {
  code: string;
  /** BCP 47 language tag, e.g. "en", "zh" */
  lang: string;
  message: string;
}
/** Route segment: domestic or cross-border order (absent on a route = any). */
export type RouteRegion = 'dom' | 'xb';
/** Route segment: amount band in rough dollar-sized units (rules/segment.ts; absent = any). */
export type RouteBand = 'lt20' | '20-100' | '100-500' | 'gt500';
export const ROUTE_REGIONS: readonly RouteRegion[] = ['dom', 'xb'];
export const ROUTE_BANDS: readonly RouteBand[] = ['lt20', '20-100', '100-500', 'gt500'];

/**
 * One gateway's standing in one segment: brand × currency, optionally narrowed to a region and an
 * amount band. A device takes the finest segment it has rows for, then the rows in `rank` order.
 */
export interface Route {
  brand: string;
  currency: string;
  region?: RouteRegion;
  band?: RouteBand;
  gateway: string;
  /** 0..1 */
  successRate: number;
  /** 0 = the service's first choice in this segment, 1 the next...; absent = order by successRate */
  rank?: number;
}

/** A gateway the service has eliminated (circuit breaker open) until `eliminatedUntil` (unix s). */
export interface GatewayHealth {
  gateway: string;
  eliminatedUntil: number;
}

/**
 * Floor limit (format 3): the service lets a device approve a card it knows nothing about, in one
 * route segment (brand × currency × domestic/cross-border), up to `limit` minor units of the
 * order's currency, as a payment terminal approves offline below its acquirer's floor limit. The
 * service publishes a segment only while its recent outcomes show no fraud burst and new cards
 * mostly pay (server/trust/floor-limits.ts); a segment absent = floor 0 (escalate).
 */
export interface FloorLimit {
  brand: string;
  currency: string;
  region: RouteRegion;
  /** minor units of `currency`, >= 1 */
  limit: number;
}
/** The floor limits and the device-wide budget that bounds how many unknown cards they approve. */
export interface FloorLimits {
  /** at most this many unknown-card local approvals per device ... */
  maxApprovals: number;
  /** ... in any rolling window of this many seconds */
  windowSeconds: number;
  limits: FloorLimit[];
}

export interface DatasetContent {
  restricted: RestrictedEntry[];
  knownGood: KnownGoodEntry[];
  history: HistoryEntry[];
  binRules: BinRule[];
  prompts: Prompt[];
  routes: Route[];
  /** Gateways eliminated when the dataset was built, each with the time its elimination ends. */
  gatewayHealth?: GatewayHealth[];
  /**
   * Optional compact "possibly restricted" set (binary fuse filter, ~9 bits per card, ~0.4%
   * false positives; see fuse-filter.ts) for cards too many to list exactly. A hit is never a
   * decline by itself: the device escalates and the network confirms.
   */
  restrictedFilter?: FuseFilter;
  /** Floor limits for unknown cards (format 3); absent = none (every unknown card escalates). */
  floorLimits?: FloorLimits;
}

/** Changes from one version to the next; every section is keyed (see delta.ts). */
export interface SectionDelta<K, V> {
  remove: K[];
  upsert: V[];
}
export interface PromptKey {
  code: string;
  lang: string;
}
export interface RouteKey {
  brand: string;
  currency: string;
  region?: RouteRegion;
  band?: RouteBand;
  gateway: string;
}
export interface DatasetDelta {
  restricted: SectionDelta<Uint8Array, RestrictedEntry>;
  knownGood: SectionDelta<Uint8Array, KnownGoodEntry>;
  /** history entries are replaced whole */
  history: SectionDelta<Uint8Array, HistoryEntry>;
  binRules: SectionDelta<string, BinRule>;
  prompts: SectionDelta<PromptKey, Prompt>;
  routes: SectionDelta<RouteKey, Route>;
  /** absent = unchanged, null = removed, a filter = replaced whole */
  restrictedFilter?: FuseFilter | null;
  /** absent = unchanged, an array = replaced whole (empty: no gateway eliminated) */
  gatewayHealth?: GatewayHealth[];
  /** absent = unchanged, null = removed, a section = replaced whole */
  floorLimits?: FloorLimits | null;
}

export type ManifestKind = 'snapshot' | 'delta' | 'firmware';

export interface DatasetManifest {
  format: 1;
  kind: ManifestKind;
  /** u32, 1..2^32-1 */
  version: number;
  /** delta only: the version the delta applies to */
  baseVersion?: number;
  /** unix seconds */
  createdAt: number;
  expiresAt: number;
  /** bytes of the payload (encoded snapshot/delta, or firmware image) */
  size: number;
  /** bytes per transferred chunk (the last one may be shorter); see chunks.ts */
  chunkSize: number;
  chunkCount: number;
  /**
   * SHA-256 of chunk 0. Chunks are hash-chained: every chunk but the last ends with the SHA-256
   * of the next chunk, so a constant-size manifest authenticates any number of chunks and each
   * chunk is still checked on arrival (see chunks.ts).
   */
  firstChunkHash: Uint8Array;
  /** SHA-256 of the canonical encoding of the FULL content of this version (firmware: the image) */
  contentHash: Uint8Array;
  /** first 8 bytes (16 hex chars) of SHA-256 of the raw Ed25519 signing public key */
  keyId: string;
  /** datasets only: the decision rules version (rules/ RULES_VERSION) of the service that built it; absent in older manifests */
  rulesVersion?: number;
}

/** What datasetState() needs: a manifest or the slot metadata a device keeps. */
export interface DatasetMeta {
  version: number;
  createdAt: number;
  expiresAt: number;
}

export function emptyContent(): DatasetContent {
  return { restricted: [], knownGood: [], history: [], binRules: [], prompts: [], routes: [] };
}
