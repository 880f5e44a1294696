// The storage interfaces of the network service, one per entity. Everything above them (HTTP
// routes, network auth, trust, dataset publisher and build child, admin import, CLI) speaks these
// domain operations, never SQL; SQLite (sqlite-storage.ts, the embedded default) and PostgreSQL
// (pg-storage.ts, several instances on one database) implement all of them, and one contract
// suite (test/server/storage-contract.test.ts) runs on both. Methods are async for PostgreSQL even
// though better-sqlite3 is synchronous.
// Card tokens are 16-byte Uint8Arrays; times are unix seconds; amounts are integer minor units.
import type { BinRule, HistoryStatus } from '../../protocol/dataset/types.ts';

export interface RestrictedEntry {
  token: Uint8Array;
  bin: string | null;
  last4: string | null;
  reason: string;
  source: string; // 'import' | 'outcome' | 'admin' | ...
  addedAt: number;
  expiresAt: number | null;
}

export interface OutcomeRow {
  idempotencyKey: string;
  merchant: string;
  /** Null when no device answered (the bridge has no card key): such a row feeds routing only. */
  token: Uint8Array | null;
  bin: string;
  last4: string;
  brand: string | null;
  orderId: string;
  amount: number;
  currency: string;
  gateway: string;
  status: HistoryStatus;
  code: string | null;
  type: string | null;
  /** Mastercard Merchant Advice Code, when reported. */
  advice?: string | null;
  at: number;
  /** Hard decline or fraud: kept in the history digest forever. */
  hard: boolean;
  /** The order's (billing) country and cross-border flag, when known: routing segments. */
  country?: string | null;
  crossBorder?: boolean | null;
}

/** An outcome as the card's history reads it: without its card and order identity. */
export type HistoryRow = Pick<OutcomeRow, 'at' | 'merchant' | 'amount' | 'currency' | 'gateway' | 'status' | 'code' | 'type' | 'hard' | 'brand' | 'country' | 'crossBorder'> & {
  advice: string | null;
};

/**
 * An outcome as the gateway router replays it: the history row plus the card's key
 * (routingCardKey), by which the router tells a card's first answer at a gateway from its repeats.
 */
export type RoutingRow = HistoryRow & { card: string | null };

/** Bytes of the card token the router's card key keeps (96 bits: no two cards share it in practice). */
export const ROUTING_CARD_KEY_BYTES = 12;

/** The router's card key: the token's first ROUTING_CARD_KEY_BYTES in lowercase hex; null without a token. */
export function routingCardKey(token: Uint8Array | null): string | null {
  return token ? Buffer.from(token.buffer, token.byteOffset, Math.min(token.byteLength, ROUTING_CARD_KEY_BYTES)).toString('hex') : null;
}

/** What network authentication knew about an order, for its outcomes (reported without it). */
export interface OrderContext {
  country: string | null;
  crossBorder: boolean | null;
}

export interface OutcomeEffects {
  /** Add the card to restricted with this reason (hard decline, fraud). */
  restrict: { reason: string } | null;
  /** Mark the card known-good for the outcome's merchant. */
  knownGood: boolean;
}

export interface RecordOutcomeResult {
  created: boolean;
  /** The stored answer for this idempotency key (the same on every retry). */
  response: unknown;
  /** True when the key exists with a different request fingerprint. */
  conflict: boolean;
  /** The stored row's id when created (PostgreSQL: what OutcomeStore.outcomesAfter pages by). */
  id?: number;
}

/** A BIN rule as the dataset carries it. */
export type { BinRule };

export interface Prompt {
  code: string;
  lang: string;
  message: string;
}

export interface Gateway {
  name: string;
  feePerAttempt: number; // minor units
  feeBps: number; // basis points of the amount
}

export interface GatewayStat {
  gateway: string;
  brand: string;
  currency: string;
  attempts: number;
  successes: number;
}

export interface ApiKeyRecord {
  id: string;
  hash: string;
  role: 'bridge' | 'admin';
  merchant: string | null;
  label: string | null;
  createdAt: number;
  revokedAt: number | null;
}

