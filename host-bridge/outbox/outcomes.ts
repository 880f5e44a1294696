// Outcome reports from the shop: resolved against the bridge's own record of the order's
// verification (the shop never handles tokens), turned into an idempotent outbox row.
import { createHash } from 'node:crypto';
import type { Outbox, VerificationRow } from './outbox-db.ts';
import type { NetworkOutcome } from '../network/network-types.ts';

export interface OutcomeReport {
  orderId: string;
  gateway: string;
  status: 'success' | 'failure';
  code?: string;
  type?: 'hard' | 'soft' | 'technical' | 'fraud';
  /** The shop's attempt number for this order at this gateway; distinguishes real retries. */
  attempt?: number;
  /** Unix seconds; defaults to now. */
  at?: number;
  /** The payer's account at the merchant, for the payment notice (server/notify). */
  account?: string;
}

// The service's id rule: a device id outside it is not sent (it would make the whole outcome invalid).
const SERVICE_ID = /^[A-Za-z0-9_.:/@#-]{1,64}$/;

export class OutcomeError extends Error {
  constructor(
    readonly code: 'ORDER_NOT_FOUND',
    message: string,
    readonly field: string,
  ) {
    super(message);
    this.name = 'OutcomeError';
  }
}

/**
 * A hash of (order, gateway, attempt) when the shop numbers its attempts, else of (order, gateway,
 * status, code, type) — so re-posting the same report is a no-op. Hashed so the key always fits the
 * service's 128-character id whatever the order id's length.
 */
export function idempotencyKeyFor(r: OutcomeReport): string {
  const parts = r.attempt !== undefined ? [r.orderId, r.gateway, r.attempt] : [r.orderId, r.gateway, r.status, r.code ?? null, r.type ?? null];
  return `ob-${createHash('sha256').update(JSON.stringify(parts)).digest('hex').slice(0, 40)}`;
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

export function queueOutcome(outbox: Outbox, r: OutcomeReport, nowMs: number): { idempotencyKey: string; duplicate: boolean } {
  const v = outbox.latestVerification(r.orderId);
  if (!v) throw new OutcomeError('ORDER_NOT_FOUND', `no verification recorded for order "${r.orderId}" on this bridge`, 'orderId');
  const key = idempotencyKeyFor(r);
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
    at: r.at ?? Math.floor(nowMs / 1000),
    ...segmentOf(v),
    ...(v.deviceId && SERVICE_ID.test(v.deviceId) ? { terminal: v.deviceId } : {}),
    ...(r.account !== undefined ? { account: r.account } : {}),
  };
  const created = outbox.enqueueOutcome(outcome, nowMs);
  return { idempotencyKey: key, duplicate: !created };
}
