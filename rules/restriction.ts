// What a gateway outcome writes into the card's record at the service: the restricted list and
// the hard-decline digest. Both read the one classification table (response-codes.ts), as the
// decision table does when it reads the history.
import { classifyOutcome, type ClassifiableOutcome } from './response-codes.ts';

/**
 * Whether an outcome puts the card on the restricted list: fraud, a no-retry advice code, or a
 * hard decline code — except 57/62, which usually mean "international payments not enabled"
 * and stay in the history so the rules can answer review + "enable international".
 */
export function restrictionFor(o: ClassifiableOutcome): { reason: string } | null {
  const c = classifyOutcome(o);
  if (c.fraud) return { reason: o.code ? `fraud:${o.code}` : 'fraud' };
  if (!c.hard || c.internationalOnly) return null;
  return { reason: o.code ?? (o.advice ? `mac:${o.advice}` : 'hard_decline') };
}

/** Hard for the history digest (kept forever): what the rules treat as hard. */
export function isHardOutcome(o: ClassifiableOutcome): boolean {
  return classifyOutcome(o).hard;
}
