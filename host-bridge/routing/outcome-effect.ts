// How the bridge classifies a gateway outcome: the one classification table of the product
// (rules/response-codes.ts classifyOutcome, response code first, the gateway's `type`
// refining it), the same the service ingests outcomes with. A gateway-level effect (timeout,
// gateway error) counts against the gateway, never the card; an issuer's answer proves the
// gateway works.
import { classifyOutcome } from '../../rules/response-codes.ts';

export interface OutcomeEffect {
  /** counts against the gateway (a technical failure) */
  gateway: boolean;
}

export function outcomeEffect(o: { status: string; code?: string; type?: string; advice?: string }): OutcomeEffect {
  return { gateway: classifyOutcome(o).effect === 'gateway' };
}
