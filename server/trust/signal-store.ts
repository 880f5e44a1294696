// Trust signals: every network authentication attempt with its customer context (account, device,
// IP as keyed hashes), the features the model saw at that moment, and — once the gateway outcome
// arrives — its label. Two jobs: assemble a TrustContext from history (counts and flags), and
// give training rows whose features are exactly what was known at decision time (no leakage of
// later events into training). Stored through the service's TrustStore (SQLite or PostgreSQL).
//
// Attempts only feed learning, so they are written behind: queued in memory and inserted in one
// transaction per `flushMs` (100 ms on SQLite, 20 on PostgreSQL) or `maxPending` rows, off the request's path. Velocity (card testing
// bursts) must see every attempt at once: a store that counts in memory (SQLite,
// TrustStore.noteTrustAttempts) is told of each attempt as it is queued and its counts are exact;
// for a store that counts in the database (PostgreSQL) queued attempts are added to its counts
// here, where distinct-account counts may count an account twice while it is queued (at most
// flushMs): that errs towards less trust. A label first flushes the queue, so it always finds its attempt.
import crypto from 'node:crypto';
import type { HistoryStatus } from '../../protocol/dataset/types.ts';
import type { TrustAttemptRow, TrustCounts, TrustKeys, TrustStore } from '../storage/storage.ts';
import { extractTrustFeatures, TRUST_FEATURE_NAMES, type TrustContext } from './features.ts';
import { trustLabelFromOutcome, type TrustRow } from './model.ts';

export interface TrustAttemptInput {
  merchant: string;
  orderId: string;
  token: Uint8Array; // 16-byte card token (never a PAN)
  accountId?: string | null;
  deviceId?: string | null;
  ip?: string | null;
  ipCountry?: string | null;
  cardCountry?: string | null;
  at: number;
}

export interface TrustOutcomeInput {
  merchant: string;
  orderId: string;
  status: HistoryStatus;
  type?: string | null;
  at: number;
}

export interface TrustSignalsOptions {
  /**
   * Write-behind interval; 0 writes each attempt before answering. Default 100 ms for a store that
   * counts noted attempts itself (SQLite: nothing reads the queue, and fewer, larger batches
   * rewrite the tables' last pages less often), else 20 ms (PostgreSQL: each authentication merges
   * the queue into the database's counts, and other instances see an attempt only once written).
   */
  flushMs?: number;
  /** Queue length that triggers a write at once. Default 512. */
  maxPending?: number;
  /** Called when a write-behind batch fails (the rows are retried with the next batch). */
  onError?: (e: unknown) => void;
}

const orderKey = (merchant: string, orderId: string): string => `${merchant}\u0000${orderId}`;

const sameBytes = (a: Uint8Array, b: Uint8Array): boolean => a.length === b.length && Buffer.compare(a, b) === 0;

/** Identifier hashes kept in memory (customers come back; three HMACs were a tenth of an auth's work). */
const HASH_CACHE = 65_536;

export class TrustSignals {
  private readonly hashKey: Buffer;
  /**
   * Per kind, value → hash (IPs) or merchant → value → hash (accounts, devices: no key string
   * concatenated and hashed per lookup); cleared when full (process memory only: raw identifiers
   * never reach storage). A hash is a pure function of its inputs: the cache changes no answer.
   */
  private readonly ipHashes = new Map<string, string>();
  private readonly scopedHashes = { account: new Map<string, Map<string, string>>(), device: new Map<string, Map<string, string>>() };
  private hashCount = 0;
  private pending: TrustAttemptRow[] = [];
  /**
   * The queued rows per order (merchant, order id), in the order queued: a decision or a label
   * finds its order's rows without a scan of the queue (a 100 ms queue holds hundreds).
   */
  private pendingByOrder = new Map<string, TrustAttemptRow[]>();
  private timer: NodeJS.Timeout | null = null;
  private flushing: Promise<void> = Promise.resolve();
  private readonly flushMs: number;
  private readonly maxPending: number;
  /** The store counts noted attempts itself (no merging of the queue here). */
  private readonly noted: boolean;

