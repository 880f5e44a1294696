// Trust that does not turn away good customers: low trust alone asks for 3-D Secure, a decline
// needs fraud evidence (card fraud, account/device fraud, velocity across many cards), and the
// false-decline rate is reported per reason.
import crypto from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import type { TrustContext } from '../../../server/trust/features.ts';
import { priorTrustModel, type TrustModel } from '../../../server/trust/model.ts';
import { CARD_VELOCITY_LIMITS, evaluateNewCard, fraudEvidence } from '../../../server/trust/policy.ts';
import { TrustSignals } from '../../../server/trust/signal-store.ts';
import { sqliteStorageEachTest } from '../sqlite-fixture.ts';

const NOW = 1_800_000_000;
const DAY = 86_400;
const model: TrustModel = { ...priorTrustModel(), version: 'test-model' };

/** Everything about this checkout looks wrong, but nobody has reported fraud. */
function suspicious(over: { account?: Partial<TrustContext['account']>; distinctCards?: TrustContext['environment']['distinctCards']; device?: Partial<NonNullable<TrustContext['device']>> } = {}): TrustContext {
  return {
    now: NOW,
    account: { createdAt: NOW - DAY, successes: 0, failures: 6, chargebacks: 0, fraud: 0, ...over.account },
    device: { seenWithAccount: false, accounts: 9, fraud: 0, ...over.device },
    environment: {
      ipCountry: 'NG',
      cardCountry: 'DE',
      accountsOnIp: 20,
      distinctCards: over.distinctCards,
      attempts: { accountHour: 12, accountDay: 12, cardHour: 8, cardDay: 8, ipHour: 40, ipDay: 40 },
    },
  };
}

const ORDER = { amount: 2_500, currency: 'EUR' };

