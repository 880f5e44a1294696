// The accounting on a tiny scenario computed by hand: one deterministic gateway (always accepts,
// never times out), four orders with known cards, and a scripted in-process Precheck.
import { describe, expect, it } from 'vitest';
import { parseScenario, type Scenario } from '../../tools/simulator/scenario.ts';
import type { Market, SimCard, SimCustomer, SimOrder } from '../../tools/simulator/market.ts';
import { runArm, type PrecheckPort, type ReportedOutcome, type VerifyDecision, type VerifyRequest } from '../../tools/simulator/engine.ts';
import { armMetrics, compareArms } from '../../tools/simulator/stats.ts';
import { failedAttemptBreakdown, failedAttemptMarkdown } from '../../tools/simulator/breakdown.ts';

const scenario: Scenario = parseScenario(
  {
    name: 'tiny',
    seed: 1,
    orders: 4,
    durationHours: 1,
    merchant: { country: 'DE', currency: 'EUR' },
    amounts: { median: 1000, sigma: 0, min: 1, max: 100000 },
    cards: {
      brands: { visa: 1 },
      issuerCountries: { DE: 1 },
      states: { good: 1 },
      lowBalance: { median: 100, sigma: 0 },
      overLimit: { median: 100, sigma: 0 },
      issuerUnavailableRate: 0,
      cardsPerCustomer: { '1': 1 },
    },
    // Deterministic customers: never retry the same card, always switch when they can.
    customers: {
      repeatShare: 0,
      switchCardWhenPrompted: 1,
      retrySameAfterDecline: 0,
      switchCardAfterDecline: 1,
      maxAttemptsPerOrder: 4,
      enableInternationalWhenPrompted: 0,
      reduceAmountWhenPrompted: 0,
      reduceAmountTo: 0.5,
      retryLaterWhenPrompted: 0,
      retryLaterMinutes: 0,
      threeDsCompletion: 1,
    },
    fraud: {
      share: 0,
      fraudsterReuse: 0,
      cardsPerOrder: 1,
      cardStates: { fraud: 1 },
      issuerApproveRate: 1,
      threeDsPassRate: 0,
      switchCardWhenPrompted: 1,
      retrySameAfterDecline: 0,
      switchCardAfterDecline: 1,
      maxAttemptsPerOrder: 4,
    },
    // fee = 10 + 1% of the amount, every attempt; acceptance 100%, no technical failures, no screening
    gateways: [{ name: 'g1', feeFixed: 10, feeBps: 100, successRates: { default: 1 }, fraudScreen: 0, technicalFailureRate: 0 }],
  },
  'tiny',
);

let n = 0;
const card = (state: SimCard['state'], extra: Partial<SimCard> = {}): SimCard => ({
  id: `c${++n}`,
  pan: '4000000000000002', // never sent anywhere in this test
  expMonth: 12,
  expYear: 2099,
  brand: 'visa',
  issuerCountry: 'DE',
  state,
  ceiling: null,
  declineCode: state === 'stolen_lost' ? '43' : null,
  fraudster: state === 'fraud',
  ...extra,
});
const customer = (id: string, cards: SimCard[], fraudster = false): SimCustomer => ({ id, fraudster, country: 'DE', deviceId: id, ip: '10.0.0.1', cards });
const order = (i: number, amount: number, cards: SimCard[], fraud = false): SimOrder => ({
  id: `o${i}`,
  index: i - 1,
  t: i * 60,
  customer: customer(`u${i}`, cards, fraud),
  fraud,
  currency: 'EUR',
  amount,
  amountReporting: amount,
  cards,
});

const good1 = card('good');
const stolen = card('stolen_lost');
const good2 = card('good');
const good3 = card('good');
const fraudCard = card('fraud');
const market: Market = {
  scenario,
  cards: [good1, stolen, good2, good3, fraudCard],
  customers: [],
  orders: [
    order(1, 1000, [good1]), // pays first time in both arms
    order(2, 2000, [stolen, good2]), // A: 43 then pays with the second card; B: declined up front, second card pays
    order(3, 500, [good3]), // B wrongly declines a good card: a false decline and a lost order
    order(4, 3000, [fraudCard], true), // A: the issuer approves the fraud; B: declined
  ],
};

/** Scripted Precheck: decline these cards, approve the rest to g1. */
class Scripted implements PrecheckPort {
  readonly reports: ReportedOutcome[] = [];
  readonly asked: string[] = [];
  constructor(private readonly decline: Set<string>) {}
  async verify(req: VerifyRequest): Promise<VerifyDecision> {
    this.asked.push(`${req.orderId}:${req.card.id}`);
    return this.decline.has(req.card.id)
      ? { decision: 'decline', reason: 'restricted', promptCode: 'use_another_card', gateway: null }
      : { decision: 'approve', reason: 'known_good', promptCode: null, gateway: 'g1' };
  }
  async report(o: ReportedOutcome): Promise<void> {
    this.reports.push(o);
  }
}

