import { describe, expect, it } from 'vitest';
import { attemptFee, cardCanPay, decideAttempt, inOutage, rateKey, successRate, type AttemptDraws } from '../../tools/simulator/gateway.ts';
import type { SimCard } from '../../tools/simulator/market.ts';
import type { GatewaySpec } from '../../tools/simulator/scenario.ts';

const gw: GatewaySpec = {
  name: 'g',
  feeFixed: 12,
  feeBps: 25,
  successRates: { default: 0.9, 'cross-border': 0.8, visa: 0.92, 'visa:cross-border': 0.7 },
  fraudScreen: 0.5,
  technicalFailureRate: 0.01,
  drift: [
    { fromHour: 10, toHour: 20, delta: -0.2, segment: 'cross-border' },
    { fromHour: 0, toHour: 10, delta: 0.05 },
  ],
  outages: [{ fromHour: 5, toHour: 6, failureRate: 0.9 }],
};
const card = (state: SimCard['state'], extra: Partial<SimCard> = {}): SimCard => ({
  id: 'c1', pan: '4000000000000002', expMonth: 1, expYear: 2099, brand: 'mastercard', issuerCountry: 'DE', state, ceiling: null, declineCode: null, fraudster: state === 'fraud', ...extra,
});
const draws = (o: Partial<AttemptDraws> = {}): AttemptDraws => ({ outage: 0.99, technical: 0.99, screen: 0.99, issuer: 0.99, code: 0.1, acceptance: 0.01, ...o });
const p = { issuerUnavailableRate: 0.5, fraudIssuerApproveRate: 0.4 };
const ctx = (c: SimCard, o: { hour?: number; amount?: number; crossBorder?: boolean; intl?: boolean } = {}) => ({ card: c, hour: o.hour ?? 0, amountReporting: o.amount ?? 1000, crossBorder: o.crossBorder ?? false, intlEnabled: o.intl ?? false });

describe('emulated gateway', () => {
  it('picks the most specific success-rate key: brand:region, brand, region, default', () => {
    expect(rateKey(gw, 'visa', true)).toBe('visa:cross-border');
    expect(rateKey(gw, 'visa', false)).toBe('visa');
    expect(rateKey(gw, 'mastercard', true)).toBe('cross-border');
    expect(rateKey(gw, 'mastercard', false)).toBe('default');
  });

  it('applies drift as a linear ramp that holds, only to its segment', () => {
    expect(successRate(gw, 'mastercard', false, 0)).toBeCloseTo(0.9, 12);
    expect(successRate(gw, 'mastercard', false, 5)).toBeCloseTo(0.925, 12); // half of +0.05
    expect(successRate(gw, 'mastercard', false, 30)).toBeCloseTo(0.95, 12); // held
    expect(successRate(gw, 'mastercard', true, 15)).toBeCloseTo(0.8 + 0.05 - 0.1, 12); // both drifts
    expect(successRate(gw, 'mastercard', true, 40)).toBeCloseTo(0.8 + 0.05 - 0.2, 12);
    expect(successRate({ ...gw, drift: [{ fromHour: 0, toHour: 1, delta: 0.5 }] }, 'visa', false, 2)).toBe(1); // clamped
  });

  it('fails technically inside outages and at the everyday rate', () => {
    expect(inOutage(gw, 5.5)).toBe(0.9);
    expect(inOutage(gw, 6)).toBe(0);
    expect(decideAttempt(gw, ctx(card('good'), { hour: 5.5 }), draws({ outage: 0.5 }), p)).toEqual({ status: 'failure', code: 'TIMEOUT', type: 'technical' });
    expect(decideAttempt(gw, ctx(card('good'), { hour: 4 }), draws({ outage: 0.5 }), p).status).toBe('success');
    expect(decideAttempt(gw, ctx(card('good')), draws({ technical: 0.005 }), p).type).toBe('technical');
  });

  it('answers from the hidden state with realistic codes and types', () => {
    const d = draws();
    expect(decideAttempt(gw, ctx(card('stolen_lost', { declineCode: '41' })), d, p)).toEqual({ status: 'failure', code: '41', type: 'hard' });
    expect(decideAttempt(gw, ctx(card('low_balance', { ceiling: 500 }), { amount: 1000 }), d, p)).toEqual({ status: 'failure', code: '51', type: 'soft' });
    expect(decideAttempt(gw, ctx(card('low_balance', { ceiling: 500 }), { amount: 400 }), d, p).status).toBe('success');
    expect(decideAttempt(gw, ctx(card('over_limit', { ceiling: 500 }), { amount: 1000 }), d, p).code).toBe('61');
    expect(decideAttempt(gw, ctx(card('over_limit', { ceiling: 500 }), { amount: 1000 }), draws({ code: 0.9 }), p).code).toBe('65');
    const intl = card('intl_disabled', { declineCode: '57' });
    expect(decideAttempt(gw, ctx(intl, { crossBorder: true }), d, p)).toEqual({ status: 'failure', code: '57', type: 'hard' });
    expect(decideAttempt(gw, ctx(intl, { crossBorder: false }), d, p).status).toBe('success');
    expect(decideAttempt(gw, ctx(intl, { crossBorder: true, intl: true }), d, p).status).toBe('success');
    expect(decideAttempt(gw, ctx(card('issuer_unavailable')), draws({ issuer: 0.2 }), p)).toEqual({ status: 'failure', code: '91', type: 'soft' });
    expect(decideAttempt(gw, ctx(card('issuer_unavailable')), draws({ issuer: 0.7 }), p).status).toBe('success');
  });

  it('screens fraud at the gateway, then lets the issuer approve some', () => {
    expect(decideAttempt(gw, ctx(card('fraud')), draws({ screen: 0.2 }), p)).toEqual({ status: 'failure', code: '59', type: 'fraud' });
    expect(decideAttempt(gw, ctx(card('fraud')), draws({ issuer: 0.3 }), p).status).toBe('success');
    expect(decideAttempt(gw, ctx(card('fraud')), draws({ issuer: 0.6 }), p)).toEqual({ status: 'failure', code: '05', type: 'soft' });
  });

  it('declines payable cards with 05 above the acceptance rate', () => {
    expect(decideAttempt(gw, ctx(card('good')), draws({ acceptance: 0.89 }), p).status).toBe('success');
    expect(decideAttempt(gw, ctx(card('good')), draws({ acceptance: 0.91 }), p)).toEqual({ status: 'failure', code: '05', type: 'soft' });
  });

  it('knows which cards could pay an order, and charges fixed + bps per attempt', () => {
    expect(cardCanPay(card('good'), 1, true, false)).toBe(true);
    expect(cardCanPay(card('low_balance', { ceiling: 100 }), 101, false, false)).toBe(false);
    expect(cardCanPay(card('intl_disabled'), 1, true, false)).toBe(false);
    expect(cardCanPay(card('intl_disabled'), 1, true, true)).toBe(true);
    expect(cardCanPay(card('fraud'), 1, false, false)).toBe(false);
    expect(cardCanPay(card('stolen_lost'), 1, false, false)).toBe(false);
    expect(attemptFee(gw, 10_000)).toBe(12 + 25);
    expect(attemptFee(gw, 0)).toBe(12);
  });
});
