import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { extractTrustFeatures, TRUST_FEATURE_NAMES, type TrustContext } from '../../../server/trust/features.ts';
import { priorTrustModel, scoreTrust, trainTrustModel, trustLabelFromOutcome, TrustTrainingError, type TrustModel, type TrustRow } from '../../../server/trust/model.ts';
import { evaluateNewCard, trustLimit } from '../../../server/trust/policy.ts';
import { rocAuc, badClassMetrics } from '../../../server/trust/metrics.ts';
import { JsonFileTrustModelStore, MemoryTrustModelStore } from '../../../server/trust/model-store.ts';
import { mulberry32 } from '../../../server/routing/rng.ts';

const NOW = 1_700_000_000;
const DAY = 86_400;

function ctx(over: { account?: Partial<TrustContext['account']>; device?: TrustContext['device']; environment?: Partial<TrustContext['environment']>; attempts?: Partial<TrustContext['environment']['attempts']> } = {}): TrustContext {
  return {
    now: NOW,
    account: { createdAt: NOW - 365 * DAY, successes: 10, failures: 0, chargebacks: 0, fraud: 0, ...over.account },
    device: over.device === undefined ? { seenWithAccount: true, accounts: 1, fraud: 0 } : over.device,
    environment: {
      ipCountry: 'DE',
      cardCountry: 'DE',
      accountsOnIp: 1,
      ...over.environment,
      attempts: { accountHour: 0, accountDay: 1, cardHour: 0, cardDay: 0, ipHour: 0, ipDay: 1, ...over.attempts },
    },
  };
}

const f = (v: Float64Array, name: (typeof TRUST_FEATURE_NAMES)[number]): number => v[TRUST_FEATURE_NAMES.indexOf(name)];

describe('extractTrustFeatures', () => {
  it('computes account, device and environment features', () => {
    const v = extractTrustFeatures(
      ctx({
        account: { createdAt: NOW - 9 * DAY, successes: 3, failures: 1, chargebacks: 1, fraud: 2 },
        device: { seenWithAccount: false, accounts: 4, fraud: 1 },
        environment: { ipCountry: 'ng', cardCountry: 'DE', accountsOnIp: 7 },
        attempts: { accountHour: 2, accountDay: 5, cardHour: 3, cardDay: 8, ipHour: 15, ipDay: 63 },
      }),
    );
    expect(v.length).toBe(TRUST_FEATURE_NAMES.length);
    expect(f(v, 'account_age_days_log')).toBeCloseTo(Math.log(10), 12);
    expect(f(v, 'account_unknown')).toBe(0);
    expect(f(v, 'account_successes_log')).toBeCloseTo(Math.log(4), 12);
    expect(f(v, 'account_failures_log')).toBeCloseTo(Math.log(2), 12);
    expect(f(v, 'account_failure_ratio')).toBeCloseTo(1.5 / 5, 12);
    expect(f(v, 'account_fraud_log')).toBeCloseTo(Math.log(4), 12);
    expect(f(v, 'device_missing')).toBe(0);
    expect(f(v, 'device_known_for_account')).toBe(0);
    expect(f(v, 'device_accounts_log')).toBeCloseTo(Math.log(5), 12);
    expect(f(v, 'device_fraud_log')).toBeCloseTo(Math.log(2), 12);
    expect(f(v, 'ip_card_country_mismatch')).toBe(1);
    expect(f(v, 'ip_country_unknown')).toBe(0);
    expect(f(v, 'ip_accounts_log')).toBeCloseTo(Math.log(8), 12);
    expect(f(v, 'velocity_account_hour_log')).toBeCloseTo(Math.log(3), 12);
    expect(f(v, 'velocity_card_day_log')).toBeCloseTo(Math.log(9), 12);
    expect(f(v, 'velocity_ip_hour_log')).toBeCloseTo(Math.log(16), 12);
    expect(f(v, 'velocity_ip_day_log')).toBeCloseTo(Math.log(64), 12);
  });

  it('handles guests, missing devices and unknown countries', () => {
    const v = extractTrustFeatures(ctx({ account: { createdAt: null, successes: 0, failures: 0 }, device: null, environment: { ipCountry: null, cardCountry: 'DE' } }));
    expect(f(v, 'account_unknown')).toBe(1);
    expect(f(v, 'account_age_days_log')).toBe(0);
    expect(f(v, 'account_failure_ratio')).toBe(0.5);
    expect(f(v, 'device_missing')).toBe(1);
    expect(f(v, 'device_known_for_account')).toBe(0);
    expect(f(v, 'ip_country_unknown')).toBe(1);
    expect(f(v, 'ip_card_country_mismatch')).toBe(0); // unknown is not a mismatch
    expect(f(extractTrustFeatures(ctx({ environment: { ipCountry: 'de', cardCountry: 'DE' } })), 'ip_card_country_mismatch')).toBe(0);
  });

  it('refuses negative or non-numeric counts', () => {
    expect(() => extractTrustFeatures(ctx({ account: { successes: -1 } }))).toThrow(RangeError);
    expect(() => extractTrustFeatures(ctx({ attempts: { ipHour: Number.NaN } }))).toThrow(RangeError);
    expect(() => extractTrustFeatures({ now: NOW } as TrustContext)).toThrow(RangeError);
  });
});

