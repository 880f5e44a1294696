// Outcome reports from the shop: resolved against the bridge's own record of the order's
// verification (the shop never handles tokens), turned into an idempotent outbox row.
import { createHash } from 'node:crypto';
import type { Outbox, VerificationRow } from './outbox-db.ts';
import type { NetworkOutcome } from '../network/network-types.ts';
import { checkOutcomeAt } from '../../contracts/limits.ts';
import type { FailureType, HistoryStatus } from '../../protocol/dataset/types.ts';
import { PrecheckError } from '../../errors/precheck-error.ts';

export interface OutcomeReport {
  orderId: string;
  gateway: string;
  status: HistoryStatus;
  code?: string;
  type?: FailureType;
  /** The shop's attempt number for this order at this gateway; absent: numbered by the bridge. */
  attempt?: number;
  /** Unix seconds; defaults to now. */
  at?: number;
  /** The payer's account at the merchant, for the payment notice (server/notify). */
  account?: string;
}

// The service's id rule: a device id outside it is not sent (it would make the whole outcome invalid).
const SERVICE_ID = /^[A-Za-z0-9_.:/@#-]{1,64}$/;

export class OutcomeError extends PrecheckError<'ORDER_NOT_FOUND' | 'CONFLICT' | 'INVALID_FIELD'> {
  constructor(
    code: 'ORDER_NOT_FOUND' | 'CONFLICT' | 'INVALID_FIELD',
    message: string,
    readonly field: string,
  ) {
    super(code, message);
    this.name = 'OutcomeError';
  }
}

/**
 * A hash of (order, gateway, attempt), so re-posting the same report is a no-op. Hashed so the
 * key always fits the service's 128-character id whatever the order id's length.
 */
export function idempotencyKeyFor(r: { orderId: string; gateway: string; attempt: number }): string {
  return `ob-${createHash('sha256').update(JSON.stringify([r.orderId, r.gateway, r.attempt])).digest('hex').slice(0, 40)}`;
}

/** The same report: what the shop said (status, code, type; `at` only when both gave one). */
function sameReport(r: OutcomeReport, p: NetworkOutcome): boolean {
  return r.status === p.status && (r.code ?? null) === (p.code ?? null) && (r.type ?? null) === (p.type ?? null) && (r.at === undefined || r.at === p.at);
}

/**
 * The order's segment (country, cross-border) for the service's success-rate router, which never
 * saw a locally-decided order. For a network-decided one with the flag unknown here, nothing is
 * sent: the service then falls back to what its own /v1/auth recorded (it may have derived the flag
 * from the customer's IP), which a bare country would override.
 */
function segmentOf(v: VerificationRow): Pick<NetworkOutcome, 'country' | 'crossBorder'> {
  if (v.stage === 'network' && v.crossBorder === null) return {};
  return { ...(v.country !== null ? { country: v.country } : {}), ...(v.crossBorder !== null ? { crossBorder: v.crossBorder } : {}) };
}

/**
 * Queue an outcome report. Without `attempt` the bridge numbers it: a report identical to one
 * already queued for this order at this gateway is that report again (a duplicate), anything else
 * is the next attempt (1 + the reports so far) — two different reports are never merged. With an
 * `attempt`, the same attempt with a different report is a CONFLICT (409), as at the service.
 */
export function queueOutcome(outbox: Outbox, r: OutcomeReport, nowMs: number): { idempotencyKey: string; attempt?: number; duplicate: boolean } {
  const nowS = Math.floor(nowMs / 1000);
  try {
    checkOutcomeAt(r.at, nowS);
  } catch (e) {
    throw new OutcomeError('INVALID_FIELD', (e as Error).message, 'at');
  }
  const v = outbox.latestVerification(r.orderId);
  if (!v) throw new OutcomeError('ORDER_NOT_FOUND', `no verification recorded for order "${r.orderId}" on this bridge`, 'orderId');
  const earlier = outbox.orderOutcomes(r.orderId).filter((o) => o.payload.gateway === r.gateway);
  let attempt = r.attempt;
  if (attempt === undefined) {
    // The attempt number is in the key only (the service's body has no such field): recover it
    // by recomputing keys, which is cheap for the few reports one order has.
    const keys = new Set(earlier.map((o) => o.key));
    const keyOf = (n: number) => idempotencyKeyFor({ orderId: r.orderId, gateway: r.gateway, attempt: n });
    const same = earlier.find((o) => sameReport(r, o.payload));
    if (same) {
      let n = 0;
      while (n <= earlier.length + 64 && keyOf(n) !== same.key) n++;
      return { idempotencyKey: same.key, ...(keyOf(n) === same.key ? { attempt: n } : {}), duplicate: true };
    }
    attempt = earlier.length + 1;
    while (keys.has(keyOf(attempt))) attempt++;
  }
  const key = idempotencyKeyFor({ orderId: r.orderId, gateway: r.gateway, attempt });
  const existing = earlier.find((o) => o.key === key);
  if (existing) {
    if (!sameReport(r, existing.payload)) {
      throw new OutcomeError('CONFLICT', `attempt ${attempt} of order "${r.orderId}" at ${r.gateway} was already reported with a different outcome`, 'attempt');
    }
    return { idempotencyKey: key, attempt, duplicate: true };
  }
  const outcome: NetworkOutcome = {
    idempotencyKey: key,
    orderId: r.orderId,
    ...(v.token ? { token: v.token } : {}),
    bin: v.bin,
    last4: v.last4,
    ...(v.brand ? { brand: v.brand } : {}),
    amount: v.amount,
    currency: v.currency,
    gateway: r.gateway,
    status: r.status,
    ...(r.code !== undefined ? { code: r.code } : {}),
    ...(r.type !== undefined ? { type: r.type } : {}),
    at: r.at ?? nowS,
    ...segmentOf(v),
    ...(v.deviceId && SERVICE_ID.test(v.deviceId) ? { terminal: v.deviceId } : {}),
    ...(r.account !== undefined ? { account: r.account } : {}),
  };
  const created = outbox.enqueueOutcome(outcome, nowMs);
  return { idempotencyKey: key, attempt, duplicate: !created };
}
