// The trained new-card trust model: training with a deterministic holdout, scoring, levels.
import { createHash } from 'node:crypto';
import { TRUST_FEATURE_NAMES } from './features.ts';
import { fitLogistic, sigmoid } from './logistic.ts';
import { badClassMetrics, bestF1Threshold, rocAuc } from './metrics.ts';
import { PrecheckError } from '../../errors/precheck-error.ts';

export type TrustLevel = 'high' | 'medium' | 'low' | 'block';

export interface TrustMetrics {
  auc: number | null; // held-out ROC AUC (null: holdout lacks a class)
  precision: number | null; // held-out, bad class, at `threshold`
  recall: number | null;
  n: number; // held-out rows
  nTrain: number;
  badRate: number; // share of bad rows in all rows
}

export interface TrustModel {
  /** Content-derived: the same rows and options give the same version ('trust-v1-<12 hex>'). */
  version: string;
  kind: 'logistic-l2' | 'prior';
  trainedAt: number; // unix s
  featureNames: string[];
  weights: number[];
  bias: number;
  means: number[];
  stds: number[];
  /** P(good) below this is 'block' (declined). */
  threshold: number;
  /** P(good) at or above `high` is 'high', at or above `medium` is 'medium', else 'low'. */
  levelCuts: { high: number; medium: number };
  l2: number;
  metrics: TrustMetrics;
}

export interface TrustRow {
  features: ArrayLike<number>;
  label: 0 | 1; // 1 good (success), 0 bad (fraud, chargeback, hard decline)
  /** Stable id (e.g. the outcome id) so the holdout split does not depend on row order. */
  key?: string;
}

export interface TrainOptions {
  l2?: number; // default 0.01
  holdoutShare?: number; // default 0.25
  seed?: string; // split seed; default 'precheck-trust'
  /** Cap on the share of training rows the block threshold may flag; default 0.05. */
  maxBlockShare?: number;
  threshold?: number; // fixed block threshold instead of the F1 choice
  levelCuts?: { high: number; medium: number }; // default: median and 25th percentile of training scores
  minRows?: number; // default 40
  trainedAt?: number; // unix s; default now
  featureNames?: readonly string[]; // default TRUST_FEATURE_NAMES
}

export class TrustTrainingError extends PrecheckError<'TRUST_TRAINING'> {
  constructor(message: string) {
    super('TRUST_TRAINING', message);
    this.name = 'TrustTrainingError';
  }
}

/** Maps a stored gateway outcome to a training label; null = says nothing about the customer. */
export function trustLabelFromOutcome(o: { status: string; type?: string | null }): 0 | 1 | null {
  if (o.status === 'success') return 1;
  if (o.type === 'fraud' || o.type === 'hard' || o.type === 'chargeback') return 0;
  return null; // soft declines (funds, limits) and technical errors are not about trust
}

// FNV-1a 32-bit: a fixed, fast hash so the same row always lands on the same side of the split.
function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return 0;
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

const finiteOrNull = (x: number): number | null => (Number.isFinite(x) ? x : null);

function versionOf(parts: unknown): string {
  // Rounded so the hash names the model, not the last bits of floating-point summation order.
  const json = JSON.stringify(parts, (_k, v) => (typeof v === 'number' ? Number(v.toPrecision(10)) : v));
  return 'trust-v1-' + createHash('sha256').update(json).digest('hex').slice(0, 12);
}

export function trainTrustModel(rows: readonly TrustRow[], opts: TrainOptions = {}): TrustModel {
  const names = [...(opts.featureNames ?? TRUST_FEATURE_NAMES)];
  const d = names.length;
  const l2 = opts.l2 ?? 0.01;
  const holdoutShare = opts.holdoutShare ?? 0.25;
  const seed = opts.seed ?? 'precheck-trust';
  const minRows = opts.minRows ?? 40;
  if (!(l2 >= 0) || !(holdoutShare >= 0 && holdoutShare < 1)) throw new RangeError('l2 must be >= 0 and holdoutShare in [0, 1)');
  if (rows.length < minRows) throw new TrustTrainingError(`need at least ${minRows} labelled outcomes, have ${rows.length}`);
  const train: TrustRow[] = [];
  const hold: TrustRow[] = [];
  let bad = 0;
  rows.forEach((r, i) => {
    if (r.features.length !== d) throw new RangeError(`row ${i} has ${r.features.length} features, expected ${d}`);
    if (r.label !== 0 && r.label !== 1) throw new RangeError(`row ${i} label must be 0 or 1`);
    for (let j = 0; j < d; j++) if (!Number.isFinite(r.features[j])) throw new RangeError(`row ${i} feature ${names[j]} is not finite`);
    if (r.label === 0) bad++;
    const bucket = fnv1a(`${seed}:${r.key ?? i}`) % 10_000;
    (bucket < holdoutShare * 10_000 ? hold : train).push(r);
  });
  if (bad === 0 || bad === rows.length) throw new TrustTrainingError('training needs both good and bad outcomes');
  if (train.length === 0) throw new TrustTrainingError('holdout left no training rows');

  // Standardise with training statistics only (the holdout must not leak into the model).
  const means = new Array<number>(d).fill(0);
  const stds = new Array<number>(d).fill(0);
  for (const r of train) for (let j = 0; j < d; j++) means[j] += r.features[j];
  for (let j = 0; j < d; j++) means[j] /= train.length;
  for (const r of train) for (let j = 0; j < d; j++) stds[j] += (r.features[j] - means[j]) ** 2;
  for (let j = 0; j < d; j++) {
    const sd = Math.sqrt(stds[j] / train.length);
    stds[j] = sd > 1e-12 ? sd : 1; // a constant feature contributes nothing either way
  }
  const z = (r: TrustRow): Float64Array => {
    const out = new Float64Array(d);
    for (let j = 0; j < d; j++) out[j] = (r.features[j] - means[j]) / stds[j];
    return out;
  };
  const fit = fitLogistic(train.map(z), train.map((r) => r.label), { l2, maxIterations: 50, tolerance: 1e-9 });
  const score = (r: TrustRow): number => {
    const x = z(r);
    let s = fit.bias;
    for (let j = 0; j < d; j++) s += fit.weights[j] * x[j];
    return sigmoid(s);
  };
  const trainScores = train.map(score);
  const trainLabels = train.map((r) => r.label);
  const threshold = opts.threshold ?? bestF1Threshold(trainScores, trainLabels, opts.maxBlockShare ?? 0.05);
  const sorted = [...trainScores].sort((a, b) => a - b);
  const cuts = opts.levelCuts ?? { high: quantile(sorted, 0.5), medium: quantile(sorted, 0.25) };
  const levelCuts = { high: Math.max(cuts.high, cuts.medium, threshold), medium: Math.max(cuts.medium, threshold) };

  const holdScores = hold.map(score);
  const holdLabels = hold.map((r) => r.label);
  const pr = badClassMetrics(holdScores, holdLabels, threshold);
  const metrics: TrustMetrics = {
    auc: finiteOrNull(rocAuc(holdScores, holdLabels)),
    precision: finiteOrNull(pr.precision),
    recall: finiteOrNull(pr.recall),
    n: hold.length,
    nTrain: train.length,
    badRate: bad / rows.length,
  };
  const body = { kind: 'logistic-l2' as const, featureNames: names, weights: fit.weights, bias: fit.bias, means, stds, threshold, levelCuts, l2, metrics };
  return { version: versionOf(body), trainedAt: opts.trainedAt ?? Math.floor(Date.now() / 1000), ...body };
}

