// New-card trust features (seed 002): account trust, device trust and environment trust, as
// plain numbers a classifier can weigh. TrustContext is storage-agnostic: the server fills it
// from its history with counts and flags, so the model never depends on how history is stored.

export interface TrustContext {
  /** Unix seconds "now" for ages. */
  now: number;
  account: {
    /** When the merchant's customer account was created (unix s); null = unknown (guest). */
    createdAt: number | null;
    successes: number; // past successful payments of the account (any card)
    failures: number; // past declined payments (any type)
    chargebacks: number; // chargebacks on the account
    fraud: number; // payments of the account flagged as fraud (fraud declines, fraud reports)
  };
  /** null when the checkout gave no device fingerprint. */
  device: {
    seenWithAccount: boolean; // this device was used by this account before
    accounts: number; // distinct accounts seen on this device (including this one)
    fraud: number; // fraud/chargebacks on any payment from this device
  } | null;
  environment: {
    ipCountry: string | null; // ISO 3166 alpha-2 from IP geolocation
    cardCountry: string | null; // issuing country from the BIN
    accountsOnIp: number; // distinct accounts seen from this IP (including this one)
    /**
     * Distinct cards (tokens) tried by this account / device in the last day and from this IP in
     * the last hour, this one included: card testing. Policy evidence, not a model feature.
     */
    distinctCards?: { accountDay: number; deviceDay: number; ipHour: number };
    /** Payment attempts in the last hour and day (not counting this one). */
    attempts: {
      accountHour: number;
      accountDay: number;
      cardHour: number;
      cardDay: number;
      ipHour: number;
      ipDay: number;
    };
  };
}

/**
 * Feature names in vector order. Counts go through log1p: the difference between 0 and 3 past
 * payments matters much more than between 300 and 303, and it keeps one heavy account from
 * dominating the standardisation.
 */
export const TRUST_FEATURE_NAMES = [
  // account trust
  'account_age_days_log', // older accounts are harder to fake
  'account_unknown', // guest checkout: no account history at all
  'account_successes_log', // a record of paying
  'account_failures_log', // declines: card testing shows up here first
  'account_failure_ratio', // failures relative to all attempts (smoothed)
  'account_fraud_log', // chargebacks + fraud flags: the strongest account signal
  // device trust
  'device_missing', // no fingerprint given
  'device_known_for_account', // same device as before: the usual way a real customer adds a card
  'device_accounts_log', // many accounts on one device: account farms
  'device_fraud_log', // fraud seen on this device before
  // environment trust
  'ip_card_country_mismatch', // IP country differs from the card's issuing country
  'ip_country_unknown', // no geolocation (proxy, new range)
  'ip_accounts_log', // many accounts behind one IP
  'velocity_account_hour_log', // bursts of attempts: card testing, enumeration
  'velocity_account_day_log',
  'velocity_card_hour_log',
  'velocity_card_day_log',
  'velocity_ip_hour_log',
  'velocity_ip_day_log',
] as const;

export type TrustFeatureName = (typeof TRUST_FEATURE_NAMES)[number];

const lg = (n: number): number => Math.log1p(Math.max(0, n));

function count(name: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new RangeError(`trust context ${name} must be a non-negative number`);
  return v;
}

/** The feature vector of a context, in TRUST_FEATURE_NAMES order. Throws RangeError on bad input. */
export function extractTrustFeatures(ctx: TrustContext): Float64Array {
  if (!ctx || typeof ctx !== 'object' || !ctx.account || !ctx.environment || !ctx.environment.attempts) throw new RangeError('trust context is incomplete');
  const a = ctx.account;
  const d = ctx.device;
  const e = ctx.environment;
  const v = e.attempts;
  const now = count('now', ctx.now);
  const successes = count('account.successes', a.successes);
  const failures = count('account.failures', a.failures);
  const ageDays = a.createdAt === null ? 0 : Math.max(0, (now - count('account.createdAt', a.createdAt)) / 86_400);
  const ipC = e.ipCountry ? e.ipCountry.toUpperCase() : null;
  const cardC = e.cardCountry ? e.cardCountry.toUpperCase() : null;
  const out = new Float64Array(TRUST_FEATURE_NAMES.length);
  let i = 0;
  out[i++] = lg(ageDays);
  out[i++] = a.createdAt === null ? 1 : 0;
  out[i++] = lg(successes);
  out[i++] = lg(failures);
  out[i++] = (failures + 0.5) / (successes + failures + 1); // Jeffreys-style smoothing: 0.5 for no history
  out[i++] = lg(count('account.chargebacks', a.chargebacks) + count('account.fraud', a.fraud));
  out[i++] = d === null ? 1 : 0;
  out[i++] = d?.seenWithAccount ? 1 : 0;
  out[i++] = d === null ? 0 : lg(count('device.accounts', d.accounts));
  out[i++] = d === null ? 0 : lg(count('device.fraud', d.fraud));
  out[i++] = ipC !== null && cardC !== null && ipC !== cardC ? 1 : 0;
  out[i++] = ipC === null ? 1 : 0;
  out[i++] = lg(count('environment.accountsOnIp', e.accountsOnIp));
  out[i++] = lg(count('attempts.accountHour', v.accountHour));
  out[i++] = lg(count('attempts.accountDay', v.accountDay));
  out[i++] = lg(count('attempts.cardHour', v.cardHour));
  out[i++] = lg(count('attempts.cardDay', v.cardDay));
  out[i++] = lg(count('attempts.ipHour', v.ipHour));
  out[i++] = lg(count('attempts.ipDay', v.ipDay));
  return out;
}