describe('trust policy', () => {
  it('low trust alone is a review with 3-D Secure, never a decline', () => {
    const d = evaluateNewCard(model, suspicious(), ORDER);
    expect(d.level).toBe('block');
    expect(d).toMatchObject({ decision: 'review', reason: 'trust_too_low', promptCode: '3ds_required', evidence: null });
  });

  it('a returning customer (successful payments, no fraud signal) is never declined, whatever the score', () => {
    for (const successes of [1, 3, 12]) {
      const d = evaluateNewCard(model, suspicious({ account: { successes } }), ORDER, {}, { successes: 0, fraud: 0 });
      expect(d.decision).not.toBe('decline');
      const byCard = evaluateNewCard(model, suspicious(), ORDER, {}, { successes, fraud: 0 });
      expect(byCard.decision).not.toBe('decline');
    }
  });

  it('a decline needs fraud evidence: a fraud outcome on the card, account or device fraud', () => {
    expect(evaluateNewCard(model, suspicious(), ORDER, {}, { successes: 2, fraud: 1 })).toMatchObject({ decision: 'decline', reason: 'fraud_signal', evidence: 'card_fraud', promptCode: null });
    expect(evaluateNewCard(model, suspicious({ account: { chargebacks: 1 } }), ORDER)).toMatchObject({ decision: 'decline', evidence: 'account_fraud' });
    expect(evaluateNewCard(model, suspicious({ device: { fraud: 2 } }), ORDER)).toMatchObject({ decision: 'decline', evidence: 'device_fraud' });
  });

  it('velocity across many cards on one account, device or IP is evidence (card testing)', () => {
    const at = (accountDay: number, deviceDay = 1, ipHour = 1) => fraudEvidence(suspicious({ distinctCards: { accountDay, deviceDay, ipHour } }));
    expect(at(CARD_VELOCITY_LIMITS.accountDay - 1)).toBeNull();
    expect(at(CARD_VELOCITY_LIMITS.accountDay)).toBe('card_velocity');
    expect(at(1, CARD_VELOCITY_LIMITS.deviceDay)).toBe('card_velocity');
    expect(at(1, 1, CARD_VELOCITY_LIMITS.ipHour)).toBe('ip_velocity');
    expect(evaluateNewCard(model, suspicious({ distinctCards: { accountDay: 8, deviceDay: 8, ipHour: 8 } }), ORDER)).toMatchObject({ decision: 'decline', evidence: 'card_velocity' });
  });

  it('card testing on one account or device declines at any level; many cards on one IP only at a low level', () => {
    const good = (distinctCards: TrustContext['environment']['distinctCards']): TrustContext => ({
      now: NOW,
      account: { createdAt: NOW - 365 * DAY, successes: 10, failures: 0, chargebacks: 0, fraud: 0 },
      device: { seenWithAccount: true, accounts: 1, fraud: 0 },
      environment: { ipCountry: 'DE', cardCountry: 'DE', accountsOnIp: 1, distinctCards, attempts: { accountHour: 0, accountDay: 1, cardHour: 0, cardDay: 0, ipHour: 0, ipDay: 1 } },
    });
    const byAccount = evaluateNewCard(model, good({ accountDay: CARD_VELOCITY_LIMITS.accountDay, deviceDay: 1, ipHour: 1 }), ORDER);
    expect(['high', 'medium']).toContain(byAccount.level);
    expect(byAccount).toMatchObject({ decision: 'decline', reason: 'fraud_signal', evidence: 'card_velocity' });
    expect(evaluateNewCard(model, good({ accountDay: 1, deviceDay: CARD_VELOCITY_LIMITS.deviceDay, ipHour: 1 }), ORDER)).toMatchObject({ decision: 'decline', evidence: 'card_velocity' });
    // A shared IP (carrier NAT, an office) with many cards: 3-D Secure at a good level, a decline only at a low one.
    expect(evaluateNewCard(model, good({ accountDay: 1, deviceDay: 1, ipHour: CARD_VELOCITY_LIMITS.ipHour }), ORDER)).toMatchObject({ decision: 'review', reason: 'fraud_signal', evidence: 'ip_velocity', promptCode: '3ds_required' });
    expect(evaluateNewCard(model, suspicious({ distinctCards: { accountDay: 1, deviceDay: 1, ipHour: CARD_VELOCITY_LIMITS.ipHour } }), ORDER)).toMatchObject({ decision: 'decline', evidence: 'ip_velocity' });
  });

  it('fraud evidence earlier in the checkout (a lost, stolen or fraud answer to another card) asks for 3-D Secure, never declines by itself', () => {
    const checkout = { fraudOutcomes: 1 };
    // At the blocking level: without checkout evidence trust_too_low, with it fraud_signal; both 3-D Secure.
    expect(evaluateNewCard(model, suspicious(), ORDER, {}, undefined, checkout)).toMatchObject({ decision: 'review', reason: 'fraud_signal', evidence: 'checkout_fraud', promptCode: '3ds_required', level: 'block' });
    // A clean new customer otherwise approved within the limit.
    const clean: TrustContext = {
      now: NOW,
      account: { createdAt: NOW, successes: 0, failures: 0, chargebacks: 0, fraud: 0 },
      device: { seenWithAccount: true, accounts: 1, fraud: 0 },
      environment: { ipCountry: 'DE', cardCountry: 'DE', accountsOnIp: 1, attempts: { accountHour: 0, accountDay: 0, cardHour: 0, cardDay: 0, ipHour: 0, ipDay: 0 } },
    };
    expect(evaluateNewCard(model, clean, ORDER)).toMatchObject({ decision: 'approve', reason: 'trust_ok' });
    expect(evaluateNewCard(model, clean, ORDER, {}, undefined, checkout)).toMatchObject({ decision: 'review', reason: 'fraud_signal', evidence: 'checkout_fraud' });
    // Stronger evidence still decides first: account fraud at a low level declines.
    expect(evaluateNewCard(model, suspicious({ account: { fraud: 1 } }), ORDER, {}, undefined, checkout)).toMatchObject({ decision: 'decline', evidence: 'account_fraud' });
  });

  it('a retry of a card this checkout already sent to a gateway keeps its answer for no more than that amount, unless fraud evidence came', () => {
    // The lowest level (its own retries count as velocity) alone would ask for 3-D Secure.
    expect(evaluateNewCard(model, suspicious(), ORDER)).toMatchObject({ decision: 'review', reason: 'trust_too_low' });
    expect(evaluateNewCard(model, suspicious(), ORDER, {}, undefined, { fraudOutcomes: 0, cardAttemptedAmount: ORDER.amount })).toMatchObject({ decision: 'approve', reason: 'trust_retry', promptCode: null, level: 'block' });
    // A larger basket than was attempted is asked again; so is any fraud evidence.
    expect(evaluateNewCard(model, suspicious(), ORDER, {}, undefined, { fraudOutcomes: 0, cardAttemptedAmount: ORDER.amount - 1 })).toMatchObject({ decision: 'review', reason: 'trust_too_low' });
    expect(evaluateNewCard(model, suspicious(), ORDER, {}, undefined, { fraudOutcomes: 1, cardAttemptedAmount: ORDER.amount })).toMatchObject({ decision: 'review', reason: 'fraud_signal', evidence: 'checkout_fraud' });
    expect(evaluateNewCard(model, suspicious({ distinctCards: { accountDay: 8, deviceDay: 8, ipHour: 1 } }), ORDER, {}, undefined, { fraudOutcomes: 0, cardAttemptedAmount: ORDER.amount })).toMatchObject({ decision: 'decline', evidence: 'card_velocity' });
    expect(evaluateNewCard(model, suspicious(), ORDER, {}, { successes: 0, fraud: 1 }, { fraudOutcomes: 0, cardAttemptedAmount: ORDER.amount })).toMatchObject({ decision: 'decline', evidence: 'card_fraud' });
  });

  it('fraud evidence at a good trust level asks for 3-D Secure rather than declining', () => {
    const good: TrustContext = {
      now: NOW,
      account: { createdAt: NOW - 365 * DAY, successes: 10, failures: 0, chargebacks: 1, fraud: 0 },
      device: { seenWithAccount: true, accounts: 1, fraud: 0 },
      environment: { ipCountry: 'DE', cardCountry: 'DE', accountsOnIp: 1, attempts: { accountHour: 0, accountDay: 1, cardHour: 0, cardDay: 0, ipHour: 0, ipDay: 1 } },
    };
    const d = evaluateNewCard(model, good, ORDER);
    expect(['high', 'medium']).toContain(d.level);
    expect(d).toMatchObject({ decision: 'review', reason: 'fraud_signal', evidence: 'account_fraud', promptCode: '3ds_required' });
  });
});

