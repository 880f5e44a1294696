// The patent's method, as the bridge runs it for one checkout:
//   format checks → local authentication on a verifier device → (escalate / no device / device
//   error) network authentication → final result; network unreachable → the configured fallback
//   policy decides, labelled, and the decision is queued for reconciliation.
// The PAN exists only in this call's memory (and on the encrypted device link); everything
// recorded, logged or sent to the network carries the device's token, the BIN and the last four.
import { scrubPans } from '../../contracts/pan-guard.ts';
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import { checkCard, type CheckedCard } from './format-checks.ts';
import { fallbackToString, type FallbackPolicy } from '../config.ts';
import type { DeviceHandle, DeviceRegistry, LocalVerifyResult } from '../devices/types.ts';
import type { NetworkClient } from '../network/network-client.ts';
import { NetworkError } from '../network/network-client.ts';
import { parseAuthResponse, type NetworkAuthRequest, type NetworkAuthResponse, type ReconcileRecord } from '../network/network-types.ts';
import type { Outbox, VerificationRecord } from '../outbox/outbox-db.ts';
import type { BridgeMetrics } from '../metrics/bridge-metrics.ts';
import type { GatewayHealth } from '../routing/gateway-health.ts';
import type { CustomerContext, CustomerFlags } from './customer-flags.ts';
import { DECISIONS, type FinalDecision } from '../../rules/decide.ts';
import { isCrossBorder } from '../../rules/cross-border.ts';
import { codeOf, PrecheckError } from '../../errors/precheck-error.ts';
import { Deadline } from '../../runtime/deadline.ts';

export type { FinalDecision };
export type Stage = 'local' | 'network' | 'fallback';

export interface VerifyInput {
  card: { number: string; expMonth: number; expYear: number; cvc?: string };
  order: { id: string; amount: { value: number; currency: string }; country?: string };
  customer?: CustomerContext;
  lang?: string;
  /** Ask this verifier device instead of the first healthy paired one. */
  verifierId?: string;
}

export interface VerifyResult {
  orderId: string;
  decision: FinalDecision;
  reason: string;
  stage: Stage;
  prompt: { code: string; message: string; lang: string } | null;
  gateway: string | null;
  card: { brand: string | null; bin: string; last4: string };
  device: { id: string; datasetVersion: number } | null;
  timings: { formatMs: number; localMs: number; networkMs: number; totalMs: number };
}

/** Errors the pipeline raises before deciding (the API maps `code` to an HTTP status). */
export class PipelineError extends PrecheckError<'DEVICE_NOT_FOUND' | 'INTERNAL'> {
  constructor(
    code: 'DEVICE_NOT_FOUND' | 'INTERNAL',
    message: string,
    readonly field?: string,
  ) {
    super(code, message);
    this.name = 'PipelineError';
  }
}

export interface PipelineOptions {
  registry?: DeviceRegistry | null;
  network: NetworkClient | null;
  outbox: Outbox;
  fallback: FallbackPolicy;
  merchantCountry: string | null;
  lang: string;
  /** The local step's one budget, ms: made once per verification and handed down to the device call. */
  deviceTimeoutMs: number;
  /** One deadline for the network authentication, retries included (default 1500 ms); then the fallback answers. */
  networkDeadlineMs?: number;
  logger: Logger;
  metrics?: BridgeMetrics;
  /** Called after a row was queued for the forwarder (reconciliation). */
  onQueued?: () => void;
  /** What the bridge saw of the gateways just now: overrides a device's failing or declining pick. */
  gatewayHealth?: GatewayHealth | null;
  /** Customers seen with fraud evidence: their floor-limit approvals go to the network. */
  customerFlags?: CustomerFlags | null;
  now?: () => number;
}

const LOCAL_DECISIONS: ReadonlySet<string> = new Set(DECISIONS);
const TOKEN_RE = /^[0-9a-f]{32}$/;

interface LocalOutcome {
  device: DeviceHandle;
  result: LocalVerifyResult | null;
  error: { code: string; message: string } | null;
  datasetVersion: number | null;
}

function ms(start: number): number {
  return Math.round((performance.now() - start) * 100) / 100;
}

export class VerifyPipeline {
  private readonly now: () => number;
  /** Background authorizations of floor-limit approvals still in flight, by order id. */
  private readonly shadows = new Map<string, Promise<void>>();

  constructor(private readonly o: PipelineOptions) {
    this.now = o.now ?? Date.now;
  }

