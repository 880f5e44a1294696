// JSON schemas of the HTTP API: validation (ajv, unknown fields rejected) and the OpenAPI document
// (@fastify/swagger reads the same objects, so the document cannot drift from what is enforced).

const hex32 = { type: 'string', pattern: '^[0-9a-f]{32}$', description: 'card token: 32 lowercase hex characters' } as const;
const bin = { type: 'string', pattern: '^[0-9]{6,8}$', description: 'first 6 (to 8) digits' } as const;
const last4 = { type: 'string', pattern: '^[0-9]{4}$' } as const;
const brand = { type: 'string', pattern: '^[a-z0-9-]{1,32}$', description: 'credit-card-type brand id' } as const;
const currency = { type: 'string', pattern: '^[A-Z]{3}$' } as const;
const country = { type: 'string', pattern: '^[A-Z]{2}$' } as const;
const minor = { type: 'integer', minimum: 0, maximum: 1e13 } as const;
const id = (max: number) => ({ type: 'string', minLength: 1, maxLength: max, pattern: '^[A-Za-z0-9_.:/@#-]+$' }) as const;
const lang = { type: 'string', pattern: '^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$', maxLength: 16 } as const;
const decision = { type: 'string', enum: ['approve', 'decline', 'review', 'escalate'] } as const;
const responseCode = { type: 'string', pattern: '^[A-Za-z0-9]{1,8}$' } as const;

export const errorSchema = {
  type: 'object',
  properties: {
    error: {
      type: 'object',
      properties: { code: { type: 'string' }, message: { type: 'string' } },
      required: ['code', 'message'],
    },
  },
  required: ['error'],
} as const;

const errors = (...codes: number[]) => Object.fromEntries(codes.map((c) => [c, { ...errorSchema, description: 'error' }]));

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
      type: 'object',
      additionalProperties: false,
      required: ['id', 'amount'],
      properties: {
        id: id(64),
        amount: {
          type: 'object',
          additionalProperties: false,
          required: ['value', 'currency'],
          properties: { value: minor, currency },
        },
        country: { ...country, description: 'billing/shipping country (ISO 3166-1 alpha-2); a routing segment' },
        crossBorder: { type: 'boolean', description: 'the card is issued outside the merchant country; a routing segment' },
      },
    },
    customer: {
      type: 'object',
      additionalProperties: false,
      properties: {
        accountId: id(128),
        deviceId: id(128),
        ip: { type: 'string', maxLength: 64, pattern: '^[0-9A-Fa-f:.]+$' },
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

export const authResponse = {
  type: 'object',
  required: ['decision', 'reason', 'prompt', 'gateway', 'modelVersion', 'datasetVersion'],
  properties: {
    decision: { type: 'string', enum: ['approve', 'decline', 'review'] },
    reason: { type: 'string' },
    detail: { type: ['string', 'null'] },
    prompt: {
      type: ['object', 'null'],
      properties: { code: { type: 'string' }, message: { type: 'string' }, lang: { type: 'string' } },
    },
    gateway: { type: ['string', 'null'] },
    route: {
      type: ['object', 'null'],
      description: 'how the gateway was chosen: success rate in the segment level used, exploration, eliminated gateways',
      properties: {
        successRate: { type: ['number', 'null'] },
        explored: { type: 'boolean' },
        segmentLevel: { type: 'string' },
        eliminated: { type: 'array', items: { type: 'string' } },
      },
    },
    trust: {
      type: ['object', 'null'],
      description: 'set when new-card trust decided: level, payment limit (minor units), P(good)',
      properties: { level: { type: 'string' }, limit: { type: 'integer' }, score: { type: 'number' }, modelVersion: { type: 'string' } },
    },
    modelVersion: { type: 'string', description: 'trust model in use' },
    datasetVersion: { type: ['integer', 'null'] },
  },
} as const;

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
    status: { type: 'string', enum: ['success', 'failure'] },
    code: responseCode,
    type: { type: 'string', enum: ['hard', 'soft', 'technical', 'fraud'] },
    advice: { type: 'string', pattern: '^[0-9]{2}$', description: 'Mastercard Merchant Advice Code' },
    at: { type: 'integer', minimum: 0, description: 'unix seconds; default now' },
    country: { ...country, description: "the order's billing country; default: what the order's /v1/auth said" },
    crossBorder: { type: 'boolean', description: "cross-border order; default: what the order's /v1/auth said" },
    terminal: { ...id(64), description: 'verifier device (terminal) that verified the order: a success at a located terminal sends the payer a notice' },
    account: { ...id(128), description: "the payer's account at the merchant, whose consenting notification endpoints get the notice" },
  },
} as const;

export const outcomeResponse = {
  type: 'object',
  properties: {
    outcomeId: { type: 'string' },
    restricted: { type: 'boolean' },
    knownGood: { type: 'boolean' },
  },
} as const;

