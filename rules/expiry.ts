// Card expiry, one rule for the bridge's format checks and the decision table (device and
// service): a card is valid through the last day of its expiry month, plus one day of grace for
// the time zones behind UTC (still in the expiry month when UTC has turned the page).

/** One day of grace after the end of the expiry month (UTC). */
export const EXPIRY_GRACE_SECONDS = 86400;

/** Two-digit years are 20xx. */
export function fullExpiryYear(expYear: number): number {
  return expYear < 100 ? 2000 + expYear : expYear;
}

/** Unix seconds from which the card counts as expired. */
export function expiredFrom(expMonth: number, expYear: number): number {
  // Date.UTC's month is 0-based: expMonth is the 1st of the next month.
  return Date.UTC(fullExpiryYear(expYear), expMonth, 1) / 1000 + EXPIRY_GRACE_SECONDS;
}

/** `now` in unix seconds. */
export function isExpired(expMonth: number, expYear: number, now: number): boolean {
  return now >= expiredFrom(expMonth, expYear);
}
