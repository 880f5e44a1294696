// The message catalogue: wire type number, where the message may appear, and its body schema.
// Responses have bit 7 of the type set. `plain` messages travel outside a secure session,
// `inner` ones only encrypted inside SECURE/SECURE_RES, `both` in either place.
// Field keys are part of the wire format: never renumber, only add new keys.

import {
  arrayOf,
  body,
  bool,
  bytes,
  fixedBytes,
  mapOf,
  opt,
  req,
  text,
  uint,
  uint16,
  uint32,
  uint8,
  type BodySchema,
  type BodyType,
} from './schema.ts';

export type Scope = 'plain' | 'inner' | 'both';

export interface MessageSpec<B extends BodySchema = BodySchema, C extends number = number, S extends Scope = Scope> {
  readonly code: C;
  readonly scope: S;
  readonly body: B;
  /** One line for the specification. */
  readonly doc: string;
}

function msg<const C extends number, const S extends Scope, B extends BodySchema>(
  code: C,
  scope: S,
  b: B,
  doc: string,
): MessageSpec<B, C, S> {
  return { code, scope, body: b, doc };
}

// ---- small enumerations carried as uint8 ---------------------------------------------------

export const DECISIONS = ['approve', 'decline', 'review', 'escalate'] as const;
export type Decision = (typeof DECISIONS)[number];
/** What the bridge answers the shop (a device's or the service's decision): "escalate" never leaves the bridge. */
export const FINAL_DECISIONS = ['approve', 'decline', 'review'] as const satisfies readonly Decision[];
export type FinalDecision = (typeof FINAL_DECISIONS)[number];
export const DATASET_STATES = ['fresh', 'stale', 'none'] as const;
export type DatasetState = (typeof DATASET_STATES)[number];
export const FIRMWARE_STATES = ['confirmed', 'trial'] as const;
export type FirmwareState = (typeof FIRMWARE_STATES)[number];
export const PAIR_STATES = ['pending', 'paired', 'rejected'] as const;
export type PairState = (typeof PAIR_STATES)[number];

/** Current protocol version, reported in INFO_RES. */
export const PROTOCOL_VERSION = 1;

// ---- shared bodies -------------------------------------------------------------------------

const DIGITS = (min: number, max: number) => new RegExp(`^[0-9]{${min},${max}}$`);
const NOISE_MAX = 512;
const CHUNK_MAX = 4096;
const MANIFEST_MAX = 4096;
/** A SECURE ciphertext is a whole encrypted inner message plus its 16-byte AEAD tag. */
const CIPHERTEXT_MAX = 8192;

const EMPTY = body();
const NOISE = body(req(2, 'noise', bytes(NOISE_MAX), 'Noise handshake message'));
const PAIR_STATUS = body(req(2, 'state', uint8(2), '0 pending, 1 paired, 2 rejected (PAIR_STATES)'));
const SECURE = body(
  req(2, 'nonce', uint(), 'transport counter, strictly increasing per direction'),
  req(3, 'ciphertext', bytes(CIPHERTEXT_MAX, 16), 'AEAD ciphertext + tag of an inner message'),
);

export const VERIFY_REQ_BODY = body(
  req(2, 'pan', text(19, { minBytes: 12, pattern: DIGITS(12, 19) }), 'card number, digits only'),
  req(3, 'expMonth', uint8(12, 1)),
  req(4, 'expYear', uint16(), 'four-digit year'),
  req(5, 'amount', uint(), 'minor units'),
  req(6, 'currency', text(3, { minBytes: 3, pattern: /^[A-Z]{3}$/ }), 'ISO 4217'),
  opt(7, 'country', text(2, { minBytes: 2, pattern: /^[A-Z]{2}$/ }), 'ISO 3166-1 alpha-2 of the order'),
  opt(8, 'lang', text(16), 'customer language tag for the prompt'),
  opt(9, 'orderId', text(64)),
);

export const VERIFY_RES_BODY = body(
  req(2, 'decision', uint8(3), '0 approve, 1 decline, 2 review, 3 escalate (DECISIONS)'),
  req(3, 'reason', text(64), 'machine-readable reason'),
  opt(4, 'promptCode', text(32)),
  opt(5, 'promptMessage', text(512), 'text for the customer'),
  opt(6, 'promptLang', text(16)),
  req(7, 'token', fixedBytes(16), 'card token (HMAC-SHA-256, first 16 bytes)'),
  req(8, 'bin', text(8, { minBytes: 6, pattern: DIGITS(6, 8) })),
  req(9, 'last4', text(4, { minBytes: 4, pattern: DIGITS(4, 4) })),
  opt(10, 'brand', text(32)),
  req(11, 'datasetVersion', uint32(), 'dataset the decision used, 0 = none'),
  opt(12, 'gateway', text(64), 'recommended gateway, when known'),
  opt(13, 'alternatives', arrayOf(text(64), 8), "the segment's next gateways, best first (none eliminated): the bridge's fallback when `gateway` is failing now"),
);

