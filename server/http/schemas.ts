// JSON schemas of the HTTP API: validation (ajv, unknown fields rejected) and the OpenAPI document
// (@fastify/swagger reads the same objects, so the document cannot drift from what is enforced).

import { authBody, bin, hex32, id, last4, lang, outcomeBody, prompt } from '../../contracts/schemas.ts';
import { DATASET_VERSION_HEADER } from '../../contracts/dataset-version.ts';
import { FINAL_DECISIONS } from '../../rules/decide.ts';
import { LINK_KINDS } from '../../protocol/link-kind.ts';
import { BIN_ACTIONS } from '../../protocol/dataset/types.ts';

// The bridge ↔ service bodies are defined once, in contracts/ (the bridge uses the same limits).
export { authBody, outcomeBody };

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

export const authResponse = {
  type: 'object',
  required: ['decision', 'reason', 'prompt', 'gateway', 'modelVersion', 'datasetVersion'],
  properties: {
    decision: { type: 'string', enum: FINAL_DECISIONS },
    reason: { type: 'string' },
    detail: { type: ['string', 'null'] },
    prompt,
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

export const outcomeResponse = {
  type: 'object',
  properties: {
    outcomeId: { type: 'string' },
    restricted: { type: 'boolean' },
    knownGood: { type: 'boolean' },
  },
} as const;

/** On bridge answers: the newest dataset the service has published (absent before the first). */
export const datasetVersionHeader = {
  [DATASET_VERSION_HEADER]: { type: 'integer', description: 'Newest dataset version this service has published; a bridge whose devices hold an older one syncs them now' },
} as const;

export const versionParam = { type: 'string', pattern: '^[0-9]{1,10}$' } as const;
export const indexParam = { type: 'string', pattern: '^[0-9]{1,6}$' } as const;

const oldestUnpublishedChangeAgeSeconds = { type: ['number', 'null'], description: 'Age of the oldest change not yet in a published dataset; null when none is pending' } as const;

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
    oldestUnpublishedChangeAgeSeconds,
  },
} as const;

export const healthResponse = {
  type: 'object',
  properties: {
    status: { type: 'string' },
    datasetVersion: { type: ['integer', 'null'] },
    oldestUnpublishedChangeAgeSeconds,
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
    action: { type: 'string', enum: BIN_ACTIONS },
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
    // the link kinds; 'emulator' stays accepted for registrations from before the emulator's cables
    // had their own names (hid-cable, ble-cable)
    kind: { type: 'string', enum: [...LINK_KINDS, 'emulator'] },
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
