// The server's face of new-card trust: records every network authentication's context, answers
// for cards new to the merchant with the current model, labels attempts with gateway outcomes,
// and trains (CLI and schedule) into the model store.
import crypto from 'node:crypto';
import type Database from 'better-sqlite3';
import { priorTrustModel, type TrainOptions, type TrustModel } from './model.ts';
import { SqliteTrustModelStore } from './model-store.ts';
import { evaluateNewCard, type NewCardDecision } from './policy.ts';
import { SqliteTrustSignals, type TrustAttemptInput, type TrustOutcomeInput } from './signal-store.ts';
import { runTrustTraining, type TrainingRunResult } from './train-job.ts';
import type { TrustLevel } from './model.ts';

export interface NewCardTrustOptions {
  db: Database.Database;
  /** Secret the identifier hashes are keyed with; derived from it, never used directly. */
  secret: Uint8Array;
  limitsUsd?: Partial<Record<TrustLevel, number>>;
  /** Labelled attempts older than this are not trained on; default 180 days. */
  trainingWindowSeconds?: number;
  now?: () => number;
}

export class NewCardTrust {
  readonly signals: SqliteTrustSignals;
  readonly models: SqliteTrustModelStore;
  private model: TrustModel;
  private readonly now: () => number;
  private readonly fingerprintKey: Buffer;

  constructor(private readonly opts: NewCardTrustOptions) {
    // A separate key for identifier hashes, so these hashes say nothing about card tokens.
    const hashKey = crypto.createHmac('sha256', Buffer.from(opts.secret)).update('precheck/trust-identifiers/v1').digest();
    this.signals = new SqliteTrustSignals(opts.db, hashKey);
    this.fingerprintKey = crypto.createHmac('sha256', Buffer.from(opts.secret)).update('precheck/card-fingerprint/v1').digest();
    this.models = new SqliteTrustModelStore(opts.db);
    this.model = this.models.loadLatestModel() ?? priorTrustModel();
    this.now = opts.now ?? (() => Math.floor(Date.now() / 1000));
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

  /** The model answers are made with (the prior until the first training). */
  currentModel(): TrustModel {
    return this.model;
  }

  /**
   * Records the attempt (every network authentication: velocity needs all of them) and returns the
   * new-card answer for it; the caller uses the answer only when the card is new to the merchant.
   */
  assess(attempt: TrustAttemptInput, order: { amount: number; currency: string }): NewCardDecision {
    // A model trained by another process (`precheck server train`) is picked up on the next answer.
    const head = this.models.latestVersion();
    if (head !== null && head !== this.model.version) this.reloadModel();
    const { context } = this.signals.recordAttempt(attempt, this.model.version);
    return evaluateNewCard(this.model, context, order, { limitsUsd: this.opts.limitsUsd });
  }

  recordOutcome(o: TrustOutcomeInput): boolean {
    return this.signals.recordOutcome(o);
  }

  /** Trains on stored labelled attempts; a new model is used at once. */
  train(opts: TrainOptions = {}): TrainingRunResult {
    const now = this.now();
    const since = now - (this.opts.trainingWindowSeconds ?? 180 * 86_400);
    const r = runTrustTraining(this.signals, this.models, { trainedAt: now, ...opts, since });
    if (r.trained) this.model = r.model;
    return r;
  }

  /** Picks up a model trained by another process (e.g. `precheck server train`). */
  reloadModel(): TrustModel {
    this.model = this.models.loadLatestModel() ?? this.model;
    return this.model;
  }
}
