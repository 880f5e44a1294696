// The bridge ↔ network service contract for authentication and outcomes (JSON over HTTP).
// Never carries a PAN or a security code: only the device-computed token, BIN, last four.
import type { AuthBody, OutcomeBody } from '../../contracts/schemas.ts';
import { FINAL_DECISIONS, type FinalDecision } from '../../rules/decide.ts';

/**
 * Body of `POST {serviceUrl}/v1/auth`: the type derived from the one schema the service validates
 * it with (contracts/schemas.ts `authBody`). Absent rather than null, the amount as `{value,
 * currency}`; the token is absent when no device answered (the bridge holds no card key); a device
 * error is sent as an escalation with reason `device_error:CODE`.
 */
export type NetworkAuthRequest = AuthBody;

/** A fallback decision kept in the outbox for reconciliation: the request plus what the policy decided offline. */
export interface ReconcileRecord {
  request: NetworkAuthRequest;
  fallback: { decision: FinalDecision; policy: string; at: number };
}

/** Response of `/v1/auth`. */
export interface NetworkAuthResponse {
  decision: FinalDecision;
  reason: string;
  prompt: { code: string; message: string; lang: string } | null;
  gateway: string | null;
}

/** Body of `POST {serviceUrl}/v1/outcomes` (also sent as the Idempotency-Key header), from contracts/schemas.ts `outcomeBody`. */
export type NetworkOutcome = OutcomeBody & { at: number };

const DECISIONS: ReadonlySet<string> = new Set(FINAL_DECISIONS);

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
