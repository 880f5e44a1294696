// The simulation engine: plays the market's orders through one arm. The arm is either the
// baseline (no Precheck; every attempt to the shop's default gateway, by default its single best
// one — see baseline.ts — or a uniformly random gateway per attempt) or Precheck (verify before
// every attempt, follow the answer, report every gateway outcome; an answer without a gateway
// goes to the same default gateway). Precheck is reached through the
// `PrecheckPort` interface, so the HTTP bridge client is one implementation and tests can script
// another in-process.
//
// Randomness: every customer choice and every gateway draw comes from a per-order sub-stream keyed
// by what it decides (DrawBook), never from a shared stream, so a path taken in one arm cannot shift
// the other arm's draws; where the two arms' paths coincide they see identical draws.
import { DrawBook, Rng } from './prng.ts';
import { attemptFee, cardCanPay, decideAttempt, type GatewayOutcome } from './gateway.ts';
import type { Market, SimCard, SimOrder } from './market.ts';
import type { Behaviour, GatewaySpec, Scenario } from './scenario.ts';
import type { FinalDecision } from '../../rules/decide.ts';
import type { HistoryStatus } from '../../protocol/dataset/types.ts';

export interface VerifyRequest {
  /** Order id as the arm sends it (the run may prefix the market's id). */
  orderId: string;
  order: SimOrder;
  card: SimCard;
  /** Current amount in order-currency minor units (a customer may have lowered it). */
  amount: number;
  currency: string;
  merchantCountry: string;
  /** Unix seconds of the simulated moment. */
  at: number;
}

export interface VerifyDecision {
  decision: FinalDecision;
  reason: string;
  promptCode: string | null;
  gateway: string | null;
  stage?: string;
}

export interface ReportedOutcome {
  orderId: string;
  order: SimOrder;
  card: SimCard;
  gateway: string;
  status: HistoryStatus;
  code: string | null;
  type: string | null;
  /** Attempt number within the order (1-based): part of the bridge's idempotency key. */
  attempt: number;
  amount: number;
  currency: string;
  at: number;
}

export interface PrecheckPort {
  verify(req: VerifyRequest): Promise<VerifyDecision>;
  report(outcome: ReportedOutcome): Promise<void>;
  /** Moves the simulated clock the service sees (optional). */
  advanceTo?(unixSeconds: number): void;
}

export interface AttemptRecord {
  card: string;
  gateway: string;
  status: HistoryStatus;
  code: string | null;
  type: string | null;
  fee: number;
  /** Arm B: the Precheck answer the attempt followed (decision:reason) and its stage; absent in arm A. */
  answer?: string;
  stage?: string | null;
  /** The how-many-th attempt of this card in this order (1 = its first). */
  cardAttempt?: number;
}

export interface OrderResult {
  orderId: string;
  fraud: boolean;
  paid: boolean;
  /** Amount paid (reporting minor units; 0 when not paid). */
  paidAmount: number;
  attempts: number;
  fees: number;
  verifies: number;
  declines: number;
  reviews: number;
  /** Precheck declines of a legitimate card that could have paid this order. */
  falseDeclines: number;
  /** Precheck verifications of legitimate cards that could have paid (false-decline denominator). */
  payableVerifies: number;
  verifyErrors: number;
  attemptLog: AttemptRecord[];
  /** Arm B: every Precheck answer, in order (card id, decision, reason, prompt code, gateway, stage, seconds since the run's start). */
  precheckLog: Array<{ card: string; decision: string; reason: string; prompt: string | null; gateway: string | null; stage: string | null; t: number }>;
  /** False declines by the decline's reason. */
  falseDeclineReasons: Record<string, number>;
  cardsUsed: string[];
  end: 'paid' | 'gave_up' | 'max_attempts';
}

/** An order before its first attempt: nothing paid, nothing counted. */
export function newOrderResult(orderId: string, fraud: boolean): OrderResult {
  return {
    orderId,
    fraud,
    paid: false,
    paidAmount: 0,
    attempts: 0,
    fees: 0,
    verifies: 0,
    declines: 0,
    reviews: 0,
    falseDeclines: 0,
    payableVerifies: 0,
    verifyErrors: 0,
    attemptLog: [],
    precheckLog: [],
    falseDeclineReasons: {},
    cardsUsed: [],
    end: 'gave_up',
  };
}

export interface ArmOptions {
  /** Prefix for order ids sent to Precheck (unique per run on a long-lived bridge). */
  orderIdPrefix?: string;
  /** Unix seconds of the run's simulated hour 0. */
  startAt?: number;
  /** Gateway of an attempt nobody chose (no Precheck, or an answer without one); null/absent = uniformly random. */
  defaultGateway?: string | null;
  onOrder?: (r: OrderResult, i: number) => void;
}