const TRANSFER_STATE = body(req(2, 'version', uint32()), req(3, 'nextChunk', uint32()), req(4, 'totalChunks', uint32()));
const BEGIN = body(req(2, 'manifest', bytes(MANIFEST_MAX, 1), 'encoded signed manifest'));
const CHUNK = body(req(2, 'version', uint32()), req(3, 'index', uint32()), req(4, 'data', bytes(CHUNK_MAX)));
const VERSION = body(req(2, 'version', uint32()));

// ---- the catalogue -------------------------------------------------------------------------

export const CATALOGUE = {
  INFO_REQ: msg(0x01, 'plain', EMPTY, 'Device identity and state; no session needed.'),
  INFO_RES: msg(
    0x81,
    'plain',
    body(
      req(2, 'deviceId', text(64, { minBytes: 1 })),
      req(3, 'protocolVersion', uint8()),
      req(4, 'firmwareVersion', uint32()),
      req(5, 'maxMessageSize', uint16(), 'largest message the device accepts, bytes'),
      req(6, 'datasetVersion', uint32(), '0 = none'),
      req(7, 'datasetState', uint8(2), '0 fresh, 1 stale, 2 none (DATASET_STATES)'),
      req(8, 'datasetExpiresAt', uint(), 'unix seconds, 0 = none'),
      req(9, 'staticKey', fixedBytes(32), "device's Noise static public key (X25519)"),
      req(10, 'pairedHosts', uint8()),
      req(11, 'maxPairedHosts', uint8()),
      opt(12, 'rulesVersion', uint16(), 'version of the decision rules the firmware runs (rules/ RULES_VERSION); absent: firmware from before rules versions'),
    ),
    'Answer to INFO_REQ.',
  ),
  PAIR_INIT: msg(0x02, 'plain', NOISE, 'Noise XX message 1 (host -> device).'),
  PAIR_RESP: msg(0x82, 'plain', NOISE, 'Noise XX message 2 (device -> host).'),
  PAIR_FINISH: msg(0x03, 'plain', NOISE, 'Noise XX message 3 (host -> device); answered by PAIR_STATUS.'),
  PAIR_STATUS: msg(0x84, 'plain', PAIR_STATUS, 'Pairing state; answers PAIR_FINISH, PAIR_CONFIRM, PAIR_POLL.'),
  PAIR_CONFIRM: msg(0x04, 'plain', body(req(2, 'accept', bool(), 'the short codes match')), 'Host-side confirmation of the short code.'),
  PAIR_POLL: msg(0x05, 'plain', EMPTY, 'Ask for the pairing state (the device user confirms on the device).'),
  SESSION_INIT: msg(0x06, 'plain', NOISE, 'Noise KK message 1 (host -> device).'),
  SESSION_RESP: msg(0x86, 'plain', NOISE, 'Noise KK message 2 (device -> host).'),
  SECURE: msg(0x07, 'plain', SECURE, 'Encrypted inner request.'),
  SECURE_RES: msg(0x87, 'plain', SECURE, 'Encrypted inner response.'),
  STATUS_REQ: msg(0x08, 'both', EMPTY, 'Health and sync progress.'),
  STATUS_RES: msg(
    0x88,
    'both',
    body(
      req(2, 'deviceId', text(64, { minBytes: 1 })),
      req(3, 'firmwareVersion', uint32()),
      req(4, 'firmwareState', uint8(1), '0 confirmed, 1 trial (FIRMWARE_STATES)'),
      req(5, 'datasetVersion', uint32(), '0 = none'),
      req(6, 'datasetState', uint8(2), '0 fresh, 1 stale, 2 none (DATASET_STATES)'),
      req(7, 'datasetCreatedAt', uint(), 'unix seconds, 0 = none'),
      req(8, 'datasetExpiresAt', uint(), 'unix seconds, 0 = none'),
      req(9, 'verificationsServed', uint32()),
      req(10, 'framesRejected', uint32()),
      req(11, 'syncVersion', uint32(), 'dataset version being received, 0 = none'),
      req(12, 'syncNextChunk', uint32()),
      req(13, 'syncTotalChunks', uint32()),
    ),
    'Answer to STATUS_REQ.',
  ),
  ERROR: msg(
    0xff,
    'both',
    body(req(2, 'code', uint8(), 'numeric error code (table above)'), req(3, 'message', text(256), 'human-readable, never card data')),
    'Failure answer to any request; echoes the request id (0 when unknown).',
  ),

  VERIFY_REQ: msg(0x10, 'inner', VERIFY_REQ_BODY, 'Verify one card.'),
  VERIFY_RES: msg(0x90, 'inner', VERIFY_RES_BODY, 'Local decision for one card.'),
  VERIFY_BATCH_REQ: msg(0x11, 'inner', body(req(2, 'items', arrayOf(mapOf(VERIFY_REQ_BODY), 16, 1), 'VERIFY_REQ bodies')), 'Verify up to 16 cards.'),
  VERIFY_BATCH_RES: msg(0x91, 'inner', body(req(2, 'items', arrayOf(mapOf(VERIFY_RES_BODY), 16, 1), 'VERIFY_RES bodies, same order')), 'Decisions, in request order.'),

  SYNC_BEGIN: msg(0x20, 'inner', BEGIN, 'Start (or resume) receiving a dataset.'),
  SYNC_STATE: msg(0xa0, 'inner', TRANSFER_STATE, 'Dataset transfer progress; answers SYNC_BEGIN, SYNC_CHUNK, SYNC_STATUS.'),
  SYNC_CHUNK: msg(0x21, 'inner', CHUNK, 'One dataset chunk.'),
  SYNC_COMMIT: msg(0x22, 'inner', VERSION, 'Verify and activate the received dataset.'),
  SYNC_DONE: msg(0xa2, 'inner', body(req(2, 'activeVersion', uint32())), 'Answer to SYNC_COMMIT.'),
  SYNC_ABORT: msg(0x23, 'inner', VERSION, 'Drop a partial dataset.'),
  ACK: msg(0xa3, 'inner', EMPTY, 'Plain success; answers SYNC_ABORT and UNPAIR.'),
  SYNC_STATUS: msg(0x24, 'inner', EMPTY, 'Ask for dataset transfer progress.'),

  FW_BEGIN: msg(0x30, 'inner', BEGIN, 'Start (or resume) receiving firmware.'),
  FW_STATE: msg(0xb0, 'inner', TRANSFER_STATE, 'Firmware transfer progress; answers FW_BEGIN, FW_CHUNK.'),
  FW_CHUNK: msg(0x31, 'inner', CHUNK, 'One firmware chunk.'),
  FW_COMMIT: msg(0x32, 'inner', VERSION, 'Verify the image and boot it on trial.'),
  FW_DONE: msg(
    0xb2,
    'inner',
    body(req(2, 'version', uint32()), req(3, 'state', uint8(1), '0 confirmed, 1 trial (FIRMWARE_STATES)')),
    'Answer to FW_COMMIT (state 1) and FW_CONFIRM (state 0).',
  ),
  FW_CONFIRM: msg(0x33, 'inner', VERSION, 'Make the trial firmware permanent.'),

  UNPAIR: msg(0x40, 'inner', body(req(2, 'hostKey', fixedBytes(32), 'static public key of the host to forget')), 'Forget a paired host.'),
} as const;

