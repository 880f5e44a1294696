// Network authentication and outcome ingestion: the one place where the service gathers facts
// from storage, asks the shared rules (rules/ decide, stage "network"), evaluates cards
// nobody has seen, picks a gateway, and turns gateway outcomes into restricted / known-good
// entries. New-card trust is server/trust (NewCardTrust.assess), the gateway pick server/routing
// (GatewayRouter behind RouterRecommender); both learn from the outcomes ingested here.
import crypto from 'node:crypto';
import { parseTokenHex } from '../../protocol/dataset/token.ts';
import type { FailureType, HistoryStatus, Prompt } from '../../protocol/dataset/types.ts';
import { decide, type DecisionResult, type FinalDecision } from '../../rules/decide.ts';
import { isCrossBorder } from '../../rules/cross-border.ts';
import { isHardOutcome, restrictionFor } from '../../rules/restriction.ts';
import { resolvePrompt } from '../../rules/prompts.ts';
import { classifyOutcome } from '../../rules/response-codes.ts';
import { cardBrand } from '../../rules/brand.ts';
import { historyEvent } from '../datasets/content.ts';
import { ServiceError } from '../errors.ts';
import { checkOutcomeAt } from '../../contracts/limits.ts';
import { routingCardKey, type BinRule, type OrderContext, type OutcomeEffects, type OutcomeRow, type Storage } from '../storage/storage.ts';
import type { RouterRecommender } from '../routing/recommender.ts';
import type { NewCardTrust } from '../trust/new-card-service.ts';
import type { FloorLearner } from '../datasets/floor-limits.ts';
import { AFFINITY_SECONDS, approvedGateway, declinedGateways } from '../../rules/routing.ts';
import { toUnixSeconds, type NowMs } from '../../runtime/clock.ts';

export interface AuthRequest {
  /** Device-computed card token; absent when no device answered (the bridge holds no card key). */
  token?: string;
  bin: string;
  last4: string;
  brand?: string;
  expMonth: number;
  expYear: number;
  order: { id: string; amount: { value: number; currency: string }; country?: string; crossBorder?: boolean };
  customer?: { accountId?: string; deviceId?: string; ip?: string; ipCountry?: string };
  local?: { decision: string; reason: string; datasetVersion?: number | null };
  lang?: string;
}

export interface AuthAnswer {
  decision: FinalDecision;
  reason: string;
  /** Machine detail (restricted reason, response code, limit); never card data. */
  detail: string | null;
  prompt: { code: string; message: string; lang: string } | null;
  gateway: string | null;
  /** How the gateway was chosen (success rate in its segment, exploration, eliminated gateways). */
  route: { successRate: number | null; explored: boolean; segmentLevel: string; eliminated: string[] } | null;
  /** Set when new-card trust decided the answer. */
  trust: { level: string; limit: number; score: number; modelVersion: string } | null;
  /** The trust model in use, on every answer. */
  modelVersion: string;
  datasetVersion: number | null;
}

export interface OutcomeRequest {
  idempotencyKey: string;
  /** Absent when no device produced a token: the outcome then feeds routing only. */
  token?: string;
  bin: string;
  last4: string;
  brand?: string;
  orderId: string;
  amount: number;
  currency: string;
  gateway: string;
  status: HistoryStatus;
  code?: string;
  type?: FailureType;
  advice?: string;
  at?: number;
  /** The order's (billing) country and cross-border flag; default: what its /v1/auth said. */
  country?: string;
  crossBorder?: boolean;
}

export interface OutcomeAnswer {
  outcomeId: string;
  restricted: boolean;
  knownGood: boolean;
}

