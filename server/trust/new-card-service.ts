// The server's face of new-card trust: records every network authentication's context, answers
// for cards new to the merchant with the current model, labels attempts with gateway outcomes,
// and trains (CLI and schedule) into the model store.
import crypto from 'node:crypto';
import type { TrustCounts, TrustKeys, TrustStore } from '../storage/storage.ts';
import { priorTrustModel, type TrainOptions, type TrustModel } from './model.ts';
import { StorageTrustModelStore } from './model-store.ts';
import { decideNewCard, scoreNewCard, type CardEvidence, type CheckoutEvidence, type NewCardDecision, type NewCardScore } from './policy.ts';
import type { TrustContext } from './features.ts';
import { TrustSignals, type TrustAttemptInput, type TrustOutcomeInput, type TrustSignalsOptions } from './signal-store.ts';
import { runTrustTraining, type TrainingRunResult } from './train-job.ts';
import type { TrustLevel } from './model.ts';
import { checkNowMs, systemNowMs, toUnixSeconds, type NowMs } from '../../runtime/clock.ts';

export interface NewCardTrustOptions {
  /** The service's storage (signals and models live there). */
  store: TrustStore;
  /** Secret the identifier hashes are keyed with; derived from it, never used directly. */
  secret: Uint8Array;
  limitsUsd?: Partial<Record<TrustLevel, number>>;
  /** Labelled attempts older than this are not trained on; default 180 days. */
  trainingWindowSeconds?: number;
  /** Wall clock, ms (runtime/clock.ts). */
  now?: NowMs;
  /** Write-behind of attempts (see TrustSignals). */
  signals?: TrustSignalsOptions;
  /** How often the store is asked whether another process trained a newer model; default 1 s. */
  modelCheckMs?: number;
}

/** assess's answer: the new-card decision with its score, context and model. */
export type Assessed = NewCardDecision & { scored: NewCardScore; context: TrustContext; model: TrustModel };

/** The decision with what made it, property by property (a spread plus three more made ~1 KB of garbage per auth). */
const assessedOf = (d: NewCardDecision, scored: NewCardScore, context: TrustContext, model: TrustModel): Assessed => ({
  decision: d.decision,
  reason: d.reason,
  promptCode: d.promptCode,
  level: d.level,
  score: d.score,
  limit: d.limit,
  modelVersion: d.modelVersion,
  evidence: d.evidence,
  scored,
  context,
  model,
});

export class NewCardTrust {
  readonly signals: TrustSignals;
  readonly models: StorageTrustModelStore;
  private model: TrustModel = priorTrustModel();
  private readonly now: NowMs;
  private readonly fingerprintKey: Buffer;
  private nextModelCheck = 0;
  private modelCheck: Promise<void> | null = null;

  /** Use NewCardTrust.open (loads the latest stored model). */
  constructor(private readonly opts: NewCardTrustOptions) {
    // A separate key for identifier hashes, so these hashes say nothing about card tokens.
    const hashKey = crypto.createHmac('sha256', Buffer.from(opts.secret)).update('precheck/trust-identifiers/v1').digest();
    this.signals = new TrustSignals(opts.store, hashKey, opts.signals);
    this.fingerprintKey = crypto.createHmac('sha256', Buffer.from(opts.secret)).update('precheck/card-fingerprint/v1').digest();
    this.models = new StorageTrustModelStore(opts.store);
    this.now = opts.now ? checkNowMs(opts.now, 'NewCardTrust now') : systemNowMs;
  }

  static async open(opts: NewCardTrustOptions): Promise<NewCardTrust> {
    const t = new NewCardTrust(opts);
    // A store that counts in memory loads its counts now, not on the first authentication.
    opts.store.noteTrustAttempts?.([]);
    await t.reloadModel();
    t.nextModelCheck = Date.now() + (opts.modelCheckMs ?? 1000);
    return t;
  }

  /**
   * A 16-byte keyed fingerprint of BIN + last four + expiry, standing in for the card token in
   * velocity counts when no device computed one. Keyed (HMAC) because BIN + last four + expiry has
   * only ~10^8 values per BIN and an unkeyed hash would be enumerable; its own domain, so it never
   * equals a real token. Coarser than a token: two cards sharing BIN, last four and expiry share
   * one series (rare within one merchant's hour or day).
   */
  cardFingerprint(bin: string, last4: string, expMonth: number, expYear: number): Uint8Array {
    const year = expYear < 100 ? 2000 + expYear : expYear;
    const mac = crypto.createHmac('sha256', this.fingerprintKey).update(`${bin}|${last4}|${String(expMonth).padStart(2, '0')}/${year}`).digest();
    return new Uint8Array(mac.subarray(0, 16));
  }