describe('trust signals: card velocity and false declines (real SQLite file)', () => {
  const sql = sqliteStorageEachTest('trust-policy-');
  let signals: TrustSignals | null = null;
  afterEach(async () => {
    await signals?.close();
    signals = null;
  });
  // flushMs: the write-behind queue is exercised (queued attempts must count too) unless 0.
  function open(flushMs: number): TrustSignals {
    signals = new TrustSignals(sql.db, crypto.randomBytes(32), { flushMs });
    return signals;
  }
  const token = () => new Uint8Array(crypto.randomBytes(16));

  it.each([0, 60_000])('counts distinct cards per account in a day, the attempt itself included (flushMs %i)', async (flushMs) => {
    const s = open(flushMs);
    const same = token();
    for (let i = 0; i < 3; i++) await s.recordAttempt({ merchant: 'm', orderId: `o${i}`, token: same, accountId: 'acct', deviceId: 'dev', ip: '192.0.2.1', at: NOW - 100 + i }, null);
    expect((await s.context({ merchant: 'm', orderId: 'x', token: same, accountId: 'acct', at: NOW })).environment.distinctCards).toMatchObject({ accountDay: 1 });
    for (let i = 0; i < 5; i++) await s.recordAttempt({ merchant: 'm', orderId: `p${i}`, token: token(), accountId: 'acct', deviceId: 'dev', ip: '192.0.2.1', at: NOW - 50 + i }, null);
    expect((await s.context({ merchant: 'm', orderId: 'y', token: token(), accountId: 'acct', deviceId: 'dev', ip: '192.0.2.1', at: NOW })).environment.distinctCards).toEqual({ accountDay: 7, deviceDay: 7, ipHour: 7 });
    // Older than a day does not count; another merchant's account of the same id is another account.
    expect((await s.context({ merchant: 'm', orderId: 'z', token: token(), accountId: 'acct', at: NOW + 2 * DAY })).environment.distinctCards?.accountDay).toBe(1);
    expect((await s.context({ merchant: 'other', orderId: 'z', token: token(), accountId: 'acct', at: NOW })).environment.distinctCards?.accountDay).toBe(1);
  });

  it('reports the false-decline rate per reason: declined, then paid later without a fraud report', async () => {
    const s = open(60_000);
    const decline = async (orderId: string, t: Uint8Array, accountId: string, reason: string, at: number, written = false) => {
      await s.recordAttempt({ merchant: 'm', orderId, token: t, accountId, at }, null);
      if (written) await s.flush(); // the decision then lands on the stored row
      await s.recordDecision({ merchant: 'm', orderId, at }, 'decline', reason);
    };
    const paid = async (orderId: string, t: Uint8Array, accountId: string, at: number, type: string | null = null, status: 'success' | 'failure' = 'success') => {
      await s.recordAttempt({ merchant: 'm', orderId, token: t, accountId, at }, null);
      await s.recordOutcome({ merchant: 'm', orderId, status, type, at: at + 1 });
    };
    // fraud_signal: 4 declines; one card paid later (false), one account paid with another card
    // (false), one paid but then had a fraud report (not false), one never came back.
    const [c1, c2, c3, c4] = [token(), token(), token(), token()];
    await decline('d1', c1, 'a1', 'fraud_signal', NOW);
    await decline('d2', c2, 'a2', 'fraud_signal', NOW, true);
    await decline('d3', c3, 'a3', 'fraud_signal', NOW);
    await decline('d4', c4, 'a4', 'fraud_signal', NOW);
    await paid('p1', c1, 'a1', NOW + 10);
    await paid('p2', token(), 'a2', NOW + 20);
    await paid('p3', c3, 'a3', NOW + 30);
    await paid('f3', c3, 'a3', NOW + 40, 'fraud', 'failure');
    // A decline before the report window is not counted.
    await decline('old', token(), 'a5', 'fraud_signal', NOW - 400 * DAY);
    expect(await s.falseDeclines(NOW - DAY)).toEqual([{ reason: 'fraud_signal', declines: 4, falseDeclines: 2, rate: 0.5 }]);
  });
});