/**
 * The model used before any training: hand-set weights on raw features (means 0, stds 1) from the
 * seed's three trust groups — fraud history and device fraud weigh most, then country mismatch
 * and velocity; a known device and a paying history add trust. Conservative limits do the rest.
 */
export function priorTrustModel(): TrustModel {
  const w: Record<string, number> = {
    account_age_days_log: 0.3, account_unknown: -0.3, account_successes_log: 0.4, account_failures_log: -0.3,
    account_failure_ratio: -1.0, account_fraud_log: -2.0, device_missing: -0.2, device_known_for_account: 0.6,
    device_accounts_log: -0.5, device_fraud_log: -2.0, ip_card_country_mismatch: -0.8, ip_country_unknown: -0.2,
    ip_accounts_log: -0.3, velocity_account_hour_log: -0.6, velocity_account_day_log: -0.3, velocity_card_hour_log: -0.6,
    velocity_card_day_log: -0.3, velocity_ip_hour_log: -0.6, velocity_ip_day_log: -0.3,
  };
  const names = [...TRUST_FEATURE_NAMES];
  return {
    version: 'trust-prior-v1',
    kind: 'prior',
    trainedAt: 0,
    featureNames: names,
    weights: names.map((n) => w[n] ?? 0),
    bias: 2.5,
    means: names.map(() => 0),
    stds: names.map(() => 1),
    threshold: 0.2,
    levelCuts: { high: 0.85, medium: 0.6 },
    l2: 0,
    metrics: { auc: null, precision: null, recall: null, n: 0, nTrain: 0, badRate: 0 },
  };
}

export interface TrustScore {
  score: number; // probability the payment is good, 0..1
  level: TrustLevel;
}

export function scoreTrust(model: TrustModel, features: ArrayLike<number>): TrustScore {
  const d = model.featureNames.length;
  if (features.length !== d) throw new RangeError(`expected ${d} features for model ${model.version}, got ${features.length}`);
  let s = model.bias;
  for (let j = 0; j < d; j++) {
    const x = features[j];
    if (!Number.isFinite(x)) throw new RangeError(`feature ${model.featureNames[j]} is not finite`);
    s += (model.weights[j] * (x - model.means[j])) / model.stds[j];
  }
  const score = sigmoid(s);
  const level: TrustLevel = score < model.threshold ? 'block' : score < model.levelCuts.medium ? 'low' : score < model.levelCuts.high ? 'medium' : 'high';
  return { score, level };
}

/** Checks a model read back from storage (JSON) before it is used; throws RangeError. */
export function parseTrustModel(value: unknown): TrustModel {
  const m = value as TrustModel;
  const isNum = (x: unknown): x is number => typeof x === 'number' && Number.isFinite(x);
  const numArr = (x: unknown, n: number): boolean => Array.isArray(x) && x.length === n && x.every(isNum);
  if (!m || typeof m !== 'object' || typeof m.version !== 'string' || m.version.length === 0) throw new RangeError('trust model: missing version');
  if (!Array.isArray(m.featureNames) || !m.featureNames.every((s) => typeof s === 'string')) throw new RangeError('trust model: bad featureNames');
  const d = m.featureNames.length;
  if (!numArr(m.weights, d) || !numArr(m.means, d) || !numArr(m.stds, d) || m.stds.some((s) => s <= 0)) throw new RangeError('trust model: bad weights/means/stds');
  if (!isNum(m.bias) || !isNum(m.threshold) || !m.levelCuts || !isNum(m.levelCuts.high) || !isNum(m.levelCuts.medium)) throw new RangeError('trust model: bad bias/threshold/levelCuts');
  if (!m.metrics || typeof m.metrics !== 'object' || !isNum(m.metrics.n)) throw new RangeError('trust model: bad metrics');
  return m;
}