describe('simulator accounting (hand-computed)', () => {
  it('counts attempts, fees, success, false declines and fraud per arm', async () => {
    const a = await runArm(market, null);
    const port = new Scripted(new Set([stolen.id, good3.id, fraudCard.id]));
    const b = await runArm(market, port);

    // Arm A by hand: fees 10 + 1%: o1 20; o2 30 + 30; o3 15; o4 40.
    expect(a.map((r) => [r.attempts, r.fees, r.paid])).toEqual([
      [1, 20, true],
      [2, 60, true],
      [1, 15, true],
      [1, 40, true],
    ]);
    expect(a[1].attemptLog.map((x) => x.code)).toEqual(['43', '00']);
    const A = armMetrics(a);
    expect(A).toMatchObject({ legitOrders: 3, fraudOrders: 1, paidLegit: 3, successRate: 1, attempts: 5, fees: 135, feesPerPaid: 45, fraudLetThrough: 1, verifies: 0, falseDeclines: 0 });
    expect(A.attemptsPerPaid).toBeCloseTo(5 / 3, 12);

    // Arm B by hand: o1 20; o2 only the good card, 30; o3 declined (false decline, no other card); o4 declined.
    expect(b.map((r) => [r.attempts, r.fees, r.paid, r.verifies, r.declines, r.falseDeclines])).toEqual([
      [1, 20, true, 1, 0, 0],
      [1, 30, true, 2, 1, 0],
      [0, 0, false, 1, 1, 1],
      [0, 0, false, 1, 1, 0],
    ]);
    const B = armMetrics(b);
    expect(B).toMatchObject({ paidLegit: 2, attempts: 2, fees: 50, feesPerPaid: 25, attemptsPerPaid: 1, fraudLetThrough: 0, verifies: 5, declines: 3, falseDeclines: 1, payableVerifies: 3 });
    expect(B.successRate).toBeCloseTo(2 / 3, 12);
    expect(B.falseDeclineRate).toBeCloseTo(1 / 3, 12);
    expect(port.asked).toEqual(['o1:c1', 'o2:c2', 'o2:c3', 'o3:c4', 'o4:c5']);

    // Every gateway attempt of arm B was reported, with its order, card, gateway and result.
    expect(port.reports.map((o) => [o.orderId, o.card.id, o.gateway, o.status, o.code, o.attempt, o.amount])).toEqual([
      ['o1', 'c1', 'g1', 'success', null, 1, 1000],
      ['o2', 'c3', 'g1', 'success', null, 1, 2000],
    ]);

    // Point estimates of the comparison are the hand-computed differences.
    const c = compareArms(a, b, { resamples: 200 });
    expect(c.successRate.estimate).toBeCloseTo(2 / 3 - 1, 12);
    expect(c.feesPerPaid.estimate).toBeCloseTo(25 - 45, 12);
    expect(c.attemptsPerPaid.estimate).toBeCloseTo(1 - 5 / 3, 12);
    expect(c.fraudLetThroughRate.estimate).toBe(-1);
  });

  it('follows review prompts: 3-D Secure passes for a cardholder, fails for a fraudster', async () => {
    const review: PrecheckPort = {
      async verify() {
        return { decision: 'review', reason: 'trust_limit_exceeded', promptCode: '3ds_required', gateway: 'g1' };
      },
      async report() {},
    };
    const b = await runArm(market, review);
    // threeDsCompletion = 1: every legitimate order proceeds; threeDsPassRate = 0: the fraudster stops.
    expect(b.map((r) => r.paid)).toEqual([true, true, true, false]);
    expect(b[3].attempts).toBe(0);
    expect(armMetrics(b).reviews).toBe(5);
  });

  it("splits failed attempts by what Precheck knew: a card never seen, one from an earlier order, the same card again", async () => {
    // Customers retry the same card after a decline, two attempts at most: a lost card fails twice per order.
    const retrying: Scenario = { ...scenario, customers: { ...scenario.customers, retrySameAfterDecline: 1, switchCardAfterDecline: 0, maxAttemptsPerOrder: 2 } };
    const lost = card('stolen_lost');
    const m: Market = { scenario: retrying, cards: [lost, good1], customers: [], orders: [order(1, 1000, [lost]), order(2, 1000, [lost]), order(3, 1000, [good1])] };
    // The first answer of each order comes from the device, the next one from the network as a 3-D Secure review.
    const port: PrecheckPort = {
      async verify(req) {
        const first = !seenOrders.has(req.orderId);
        seenOrders.add(req.orderId);
        return first ? { decision: 'approve', reason: 'known_good', promptCode: null, gateway: 'g1', stage: 'local' } : { decision: 'review', reason: 'trust_limit_exceeded', promptCode: '3ds_required', gateway: 'g1', stage: 'network' };
      },
      async report() {},
    };
    const seenOrders = new Set<string>();
    const a = await runArm(m, null);
    const b = await runArm(m, port);
    expect(b.map((r) => r.attemptLog.map((x) => [x.code, x.cardAttempt, x.answer, x.stage]))).toEqual([
      [['43', 1, 'approve:known_good', 'local'], ['43', 2, 'review:trust_limit_exceeded', 'network']],
      [['43', 1, 'approve:known_good', 'local'], ['43', 2, 'review:trust_limit_exceeded', 'network']],
      [['00', 1, 'approve:known_good', 'local']],
    ]);
    expect(a[0].attemptLog[0].answer).toBeUndefined();
    const rows = failedAttemptBreakdown(a, b);
    expect(rows).toEqual([{ code: '43', failedA: 4, failedB: 4, neverSeen: 1, earlierOrder: 1, repeatInOrder: 2, afterLocal: 2, afterNetwork: 2, afterReview: 2 }]);
    expect(failedAttemptMarkdown(rows)).toContain('| **all** | 4 | 4 | 1 | 1 | 2 | 2 | 2 | 2 |');
  });

  it('does not charge technical failures when the scenario says so', async () => {
    const down: Scenario = { ...scenario, chargeTechnicalFailures: false, gateways: [{ ...scenario.gateways[0], outages: [{ fromHour: 0, toHour: 10, failureRate: 1 }] }] };
    const a = await runArm({ ...market, scenario: down }, null);
    expect(a.every((r) => !r.paid)).toBe(true);
    expect(a.every((r) => r.fees === 0 && r.attemptLog.every((x) => x.code === 'TIMEOUT' && x.type === 'technical'))).toBe(true);
  });
});
