// Synthetic card numbers for tests and benchmarks: Luhn-valid, generated in memory and never
// written anywhere (only their tokens reach a dataset). The Luhn math is contracts/pan-guard.ts's.
import { luhnComplete } from '../contracts/pan-guard.ts';

export { luhnComplete };

/** Synthetic Visa-range number #i (16 digits, Luhn-valid). */
export const panFor = (i: number): string => luhnComplete('4' + String(i).padStart(14, '0'));

/** A random Luhn-valid number with the given prefix and length (pass a seeded `rnd` in tests). */
export function luhnPan(prefix = '4', length = 16, rnd: () => number = Math.random): string {
  let body = prefix;
  while (body.length < length - 1) body += Math.floor(rnd() * 10).toString();
  return luhnComplete(body);
}