/** Random contexts; the label depends on a known logit when `signal`, else is a fair coin. */
function synthetic(n: number, seed: number, signal: boolean): TrustRow[] {
  const rnd = mulberry32(seed);
  const int = (max: number) => Math.floor(rnd() * (max + 1));
  const rows: TrustRow[] = [];
  for (let i = 0; i < n; i++) {
    const deviceFraud = rnd() < 0.15 ? 1 + int(3) : 0;
    const mismatch = rnd() < 0.3;
    const velocity = rnd() < 0.2 ? 5 + int(20) : int(2);
    const successes = int(30);
    const c = ctx({
      account: { createdAt: rnd() < 0.2 ? null : NOW - int(1000) * DAY, successes, failures: int(5), chargebacks: rnd() < 0.05 ? 1 : 0, fraud: 0 },
      device: rnd() < 0.1 ? null : { seenWithAccount: rnd() < 0.6, accounts: 1 + int(3), fraud: deviceFraud },
      environment: { ipCountry: mismatch ? 'NG' : 'DE', cardCountry: 'DE', accountsOnIp: 1 + int(5) },
      attempts: { accountHour: velocity, accountDay: velocity + int(3), cardHour: int(2), cardDay: int(4), ipHour: int(3), ipDay: int(10) },
    });
    const v = extractTrustFeatures(c);
    const logit = 1.5 - 3 * f(v, 'device_fraud_log') - 2.5 * (mismatch ? 1 : 0) - 1.5 * f(v, 'velocity_account_hour_log') + 0.8 * f(v, 'account_successes_log');
    const pGood = signal ? 1 / (1 + Math.exp(-logit)) : 0.5;
    rows.push({ features: v, label: rnd() < pGood ? 1 : 0, key: `o${i}` });
  }
  return rows;
}