export type Catalogue = typeof CATALOGUE;
export type MessageName = keyof Catalogue;

/** Wire type number of every message. */
export const MESSAGE_TYPES: { readonly [K in MessageName]: Catalogue[K]['code'] } = Object.freeze(
  Object.fromEntries(Object.entries(CATALOGUE).map(([k, v]) => [k, v.code])),
) as { readonly [K in MessageName]: Catalogue[K]['code'] };

export const MESSAGE_NAMES: ReadonlyMap<number, MessageName> = new Map(
  (Object.keys(CATALOGUE) as MessageName[]).map((k) => [CATALOGUE[k].code, k]),
);

/** Which responses answer each request (ERROR answers any of them). */
export const RESPONSES = {
  INFO_REQ: ['INFO_RES'],
  PAIR_INIT: ['PAIR_RESP'],
  PAIR_FINISH: ['PAIR_STATUS'],
  PAIR_CONFIRM: ['PAIR_STATUS'],
  PAIR_POLL: ['PAIR_STATUS'],
  SESSION_INIT: ['SESSION_RESP'],
  SECURE: ['SECURE_RES'],
  STATUS_REQ: ['STATUS_RES'],
  VERIFY_REQ: ['VERIFY_RES'],
  VERIFY_BATCH_REQ: ['VERIFY_BATCH_RES'],
  SYNC_BEGIN: ['SYNC_STATE'],
  SYNC_CHUNK: ['SYNC_STATE'],
  SYNC_COMMIT: ['SYNC_DONE'],
  SYNC_ABORT: ['ACK'],
  SYNC_STATUS: ['SYNC_STATE'],
  FW_BEGIN: ['FW_STATE'],
  FW_CHUNK: ['FW_STATE'],
  FW_COMMIT: ['FW_DONE'],
  FW_CONFIRM: ['FW_DONE'],
  UNPAIR: ['ACK'],
} as const satisfies Partial<Record<MessageName, readonly MessageName[]>>;