export interface DeviceRecord {
  id: string;
  merchant: string;
  kind: string; // a LinkKind (protocol/link-kind.ts) or 'emulator' (server/http/schemas.ts deviceBody)
  label: string | null;
  publicKey: string | null; // hex, the device's static key
  createdAt: number;
  hosts: { hostId: string; publicKey: string | null; pairedAt: number }[];
}

/** A signed release (dataset snapshot, delta or firmware) stored as manifest + chunks. */
export interface StoredRelease {
  manifest: Uint8Array;
  chunks: Uint8Array[];
}

export interface DatasetVersionInfo {
  version: number;
  createdAt: number;
  expiresAt: number;
  contentHash: string;
  chunkCount: number;
  bytes: number;
}

export interface FirmwareInfo {
  version: number;
  /** Human label, e.g. "1.4.2". */
  name: string | null;
  createdAt: number;
  chunkCount: number;
  bytes: number;
}

/** Everything a dataset is built from, read in one consistent snapshot. */
export interface DatasetTables {
  restricted: { token: Uint8Array; reason: string }[];
  knownGood: Uint8Array[];
  /** Outcome rows with at >= since, or hard, grouped by token in time order. */
  history: { token: Uint8Array; brand: string | null; events: HistoryRow[] }[];
  binRules: BinRule[];
  prompts: Prompt[];
}

/**
 * Where a dataset build's read of the history stood: the newest outcome row it saw and the window
 * start it used. The next read returns only the cards whose history changed since.
 */
export interface HistoryCursor {
  outcomeId: number;
  historySince: number;
  maxEventsPerToken: number;
}

/** DatasetTables whose history may hold only the cards that changed since a cursor. */
export interface DatasetTableChanges extends DatasetTables {
  /**
   * null: `history` is complete. Else the cards whose history changed since the cursor (new
   * outcomes, or events that left the window); `history` holds their new entries, and a changed
   * card missing from it has no events left.
   */
  changed: Uint8Array[] | null;
  cursor: HistoryCursor;
  /**
   * When set, the known-good section as one packed string (16-byte tokens, strictly ascending) and
   * `knownGood` empty: the store concatenated the tokens itself, no object per card.
   */
  knownGoodPacked?: Uint8Array;
}

/** A new-card trust attempt as stored: identifiers already keyed-hashed, features as seen then. */
export interface TrustAttemptRow {
  merchant: string;
  orderId: string;
  token: Uint8Array;
  account: string | null;
  device: string | null;
  ip: string | null;
  ipCountry: string | null;
  cardCountry: string | null;
  at: number;
  /** The model's inputs (extractTrustFeatures: a Float64Array on the service's path). */
  features: number[] | Float64Array;
  modelVersion: string | null;
  /** The trust answer when it decided the attempt (a card new to the merchant); else null. */
  decision?: string | null;
  reason?: string | null;
}

/** What trust counts are asked about: hashed identifiers of one attempt at `at`. */
export interface TrustKeys {
  account: string | null;
  device: string | null;
  ip: string | null;
  token: Uint8Array;
  at: number;
}

/** Raw counts over stored attempts before `at` (the trust context is assembled from them). */
export interface TrustCounts {
  account: { firstAt: number | null; successes: number; failures: number; fraud: number; chargebacks: number } | null;
  /** Distinct accounts on the device; `mine`: the attempt's own account was among them. */
  device: { withAccount: boolean; accounts: number; mine: boolean; fraud: number } | null;
  /** Distinct accounts on the IP in the last 30 days. */
  ip: { accounts: number; mine: boolean } | null;
  attempts: { accountHour: number; accountDay: number; cardHour: number; cardDay: number; ipHour: number; ipDay: number };
  /** Distinct cards (tokens) on the account and device in the last day, on the IP in the last hour; `mine`: this card among them. */
  cards: { accountDay: { n: number; mine: boolean }; deviceDay: { n: number; mine: boolean }; ipHour: { n: number; mine: boolean } };
}

