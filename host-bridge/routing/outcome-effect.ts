// How the bridge classifies a gateway outcome: whether it counts against the gateway (a technical
// failure: timeout, gateway error) or is an answer about the card (issuer decline, approval), which
// proves the gateway works. Technical failures never count against the card.
export interface OutcomeEffect {
  /** counts against the gateway (a technical failure) */
  gateway: boolean;
}

export function outcomeEffect(o: { status: string; code?: string; type?: string }): OutcomeEffect {
  return { gateway: o.status === 'failure' && o.type === 'technical' };
}