export type RequestName = keyof typeof RESPONSES;
export type ResponseName = Exclude<MessageName, RequestName>;

// ---- TypeScript types derived from the catalogue -------------------------------------------

type Simplify<T> = { [K in keyof T]: T[K] } & {};

export type BodyOf<K extends MessageName> = BodyType<Catalogue[K]['body']>;
export type MessageOf<K extends MessageName> = Simplify<{ type: K; id: number } & BodyOf<K>>;

/** Every message, discriminated by `type`. */
export type Message = { [K in MessageName]: MessageOf<K> }[MessageName];

type NamesIn<S extends Scope> = {
  [K in MessageName]: Catalogue[K]['scope'] extends S | 'both' ? K : never;
}[MessageName];
export type PlainName = NamesIn<'plain'>;
export type InnerName = NamesIn<'inner'>;
/** Messages allowed outside a secure session. */
export type PlainMessage = { [K in PlainName]: MessageOf<K> }[PlainName];
/** Messages carried inside SECURE / SECURE_RES. */
export type InnerMessage = { [K in InnerName]: MessageOf<K> }[InnerName];

export type InfoReq = MessageOf<'INFO_REQ'>;
export type InfoRes = MessageOf<'INFO_RES'>;
export type PairInit = MessageOf<'PAIR_INIT'>;
export type PairResp = MessageOf<'PAIR_RESP'>;
export type PairFinish = MessageOf<'PAIR_FINISH'>;
export type PairStatus = MessageOf<'PAIR_STATUS'>;
export type PairConfirm = MessageOf<'PAIR_CONFIRM'>;
export type PairPoll = MessageOf<'PAIR_POLL'>;
export type SessionInit = MessageOf<'SESSION_INIT'>;
export type SessionResp = MessageOf<'SESSION_RESP'>;
export type Secure = MessageOf<'SECURE'>;
export type SecureRes = MessageOf<'SECURE_RES'>;
export type StatusReq = MessageOf<'STATUS_REQ'>;
export type StatusRes = MessageOf<'STATUS_RES'>;
export type ErrorMsg = MessageOf<'ERROR'>;
export type VerifyReq = MessageOf<'VERIFY_REQ'>;
export type VerifyRes = MessageOf<'VERIFY_RES'>;
export type VerifyBatchReq = MessageOf<'VERIFY_BATCH_REQ'>;
export type VerifyBatchRes = MessageOf<'VERIFY_BATCH_RES'>;
export type SyncBegin = MessageOf<'SYNC_BEGIN'>;
export type SyncState = MessageOf<'SYNC_STATE'>;
export type SyncChunk = MessageOf<'SYNC_CHUNK'>;
export type SyncCommit = MessageOf<'SYNC_COMMIT'>;
export type SyncDone = MessageOf<'SYNC_DONE'>;
export type SyncAbort = MessageOf<'SYNC_ABORT'>;
export type Ack = MessageOf<'ACK'>;
export type SyncStatus = MessageOf<'SYNC_STATUS'>;
export type FwBegin = MessageOf<'FW_BEGIN'>;
export type FwState = MessageOf<'FW_STATE'>;
export type FwChunk = MessageOf<'FW_CHUNK'>;
export type FwCommit = MessageOf<'FW_COMMIT'>;
export type FwDone = MessageOf<'FW_DONE'>;
export type FwConfirm = MessageOf<'FW_CONFIRM'>;
export type Unpair = MessageOf<'UNPAIR'>;

/** A VERIFY_REQ without the envelope: one item of VERIFY_BATCH_REQ. */
export type VerifyReqBody = BodyType<typeof VERIFY_REQ_BODY>;
/** A VERIFY_RES without the envelope: one item of VERIFY_BATCH_RES. */
export type VerifyResBody = BodyType<typeof VERIFY_RES_BODY>;