describe('trainTrustModel', () => {
  it('learns a known signal: held-out AUC > 0.8, sensible precision/recall, right-signed weights', () => {
    const model = trainTrustModel(synthetic(4000, 1, true), { trainedAt: NOW });
    expect(model.metrics.auc).toBeGreaterThan(0.8);
    expect(model.metrics.n).toBeGreaterThan(800);
    expect(model.metrics.n).toBeLessThan(1200);
    expect(model.metrics.nTrain + model.metrics.n).toBe(4000);
    expect(model.metrics.precision).toBeGreaterThan(0.5);
    expect(model.metrics.recall).toBeGreaterThan(0);
    const w = (n: string) => model.weights[model.featureNames.indexOf(n)];
    expect(w('device_fraud_log')).toBeLessThan(0);
    expect(w('ip_card_country_mismatch')).toBeLessThan(0);
    expect(w('account_successes_log')).toBeGreaterThan(0);
    expect(model.version).toMatch(/^trust-v1-[0-9a-f]{12}$/);
    expect(model.levelCuts.high).toBeGreaterThanOrEqual(model.levelCuts.medium);
    expect(model.levelCuts.medium).toBeGreaterThanOrEqual(model.threshold);
  });

  it('finds nothing in pure noise: held-out AUC ≈ 0.5', () => {
    const model = trainTrustModel(synthetic(4000, 2, false), { trainedAt: NOW });
    expect(model.metrics.auc).toBeGreaterThan(0.44);
    expect(model.metrics.auc).toBeLessThan(0.56);
  });

  it('is deterministic: same rows → same version and weights; different rows → different version', () => {
    const rows = synthetic(1000, 3, true);
    const a = trainTrustModel(rows, { trainedAt: NOW });
    const b = trainTrustModel(rows.map((r) => ({ ...r, features: Float64Array.from(r.features) })), { trainedAt: NOW + 999 });
    expect(b.version).toBe(a.version);
    expect(b.weights).toEqual(a.weights);
    expect(b.metrics).toEqual(a.metrics);
    const c = trainTrustModel(rows.slice(1), { trainedAt: NOW });
    expect(c.version).not.toBe(a.version);
  });

  it('refuses too few rows or a single class', () => {
    expect(() => trainTrustModel(synthetic(10, 4, true))).toThrow(TrustTrainingError);
    const allGood = synthetic(100, 5, true).map((r) => ({ ...r, label: 1 as const }));
    expect(() => trainTrustModel(allGood)).toThrow(/both good and bad/);
    expect(() => trainTrustModel([{ features: [1, 2], label: 1 }], { minRows: 1 })).toThrow(RangeError);
  });

  it('labels outcomes: success good; fraud, chargeback, hard decline bad; soft/technical ignored', () => {
    expect(trustLabelFromOutcome({ status: 'success' })).toBe(1);
    expect(trustLabelFromOutcome({ status: 'failure', type: 'fraud' })).toBe(0);
    expect(trustLabelFromOutcome({ status: 'failure', type: 'hard' })).toBe(0);
    expect(trustLabelFromOutcome({ status: 'failure', type: 'soft' })).toBeNull();
    expect(trustLabelFromOutcome({ status: 'failure', type: 'technical' })).toBeNull();
  });
});

describe('metrics', () => {
  it('AUC handles ties and perfect separation', () => {
    expect(rocAuc([0.1, 0.2, 0.8, 0.9], [0, 0, 1, 1])).toBe(1);
    expect(rocAuc([0.9, 0.8, 0.2, 0.1], [0, 0, 1, 1])).toBe(0);
    expect(rocAuc([0.5, 0.5, 0.5, 0.5], [0, 1, 0, 1])).toBe(0.5);
    expect(rocAuc([0.1, 0.2], [1, 1])).toBeNaN();
  });
  it('precision/recall of the bad class at a threshold', () => {
    // flagged: 0.1 (bad), 0.2 (good), 0.3 (bad); not flagged: 0.6 (bad), 0.9 (good)
    expect(badClassMetrics([0.1, 0.2, 0.3, 0.6, 0.9], [0, 1, 0, 0, 1], 0.5)).toEqual({ precision: 2 / 3, recall: 2 / 3, flagged: 3 });
  });
});