  async verify(input: VerifyInput): Promise<VerifyResult> {
    const t0 = performance.now();
    let card: CheckedCard;
    try {
      card = checkCard(input.card, new Date(this.now()));
    } catch (e) {
      this.o.metrics?.verifyErrors.inc({ code: codeOf(e) ?? 'INTERNAL' });
      throw e;
    }
    const formatMs = ms(t0);
    const lang = input.lang ?? this.o.lang;
    const orderId = input.order.id;
    const base = { orderId, card: { brand: card.brand, bin: card.bin, last4: card.last4 } };
    const nowS = Math.floor(this.now() / 1000);
    this.o.customerFlags?.noteOrder(orderId, input.customer, nowS);

    // Step 1: local authentication.
    const tLocal = performance.now();
    const local = await this.local(input, card, lang);
    // A floor-limit approval stands for the network's new-card trust, which would see this
    // customer's fraud evidence and card velocity: such a customer is asked about at the network.
    const flags = this.o.customerFlags;
    const otherCard = flags && local?.result?.token ? flags.noteCard(input.customer, local.result.token, nowS) : false;
    if (flags && local?.result?.decision === 'approve' && local.result.reason === 'floor_limit') {
      const why = flags.isFlagged(input.customer, nowS) ? 'floor_limit_customer_flagged' : otherCard ? 'floor_limit_customer_other_card' : null;
      if (why) {
        this.o.logger.info({ orderId, device: local.device.id, why }, 'floor-limit approval for a customer the network should see: asking the network');
        local.result = { ...local.result, decision: 'escalate', reason: why };
      }
    }
    // The bridge forwarded a decline of this card moments ago (GatewayHealth.recentDecline) that the
    // device's dataset may not hold yet: its approval would send the customer's retry into the same
    // decline, so the network answers (it has the outcome: the outbox forwards it at once).
    if (local?.result?.decision === 'approve' && this.o.gatewayHealth) {
      const news = this.o.gatewayHealth.recentDecline(local.result.token, nowS);
      if (news) {
        this.o.logger.info({ orderId, device: local.device.id, code: news.code }, 'device approved a card the bridge just saw declined: asking the network');
        local.result = { ...local.result, decision: 'escalate', reason: 'card_declined_at_bridge' };
      }
    }
    const localMs = local ? ms(tLocal) : 0;
    const device = local && local.datasetVersion !== null ? { id: local.device.id, datasetVersion: local.datasetVersion } : null;
    const brand = local?.result?.brand ?? card.brand;
    base.card.brand = brand;

    if (local?.result && local.result.decision !== 'escalate') {
      const r = local.result;
      // The device routes from its dataset; the bridge has seen the last minute's outcomes.
      let gateway = r.gateway;
      if (gateway !== null && this.o.gatewayHealth) {
        const route = this.o.gatewayHealth.route(gateway, r.alternatives ?? [], r.token);
        if (route.overridden) {
          this.o.metrics?.routeOverrides.inc({ reason: route.overridden });
          this.o.logger.info({ orderId, device: local.device.id, from: gateway, to: route.gateway, why: route.overridden }, 'device route overridden');
        }
        gateway = route.gateway;
      }
      const result: VerifyResult = {
        ...base,
        decision: r.decision as FinalDecision,
        reason: r.reason,
        stage: 'local',
        prompt: r.prompt,
        gateway,
        device,
        timings: { formatMs, localMs, networkMs: 0, totalMs: ms(t0) },
      };
      if (r.reason === 'floor_limit') this.shadowAuth(this.networkRequest(input, card, brand, lang, local), input, nowS);
      return this.finish(result, input, local.result.token);
    }

    // Step 2: network authentication.
    const token = local?.result?.token ?? null;
    const request = this.networkRequest(input, card, brand, lang, local);
    const tNet = performance.now();
    let answer: NetworkAuthResponse | null = null;
    let failure: string;
    if (!this.o.network) {
      failure = 'network_not_configured';
    } else {
      try {
        const res = await this.o.network.postJson('/v1/auth', request, { idempotent: true, deadlineMs: this.o.networkDeadlineMs ?? 1500 });
        answer = parseAuthResponse(res.body);
        failure = '';
      } catch (e) {
        failure = e instanceof NetworkError && e.code === 'NETWORK_UNAVAILABLE' ? 'network_unavailable' : 'network_error';
        this.o.logger.warn({ orderId, bin: card.bin, last4: card.last4, err: (e as Error).message }, 'network authentication failed; applying fallback policy');
      }
    }
    const networkMs = this.o.network ? ms(tNet) : 0;

    if (answer) {
      if (answer.reason === 'fraud_signal') this.o.customerFlags?.flagCustomer(input.customer, nowS);
      const result: VerifyResult = {
        ...base,
        decision: answer.decision,
        reason: answer.reason,
        stage: 'network',
        prompt: answer.prompt,
        gateway: answer.gateway,
        device,
        timings: { formatMs, localMs, networkMs, totalMs: ms(t0) },
      };
      return this.finish(result, input, token);
    }

    // Step 3 (network unreachable): the fallback policy, never a silent approve.
    const decision = this.fallbackDecision(input.order.amount.value, input.order.amount.currency);
    const result: VerifyResult = {
      ...base,
      decision,
      reason: failure,
      stage: 'fallback',
      prompt: null,
      gateway: null,
      device,
      timings: { formatMs, localMs, networkMs, totalMs: ms(t0) },
    };
    const reconcile: ReconcileRecord | null = this.o.network
      ? { request, fallback: { decision, policy: fallbackToString(this.o.fallback), at: Math.floor(this.now() / 1000) } }
      : null;
    return this.finish(result, input, token, reconcile);
  }