export interface NetworkAuthDeps {
  storage: Storage;
  router: RouterRecommender;
  trust: NewCardTrust;
  /** Wall clock, ms (runtime/clock.ts); stored and sent instants are Unix seconds. */
  now: NowMs;
  historyWindowSeconds: number;
  maxEventsPerToken: number;
  datasetVersion: () => number | null;
  /** Called after data that goes into datasets changed (the publisher's debounce). */
  onDataChanged: () => void;
  /** A gateway that declined this card (latest answer there, within this many seconds) is avoided; default 30 days. */
  avoidDeclinedSeconds?: number;
  /**
   * BIN rules and prompt texts are cached in memory: changes through this instance apply at once,
   * changes through another instance on the same database within this many ms. Default 5000.
   */
  configCacheMs?: number;
  /** Write-behind interval of order contexts (learning-only writes); 0 writes before answering. Default 20. */
  contextFlushMs?: number;
  /** Called when a write-behind batch fails (the rows are retried with the next one). */
  onBackgroundError?: (e: unknown) => void;
  /** Learns the datasets' floor limits for unknown cards from the outcomes ingested here. */
  floors?: FloorLearner;
  /**
   * Several instances (routing/outcome-follower.ts): whether this request records its stored
   * outcome (id) in the router — false when the follower read it first.
   */
  routingClaim?: (id: number) => boolean;
}

