// JSON Schemas of the bridge's HTTP API. Fastify validates requests with them and
// @fastify/swagger turns them into /v1/openapi.json, so the document cannot drift from the code.
// Every field forwarded to the network service uses the service's own building blocks and limits
// (contracts/schemas.ts): what this bridge acknowledges, the service accepts.
import { declineType, id, ip, lang, order, outcomeStatus, prompt, responseCode, unixAt } from '../../contracts/schemas.ts';
import { ATTEMPT_MAX, NAME_PATTERN } from '../../contracts/limits.ts';
import { LINK_KINDS } from '../../protocol/link-kind.ts';
import { DATASET_STATES, FIRMWARE_STATES } from '../../protocol/messages/catalogue.ts';
import { FINAL_DECISIONS } from '../../rules/decide.ts';

export const errorBody = {
  type: 'object',
  properties: {
    error: {
      type: 'object',
      properties: { code: { type: 'string' }, message: { type: 'string' }, field: { type: 'string' } },
      required: ['code', 'message'],
    },
  },
  required: ['error'],
} as const;

export const errorResponses = {
  400: { description: 'Malformed request; `field` names the offending field', ...errorBody },
  401: { description: 'Missing or wrong bearer token', ...errorBody },
  404: { description: 'Unknown resource', ...errorBody },
  500: { description: 'Internal error', ...errorBody },
} as const;

/** What /v1/verify can also answer (docs/operations.md "HTTP API"). */
export const verifyErrorResponses = {
  413: { description: 'Request body over 16 KiB', ...errorBody },
  415: { description: 'Body not sent as application/json', ...errorBody },
  429: { description: 'Over rateLimit.perMinute for this client address', ...errorBody },
  503: { description: 'The chosen device (verifierId) is unavailable', ...errorBody },
  504: { description: 'The device or the network service did not answer in time', ...errorBody },
} as const;

export const verifyBody = {
  type: 'object',
  additionalProperties: false,
  required: ['card', 'order'],
  properties: {
    card: {
      type: 'object',
      additionalProperties: false,
      required: ['number', 'expMonth', 'expYear'],
      properties: {
        number: { type: 'string', minLength: 12, maxLength: 23, description: 'Card number (PAN); spaces and dashes allowed. Never stored or logged.' },
        expMonth: { type: 'integer', minimum: 1, maximum: 12 },
        expYear: { type: 'integer', minimum: 0, maximum: 2999, description: 'Two or four digits' },
        cvc: { type: 'string', minLength: 3, maxLength: 4, description: 'Checked for format, then dropped: never forwarded, stored or logged.' },
      },
    },
    order,
    // Forwarded to the service's /v1/auth: its rules, so a value it would refuse is a 400 here
    // rather than a silent fallback decision.
    customer: {
      type: 'object',
      additionalProperties: false,
      properties: { accountId: id(128), deviceId: id(128), ip },
    },
    lang,
    verifierId: { type: 'string', maxLength: 128, description: 'Verifier device to ask (default: first healthy paired one)' },
  },
} as const;

export const verifyResponse = {
  type: 'object',
  required: ['orderId', 'decision', 'reason', 'stage', 'prompt', 'gateway', 'card', 'device', 'timings'],
  properties: {
    orderId: { type: 'string' },
    decision: { type: 'string', enum: FINAL_DECISIONS },
    reason: { type: 'string' },
    stage: { type: 'string', enum: ['local', 'network', 'fallback'] },
    prompt,
    gateway: { type: ['string', 'null'] },
    card: {
      type: 'object',
      properties: { brand: { type: ['string', 'null'] }, bin: { type: 'string' }, last4: { type: 'string' } },
    },
    device: {
      type: ['object', 'null'],
      properties: { id: { type: 'string' }, datasetVersion: { type: 'integer' } },
    },
    timings: {
      type: 'object',
      properties: { formatMs: { type: 'number' }, localMs: { type: 'number' }, networkMs: { type: 'number' }, totalMs: { type: 'number' } },
    },
  },
} as const;

export const outcomeBody = {
  type: 'object',
  additionalProperties: false,
  required: ['orderId', 'gateway', 'status'],
  properties: {
    orderId: id(64),
    gateway: { type: 'string', minLength: 1, maxLength: 64, pattern: NAME_PATTERN },
    status: outcomeStatus,
    code: { ...responseCode, description: 'Gateway/issuer response code, e.g. "05", "51"' },
    type: { ...declineType, description: 'Decline type from the gateway, when known' },
    attempt: {
      type: 'integer',
      minimum: 0,
      maximum: ATTEMPT_MAX,
      description: "Attempt number; part of the idempotency key. Absent: the bridge numbers it (1 + the order's reports at this gateway) and answers the number",
    },
    at: unixAt,
    account: { ...id(128), description: "The payer's account at the merchant: a success at a located terminal sends the payer's consenting endpoints a notice" },
  },
} as const;

