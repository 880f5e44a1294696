// Order segments shared by the service's router and the device's offline routes: the amount band
// of an order and the currency helpers behind it. Rough on purpose: how many minor digits a
// currency has and a deliberately rough conversion to "dollar-sized" major units, so one set of
// amount bands means about the same order size in JPY, KRW or EUR. A band edge that moves by 20%
// with exchange rates changes nothing important, and routing must not depend on a live feed. One
// copy here, so a device files an order in the same band the service learned it in. The minor-unit
// digits are the one ISO 4217 table's (contracts/currency.ts).
import type { RouteBand, RouteRegion } from '../protocol/dataset/types.ts';
import { minorDigits } from '../contracts/currency.ts';

export { minorDigits };

/**
 * Approximate US dollars per one major unit, for currencies whose unit is far from a dollar.
 * Order-of-magnitude values only (band normalisation, limits); anything missing counts as 1.
 */
export const ROUGH_USD_PER_UNIT: Readonly<Record<string, number>> = {
  JPY: 0.007, KRW: 0.00075, INR: 0.012, IDR: 0.00006, VND: 0.00004, CNY: 0.14, HKD: 0.13,
  TWD: 0.031, THB: 0.028, PHP: 0.017, MYR: 0.22, SGD: 0.75, BRL: 0.18, MXN: 0.055, ARS: 0.001,
  CLP: 0.001, COP: 0.00025, ZAR: 0.055, TRY: 0.03, RUB: 0.011, PLN: 0.25, CZK: 0.043, HUF: 0.0027,
  SEK: 0.095, NOK: 0.093, DKK: 0.145, KWD: 3.25, BHD: 2.65, AED: 0.27, SAR: 0.27, NGN: 0.00065,
  KES: 0.0077, EGP: 0.02, PKR: 0.0036, UAH: 0.024,
};

/** Amount in minor units → rough dollar-sized major units. */
export function roughMajorUsd(amountMinor: number, currency: string): number {
  const c = currency.toUpperCase();
  return (amountMinor / 10 ** minorDigits(c)) * (ROUGH_USD_PER_UNIT[c] ?? 1);
}

/** Rough dollar-sized major units → minor units of `currency` (rounded down; limits are ceilings). */
export function minorFromRoughUsd(usdMajor: number, currency: string): number {
  const c = currency.toUpperCase();
  return Math.floor((usdMajor / (ROUGH_USD_PER_UNIT[c] ?? 1)) * 10 ** minorDigits(c));
}

/** Amount bands in rough dollar-sized major units: small, typical, large, very large. */
export type AmountBand = RouteBand;

export function amountBand(amountMinor: number, currency: string): AmountBand {
  const major = roughMajorUsd(amountMinor, currency);
  if (major < 20) return 'lt20';
  if (major < 100) return '20-100';
  if (major < 500) return '100-500';
  return 'gt500';
}

/** A typical order of each band, in rough dollar-sized major units (publishing routes per band). */
export const BAND_TYPICAL_USD: Readonly<Record<AmountBand, number>> = { lt20: 10, '20-100': 50, '100-500': 200, gt500: 1000 };

/** Domestic or cross-border order. */
export function regionOf(crossBorder: boolean): RouteRegion {
  return crossBorder ? 'xb' : 'dom';
}
