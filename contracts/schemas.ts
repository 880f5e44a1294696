// The bridge ↔ network service HTTP bodies, defined once. The service validates them with these
// schemas (server/http/schemas.ts re-exports them, and they are its OpenAPI document); the bridge
// builds its own request bodies from the same building blocks and limits (host-bridge/api/
// schemas.ts), so anything the bridge acknowledges, the service accepts. The TypeScript types of
// the bodies are derived from the schemas (from-schema.ts). Rules a schema cannot say — the PAN
// guard, the clock skew on `at` — live in pan-guard.ts and limits.ts, used by both sides.
import { CURRENCY_CODES } from './currency.ts';
import type { FromSchema } from './from-schema.ts';
import { AMOUNT_MAX_MINOR, AT_MAX, AT_MAX_SKEW_S, ID_PATTERN, RESPONSE_CODE_PATTERN } from './limits.ts';
import { DECISIONS } from '../protocol/messages/catalogue.ts';
import { FAILURE_TYPES, HISTORY_STATUSES } from '../protocol/dataset/types.ts';

// ---------------------------------------------------------------- building blocks
export const hex32 = { type: 'string', pattern: '^[0-9a-f]{32}$', description: 'card token: 32 lowercase hex characters' } as const;
export const bin = { type: 'string', pattern: '^[0-9]{6,8}$', description: 'first 6 (to 8) digits' } as const;
export const last4 = { type: 'string', pattern: '^[0-9]{4}$' } as const;
export const brand = { type: 'string', pattern: '^[a-z0-9-]{1,32}$', description: 'credit-card-type brand id' } as const;
export const currency = { type: 'string', enum: CURRENCY_CODES as readonly string[], description: 'ISO 4217 currency code (the currency-codes table)' } as const;
export const country = { type: 'string', pattern: '^[A-Z]{2}$' } as const;
export const minor = { type: 'integer', minimum: 0, maximum: AMOUNT_MAX_MINOR, description: 'integer minor units' } as const;
/** An order amount in the currency's minor units; the bridge's verify body and /v1/auth share it. */
export const amount = {
  type: 'object',
  additionalProperties: false,
  required: ['value', 'currency'],
  properties: { value: minor, currency },
} as const;
export const id = <N extends number>(max: N) => ({ type: 'string', minLength: 1, maxLength: max, pattern: ID_PATTERN }) as const;
export const lang = { type: 'string', pattern: '^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$', maxLength: 16 } as const;
export const decision = { type: 'string', enum: DECISIONS } as const;
export const responseCode = { type: 'string', pattern: RESPONSE_CODE_PATTERN } as const;
export const declineType = { type: 'string', enum: FAILURE_TYPES } as const;
export const outcomeStatus = { type: 'string', enum: HISTORY_STATUSES } as const;
export const ip = { type: 'string', maxLength: 45, pattern: '^[0-9A-Fa-f:.]+$' } as const;
export const unixAt = {
  type: 'integer',
  minimum: 0,
  maximum: AT_MAX,
  description: `unix seconds; at most ${AT_MAX_SKEW_S} s ahead of the receiver's clock; default now`,
} as const;

/** A prompt for the shopper (a soft decline's advice), as the service answers it and the bridge passes it on. */
export const prompt = {
  type: ['object', 'null'],
  properties: { code: { type: 'string' }, message: { type: 'string' }, lang: { type: 'string' } },
} as const;

/** An order as the shop gives it to the bridge (POST /v1/verify) and the bridge to the service. */
export const order = {
  type: 'object',
  additionalProperties: false,
  required: ['id', 'amount'],
  properties: {
    id: id(64),
    amount,
    country: { ...country, description: 'billing/shipping country (ISO 3166-1 alpha-2); a routing segment' },
  },
} as const;

// ---------------------------------------------------------------- POST /v1/auth
export const authBody = {
  type: 'object',
  additionalProperties: false,
  required: ['bin', 'last4', 'expMonth', 'expYear', 'order'],
  properties: {
    token: { ...hex32, description: 'card token (32 lowercase hex) computed by the verifier device; absent when no device answered — then no card-level facts (restricted, known-good, history) are used, only BIN rules, expiry and new-card trust' },
    bin,
    last4,
    brand,
    expMonth: { type: 'integer', minimum: 1, maximum: 12 },
    expYear: { type: 'integer', minimum: 0, maximum: 2200 },
    order: {
      ...order,
      properties: {
        ...order.properties,
        crossBorder: { type: 'boolean', description: 'the card is issued outside the merchant country; a routing segment (the bridge adds it)' },
      },
    },
    customer: {
      type: 'object',
      additionalProperties: false,
      properties: {
        accountId: id(128),
        deviceId: id(128),
        ip,
        ipCountry: country,
      },
    },
    local: {
      type: 'object',
      additionalProperties: false,
      required: ['decision', 'reason'],
      properties: {
        decision,
        reason: { type: 'string', maxLength: 64 },
        datasetVersion: { type: ['integer', 'null'], minimum: 0 },
      },
    },
    lang,
  },
} as const;

// ---------------------------------------------------------------- POST /v1/outcomes
export const outcomeBody = {
  type: 'object',
  additionalProperties: false,
  required: ['idempotencyKey', 'bin', 'last4', 'orderId', 'amount', 'currency', 'gateway', 'status'],
  properties: {
    idempotencyKey: id(128),
    token: { ...hex32, description: 'card token; absent when no device produced one — the outcome then feeds gateway success rates only, never the restricted list, known-good cards or card history' },
    bin,
    last4,
    brand,
    orderId: id(64),
    amount: minor,
    currency,
    gateway: id(64),
    status: outcomeStatus,
    code: responseCode,
    type: declineType,
    advice: { type: 'string', pattern: '^[0-9]{2}$', description: 'Mastercard Merchant Advice Code' },
    at: unixAt,
    country: { ...country, description: "the order's billing country; default: what the order's /v1/auth said" },
    crossBorder: { type: 'boolean', description: "cross-border order; default: what the order's /v1/auth said" },
    terminal: { ...id(64), description: 'verifier device (terminal) that verified the order: a success at a located terminal sends the payer a notice' },
    account: { ...id(128), description: "the payer's account at the merchant, whose consenting notification endpoints get the notice" },
  },
} as const;

/** Body of `POST {serviceUrl}/v1/auth`, as sent by the bridge and validated by the service. */
export type AuthBody = FromSchema<typeof authBody>;
/** Body of `POST {serviceUrl}/v1/outcomes`, as sent by the bridge and validated by the service. */
export type OutcomeBody = FromSchema<typeof outcomeBody>;