describe('levels, limits and new-card decisions', () => {
  const model: TrustModel = { ...priorTrustModel(), version: 'test-model' };

  it('limits scale with the level and the currency', () => {
    expect(trustLimit('high')).toBe(200_000);
    expect(trustLimit('medium')).toBe(50_000);
    expect(trustLimit('low')).toBe(10_000);
    expect(trustLimit('block')).toBe(0);
    expect(trustLimit('medium', { currency: 'JPY' })).toBeGreaterThan(60_000); // ≈ ¥71k, no minor unit
    expect(trustLimit('low', { limitsUsd: { low: 50 }, currency: 'EUR' })).toBe(5_000);
    expect(trustLimit('high', { currency: 'EUR' })).toBeGreaterThan(trustLimit('medium', { currency: 'EUR' }));
  });

  it('approves within the limit, reviews with 3-D Secure above it, declines below the floor', () => {
    const trusted = ctx();
    const ok = evaluateNewCard(model, trusted, { amount: 5_000, currency: 'EUR' });
    expect(ok).toMatchObject({ decision: 'approve', reason: 'trust_ok', promptCode: null, level: 'high', limit: 200_000, modelVersion: 'test-model' });
    const big = evaluateNewCard(model, trusted, { amount: 250_000, currency: 'EUR' });
    expect(big).toMatchObject({ decision: 'review', reason: 'trust_limit_exceeded', promptCode: '3ds_required', level: 'high', modelVersion: 'test-model' });
    const guest = ctx({ account: { createdAt: null, successes: 0, failures: 0 }, device: null, environment: { ipCountry: null } });
    const g = evaluateNewCard(model, guest, { amount: 60_000, currency: 'USD' });
    expect(g.level).toBe('medium');
    expect(g).toMatchObject({ decision: 'review', promptCode: '3ds_required', limit: 50_000 });
    const fraudster = ctx({
      account: { createdAt: NOW - DAY, successes: 0, failures: 6, fraud: 2 },
      device: { seenWithAccount: false, accounts: 9, fraud: 3 },
      environment: { ipCountry: 'NG', cardCountry: 'DE', accountsOnIp: 20 },
      attempts: { accountHour: 12, cardHour: 8, ipHour: 40 },
    });
    const bad = evaluateNewCard(model, fraudster, { amount: 100, currency: 'EUR' });
    expect(bad).toMatchObject({ decision: 'decline', reason: 'fraud_signal', evidence: 'account_fraud', promptCode: null, level: 'block', modelVersion: 'test-model' });
    expect(bad.score).toBeLessThan(model.threshold);
  });

  it('every answer names the model version, for trained models too', () => {
    const trained = trainTrustModel(synthetic(600, 6, true), { trainedAt: NOW });
    for (const c of [ctx(), ctx({ device: null }), ctx({ attempts: { accountHour: 30 } })]) {
      expect(evaluateNewCard(trained, c, { amount: 1000, currency: 'GBP' }).modelVersion).toBe(trained.version);
    }
  });

  it('scoreTrust refuses a vector of the wrong length', () => {
    expect(() => scoreTrust(model, [1, 2, 3])).toThrow(RangeError);
    expect(() => evaluateNewCard(model, ctx(), { amount: -1, currency: 'EUR' })).toThrow(RangeError);
  });
});

describe('model stores', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
  });

  it('memory store keeps the latest and replaces an existing version', () => {
    const s = new MemoryTrustModelStore();
    expect(s.loadLatestModel()).toBeNull();
    const a = trainTrustModel(synthetic(300, 7, true), { trainedAt: NOW });
    const b = trainTrustModel(synthetic(300, 8, true), { trainedAt: NOW });
    s.saveModel(a);
    s.saveModel(b);
    expect(s.loadLatestModel()?.version).toBe(b.version);
    s.saveModel(a);
    expect(s.list().map((m) => m.version)).toEqual([b.version, a.version]);
  });

  it('JSON file store survives a reopen and refuses a corrupted model', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'trust-store-'));
    dirs.push(dir);
    const file = path.join(dir, 'models.json');
    const a = trainTrustModel(synthetic(300, 9, true), { trainedAt: NOW });
    new JsonFileTrustModelStore(file).saveModel(a);
    const back = new JsonFileTrustModelStore(file).loadLatestModel();
    expect(back).toEqual(JSON.parse(JSON.stringify(a)));
    expect(scoreTrust(back!, extractTrustFeatures(ctx())).score).toBeCloseTo(scoreTrust(a, extractTrustFeatures(ctx())).score, 12);
    fs.writeFileSync(file, JSON.stringify({ models: [{ ...a, weights: [1] }] }));
    expect(() => new JsonFileTrustModelStore(file).loadLatestModel()).toThrow(RangeError);
  });
});