  /** The network authentication request for this verification (token, BIN, last four, order, customer, the local conclusion). */
  private networkRequest(input: VerifyInput, card: CheckedCard, brand: string | null, lang: string, local: LocalOutcome | null): NetworkAuthRequest {
    const token = local?.result?.token ?? null;
    const country = input.order.country;
    const crossBorder = this.crossBorderOf(input);
    return {
      ...(token !== null ? { token } : {}),
      bin: card.bin,
      last4: card.last4,
      ...(brand ? { brand } : {}),
      expMonth: card.expMonth,
      expYear: card.expYear,
      order: {
        id: input.order.id,
        amount: { value: input.order.amount.value, currency: input.order.amount.currency },
        ...(country ? { country } : {}),
        ...(crossBorder !== null ? { crossBorder } : {}),
      },
      ...(input.customer ? { customer: input.customer } : {}),
      lang,
      ...(local
        ? {
            local: {
              // A device error is not a conclusion: the service sees an escalation and why.
              decision: local.result ? local.result.decision : 'escalate',
              reason: local.result ? local.result.reason : `device_error:${local.error?.code ?? 'UNKNOWN'}`.slice(0, 64),
              datasetVersion: local.datasetVersion,
            },
          }
        : {}),
    };
  }

  /**
   * A floor-limit approval is final at once, but the service still gets the authorization in the
   * background: its trust records need the attempt with the customer's account, device and IP, or
   * the fraud outcome of this card would not count against that customer and the next card of the
   * order (asked at the network) would meet no velocity or fraud evidence. Its answer is not the
   * checkout's; a fraud_signal in it flags the customer for later floor approvals. Failures are
   * only logged. The bridge holds this order's outcomes back until it settles (shadowOf).
   */
  private shadowAuth(request: NetworkAuthRequest, input: VerifyInput, nowS: number): void {
    const net = this.o.network;
    if (!net) return;
    const orderId = input.order.id;
    const p = net
      .postJson('/v1/auth', request, { idempotent: true, deadlineMs: this.o.networkDeadlineMs ?? 1500 })
      .then((res) => {
        if (parseAuthResponse(res.body).reason === 'fraud_signal') this.o.customerFlags?.flagCustomer(input.customer, nowS);
      })
      .catch((e) => this.o.logger.debug({ orderId, err: (e as Error).message }, 'background authorization of a floor-limit approval failed'))
      .finally(() => {
        if (this.shadows.get(orderId) === p) this.shadows.delete(orderId);
      });
    this.shadows.set(orderId, p);
  }

  /** The background authorization of this order's floor-limit approval, while in flight. */
  shadowOf(orderId: string): Promise<void> | undefined {
    return this.shadows.get(orderId);
  }

  /** The shared rule with the merchant country as reference (the bridge never knows the issuer's); null when unknown. */
  private crossBorderOf(input: VerifyInput): boolean | null {
    return isCrossBorder(input.order.country, null, this.o.merchantCountry);
  }

  /** What the configured policy decides when the network cannot. */
  fallbackDecision(amount: number, currency: string): FinalDecision {
    const p = this.o.fallback;
    if (p.kind === 'approve-below') {
      return amount < p.limit && (p.currency === null || p.currency === currency) ? 'approve' : 'review';
    }
    return p.kind;
  }

