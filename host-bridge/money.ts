// Decimal amounts typed by people ("19.99") → integer minor units, using the currency's exponent
// from Intl (ISO 4217 data shipped with Node's ICU): USD 2, JPY 0, BHD 3. No floating point.

export class AmountError extends Error {
  readonly code = 'INVALID_FIELD';
}

export function currencyExponent(currency: string): number {
  if (!/^[A-Z]{3}$/.test(currency)) throw new AmountError(`currency must be an ISO 4217 code such as USD (got "${currency}")`);
  try {
    return new Intl.NumberFormat('en', { style: 'currency', currency }).resolvedOptions().maximumFractionDigits ?? 2;
  } catch {
    throw new AmountError(`unknown currency "${currency}"`);
  }
}

export function toMinorUnits(amount: string, currency: string): number {
  const exp = currencyExponent(currency);
  const m = /^(\d{1,15})(?:\.(\d+))?$/.exec(amount.trim());
  if (!m) throw new AmountError(`amount must be a positive decimal such as 19.99 (got "${amount}")`);
  const frac = m[2] ?? '';
  if (frac.length > exp) throw new AmountError(`${currency} has ${exp} decimal place${exp === 1 ? '' : 's'}; "${amount}" has ${frac.length}`);
  const minor = BigInt(m[1]) * 10n ** BigInt(exp) + BigInt(frac.padEnd(exp, '0') || '0');
  if (minor > BigInt(Number.MAX_SAFE_INTEGER)) throw new AmountError('amount too large');
  return Number(minor);
}

export function formatMinorUnits(minor: number, currency: string): string {
  const exp = currencyExponent(currency);
  const s = String(minor).padStart(exp + 1, '0');
  return exp === 0 ? `${s} ${currency}` : `${s.slice(0, -exp)}.${s.slice(-exp)} ${currency}`;
}