export const versionParam = { type: 'string', pattern: '^[0-9]{1,10}$' } as const;
export const indexParam = { type: 'string', pattern: '^[0-9]{1,6}$' } as const;

export const datasetLatestResponse = {
  type: 'object',
  properties: {
    version: { type: 'integer' },
    manifestUrl: { type: 'string' },
    createdAt: { type: 'integer' },
    expiresAt: { type: 'integer' },
    contentHash: { type: 'string' },
    chunkCount: { type: 'integer' },
    bytes: { type: 'integer' },
    ageSeconds: { type: 'integer', description: 'Seconds since this version was created (service clock): how old the newest published data is' },
    oldestUnpublishedChangeAgeSeconds: { type: ['number', 'null'], description: 'Age of the oldest change not yet in a published dataset; null when none is pending' },
  },
} as const;

export const healthResponse = {
  type: 'object',
  properties: {
    status: { type: 'string' },
    datasetVersion: { type: ['integer', 'null'] },
    oldestUnpublishedChangeAgeSeconds: { type: ['number', 'null'], description: 'Age of the oldest change not yet in a published dataset; null when none is pending' },
  },
} as const;

export const firmwareLatestResponse = {
  type: 'object',
  properties: {
    version: { type: 'integer' },
    name: { type: ['string', 'null'] },
    manifestUrl: { type: 'string' },
    createdAt: { type: 'integer' },
    chunkCount: { type: 'integer' },
    bytes: { type: 'integer' },
  },
} as const;

export const promptBody = {
  type: 'object',
  additionalProperties: false,
  required: ['code', 'lang', 'message'],
  properties: { code: { type: 'string', pattern: '^[a-z0-9_]{1,64}$' }, lang, message: { type: 'string', minLength: 1, maxLength: 1024 } },
} as const;

export const binRuleBody = {
  type: 'object',
  additionalProperties: false,
  required: ['prefix', 'action', 'reason'],
  properties: {
    prefix: { type: 'string', pattern: '^[0-9]{1,8}$' },
    action: { type: 'string', enum: ['decline', 'review'] },
    reason: { type: 'string', pattern: '^[A-Za-z0-9_.:-]{1,64}$' },
  },
} as const;

export const gatewayBody = {
  type: 'object',
  additionalProperties: false,
  required: ['name'],
  properties: {
    name: id(64),
    feePerAttempt: { type: 'integer', minimum: 0, maximum: 1e9, default: 0 },
    feeBps: { type: 'integer', minimum: 0, maximum: 10000, default: 0 },
  },
} as const;

export const routingObjectiveBody = {
  type: 'object',
  additionalProperties: false,
  required: ['objective'],
  properties: {
    objective: { type: 'string', enum: ['success', 'value'], description: "'success' (default): maximise the probability the order gets paid; 'value': success × marginBps − fee" },
    marginBps: { type: 'integer', minimum: 1, maximum: 100000, description: "the merchant's margin on a paid order in basis points of the amount (value objective only)" },
  },
} as const;

export const routingObjectiveResponse = {
  type: 'object',
  properties: {
    merchant: { type: 'string' },
    objective: { type: 'string', enum: ['success', 'value'] },
    marginBps: { type: ['integer', 'null'] },
    source: { type: 'string', enum: ['merchant', 'default', 'built-in'] },
  },
} as const;

export const issueKeyBody = {
  type: 'object',
  additionalProperties: false,
  required: ['merchant'],
  properties: { merchant: id(64), label: { type: 'string', maxLength: 128 } },
} as const;

export const deviceBody = {
  type: 'object',
  additionalProperties: false,
  required: ['id', 'merchant', 'kind'],
  properties: {
    id: id(64),
    merchant: id(64),
    kind: { type: 'string', enum: ['usb', 'rs485', 'ble', 'emulator'] },
    label: { type: 'string', maxLength: 128 },
    publicKey: { type: 'string', pattern: '^[0-9a-f]{64}$' },
  },
} as const;

export const deviceHostBody = {
  type: 'object',
  additionalProperties: false,
  required: ['hostId'],
  properties: { hostId: id(64), publicKey: { type: 'string', pattern: '^[0-9a-f]{64}$' } },
} as const;

export const restrictedBody = {
  type: 'object',
  additionalProperties: false,
  required: ['token', 'reason'],
  properties: { token: hex32, reason: { type: 'string', pattern: '^[A-Za-z0-9_.:-]{1,64}$' }, bin, last4, expiresAt: { type: 'integer', minimum: 0 } },
} as const;

export const importReport = {
  type: 'object',
  properties: {
    lines: { type: 'integer' },
    imported: { type: 'integer' },
    added: { type: 'integer' },
    invalidCount: { type: 'integer' },
    invalidLines: { type: 'array', items: { type: 'integer' } },
  },
} as const;

export { errors };