  private chooseDevice(input: VerifyInput): DeviceHandle | undefined {
    const reg = this.o.registry;
    if (input.verifierId !== undefined) {
      const h = reg?.get(input.verifierId);
      if (!h) throw new PipelineError('DEVICE_NOT_FOUND', `no verifier device with id "${scrubPans(input.verifierId)}"`, 'verifierId');
      return h;
    }
    return reg?.pick();
  }

  private async local(input: VerifyInput, card: CheckedCard, lang: string): Promise<LocalOutcome | null> {
    const device = this.chooseDevice(input);
    if (!device) return null;
    let summaryVersion: number | null = null;
    let datasetFresh = false;
    try {
      const s = device.summary();
      summaryVersion = s.datasetVersion;
      datasetFresh = s.datasetState === 'fresh';
    } catch {
      // summary is local state; a broken one is treated like an unhealthy device below
    }
    // One budget for the whole device call: session setup, exchange, resend and transport waits
    // all fit inside it, and the race below holds a handle that ignores it to the same instant.
    const deadline = Deadline.after(this.o.deviceTimeoutMs);
    try {
      const result = await withDeadline(
        device.verify(
          {
            pan: card.pan,
            expMonth: card.expMonth,
            expYear: card.expYear,
            amount: input.order.amount.value,
            currency: input.order.amount.currency,
            ...(input.order.country ? { country: input.order.country } : {}),
            lang,
            orderId: input.order.id,
          },
          { deadline },
        ),
        deadline,
      );
      if (!result || !LOCAL_DECISIONS.has(result.decision) || !TOKEN_RE.test(result.token ?? '')) {
        throw Object.assign(new Error('device returned a malformed verification result'), { code: 'MALFORMED' });
      }
      if (result.bin !== card.bin || result.last4 !== card.last4) {
        throw Object.assign(new Error('device answered for a different card'), { code: 'MALFORMED' });
      }
      // Stale data can no longer approve locally (the device enforces this too; belt and braces).
      if (result.decision === 'approve' && !datasetFresh) {
        return { device, result: { ...result, decision: 'escalate', reason: 'dataset_not_fresh' }, error: null, datasetVersion: result.datasetVersion };
      }
      return { device, result, error: null, datasetVersion: result.datasetVersion };
    } catch (e) {
      const code = codeOf(e) ?? 'INTERNAL';
      const message = e instanceof Error ? e.message : String(e);
      this.o.metrics?.deviceErrors.inc({ device: device.id, code });
      this.o.logger.warn({ device: device.id, code, err: message, orderId: input.order.id, bin: card.bin, last4: card.last4 }, 'local authentication failed; asking the network');
      return { device, result: null, error: { code, message }, datasetVersion: summaryVersion };
    }
  }

  private finish(result: VerifyResult, input: VerifyInput, token: string | null, reconcile: ReconcileRecord | null = null): VerifyResult {
    const rec: VerificationRecord = {
      orderId: result.orderId,
      token,
      bin: result.card.bin,
      last4: result.card.last4,
      brand: result.card.brand,
      amount: input.order.amount.value,
      currency: input.order.amount.currency,
      decision: result.decision,
      stage: result.stage,
      reason: result.reason,
      deviceId: result.device?.id ?? null,
      datasetVersion: result.device?.datasetVersion ?? null,
      gateway: result.gateway,
      country: input.order.country ?? null,
      crossBorder: this.crossBorderOf(input),
      at: Math.floor(this.now() / 1000),
    };
    if (reconcile) {
      this.o.outbox.recordFallback(rec, reconcile, this.now());
      this.o.onQueued?.();
    } else {
      this.o.outbox.recordVerification(rec);
    }
    this.o.metrics?.verifications.inc({ decision: result.decision, stage: result.stage });
    this.o.metrics?.latency.observe(result.timings.totalMs / 1000, { stage: result.stage });
    this.o.logger.info(
      {
        orderId: result.orderId,
        bin: result.card.bin,
        last4: result.card.last4,
        brand: result.card.brand,
        decision: result.decision,
        stage: result.stage,
        reason: result.reason,
        device: result.device?.id ?? null,
        totalMs: result.timings.totalMs,
      },
      'verification',
    );
    return result;
  }
}

function withDeadline<T>(p: Promise<T>, deadline: Deadline): Promise<T> {
  let timer: NodeJS.Timeout;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(Object.assign(new Error(`device did not answer within ${deadline.budgetMs} ms`), { code: 'TIMEOUT' })), deadline.remainingMs());
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}
