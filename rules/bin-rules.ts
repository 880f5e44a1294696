// BIN rule lookup: the longest prefix (1–8 digits) matching the card number wins, so a specific
// range can override a broader one.
import type { BinRule } from '../protocol/dataset/types.ts';

export function matchBinRule(rules: readonly BinRule[], panDigits: string): BinRule | null {
  let best: BinRule | null = null;
  for (const r of rules) {
    if (panDigits.startsWith(r.prefix) && (!best || r.prefix.length > best.prefix.length)) best = r;
  }
  return best;
}

/** All prefixes of a PAN that a rule could have (for indexed lookups: WHERE prefix IN (...)). */
export function binPrefixes(panDigits: string): string[] {
  const out: string[] = [];
  for (let n = 1; n <= Math.min(8, panDigits.length); n++) out.push(panDigits.slice(0, n));
  return out;
}