  /**
   * @param store the service's trust store
   * @param hashKey secret for the keyed hashes of account, device and IP (IPs are only 2^32
   *   values: an unkeyed hash would be reversible by enumeration)
   */
  constructor(
    private readonly store: TrustStore,
    hashKey: Uint8Array,
    private readonly opts: TrustSignalsOptions = {},
  ) {
    this.hashKey = Buffer.from(hashKey);
    this.noted = typeof store.noteTrustAttempts === 'function';
    this.flushMs = opts.flushMs ?? (this.noted ? 100 : 20);
    this.maxPending = opts.maxPending ?? 512;
  }

  private hash(kind: 'account' | 'device' | 'ip', merchant: string, value: string | null | undefined): string | null {
    if (value === null || value === undefined || value === '') return null;
    // Account and device ids are the merchant's: scoped per merchant. IPs are global facts.
    const scope = kind === 'ip' ? '' : merchant;
    let cache: Map<string, string>;
    if (kind === 'ip') cache = this.ipHashes;
    else {
      const byMerchant = this.scopedHashes[kind];
      let m = byMerchant.get(merchant);
      if (m === undefined) byMerchant.set(merchant, (m = new Map()));
      cache = m;
    }
    let h = cache.get(value);
    if (h === undefined) {
      h = crypto.createHmac('sha256', this.hashKey).update(`precheck/trust/v1:${kind}:${scope}:${value}`).digest('hex').slice(0, 32);
      if (this.hashCount >= HASH_CACHE) {
        this.ipHashes.clear();
        for (const m of [...this.scopedHashes.account.values(), ...this.scopedHashes.device.values()]) m.clear();
        this.hashCount = 0;
      }
      cache.set(value, h);
      this.hashCount++;
    }
    return h;
  }

  /** The trust context of an attempt from history before `a.at` (the attempt itself not counted). */
  async context(a: TrustAttemptInput): Promise<TrustContext> {
    return this.contextOf(a, this.hash('account', a.merchant, a.accountId), this.hash('device', a.merchant, a.deviceId), this.hash('ip', a.merchant, a.ip));
  }

  /** What the store counts for this attempt (Storage.trustCounts, or authFacts with the card's facts). */
  keysOf(a: TrustAttemptInput): TrustKeys {
    return { account: this.hash('account', a.merchant, a.accountId), device: this.hash('device', a.merchant, a.deviceId), ip: this.hash('ip', a.merchant, a.ip), token: a.token, at: a.at };
  }

  /** `counts`: the store's counts for keysOf(a) when the caller read them already. */
  private async contextOf(a: TrustAttemptInput, account: string | null, device: string | null, ip: string | null, counts?: TrustCounts): Promise<TrustContext> {
    return this.contextFrom(a, account, device, ip, counts ?? (await this.store.trustCounts({ account, device, ip, token: a.token, at: a.at })));
  }

