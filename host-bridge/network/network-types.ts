// The bridge ↔ network service contract for authentication and outcomes (JSON over HTTP).
// Never carries a PAN or a security code: only the device-computed token, BIN, last four.
import type { LocalDecision } from '../devices/types.ts';

/**
 * Body of `POST {serviceUrl}/v1/auth`, exactly as the service's JSON schema (server/http/schemas.ts
 * `authBody`) accepts it: absent rather than null, the amount as `{value, currency}`.
 */
export interface NetworkAuthRequest {
  /** Device-computed card token (32 hex). Absent when no device answered: the bridge holds no card key. */
  token?: string;
  bin: string;
  last4: string;
  brand?: string;
  expMonth: number;
  expYear: number;
  order: { id: string; amount: { value: number; currency: string }; country?: string; crossBorder?: boolean };
  customer?: { accountId?: string; deviceId?: string; ip?: string };
  lang?: string;
  /** What local authentication concluded; a device error is sent as an escalation with reason `device_error:CODE`. */
  local?: { decision: LocalDecision; reason: string; datasetVersion: number | null };
}

/** A fallback decision kept in the outbox for reconciliation: the request plus what the policy decided offline. */
export interface ReconcileRecord {
  request: NetworkAuthRequest;
  fallback: { decision: 'approve' | 'decline' | 'review'; policy: string; at: number };
}

/** Response of `/v1/auth`. */
export interface NetworkAuthResponse {
  decision: 'approve' | 'decline' | 'review';
  reason: string;
  prompt: { code: string; message: string; lang: string } | null;
  gateway: string | null;
}

/** Body of `POST {serviceUrl}/v1/outcomes` (also sent as the Idempotency-Key header). */
export interface NetworkOutcome {
  idempotencyKey: string;
  orderId: string;
  /** Absent when no device produced a token for the order. */
  token?: string;
  bin: string;
  last4: string;
  brand?: string;
  amount: number;
  currency: string;
  gateway: string;
  status: 'success' | 'failure';
  /** Gateway / issuer response code for failures (e.g. "05", "51"). */
  code?: string;
  /** Decline type from the gateway, when known. */
  type?: 'hard' | 'soft' | 'technical' | 'fraud';
  /** Unix seconds. */
  at: number;
  /** The order's billing country (ISO 3166-1 alpha-2), when the shop gave one at verification. */
  country?: string;
  /** Order country ≠ merchant country; absent when either is unknown. */
  crossBorder?: boolean;
  /** The verifier device that verified the order: a success at a located terminal sends the payer a notice. */
  terminal?: string;
  /** The payer's account at the merchant (whose consenting notification endpoints get the notice). */
  account?: string;
}

const DECISIONS = new Set(['approve', 'decline', 'review']);

/** Validate the service's answer; anything unexpected is a protocol problem, not a decision. */
export function parseAuthResponse(body: unknown): NetworkAuthResponse {
  if (typeof body !== 'object' || body === null) throw new Error('auth response is not an object');
  const b = body as Record<string, unknown>;
  let decision = b.decision;
  // A service that cannot decide either is asking for a human: review.
  if (decision === 'escalate') decision = 'review';
  if (typeof decision !== 'string' || !DECISIONS.has(decision)) throw new Error('auth response has no valid decision');
  const reason = typeof b.reason === 'string' ? b.reason : 'network';
  let prompt: NetworkAuthResponse['prompt'] = null;
  if (b.prompt && typeof b.prompt === 'object') {
    const p = b.prompt as Record<string, unknown>;
    if (typeof p.code === 'string' && typeof p.message === 'string') prompt = { code: p.code, message: p.message, lang: typeof p.lang === 'string' ? p.lang : 'en' };
  }
  const gateway = typeof b.gateway === 'string' ? b.gateway : null;
  return { decision: decision as NetworkAuthResponse['decision'], reason, prompt, gateway };
}