/** Trust declines per reason since a time, and how many the same card or account later paid (no fraud report). */
export interface TrustDeclineReport {
  reason: string;
  declines: number;
  falseDeclines: number;
}

export interface StoredTrustModel {
  version: string;
  trainedAt: number;
  auc: number | null;
  precision: number | null;
  recall: number | null;
  n: number;
  /** The model as JSON (parsed and checked by server/trust). */
  json: string;
}

// Per-entity stores. Callers name the narrowest one they need; Storage is all of them over one
// database (SQLite file or PostgreSQL pool).

/**
 * Cards that must be declined, and cards a merchant has seen paid: the facts both network
 * authentication and the devices' datasets decide from.
 */
export interface RestrictedStore {
  /** The entry unless it expired by `now` (an expired entry no longer restricts). */
  getRestricted(token: Uint8Array, now: number): Promise<RestrictedEntry | null>;
  /** Upserts a batch in one transaction; returns how many rows were new. */
  addRestricted(rows: RestrictedEntry[]): Promise<number>;
  removeRestricted(token: Uint8Array): Promise<boolean>;
  countRestricted(): Promise<number>;
  isKnownGood(merchant: string, token: Uint8Array): Promise<boolean>;
  /** Whether any merchant has met the card (known-good, an outcome, or restricted): new-card trust asks. */
  knownAnywhere(token: Uint8Array): Promise<boolean>;
  addKnownGood(merchant: string, token: Uint8Array, at: number): Promise<void>;
}

/**
 * Gateway outcomes, the service's learning input: idempotent per report, append-only (so the
 * dataset build can read only what changed), and the order context auth saw for them.
 */
export interface OutcomeStore {
  /**
   * Idempotent per (merchant, idempotencyKey), enforced by a unique constraint (so it holds across
   * service instances). Resolves only once the outcome is durable (fsynced).
   */
  recordOutcome(row: OutcomeRow, fingerprint: string, effects: OutcomeEffects, response: unknown): Promise<RecordOutcomeResult>;
  /** Bulk load of history rows (migration, bench seeding): no idempotency keys checked. */
  importOutcomes(rows: OutcomeRow[]): Promise<void>;
  /** The card's outcomes with at >= since, the newest `limit`, oldest first. */
  history(token: Uint8Array, since: number, limit: number): Promise<HistoryRow[]>;
  /** Hard declines of the card at any time. */
  hardDeclines(token: Uint8Array): Promise<HistoryRow[]>;
  countOutcomes(): Promise<number>;
  /** Outcomes with at >= since, oldest first (the gateway router rebuilds its window from them). */
  outcomesSince(since: number): Promise<RoutingRow[]>;
  /**
   * Several instances on one database (PostgreSQL): outcomes with at >= since whose id is above
   * `afterId` or in `ids` (ids not committed yet when last read), by id, at most `limit` — how an
   * instance's router follows the outcomes the other instances ingest.
   */
  outcomesAfter?(afterId: number, ids: readonly number[], since: number, limit: number): Promise<(RoutingRow & { id: number })[]>;
  /** Outcomes of one order (any card), oldest first: the gateways already tried for it. */
  orderOutcomes(merchant: string, orderId: string): Promise<(HistoryRow & { bin: string; last4: string })[]>;
  saveOrderContext(merchant: string, orderId: string, ctx: OrderContext, at: number): Promise<void>;
  /** Many order contexts in one transaction (the auth path batches these learning-only writes). */
  saveOrderContexts(rows: { merchant: string; orderId: string; ctx: OrderContext; at: number }[]): Promise<void>;
  orderContext(merchant: string, orderId: string): Promise<OrderContext | null>;
}

/** Operator-maintained decision inputs: BIN prefix rules and the prompt texts per language. */
export interface RulesStore {
  upsertBinRule(rule: BinRule): Promise<void>;
  listBinRules(): Promise<BinRule[]>;
  /** The rule with the longest prefix matching the BIN, or null. */
  matchBinRule(bin: string): Promise<BinRule | null>;
  upsertPrompt(p: Prompt): Promise<void>;
  listPrompts(): Promise<Prompt[]>;
}

