// Placeholder new-card policy until server/trust/ lands: a card nobody has seen is approved up to
// a configured amount and sent to review above it.

export interface TrustResult {
  decision: 'approve' | 'review';
  reason: string;
  trust: { level: string; limit: number; modelVersion: string };
}

export function placeholderNewCard(amount: number, limit: number): TrustResult {
  return amount <= limit
    ? { decision: 'approve', reason: 'new_card', trust: { level: 'unknown', limit, modelVersion: 'policy-0' } }
    : { decision: 'review', reason: 'new_card_over_limit', trust: { level: 'unknown', limit, modelVersion: 'policy-0' } };
}