export const outcomeResponse = {
  type: 'object',
  properties: { idempotencyKey: { type: 'string' }, attempt: { type: 'integer' }, duplicate: { type: 'boolean' }, queued: { type: 'boolean' } },
} as const;

export const deviceSummary = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    link: { type: 'string', enum: LINK_KINDS },
    address: { type: 'string' },
    paired: { type: 'boolean' },
    healthy: { type: 'boolean' },
    firmwareVersion: { type: 'integer' },
    firmwareState: { type: 'string', enum: FIRMWARE_STATES },
    datasetVersion: { type: 'integer' },
    datasetState: { type: 'string', enum: DATASET_STATES },
    datasetCreatedAt: { type: ['integer', 'null'] },
    datasetExpiresAt: { type: ['integer', 'null'] },
    rulesVersion: { type: ['integer', 'null'], description: 'Decision rules version the device runs (INFO_RES); null: firmware from before rules versions' },
    rulesCurrent: { type: 'boolean', description: "false: the device answers by other rules than the service's (health's rules.version); update its firmware" },
    lastError: { type: 'string' },
  },
} as const;

export const pairBody = {
  type: 'object',
  additionalProperties: false,
  properties: {
    confirm: { type: 'boolean', description: 'Absent: start pairing and get the code. true/false: accept or refuse it.' },
    code: { type: 'string', pattern: '^[0-9A-Za-z]{4,12}$', description: 'The code shown on the device (checked against the bridge\'s)' },
  },
} as const;

export const pairResponse = {
  type: 'object',
  properties: {
    status: { type: 'string', enum: ['confirm', 'paired', 'rejected'] },
    code: { type: 'string' },
    expiresInS: { type: 'integer' },
    device: deviceSummary,
  },
} as const;

export const syncBody = {
  type: 'object',
  additionalProperties: false,
  properties: {
    devices: { type: 'array', items: { type: 'string', maxLength: 128 }, maxItems: 256 },
    force: { type: 'boolean' },
    firmware: { type: 'boolean' },
    dataset: { type: 'boolean' },
  },
} as const;

export const syncResponse = {
  description: "The sync run's result, per device (shape owned by host-bridge/sync)",
  type: 'object',
  additionalProperties: true,
} as const;

/** A failed sync run: the error that heads it plus the whole per-device report (error-map.ts syncReportStatus). */
const syncFailureBody = { ...errorBody, additionalProperties: true } as const;

/** Sync failures (host-bridge/sync/errors.ts codes, mapped in error-map.ts). */
export const syncErrorResponses = {
  409: { description: 'Another process is syncing the devices (a sync this bridge already runs is waited for), or a device refused the update (body: error + the report)', ...syncFailureBody },
  501: { description: 'No sync runner / dataset source configured', ...syncFailureBody },
  502: { description: 'The network service answered with something unusable (signature, hash, rejection), or a device refused or rolled back (body: error + the report)', ...syncFailureBody },
  503: { description: 'Network service or device unavailable (body: error + the report)', ...syncFailureBody },
} as const;

/** Documentation only: a string payload with a text content type is sent as is, never serialised. */
export const metricsResponse = {
  description: 'Prometheus text exposition format (version 0.0.4)',
  content: { 'text/plain': { schema: { type: 'string' } } },
} as const;

export const openapiResponse = {
  description: 'This OpenAPI 3.0 document',
  type: 'object',
  additionalProperties: true,
} as const;

export const healthResponse = {
  type: 'object',
  properties: {
    status: { type: 'string', enum: ['ok', 'degraded'] },
    uptimeS: { type: 'integer' },
    fallback: { type: 'string' },
    devices: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          id: { type: 'string' },
          link: { type: 'string' },
          paired: { type: 'boolean' },
          healthy: { type: 'boolean' },
          datasetVersion: { type: 'integer' },
          datasetState: { type: 'string' },
          datasetAgeS: { type: ['integer', 'null'] },
          rulesVersion: { type: ['integer', 'null'] },
          rulesCurrent: { type: 'boolean' },
          lastError: { type: 'string' },
        },
      },
    },
    rules: {
      type: 'object',
      description: "The decision rules version devices should run: the newest synced dataset's (source dataset), else this bridge's own (source bridge)",
      properties: { version: { type: 'integer' }, source: { type: 'string', enum: ['dataset', 'bridge'] } },
    },
    network: {
      type: 'object',
      properties: { configured: { type: 'boolean' }, breaker: { type: ['string', 'null'] }, serviceUrl: { type: 'string', description: 'The network service this bridge uses' } },
    },
    outbox: {
      type: 'object',
      properties: {
        outcomesPending: { type: 'integer' },
        outcomesRejected: { type: 'integer' },
        reconciliationsPending: { type: 'integer' },
        reconciliationsRejected: { type: 'integer' },
        reconciliationMismatches: { type: 'integer' },
      },
    },
  },
} as const;