/** The gateways with their fees, and attempt/success counts per brand and currency for routing. */
export interface GatewayStore {
  upsertGateway(g: Gateway): Promise<void>;
  listGateways(): Promise<Gateway[]>;
  gatewayStats(): Promise<GatewayStat[]>;
}

/** API keys, stored by hash only (the key itself is never stored): every request is looked up here. */
export interface KeyStore {
  insertApiKey(k: ApiKeyRecord): Promise<void>;
  findApiKey(hash: string): Promise<ApiKeyRecord | null>;
  listApiKeys(): Promise<ApiKeyRecord[]>;
  /** False when no key has this id. */
  revokeApiKey(id: string, at: number): Promise<boolean>;
}

/** The registry of merchants' verifier devices and the bridge hosts each is paired with. */
export interface DeviceStore {
  upsertDevice(d: Omit<DeviceRecord, 'hosts'>): Promise<void>;
  addDeviceHost(deviceId: string, hostId: string, publicKey: string | null, at: number): Promise<boolean>;
  listDevices(merchant?: string): Promise<DeviceRecord[]>;
}

/**
 * What the publisher builds datasets from and keeps of them: signed snapshots, deltas and
 * firmware releases as manifest + chunks, served to bridges by version.
 */
export interface DatasetStore {
  readDatasetTables(now: number, historySince: number, maxEventsPerToken: number): Promise<DatasetTables>;
  /**
   * As readDatasetTables, with the history read incrementally from `cursor` (optional: a store
   * without it has every build read the history whole). Outcomes are append-only, so the cards
   * whose history changed are those with a row newer than the cursor and those with a non-hard
   * event that left the window. Falls back to a complete read (changed null) without a usable cursor.
   */
  readDatasetTablesSince?(cursor: HistoryCursor | null, now: number, historySince: number, maxEventsPerToken: number): Promise<DatasetTableChanges>;
  saveDataset(info: DatasetVersionInfo, release: StoredRelease): Promise<void>;
  latestDataset(): Promise<DatasetVersionInfo | null>;
  listDatasets(): Promise<DatasetVersionInfo[]>;
  datasetManifest(version: number): Promise<Uint8Array | null>;
  datasetChunk(version: number, index: number): Promise<Uint8Array | null>;
  datasetChunks(version: number): Promise<Uint8Array[] | null>;
  /** Deletes all but the newest `keep` snapshots (and deltas touching deleted ones). */
  pruneDatasets(keep: number): Promise<number[]>;
  saveDelta(from: number, to: number, release: StoredRelease): Promise<void>;
  deltaManifest(from: number, to: number): Promise<Uint8Array | null>;
  deltaChunk(from: number, to: number, index: number): Promise<Uint8Array | null>;
  saveFirmware(info: FirmwareInfo, release: StoredRelease): Promise<void>;
  latestFirmware(): Promise<FirmwareInfo | null>;
  firmwareManifest(version: number): Promise<Uint8Array | null>;
  firmwareChunk(version: number, index: number): Promise<Uint8Array | null>;
  /**
   * Runs `fn` while holding the database-wide publish lock (one builder across all instances on
   * the database). When another holder has it: waits with `wait`, else resolves null at once.
   */
  withPublishLock<T>(fn: () => Promise<T>, opts?: { wait?: boolean }): Promise<T | null>;
}

/**
 * New-card trust: attempts with keyed-hashed identifiers (never raw account, device or IP), their
 * labels from later outcomes, the counts the trust context needs, and the trained models.
 */