  /** What the store counts for an attempt (read with the card's facts: Storage.authFacts). */
  trustKeys(attempt: TrustAttemptInput): TrustKeys {
    return this.signals.keysOf(attempt);
  }

  /** The model answers are made with (the prior until the first training). */
  currentModel(): TrustModel {
    return this.model;
  }

  /**
   * Records the attempt (every network authentication: velocity needs all of them) and returns the
   * new-card answer for it; the caller uses the answer only when the card is new to the merchant.
   * `counts`: the store's trust counts for trustKeys(attempt), when the caller read them already;
   * `keys`: trustKeys(attempt), when the caller computed them already.
   */
  async assess(attempt: TrustAttemptInput, order: { amount: number; currency: string }, counts?: TrustCounts, keys?: TrustKeys): Promise<Assessed> {
    this.checkForNewModel();
    const model = this.model;
    const { context, features } = await this.signals.recordAttempt(attempt, model.version, counts, keys);
    // The features recorded are the ones scored (extracted once per attempt).
    const scored = scoreNewCard(model, context, order, { limitsUsd: this.opts.limitsUsd }, features);
    return assessedOf(decideNewCard(scored, context, order), scored, context, model);
  }

  /**
   * assess for a caller that read the counts already: the answer without a promise when the
   * attempt is written behind (nearly always), else a promise of it (the attempt written first).
   */
  assessNow(attempt: TrustAttemptInput, order: { amount: number; currency: string }, counts: TrustCounts, keys?: TrustKeys): Assessed | Promise<Assessed> {
    this.checkForNewModel();
    const model = this.model;
    const { context, features, written } = this.signals.recordAttemptNow(attempt, model.version, counts, keys);
    const answer = (): Assessed => {
      // The features recorded are the ones scored (extracted once per attempt).
      const scored = scoreNewCard(model, context, order, { limitsUsd: this.opts.limitsUsd }, features);
      return assessedOf(decideNewCard(scored, context, order), scored, context, model);
    };
    return written ? written.then(answer) : answer();
  }

  /**
   * The new-card answer again with what is known about the card itself (its history) and this
   * checkout's earlier attempts, for the same order: they change the fraud evidence, not the
   * score, which is reused.
   */
  withCard(assessed: { context: TrustContext; scored: NewCardScore }, order: { amount: number }, card: CardEvidence, checkout?: CheckoutEvidence): NewCardDecision {
    return decideNewCard(assessed.scored, assessed.context, order, card, checkout);
  }

  /** The trust answer decided this attempt (the card was new to the merchant): kept for the report. */
  applied(attempt: { merchant: string; orderId: string; at: number }, d: { decision: string; reason: string }): Promise<void> | undefined {
    return this.signals.recordDecision(attempt, d.decision, d.reason);
  }

  /** False-decline rate per reason of trust declines since `since`. */
  falseDeclines(since = 0): ReturnType<TrustSignals['falseDeclines']> {
    return this.signals.falseDeclines(since);
  }

  /**
   * A model trained by another process or instance (`precheck server train`, another instance's
   * schedule) is picked up within `modelCheckMs`: the store is asked in the background, never on
   * the request's path.
   */
  private checkForNewModel(): void {
    const t = Date.now();
    if (t < this.nextModelCheck || this.modelCheck) return;
    this.nextModelCheck = t + (this.opts.modelCheckMs ?? 1000);
    this.modelCheck = (async () => {
      const head = await this.models.latestVersion();
      if (head !== null && head !== this.model.version) await this.reloadModel();
    })()
      .catch(() => undefined) // the current model stays; the next check tries again
      .finally(() => {
        this.modelCheck = null;
      });
  }

  recordOutcome(o: TrustOutcomeInput): Promise<boolean> {
    return this.signals.recordOutcome(o);
  }

  /** Trains on stored labelled attempts; a new model is used at once. */
  async train(opts: TrainOptions = {}): Promise<TrainingRunResult> {
    const now = toUnixSeconds(this.now());
    const since = now - (this.opts.trainingWindowSeconds ?? 180 * 86_400);
    const r = await runTrustTraining(this.signals, this.models, { trainedAt: now, ...opts, since });
    if (r.trained) this.model = r.model;
    return r;
  }

  /** Picks up a model trained by another process (e.g. `precheck server train`). */
  async reloadModel(): Promise<TrustModel> {
    this.model = (await this.models.loadLatestModel()) ?? this.model;
    return this.model;
  }

  /** Writes queued attempts (shutdown). */
  close(): Promise<void> {
    return this.signals.close();
  }
}