/** Length of an issuer's unavailability spell (91/96), seconds; see README "issuer_unavailable". */
export const ISSUER_SPELL_SECONDS = 900;
/** The spell slot of a simulated moment (seconds since the run's start). */
export const issuerSpell = (t: number): number => Math.floor(t / ISSUER_SPELL_SECONDS);

const MAX_STEPS_FACTOR = 4; // verifies per order at most: factor × maxAttemptsPerOrder (stops prompt loops)

/** Precheck prompts → what the customer can do about them. */
function promptKind(code: string | null): 'enable_international' | 'smaller_amount' | 'later' | 'authenticate' | 'other_card' {
  switch (code) {
    case 'enable_international':
      return 'enable_international';
    case 'try_smaller_amount':
      return 'smaller_amount';
    case 'try_again_later':
      return 'later';
    case null:
    case '3ds_required':
    case 'authenticate':
    case 'payment_review':
      return 'authenticate';
    default:
      return 'other_card';
  }
}

export class ArmRunner {
  private readonly s: Scenario;
  private readonly byName: Map<string, GatewaySpec>;
  /** Per-arm card state: cardholders who enabled international payments after a prompt. */
  private readonly intlEnabled = new Set<string>();

  constructor(
    private readonly market: Market,
    private readonly precheck: PrecheckPort | null,
    private readonly opts: ArmOptions = {},
  ) {
    this.s = market.scenario;
    this.byName = new Map(this.s.gateways.map((g) => [g.name, g]));
  }

  async run(): Promise<OrderResult[]> {
    const out: OrderResult[] = [];
    for (const order of this.market.orders) {
      const r = await this.runOrder(order);
      out.push(r);
      this.opts.onOrder?.(r, out.length - 1);
    }
    return out;
  }

