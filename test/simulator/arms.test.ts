// Both arms play the same orders: same ids, amounts and cards, and where their paths coincide
// the same customer and gateway draws.
import fs from 'node:fs';
import path from 'node:path';
import cardValidator from 'card-validator';
import { describe, expect, it } from 'vitest';
import { parseScenario } from '../../tools/simulator/scenario.ts';
import { buildMarket } from '../../tools/simulator/market.ts';
import { runArm, type PrecheckPort, type ReportedOutcome, type VerifyRequest } from '../../tools/simulator/engine.ts';

const raw = JSON.parse(fs.readFileSync(path.resolve(import.meta.dirname, '../../bench/scenarios/fraud-wave.json'), 'utf8'));
const scenario = parseScenario(raw, 'fraud-wave.json');
const N = 300;

/** Records what the Precheck arm was asked, and answers with a fixed policy. */
class RecordingPort implements PrecheckPort {
  readonly verifies: VerifyRequest[] = [];
  readonly reports: ReportedOutcome[] = [];
  constructor(private readonly policy: (req: VerifyRequest) => Awaited<ReturnType<PrecheckPort['verify']>>) {}
  async verify(req: VerifyRequest) {
    this.verifies.push(req);
    return this.policy(req);
  }
  async report(o: ReportedOutcome) {
    this.reports.push(o);
  }
}

const fingerprint = (m: ReturnType<typeof buildMarket>) =>
  m.orders.map((o) => ({ id: o.id, t: o.t, amount: o.amount, currency: o.currency, fraud: o.fraud, cards: o.cards.map((c) => `${c.id}/${c.pan}/${c.state}`) }));

describe('simulator arms', () => {
  it('generates the market deterministically from the seed', () => {
    const a = buildMarket(scenario, { orders: N });
    const b = buildMarket(scenario, { orders: N });
    expect(fingerprint(a)).toEqual(fingerprint(b));
    const c = buildMarket({ ...scenario, seed: scenario.seed + 1 }, { orders: N });
    expect(fingerprint(c)).not.toEqual(fingerprint(a));
    // fraud wave present, repeat customers present
    expect(a.orders.some((o) => o.fraud)).toBe(true);
    expect(new Set(a.orders.map((o) => o.customer.id)).size).toBeLessThan(N);
  });

  it('makes card numbers the bridge accepts (Luhn, brand length), all distinct', () => {
    const m = buildMarket(scenario, { orders: N });
    const pans = new Set<string>();
    for (const c of m.cards) {
      const v = cardValidator.number(c.pan);
      expect(v.isValid).toBe(true);
      expect(v.card?.type).toBe(c.brand);
      pans.add(c.pan);
    }
    expect(pans.size).toBe(m.cards.length);
  });

  it('plays the same orders in the same order with the same cards in both arms', async () => {
    const market = buildMarket(scenario, { orders: N });
    const port = new RecordingPort((req) => (req.card.state === 'good' ? { decision: 'approve', reason: 'x', promptCode: null, gateway: 'beta' } : { decision: 'decline', reason: 'x', promptCode: 'use_another_card', gateway: null }));
    const a = await runArm(market, null);
    const b = await runArm(market, port, { orderIdPrefix: 'run1-' });
    expect(a.map((r) => r.orderId)).toEqual(market.orders.map((o) => o.id));
    expect(b.map((r) => r.orderId)).toEqual(a.map((r) => r.orderId));
    // Every verification names the order's own card list and amount.
    const byId = new Map(market.orders.map((o) => [o.id, o]));
    for (const v of port.verifies) {
      const o = byId.get(v.order.id)!;
      expect(v.orderId).toBe(`run1-${o.id}`);
      expect(o.cards.map((c) => c.id)).toContain(v.card.id);
      expect(v.amount).toBeLessThanOrEqual(o.amount);
    }
    // The cards each arm used come from the same order card lists, in list order.
    for (let i = 0; i < N; i++) {
      const list = market.orders[i].cards.map((c) => c.id);
      for (const used of [a[i].cardsUsed, b[i].cardsUsed]) expect(list.slice(0, used.length)).toEqual(used);
    }
    // The two arms really differ (Precheck declined something and saved attempts).
    expect(b.reduce((s, r) => s + r.attempts, 0)).toBeLessThan(a.reduce((s, r) => s + r.attempts, 0));
  });

  it('gives identical results when Precheck approves everything without a gateway (paths coincide → same draws)', async () => {
    const market = buildMarket(scenario, { orders: N });
    const port = new RecordingPort(() => ({ decision: 'approve', reason: 'x', promptCode: null, gateway: null }));
    const a = await runArm(market, null);
    const b = await runArm(market, port);
    // B's attempts also record the answer they followed (and its stage); the rest is the same
    const strip = (rs: typeof a) => rs.map(({ verifies: _v, payableVerifies: _p, precheckLog: _l, attemptLog, ...r }) => ({ ...r, attemptLog: attemptLog.map(({ answer: _a, stage: _s, ...x }) => x) }));
    expect(strip(b)).toEqual(strip(a));
    // and every attempt was reported, with 1-based attempt numbers per order
    expect(port.reports.length).toBe(a.reduce((s, r) => s + r.attempts, 0));
    const first = port.reports.filter((o) => o.attempt === 1).length;
    expect(first).toBe(a.filter((r) => r.attempts > 0).length);
  });

  it('is reproducible run to run (same scenario → same arm results)', async () => {
    const m1 = buildMarket(scenario, { orders: 120 });
    const m2 = buildMarket(scenario, { orders: 120 });
    expect(await runArm(m2, null)).toEqual(await runArm(m1, null));
  });
});