function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (v && typeof v === 'object') {
    return `{${Object.keys(v as object)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v);
}

/** A card without history: decide() reads its history (copies it, never writes it). */
const NO_EVENTS = Object.freeze([]) as unknown as ReturnType<typeof historyEvent>[];

type QueuedContext = { merchant: string; orderId: string; ctx: OrderContext; at: number };

export class NetworkAuth {
  private prompts: { rows: Prompt[]; until: number } | null = null;
  private binRules: { rows: BinRule[]; until: number } | null = null;
  private contexts = new Map<string, QueuedContext>();
  private contextTimer: NodeJS.Timeout | null = null;
  private contextFlush: Promise<void> = Promise.resolve();

  constructor(private readonly deps: NetworkAuthDeps) {}

  /** Prompt texts are cached; admin changes call this. */
  invalidatePrompts(): void {
    this.prompts = null;
  }

  /** BIN rules are cached; admin changes call this. */
  invalidateBinRules(): void {
    this.binRules = null;
  }

  private get cacheMs(): number {
    return this.deps.configCacheMs ?? 5000;
  }

  private async promptTable(): Promise<Prompt[]> {
    if (!this.prompts || Date.now() >= this.prompts.until) this.prompts = { rows: await this.deps.storage.listPrompts(), until: Date.now() + this.cacheMs };
    return this.prompts.rows;
  }

  /** matchBinRule from a fresh cache, or undefined when the table must be read first. */
  private cachedBinRule(bin: string): BinRule | null | undefined {
    if (!this.binRules || Date.now() >= this.binRules.until) return undefined;
    return this.binRules.rows.find((r) => bin.startsWith(r.prefix)) ?? null;
  }

  /** The rule with the longest prefix matching the BIN (the table is small and read on every auth). */
  private async matchBinRule(bin: string): Promise<BinRule | null> {
    if (!this.binRules || Date.now() >= this.binRules.until) {
      const rows = (await this.deps.storage.listBinRules()).sort((a, b) => b.prefix.length - a.prefix.length);
      this.binRules = { rows, until: Date.now() + this.cacheMs };
    }
    return this.binRules.rows.find((r) => bin.startsWith(r.prefix)) ?? null;
  }

  /** What an order's authentication knew about it, written behind (only routing segments need it). */
  private queueOrderContext(q: QueuedContext): Promise<void> | void {
    this.contexts.set(`${q.merchant}\u0000${q.orderId}`, q);
    const ms = this.deps.contextFlushMs ?? 20;
    if (ms <= 0) return this.flushOrderContexts();
    if (!this.contextTimer) {
      this.contextTimer = setTimeout(() => {
        this.contextTimer = null;
        this.flushOrderContexts().catch((e) => this.deps.onBackgroundError?.(e));
      }, ms);
      this.contextTimer.unref();
    }
  }

  flushOrderContexts(): Promise<void> {
    const run = this.contextFlush.then(async () => {
      if (this.contexts.size === 0) return;
      const rows = [...this.contexts.values()];
      this.contexts = new Map();
      try {
        await this.deps.storage.saveOrderContexts(rows);
      } catch (e) {
        for (const r of rows) if (!this.contexts.has(`${r.merchant}\u0000${r.orderId}`)) this.contexts.set(`${r.merchant}\u0000${r.orderId}`, r);
        throw e;
      }
    });
    this.contextFlush = run.catch(() => undefined);
    return run;
  }

  private async orderContext(merchant: string, orderId: string): Promise<OrderContext | null> {
    return this.contexts.get(`${merchant}\u0000${orderId}`)?.ctx ?? (await this.deps.storage.orderContext(merchant, orderId));
  }

  /** Writes what is queued (shutdown). */
  async close(): Promise<void> {
    if (this.contextTimer) clearTimeout(this.contextTimer);
    this.contextTimer = null;
    await this.flushOrderContexts();
  }

  async authorize(req: AuthRequest, merchant: string): Promise<AuthAnswer> {
    const { storage, now: clock } = this.deps;
    const now = toUnixSeconds(clock());
    // Without a token (no device answered) nothing card-level is known: no restricted entry, no
    // known-good, no history. BIN rules, expiry and new-card trust still apply.
    const token = req.token ? parseTokenHex(req.token) : null;
    const amount = req.order.amount.value;
    const currency = req.order.amount.currency;
    // The bridge's flag when it sent one; else the shared rule with the customer's IP country as
    // reference (the service knows no merchant country); unknown counts as domestic.
    const crossBorder = req.order.crossBorder ?? isCrossBorder(req.order.country, null, req.customer?.ipCountry) ?? false;

    let trust: AuthAnswer['trust'] = null;

    // Every attempt is recorded for trust (velocity counts need all of them); the answer is used
    // only for cards new to the merchant. Token-less attempts are counted under a keyed
    // fingerprint of BIN + last four + expiry (a card seen both ways is counted in two series).
    // The card's facts and the attempt's trust counts are read together (one round trip on
    // PostgreSQL); BIN rules come from the cache.
    const c = req.customer ?? {};
    const trustKey = token ?? this.deps.trust.cardFingerprint(req.bin, req.last4, req.expMonth, req.expYear);
    const attempt = { merchant, orderId: req.order.id, token: trustKey, accountId: c.accountId, deviceId: c.deviceId, ip: c.ip, ipCountry: c.ipCountry, cardCountry: null, at: now };
    const since = now - this.deps.historyWindowSeconds;
    const trustKeys = this.deps.trust.trustKeys(attempt);
    const factsQuery = { token, merchant, orderId: req.order.id, now, since, historyLimit: 1000, trust: trustKeys };
    // BIN rules from the cache when it is fresh (no second promise per request), else read with
    // the facts; the facts without a promise when the store has them in memory (a new card).
    const cachedRule = this.cachedBinRule(req.bin);
    let facts = cachedRule !== undefined && storage.authFactsNow ? storage.authFactsNow(factsQuery) : null;
    let binRule: BinRule | null;
    if (facts !== null) binRule = cachedRule!;
    else if (cachedRule !== undefined) {
      facts = await storage.authFacts(factsQuery);
      binRule = cachedRule;
    } else [facts, binRule] = await Promise.all([storage.authFacts(factsQuery), this.matchBinRule(req.bin)]);
    const { restricted, knownGood, history: recent, hard, orderRows } = facts;
    const assessing = this.deps.trust.assessNow(attempt, { amount, currency }, facts.trust, trustKeys);
    const assessed = assessing instanceof Promise ? await assessing : assessing;
    // A new card (most requests) has neither: no arrays made.
    const rows = hard.length === 0 ? recent : [...hard.filter((h) => h.at < since), ...recent];
    const brand = req.brand ?? rows.find((r) => r.brand)?.brand ?? cardBrand(req.bin);
    // Outcomes reported for an order carry no country; remember what this authentication knew.
    if (req.order.country !== undefined || req.order.crossBorder !== undefined) {
      // Awaited only when written at once (contextFlushMs 0): no turn of the event loop otherwise.
      const written = this.queueOrderContext({ merchant, orderId: req.order.id, ctx: { country: req.order.country ?? null, crossBorder: req.order.crossBorder ?? null }, at: now });
      if (written) await written;
    }

    let result: { decision: AuthAnswer['decision']; reason: string; detail: string | null; promptCode: string | null };
    const d: DecisionResult = decide({
      facts: { restricted, binRule, knownGood, history: rows.length === 0 ? NO_EVENTS : rows.map(historyEvent), brand },
      order: { amount, currency, crossBorder },
      card: { expMonth: req.expMonth, expYear: req.expYear },
      now,
      dataState: 'fresh',
      stage: 'network',
    });
    if (d.decision === 'escalate') {
      // Nothing against the card and new to this merchant: the trust level sets the limit;
      // over it, or at the lowest level, the customer is asked for 3-D Secure ('authenticate');
      // only fraud evidence declines (server/trust/policy.ts). The card's own record (any
      // merchant) counts: successful payments, fraud outcomes; and this order's earlier attempts
      // with other cards (a lost, stolen or fraud answer asks for 3-D Secure).
      const card = rows.length === 0 ? { successes: 0, fraud: 0 } : { successes: rows.filter((r) => r.status === 'success').length, fraud: rows.filter((r) => r.type === 'fraud').length };
      // This card's earlier attempts in this order (BIN + last four, as for routing below): a retry
      // for no more than was attempted keeps the order's trust answer (server/trust/policy.ts).
      let cardAttemptedAmount: number | null = null;
      for (const r of orderRows) if (r.bin === req.bin && r.last4 === req.last4 && r.currency === currency) cardAttemptedAmount = Math.max(cardAttemptedAmount ?? 0, r.amount);
      const checkout = { fraudOutcomes: orderRows.length === 0 ? 0 : orderRows.filter((r) => classifyOutcome(r).fraudEvidence).length, cardAttemptedAmount };
      const nc = this.deps.trust.withCard(assessed, { amount }, card, checkout);
      trust = { level: nc.level, limit: nc.limit, score: nc.score, modelVersion: nc.modelVersion };
      result = {
        decision: nc.decision,
        reason: nc.reason,
        detail: nc.decision === 'decline' ? nc.evidence : nc.promptCode,
        promptCode: nc.decision === 'review' ? 'authenticate' : nc.decision === 'decline' ? 'use_another_card' : null,
      };
      // Learning only (the false-decline report): never delays or fails the answer.
      this.deps.trust.applied({ merchant, orderId: req.order.id, at: now }, nc)?.catch(() => undefined);
    } else {
      result = { decision: d.decision as FinalDecision, reason: d.reason, detail: d.detail ?? null, promptCode: d.promptCode };
    }

    const prompt = result.promptCode ? resolvePrompt(result.promptCode, req.lang, await this.promptTable()) : null;
    let gateway: string | null = null;
    let route: AuthAnswer['route'] = null;
    if (result.decision !== 'decline') {
      // Gateways that declined this card: from its history (token) and this order's earlier
      // attempts with the same card (BIN + last four; the only link when there is no token).
      const sameCard = orderRows.filter((r) => r.bin === req.bin && r.last4 === req.last4);
      const seen = sameCard.length === 0 ? rows : [...rows, ...sameCard];
      const avoid = declinedGateways(seen, now - (this.deps.avoidDeclinedSeconds ?? 30 * 86400));
      // ...and the one that approved it last (kept while its rate is close to the best's).
      const prefer = approvedGateway(seen, now - AFFINITY_SECONDS);
      const rec = await this.deps.router.recommend(
        { brand: brand ?? null, issuerCountry: req.order.country ?? null, crossBorder: req.order.crossBorder ?? null, currency, amount, avoid, prefer },
        now,
        merchant,
      );
      gateway = rec?.gateway ?? null;
      if (rec) route = { successRate: rec.successRate, explored: rec.explored, segmentLevel: rec.segmentLevel, eliminated: rec.eliminated };
    }
    return {
      decision: result.decision,
      reason: result.reason,
      detail: result.detail,
      prompt,
      gateway,
      route,
      trust,
      modelVersion: assessed.modelVersion,
      datasetVersion: this.deps.datasetVersion(),
    };
  }

  /** Idempotent per (merchant, idempotencyKey): a retry gets the first answer, no second row. */
  async recordOutcome(req: OutcomeRequest, merchant: string): Promise<{ answer: OutcomeAnswer; replay: boolean }> {
    const now = toUnixSeconds(this.deps.now());
    const at = req.at ?? now;
    checkOutcomeAt(req.at, now); // the same rule the bridge applied when it accepted the report
    const token = req.token ? parseTokenHex(req.token) : null;
    const fingerprint = crypto.createHash('sha256').update(canonicalJson({ ...req, at: req.at ?? null })).digest('hex');
    // Without a token the outcome cannot be attributed to a card: routing learns from it, the
    // restricted list, known-good cards and card history do not.
    const restrict = token ? restrictionFor(req) : null;
    const effects: OutcomeEffects = { restrict, knownGood: token !== null && req.status === 'success' };
    const ctx = req.country !== undefined || req.crossBorder !== undefined ? null : await this.orderContext(merchant, req.orderId);
    const country = req.country ?? ctx?.country ?? null;
    const crossBorder = req.crossBorder ?? ctx?.crossBorder ?? null;
    const row: OutcomeRow = {
      idempotencyKey: req.idempotencyKey,
      merchant,
      token,
      bin: req.bin,
      last4: req.last4,
      brand: req.brand ?? cardBrand(req.bin),
      orderId: req.orderId,
      amount: req.amount,
      currency: req.currency,
      gateway: req.gateway,
      status: req.status,
      code: req.code ?? null,
      type: req.type ?? null,
      advice: req.advice ?? null,
      at,
      hard: token !== null && isHardOutcome(req),
      country,
      crossBorder,
    };
    const answer: OutcomeAnswer = { outcomeId: crypto.randomUUID(), restricted: restrict !== null, knownGood: effects.knownGood };
    const r = await this.deps.storage.recordOutcome(row, fingerprint, effects, answer);
    if (r.conflict) throw new ServiceError('CONFLICT', 'idempotencyKey was already used for a different outcome');
    if (r.created) {
      // Learning: the router's success-rate window and the trust label of the order's attempt.
      const type = req.type ?? null;
      // With a follower (several instances), the follower may have recorded this row already.
      if (r.id === undefined || !this.deps.routingClaim || this.deps.routingClaim(r.id)) this.deps.router.record({
        gateway: req.gateway,
        brand: row.brand ?? 'unknown',
        issuerCountry: country,
        crossBorder,
        currency: req.currency,
        amount: req.amount,
        status: req.status,
        type,
        code: req.code ?? null,
        at,
        card: routingCardKey(token),
      });
      this.deps.floors?.record({
        merchant,
        orderId: req.orderId,
        token,
        brand: row.brand,
        currency: req.currency,
        crossBorder,
        amount: req.amount,
        status: req.status,
        code: req.code ?? null,
        type,
        advice: req.advice ?? null,
        at,
      });
      // The outcome is durable already: a failed label costs one training row, not the answer.
      await this.deps.trust.recordOutcome({ merchant, orderId: req.orderId, status: req.status, type, at }).catch((e) => this.deps.onBackgroundError?.(e));
      this.deps.onDataChanged();
    }
    return { answer: r.response as OutcomeAnswer, replay: !r.created };
  }
}