  async runOrder(order: SimOrder): Promise<OrderResult> {
    const s = this.s;
    const seedBook = new DrawBook(s.seed, order.id);
    const b: Behaviour = order.fraud ? s.fraud : s.customers;
    const orderId = `${this.opts.orderIdPrefix ?? ''}${order.id}`;
    const startAt = this.opts.startAt ?? 0;
    const r = newOrderResult(order.id, order.fraud);
    let cardPos = 0;
    let amount = order.amount;
    let amountReporting = order.amountReporting;
    let t = order.t;
    const perCard = new Map<string, number>();
    let answered: { answer: string; stage: string | null } | null = null;
    const crossBorderOf = (c: SimCard) => c.issuerCountry !== s.merchant.country;

    /** Switch to the next card of the order's list, if the customer has one and wants to. */
    const trySwitch = (p: number, u: number): boolean => {
      if (cardPos + 1 >= order.cards.length || u >= p) return false;
      cardPos++;
      return true;
    };

    for (let step = 0; step < b.maxAttemptsPerOrder * MAX_STEPS_FACTOR; step++) {
      if (r.attempts >= b.maxAttemptsPerOrder) {
        r.end = 'max_attempts';
        break;
      }
      const card = order.cards[cardPos];
      if (!r.cardsUsed.includes(card.id)) r.cardsUsed.push(card.id);
      const crossBorder = crossBorderOf(card);
      let gateway: string | null = null;

      if (this.precheck) {
        const at = startAt + t;
        this.precheck.advanceTo?.(at);
        const canPay = !card.fraudster && cardCanPay(card, amountReporting, crossBorder, this.intlEnabled.has(card.id));
        if (canPay) r.payableVerifies++;
        let d: VerifyDecision;
        r.verifies++;
        try {
          d = await this.precheck.verify({ orderId, order, card, amount, currency: order.currency, merchantCountry: s.merchant.country, at });
        } catch {
          // A shop whose Precheck call fails goes ahead without it (fail open), as most would.
          r.verifyErrors++;
          d = { decision: 'approve', reason: 'verify_error', promptCode: null, gateway: null };
        }
        r.precheckLog.push({ card: card.id, decision: d.decision, reason: d.reason, prompt: d.promptCode, gateway: d.gateway, stage: d.stage ?? null, t });
        answered = { answer: `${d.decision}:${d.reason}`, stage: d.stage ?? null };
        if (d.decision === 'decline') {
          r.declines++;
          if (canPay) {
            r.falseDeclines++;
            r.falseDeclineReasons[d.reason] = (r.falseDeclineReasons[d.reason] ?? 0) + 1;
          }
          if (trySwitch(b.switchCardWhenPrompted, seedBook.u('switch-after-prompt', step))) continue;
          break;
        }
        if (d.decision === 'review') {
          r.reviews++;
          const kind = promptKind(d.promptCode);
          let proceed = false;
          if (kind === 'enable_international') {
            if (!order.fraud && seedBook.u('enable-intl', step) < s.customers.enableInternationalWhenPrompted) {
              this.intlEnabled.add(card.id);
              proceed = true;
            }
          } else if (kind === 'smaller_amount') {
            if (!order.fraud && seedBook.u('reduce-amount', step) < s.customers.reduceAmountWhenPrompted) {
              amount = Math.max(1, Math.round(amount * s.customers.reduceAmountTo));
              amountReporting = Math.max(1, Math.round(amountReporting * s.customers.reduceAmountTo));
              proceed = true;
            }
          } else if (kind === 'later') {
            if (seedBook.u('retry-later', step) < s.customers.retryLaterWhenPrompted) {
              t += Math.round(s.customers.retryLaterMinutes * 60);
              proceed = true;
            }
          } else if (kind === 'authenticate') {
            // 3-D Secure: a cardholder completes it with the scenario's probability; a fraudster
            // rarely can (no access to the cardholder's phone or banking app).
            const pass = order.fraud ? s.fraud.threeDsPassRate : s.customers.threeDsCompletion;
            proceed = seedBook.u('3ds', step) < pass;
          } else {
            // "use another card" / "contact your bank": switch, else insist on this card.
            if (trySwitch(b.switchCardWhenPrompted, seedBook.u('switch-after-prompt', step))) continue;
            proceed = seedBook.u('insist', step) < b.retrySameAfterDecline;
          }
          if (!proceed) {
            if (trySwitch(b.switchCardWhenPrompted, seedBook.u('switch-after-prompt', step))) continue;
            break;
          }
        }
        if (d.gateway !== null && this.byName.has(d.gateway)) gateway = d.gateway;
      }

      // The attempt.
      const attemptNo = r.attempts + 1;
      if (gateway === null && this.opts.defaultGateway && this.byName.has(this.opts.defaultGateway)) gateway = this.opts.defaultGateway;
      if (gateway === null) gateway = s.gateways[Math.floor(seedBook.u('route', attemptNo) * s.gateways.length)].name;
      const g = this.byName.get(gateway)!;
      const nth = (perCard.get(card.id) ?? 0) + 1;
      perCard.set(card.id, nth);
      const draws = seedBook.rng('gateway', card.id, nth, gateway);
      const d = { outage: draws.next(), technical: draws.next(), screen: draws.next(), issuer: draws.next(), code: draws.next(), acceptance: draws.next() };
      // Acceptance is partly a property of the card at this gateway, the same in every order and
      // every attempt (a mixture of two uniforms is uniform, so the gateway's rate is unchanged).
      if (draws.next() < s.declinePersistence) d.acceptance = new Rng(s.seed, 'acceptance', card.id, gateway).next();
      // An unavailable issuer is down for a spell, not per attempt: the same answer for every
      // attempt (any gateway) inside one ISSUER_SPELL_SECONDS slot, a fresh draw in the next. A
      // retry 30 s after a 91 mostly meets the same outage; one after a wait of minutes may not.
      if (card.state === 'issuer_unavailable') d.issuer = new Rng(s.seed, 'issuer-spell', card.id, issuerSpell(t)).next();
      const outcome: GatewayOutcome = decideAttempt(
        g,
        { card, hour: t / 3600, amountReporting, crossBorder, intlEnabled: this.intlEnabled.has(card.id) },
        d,
        { issuerUnavailableRate: s.cards.issuerUnavailableRate, fraudIssuerApproveRate: s.fraud.issuerApproveRate },
      );
      const fee = outcome.type === 'technical' && !s.chargeTechnicalFailures ? 0 : attemptFee(g, amountReporting);
      r.attempts++;
      r.fees += fee;
      r.attemptLog.push({ card: card.id, gateway, status: outcome.status, code: outcome.code, type: outcome.type, fee, cardAttempt: nth, ...(answered ? answered : {}) });
      if (this.precheck) {
        this.precheck.advanceTo?.(startAt + t); // a "try again later" moved time since the verification
        await this.precheck.report({
          orderId,
          order,
          card,
          gateway,
          status: outcome.status,
          code: outcome.status === 'success' ? null : outcome.code,
          type: outcome.type,
          attempt: attemptNo,
          amount,
          currency: order.currency,
          at: startAt + t,
        });
      }
      if (outcome.status === 'success') {
        r.paid = true;
        r.paidAmount = amountReporting;
        r.end = 'paid';
        break;
      }
      // A decline: retry the same card, switch, or give up (one draw, split by the scenario's shares).
      t += 30; // a retry takes the customer about half a minute
      const u = seedBook.u('after-decline', attemptNo);
      if (u < b.retrySameAfterDecline) continue;
      if (u < b.retrySameAfterDecline + b.switchCardAfterDecline && cardPos + 1 < order.cards.length) {
        cardPos++;
        continue;
      }
      break;
    }
    if (!r.paid && r.attempts >= b.maxAttemptsPerOrder) r.end = 'max_attempts';
    return r;
  }
}

/** Runs one arm over the market; `precheck` null is the baseline. */
export async function runArm(market: Market, precheck: PrecheckPort | null, opts: ArmOptions = {}): Promise<OrderResult[]> {
  return new ArmRunner(market, precheck, opts).run();
}