  /** The context from the store's counts for keysOf(a). */
  private contextFrom(a: TrustAttemptInput, account: string | null, device: string | null, ip: string | null, c: TrustCounts): TrustContext {
    // Attempts still queued for writing count too (the store counts them itself when it notes them).
    let firstAt = c.account?.firstAt ?? null;
    let withAccount = c.device?.withAccount ?? false;
    let deviceAccounts = c.device?.accounts ?? 0;
    let deviceMine = c.device?.mine ?? false;
    let ipAccounts = c.ip?.accounts ?? 0;
    let ipMine = c.ip?.mine ?? false;
    // A store that noted the queued attempts counted them already (SQLite): nothing to merge, and
    // none of the merge's sets are made (this runs on every authentication).
    const merge = !this.noted && this.pending.length > 0;
    const v = merge ? { ...c.attempts } : c.attempts;
    const devSeen = merge ? new Set<string>() : null;
    const ipSeen = merge ? new Set<string>() : null;
    // Distinct cards: stored ones plus queued ones not seen yet (the queue has the raw tokens).
    const cardSets = merge ? { accountDay: new Set<string>(), deviceDay: new Set<string>(), ipHour: new Set<string>() } : null;
    const own = merge ? Buffer.from(a.token).toString('hex') : '';
    const addCard = (k: 'accountDay' | 'deviceDay' | 'ipHour', t: Uint8Array) => {
      const h = Buffer.from(t).toString('hex');
      if (h !== own) cardSets![k].add(h);
    };
    for (const p of merge ? this.pending : []) {
      if (p.at >= a.at) continue;
      const hour = p.at >= a.at - 3600;
      const day = p.at >= a.at - 86_400;
      if (day && account !== null && p.account === account) addCard('accountDay', p.token);
      if (day && device !== null && p.device === device) addCard('deviceDay', p.token);
      if (hour && ip !== null && p.ip === ip) addCard('ipHour', p.token);
      if (account !== null && p.account === account) {
        if (firstAt === null || p.at < firstAt) firstAt = p.at;
        if (hour) v.accountHour++;
        if (day) v.accountDay++;
      }
      if (sameBytes(p.token, a.token)) {
        if (hour) v.cardHour++;
        if (day) v.cardDay++;
      }
      if (ip !== null && p.ip === ip) {
        if (hour) v.ipHour++;
        if (day) v.ipDay++;
        if (p.at >= a.at - 30 * 86_400 && p.account !== null) {
          if (p.account === account) {
            if (!ipMine) ipAccounts++;
            ipMine = true;
          } else if (!ipSeen!.has(p.account)) {
            ipSeen!.add(p.account);
            ipAccounts++;
          }
        }
      }
      if (device !== null && p.device === device && p.account !== null) {
        if (p.account === account) {
          if (!deviceMine) deviceAccounts++;
          deviceMine = true;
          withAccount = true;
        } else if (!devSeen!.has(p.account)) {
          devSeen!.add(p.account);
          deviceAccounts++;
        }
      }
    }
    const acc = c.account;
    // Queued cards may also be stored already (counted twice at most for flushMs): errs towards
    // more velocity, like the account counts above. This card itself always counts once.
    const distinct = (k: 'accountDay' | 'deviceDay' | 'ipHour', key: string | null) => (key === null ? 0 : c.cards[k].n - (c.cards[k].mine ? 1 : 0) + (cardSets?.[k].size ?? 0) + 1);
    return {
      now: a.at,
      account: {
        createdAt: account === null ? null : (firstAt ?? a.at), // first seen stands in for sign-up
        successes: acc?.successes ?? 0,
        failures: acc?.failures ?? 0,
        chargebacks: acc?.chargebacks ?? 0,
        fraud: acc?.fraud ?? 0,
      },
      device: device === null ? null : { seenWithAccount: account !== null && withAccount, accounts: deviceAccounts + (account !== null && !deviceMine ? 1 : 0), fraud: c.device?.fraud ?? 0 },
      environment: {
        ipCountry: a.ipCountry ?? null,
        cardCountry: a.cardCountry ?? null,
        accountsOnIp: ip === null ? 0 : ipAccounts + (account !== null && !ipMine ? 1 : 0),
        distinctCards: { accountDay: distinct('accountDay', account), deviceDay: distinct('deviceDay', device), ipHour: distinct('ipHour', ip) },
        attempts: v,
      },
    };
  }

  /**
   * Builds the context, queues the attempt with its features for writing, and returns both.
   * `keys`: keysOf(a) when the caller computed them already (three HMACs per attempt, not six).
   */
  async recordAttempt(a: TrustAttemptInput, modelVersion: string | null, counts?: TrustCounts, keys?: TrustKeys): Promise<{ context: TrustContext; features: Float64Array }> {
    const { account, device, ip } = keys ?? this.keysOf(a);
    const context = await this.contextOf(a, account, device, ip, counts);
    const features = extractTrustFeatures(context);
    const written = this.queue(a, account, device, ip, features, modelVersion);
    if (written) await written;
    return { context, features };
  }

  /**
   * recordAttempt for a caller that read the counts already, without a promise (no turn of the
   * event loop between the counts and the attempt being counted): `written` is the write to wait
   * for before answering (flushMs 0 or a full queue), null when the attempt is written behind.
   */
  recordAttemptNow(a: TrustAttemptInput, modelVersion: string | null, counts: TrustCounts, keys?: TrustKeys): { context: TrustContext; features: Float64Array; written: Promise<void> | null } {
    const { account, device, ip } = keys ?? this.keysOf(a);
    const context = this.contextFrom(a, account, device, ip, counts);
    const features = extractTrustFeatures(context);
    return { context, features, written: this.queue(a, account, device, ip, features, modelVersion) };
  }

