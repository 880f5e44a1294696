// Currency helpers for routing segments and trust limits: minor digits and a deliberately
// rough conversion to "dollar-sized" major units, so one set of amount bands
// means about the same order size in JPY, KRW or EUR. Rough is enough: a band edge that moves by
// 20% with exchange rates changes nothing important, and routing must not depend on a live feed.
// The helpers live in rules/segment.ts: the device files orders in the same bands.
export { minorDigits, ROUGH_USD_PER_UNIT, roughMajorUsd, minorFromRoughUsd } from '../../rules/segment.ts';