export interface TrustStore {
  /** Counts over the stored attempts before `k.at` (and those noted, where the store notes). */
  trustCounts(k: TrustKeys): Promise<TrustCounts>;
  /**
   * Present where the store counts in process memory (SQLite: the service is its file's only
   * writer): the attempts count from now on, before insertTrustAttempts writes them behind. Absent
   * where counts must be shared by several instances (PostgreSQL counts in the database). Each
   * row is noted once, then inserted (a noted row inserted is not counted again).
   */
  noteTrustAttempts?(rows: TrustAttemptRow[]): void;
  insertTrustAttempts(rows: TrustAttemptRow[]): Promise<void>;
  /** Labels the order's latest unlabelled attempt; false when there is none. */
  labelTrustAttempt(o: { merchant: string; orderId: string; status: string; type: string | null; label: 0 | 1 | null; at: number }): Promise<boolean>;
  trustTrainingRows(since: number): Promise<{ id: number; features: string; label: 0 | 1 }[]>;
  pruneTrustAttempts(before: number): Promise<number>;
  trustStats(): Promise<{ attempts: number; labelled: number }>;
  trustDeclines(since: number): Promise<TrustDeclineReport[]>;
  /** Records the trust answer that decided the order's attempt at `at` (already written). */
  setTrustDecision(o: { merchant: string; orderId: string; at: number; decision: string; reason: string }): Promise<void>;
  /** Saving a version that exists replaces it and makes it the latest again. */
  saveTrustModel(m: StoredTrustModel): Promise<void>;
  latestTrustModel(): Promise<StoredTrustModel | null>;
  latestTrustModelVersion(): Promise<string | null>;
}

/** Small service settings that must survive restarts and be shared by instances (e.g. routing objectives). */
export interface MetaStore {
  getMeta(key: string): Promise<string | null>;
  setMeta(key: string, value: string): Promise<void>;
}

/** What one network authentication reads (the card, the order, the customer context). */
export interface AuthFactsQuery {
  /** Null without a device token: no card-level facts (restricted, known-good, history). */
  token: Uint8Array | null;
  merchant: string;
  orderId: string;
  now: number;
  /** History window start and row limit (`history`). */
  since: number;
  historyLimit: number;
  /** The trust counts of the attempt (`trustCounts`). */
  trust: TrustKeys;
}

export interface AuthFacts {
  restricted: RestrictedEntry | null;
  knownGood: boolean;
  /** `history(token, since, historyLimit)`, oldest first. */
  history: HistoryRow[];
  /** `hardDeclines(token)`. */
  hard: HistoryRow[];
  /** `orderOutcomes(merchant, orderId)`. */
  orderRows: (HistoryRow & { bin: string; last4: string })[];
  trust: TrustCounts;
}

/**
 * The service's one database seam: every store over one SQLite file or one PostgreSQL pool, so
 * the service swaps its database by choosing an implementation (open.ts) and nothing above
 * changes; the contract suite holds both to the same answers.
 */
export interface Storage extends RestrictedStore, OutcomeStore, RulesStore, GatewayStore, KeyStore, DeviceStore, DatasetStore, TrustStore, MetaStore {
  /** 'sqlite' | 'postgres' */
  readonly dialect: string;
  /**
   * Everything /v1/auth reads, at once: the same answers as getRestricted, isKnownGood, history,
   * hardDeclines, orderOutcomes and trustCounts. PostgreSQL answers it in one round trip (a
   * request used to take six pooled connections at once, which capped throughput at the pool).
   */
  authFacts(q: AuthFactsQuery): Promise<AuthFacts>;
  /**
   * authFacts' answer without a promise when the store has it in memory at once (SQLite: a card
   * and an order its filter has never seen — most requests), else null: ask authFacts.
   */
  authFactsNow?(q: AuthFactsQuery): AuthFacts | null;
  /**
   * The serving process, once it serves: keep what authFacts needs to know that a card and order
   * are new in memory, with the store's own invalidation (SQLite: card-filter.ts; absent where
   * several instances share the database).
   */
  watchCards?(): void;
  /** What watchCards keeps: whether new cards are answered from memory now, the probes run, the filter's bytes. */
  cardsStatus?(): { inMemory: boolean; probes: number; bytes: number };
  close(): Promise<void>;
}