  /** Queues the attempt's row; the write to wait for when it is written at once, else null. */
  private queue(a: TrustAttemptInput, account: string | null, device: string | null, ip: string | null, features: Float64Array, modelVersion: string | null): Promise<void> | null {
    const row: TrustAttemptRow = {
      merchant: a.merchant,
      orderId: a.orderId,
      token: a.token,
      account,
      device,
      ip,
      ipCountry: a.ipCountry ?? null,
      cardCountry: a.cardCountry ?? null,
      at: a.at,
      features, // never changed after extraction: stored as is (SQLite writes its bytes)
      modelVersion,
    };
    this.pending.push(row);
    this.indexPending(row);
    this.store.noteTrustAttempts?.([row]);
    if (this.flushMs <= 0 || this.pending.length >= this.maxPending) return this.flush();
    if (!this.timer) {
      this.timer = setTimeout(() => {
        this.timer = null;
        this.flush().catch((e) => this.opts.onError?.(e));
      }, this.flushMs);
      this.timer.unref();
    }
    return null;
  }

  /** Adds a queued row to pendingByOrder (after the order's rows already there). */
  private indexPending(row: TrustAttemptRow): void {
    const key = orderKey(row.merchant, row.orderId);
    const same = this.pendingByOrder.get(key);
    if (same === undefined) this.pendingByOrder.set(key, [row]);
    else same.push(row);
  }

  /** Writes every queued attempt (one transaction). Concurrent calls share the order. */
  flush(): Promise<void> {
    const run = this.flushing.then(async () => {
      if (this.pending.length === 0) return;
      const rows = this.pending;
      this.pending = [];
      this.pendingByOrder = new Map();
      try {
        await this.store.insertTrustAttempts(rows);
      } catch (e) {
        this.pending = rows.concat(this.pending); // kept for the next batch
        this.pendingByOrder = new Map();
        for (const r of this.pending) this.indexPending(r);
        throw e;
      }
    });
    this.flushing = run.catch(() => undefined);
    return run;
  }

  /**
   * Keeps the trust answer that decided an attempt (the card was new to the merchant), for the
   * false-decline report: on the queued row, or on the stored one once written.
   */
  recordDecision(a: { merchant: string; orderId: string; at: number }, decision: string, reason: string): Promise<void> | undefined {
    // The first queued row of the order at that second without a decision (as a scan of the queue finds).
    const p = this.pendingByOrder.get(orderKey(a.merchant, a.orderId))?.find((r) => r.at === a.at && r.decision == null);
    if (p) {
      // Queued (nearly always: the answer follows its attempt at once): no promise made.
      p.decision = decision;
      p.reason = reason;
      return undefined;
    }
    return this.decideStored(a, decision, reason);
  }

  private async decideStored(a: { merchant: string; orderId: string; at: number }, decision: string, reason: string): Promise<void> {
    await this.flushing; // a batch being written may hold it
    await this.store.setTrustDecision({ ...a, decision, reason });
  }

  /** Trust declines per reason since `since`, with how many were false (see TrustStore). */
  async falseDeclines(since = 0): Promise<Array<{ reason: string; declines: number; falseDeclines: number; rate: number }>> {
    await this.flush();
    return (await this.store.trustDeclines(since)).map((d) => ({ ...d, rate: d.declines > 0 ? d.falseDeclines / d.declines : 0 }));
  }

  /** Attaches a gateway outcome to the order's latest attempt; false when no attempt is known. */
  async recordOutcome(o: TrustOutcomeInput): Promise<boolean> {
    if (this.pendingByOrder.has(orderKey(o.merchant, o.orderId))) await this.flush();
    return this.store.labelTrustAttempt({ merchant: o.merchant, orderId: o.orderId, status: o.status, type: o.type ?? null, label: trustLabelFromOutcome(o), at: o.at });
  }

  /** Labelled attempts since `since` as training rows (features as seen at decision time). */
  async trainingRows(since = 0): Promise<TrustRow[]> {
    await this.flush();
    const rows: TrustRow[] = [];
    for (const r of await this.store.trustTrainingRows(since)) {
      const features = JSON.parse(r.features) as number[];
      if (features.length !== TRUST_FEATURE_NAMES.length) continue; // written by another feature version
      rows.push({ features, label: r.label, key: `a${String(r.id)}` });
    }
    return rows;
  }

  async prune(before: number): Promise<number> {
    await this.flush();
    return this.store.pruneTrustAttempts(before);
  }

  async stats(): Promise<{ attempts: number; labelled: number }> {
    await this.flush();
    return this.store.trustStats();
  }

  /** Writes what is queued and stops the timer (service shutdown). */
  async close(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.flush();
  }
}
