// The one currency module: ISO 4217 codes and their minor-unit exponent from one maintained table
// (the currency-codes package, which tracks the ISO 4217 list), used by the bridge (amounts typed
// by people, request validation) and the service (validation, routing bands, trust limits).
import cc from 'currency-codes';
import { PrecheckError } from '../errors/precheck-error.ts';
import { scrubPans } from './pan-guard.ts';

// Codes in the list that are not money a card is charged in: precious metals, bond-market units,
// SDR and other units of account, the testing code and "no currency".
const NOT_MONEY = new Set(['XAG', 'XAU', 'XBA', 'XBB', 'XBC', 'XBD', 'XDR', 'XPD', 'XPT', 'XSU', 'XTS', 'XUA', 'XXX']);

const EXPONENT = new Map<string, number>(cc.data.filter((c) => !NOT_MONEY.has(c.code)).map((c) => [c.code, c.digits]));

/** Every accepted code, sorted (the JSON Schemas' enum). */
export const CURRENCY_CODES: readonly string[] = Object.freeze([...EXPONENT.keys()].sort());

/** A bad amount or currency. The message quotes what was typed, with any card number masked. */
export class AmountError extends PrecheckError<'INVALID_FIELD'> {
  constructor(message: string) {
    super('INVALID_FIELD', scrubPans(message));
    this.name = 'AmountError';
  }
}

export function isCurrencyCode(code: string): boolean {
  return EXPONENT.has(code);
}

/** ISO 4217 minor-unit digits (JPY 0, EUR 2, BHD 3); AmountError for anything not in the table. */
export function currencyExponent(currency: string): number {
  if (!/^[A-Z]{3}$/.test(currency)) throw new AmountError(`currency must be an ISO 4217 code such as USD (got "${currency}")`);
  const d = EXPONENT.get(currency);
  if (d === undefined) throw new AmountError(`unknown currency "${currency}" (not an ISO 4217 currency)`);
  return d;
}

/** Like currencyExponent, for code that has already validated the currency: unknown → 2 (cents). */
export function minorDigits(currency: string): number {
  return EXPONENT.get(currency.toUpperCase()) ?? 2;
}

/** Decimal amounts typed by people ("19.99") → integer minor units, exactly (no floating point). */
export function toMinorUnits(amount: string, currency: string, max = Number.MAX_SAFE_INTEGER): number {
  const exp = currencyExponent(currency);
  const m = /^(\d{1,15})(?:\.(\d+))?$/.exec(amount.trim());
  if (!m) throw new AmountError(`amount must be a positive decimal such as 19.99 (got "${amount}")`);
  const frac = m[2] ?? '';
  if (frac.length > exp) throw new AmountError(`${currency} has ${exp} decimal place${exp === 1 ? '' : 's'}; "${amount}" has ${frac.length}`);
  const minor = BigInt(m[1]) * 10n ** BigInt(exp) + BigInt(frac.padEnd(exp, '0') || '0');
  if (minor > BigInt(max)) throw new AmountError('amount too large');
  return Number(minor);
}

export function formatMinorUnits(minor: number, currency: string): string {
  const exp = currencyExponent(currency);
  const s = String(minor).padStart(exp + 1, '0');
  return exp === 0 ? `${s} ${currency}` : `${s.slice(0, -exp)}.${s.slice(-exp)} ${currency}`;
}
