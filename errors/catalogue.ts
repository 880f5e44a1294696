// The one catalogue of error codes: for each stable code, its wire number (protocol ERROR
// message, HID/BLE error packets; protocol/errors.ts reads them from here), the HTTP status both
// APIs answer it with (service and bridge agree on every shared code), the CLI exit code,
// whether its message may be returned to a caller, and who raises it. The HTTP error handlers
// (server/errors.ts, host-bridge/api/error-map.ts) and the CLI (errors/cli-exit.ts) read it;
// test/errors/catalogue.test.ts checks that every code raised in the sources is here.
// errors/ imports nothing of ours: it is the bottom layer, so protocol/ can build on it.
import { EXIT, type ExitCode } from './exit-codes.ts';

export interface ErrorSpec {
  /** Wire number, for the codes a device and a host say to each other (protocol/errors.ts). */
  wire?: number;
  /** HTTP status when an API answers with this code; null: never an API answer (500 if it reaches one). */
  http: number | null;
  /** CLI exit code when a command fails with it. */
  exit: ExitCode;
  /**
   * The message is built by us, without request data, so an API may return it (when raised as
   * one of our typed errors). False: the API answers with a generic message, the log has the rest.
   */
  safe: boolean;
  /** Who raises it. */
  raisedBy: string;
}

const { FAILURE, USAGE, UNAVAILABLE, REFUSED } = EXIT;

export const ERRORS = {
  // ---------------------------------------------------------------- request shape (both APIs)
  BAD_REQUEST: { http: 400, exit: USAGE, safe: true, raisedBy: 'server/http, bridge api error-map: a 4xx from the HTTP framework without a more precise code' },
  INVALID_FIELD: { wire: 0x05, http: 400, exit: USAGE, safe: true, raisedBy: 'schema validation on both APIs; protocol decoders (ProtocolError); contracts (ContractError, AmountError); link-io BLE cable records; bridge transports (a bad timeoutMs), pairing, pin store, OutcomeError, ivr campaigns (ApiError); server notify and routing objectives (ServiceError); simulator scenarios; device CLI' },
  MALFORMED: { wire: 0x01, http: 400, exit: FAILURE, safe: true, raisedBy: 'protocol CBOR/frame decoders (ProtocolError); both APIs for a body that is not JSON; bridge pin store; simulator client' },
  PAN_REJECTED: { http: 400, exit: FAILURE, safe: true, raisedBy: 'server/http and the bridge api: a card number where none may be; notify (consent text, notices)' },
  UNAUTHORIZED: { http: 401, exit: FAILURE, safe: true, raisedBy: 'server/http (API key), bridge api (bearer token)' },
  FORBIDDEN: { http: 403, exit: FAILURE, safe: true, raisedBy: 'server/http, server/keys: a key of the wrong role' },
  WEBHOOK_HOST_NOT_ALLOWED: { http: 403, exit: FAILURE, safe: true, raisedBy: 'server/notify: a webhook URL whose host notify.webhookHosts (or the public-address default) refuses' },
  NOT_FOUND: { http: 404, exit: FAILURE, safe: true, raisedBy: 'both APIs: no such route or resource; server/notify; bridge ivr' },
  METHOD_NOT_ALLOWED: { http: 405, exit: FAILURE, safe: true, raisedBy: 'both APIs: a known path with another method' },
  CONFLICT: { http: 409, exit: FAILURE, safe: true, raisedBy: 'server (idempotency key reused with another body, firmware version, publisher); bridge OutcomeError' },
  TOO_LARGE: { wire: 0x02, http: 413, exit: FAILURE, safe: true, raisedBy: 'protocol decoders and framings, link-io receivers (RTU stream, BLE cable records), bridge transports: a message over the link maximum (ProtocolError); both APIs: body over the limit; server restricted-card import' },
  UNSUPPORTED_MEDIA_TYPE: { http: 415, exit: FAILURE, safe: true, raisedBy: 'both APIs: a body content type the route does not take' },
  MISDIRECTED: { http: 421, exit: FAILURE, safe: true, raisedBy: 'bridge api: a Host header that is not one of its names (DNS rebinding)' },
  RATE_LIMITED: { http: 429, exit: FAILURE, safe: true, raisedBy: 'both APIs: the per-key / per-address rate limit' },
  INTERNAL: { wire: 0x7f, http: 500, exit: FAILURE, safe: true, raisedBy: 'anything unexpected (both APIs answer it with a generic message); ProtocolError wrapping a library error; device core; server dataset builder and publisher (a stored version that does not match its manifest, a build child that died), keys (ServiceError)' },
  UNAVAILABLE: { http: 503, exit: FAILURE, safe: true, raisedBy: 'server: database or dataset build unavailable, no SMS adapter; simulator client' },

  // ---------------------------------------------------------------- service resources
  DATASET_NOT_FOUND: { http: 404, exit: FAILURE, safe: true, raisedBy: 'server/datasets, server/http: no such dataset version' },
  DELTA_UNAVAILABLE: { http: 404, exit: FAILURE, safe: true, raisedBy: 'server/datasets: the delta base is no longer kept (take the snapshot)' },
  FIRMWARE_NOT_FOUND: { http: 404, exit: FAILURE, safe: true, raisedBy: 'server/http: no such firmware' },
  TRUST_TRAINING: { http: null, exit: FAILURE, safe: true, raisedBy: 'server/trust/model.ts TrustTrainingError: too few or degenerate training rows' },

  // ---------------------------------------------------------------- bridge: card format (422)
  CARD_NUMBER_INVALID: { http: 422, exit: FAILURE, safe: true, raisedBy: 'host-bridge/pipeline/format-checks.ts FormatCheckError' },
  CARD_EXPIRED: { http: 422, exit: FAILURE, safe: true, raisedBy: 'host-bridge/pipeline/format-checks.ts FormatCheckError' },
  EXPIRY_INVALID: { http: 422, exit: FAILURE, safe: true, raisedBy: 'host-bridge/pipeline/format-checks.ts FormatCheckError' },
  CVC_INVALID: { http: 422, exit: FAILURE, safe: true, raisedBy: 'host-bridge/pipeline/format-checks.ts, host-bridge/ivr/capture-flow.ts FormatCheckError' },

  // ---------------------------------------------------------------- bridge resources and features
  DEVICE_NOT_FOUND: { http: 404, exit: FAILURE, safe: true, raisedBy: 'bridge pipeline (PipelineError), registry, pairing broker (ApiError), sync engine (SyncError)' },
  ORDER_NOT_FOUND: { http: 404, exit: FAILURE, safe: true, raisedBy: 'host-bridge/outbox/outcomes.ts OutcomeError: an outcome for an order not (or no longer) in the journal' },
  NOT_CONFIGURED: { http: 501, exit: FAILURE, safe: true, raisedBy: 'bridge sync without a service URL (SyncError); bridge ivr call-backs without a dialler (ApiError); simulator' },
  SYNC_NOT_CONFIGURED: { http: 501, exit: FAILURE, safe: true, raisedBy: 'bridge api: POST /v1/sync on a bridge without a sync runner' },
  NETWORK_UNAVAILABLE: { http: 503, exit: UNAVAILABLE, safe: true, raisedBy: 'host-bridge/network/network-client.ts NetworkError: timeouts, connection errors, 5xx after retries, open breaker' },
  NETWORK_REJECTED: { http: 502, exit: FAILURE, safe: true, raisedBy: 'host-bridge/network/network-client.ts NetworkError: the service refused the call (4xx)' },

  // ---------------------------------------------------------------- pairing, sessions, links
  PAIRING_NOT_STARTED: { http: 409, exit: FAILURE, safe: true, raisedBy: 'host-bridge/api/pairing-broker.ts ApiError' },
  PAIRING_IN_PROGRESS: { http: 409, exit: FAILURE, safe: true, raisedBy: 'host-bridge/api/pairing-broker.ts ApiError' },
  PAIRING_REJECTED: { wire: 0x21, http: 409, exit: REFUSED, safe: true, raisedBy: 'device dispatcher (wire); host-bridge/session/pairing.ts ProtocolError; pairing broker ApiError' },
  PAIRING_FULL: { wire: 0x22, http: 409, exit: FAILURE, safe: true, raisedBy: 'device/session/dispatcher.ts, device/store/paired-hosts.ts ProtocolError' },
  NOT_PAIRED: { wire: 0x20, http: 409, exit: REFUSED, safe: true, raisedBy: 'protocol/secure/session.ts, host-bridge secure client and sync engine ProtocolError' },
  IDENTITY_MISMATCH: { wire: 0x27, http: 409, exit: REFUSED, safe: true, raisedBy: 'host-bridge session/pairing, secure client, registry ProtocolError: the device key differs from the pinned one' },
  HANDSHAKE_FAILED: { wire: 0x23, http: 502, exit: REFUSED, safe: true, raisedBy: 'protocol/secure (Noise handshake, pairing, x25519) ProtocolError' },
  DECRYPT_FAILED: { wire: 0x24, http: null, exit: FAILURE, safe: true, raisedBy: 'protocol/secure channel and cipher ProtocolError' },
  REPLAY: { wire: 0x25, http: null, exit: FAILURE, safe: true, raisedBy: 'protocol/secure: a nonce not above the last accepted one (wire only)' },
  NO_SESSION: { wire: 0x26, http: null, exit: FAILURE, safe: true, raisedBy: 'protocol/secure, protocol/messages, device dispatcher ProtocolError' },
  BUSY: { wire: 0x14, http: 503, exit: UNAVAILABLE, safe: true, raisedBy: 'device dispatcher, protocol/framing/modbus-rtu.ts ProtocolError: another exchange in progress' },
  DISCONNECTED: { wire: 0x17, http: 503, exit: UNAVAILABLE, safe: true, raisedBy: 'host-bridge transports, session, registry; device dispatcher ProtocolError' },
  TIMEOUT: { wire: 0x15, http: 504, exit: UNAVAILABLE, safe: true, raisedBy: 'host-bridge transports (idle timeout, or the call budget of runtime/deadline.ts spent), session secure client (budget spent before a send or resend), pairing, registry, pipeline (the device call budget); device link endpoints ProtocolError' },
  CANCELLED: { wire: 0x16, http: null, exit: FAILURE, safe: true, raisedBy: 'host-bridge transports (exchange, reconnecting, rs485 bus) ProtocolError' },
  UNSUPPORTED: { wire: 0x40, http: 501, exit: FAILURE, safe: true, raisedBy: 'protocol (Noise patterns, dataset codec), device links and store, bridge BLE transport ProtocolError' },

  // ---------------------------------------------------------------- wire: decoding and framing
  LIMIT_EXCEEDED: { wire: 0x03, http: null, exit: FAILURE, safe: true, raisedBy: 'protocol/cbor.ts, protocol/secure ProtocolError: depth, string, array or map over its limit' },
  UNKNOWN_MESSAGE: { wire: 0x04, http: null, exit: FAILURE, safe: true, raisedBy: 'protocol/messages/codec.ts, device dispatcher ProtocolError' },
  BAD_FRAME: { wire: 0x10, http: null, exit: FAILURE, safe: true, raisedBy: 'protocol/framing, link-io, host-bridge transports, device links ProtocolError' },
  BAD_CRC: { wire: 0x11, http: null, exit: FAILURE, safe: true, raisedBy: 'protocol/framing/modbus-rtu.ts ProtocolError' },
  BAD_SEQUENCE: { wire: 0x12, http: null, exit: FAILURE, safe: true, raisedBy: 'protocol/framing/modbus-transfer.ts, protocol/messages/codec.ts ProtocolError' },
  BAD_CHANNEL: { wire: 0x13, http: null, exit: FAILURE, safe: true, raisedBy: 'protocol/framing/hid.ts, device/links/hid-endpoint.ts ProtocolError' },

  // ---------------------------------------------------------------- datasets, firmware, sync
  SIGNATURE_INVALID: { wire: 0x30, http: 502, exit: REFUSED, safe: true, raisedBy: 'protocol/dataset/manifest.ts ProtocolError; host-bridge/sync/fetcher.ts SyncError' },
  DATASET_OLDER: { wire: 0x31, http: null, exit: FAILURE, safe: true, raisedBy: 'device/core/transfer-receiver.ts ProtocolError: not newer than the active version' },
  DATASET_EXPIRED: { wire: 0x32, http: null, exit: FAILURE, safe: true, raisedBy: 'device/core/transfer-receiver.ts ProtocolError' },
  CHUNK_HASH: { wire: 0x33, http: 502, exit: FAILURE, safe: true, raisedBy: 'protocol/dataset, device/store ProtocolError; host-bridge/sync/fetcher.ts SyncError' },
  SYNC_STATE: { wire: 0x34, http: null, exit: FAILURE, safe: true, raisedBy: 'device/core receivers, device/store, protocol/dataset/chunks.ts ProtocolError' },
  FIRMWARE_INVALID: { wire: 0x35, http: null, exit: REFUSED, safe: true, raisedBy: 'device/core/firmware-image.ts, firmware-receiver.ts ProtocolError; a rolled-back firmware in a sync report' },
  TRANSFER_OWNED: { wire: 0x36, http: null, exit: FAILURE, safe: true, raisedBy: 'device/session: another host holds a recent transfer (wire only)' },
  SYNC_BUSY: { http: 409, exit: FAILURE, safe: true, raisedBy: 'host-bridge/sync (device lock, engine) SyncError' },
  SYNC_FAILED: { http: 502, exit: FAILURE, safe: true, raisedBy: 'host-bridge/api/error-map.ts: a sync report that failed without a device or service error' },
  SERVICE_UNAVAILABLE: { http: 503, exit: FAILURE, safe: true, raisedBy: 'host-bridge/sync/fetcher.ts SyncError: network down, timeout, 5xx after retries' },
  SERVICE_REJECTED: { http: 502, exit: FAILURE, safe: true, raisedBy: 'host-bridge/sync/fetcher.ts SyncError: a 4xx other than not found (bad API key, …)' },
  SIGNING_KEY_CHANGED: { http: 502, exit: FAILURE, safe: true, raisedBy: 'host-bridge/sync/fetcher.ts SyncError: the service announces another key than the pinned one' },
  MANIFEST_REJECTED: { http: 502, exit: FAILURE, safe: true, raisedBy: 'host-bridge/sync/fetcher.ts SyncError: signed but not what was asked for' },
  DEVICE_UNAVAILABLE: { http: 503, exit: FAILURE, safe: true, raisedBy: 'host-bridge/sync (engine, sync-cli) SyncError: the link failed and did not come back' },
  DEVICE_REFUSED: { http: 409, exit: FAILURE, safe: true, raisedBy: 'host-bridge/sync/sync-engine.ts SyncError: the device refused the data' },
  FIRMWARE_NOT_HEALTHY: { http: 409, exit: FAILURE, safe: true, raisedBy: 'host-bridge/sync/sync-engine.ts SyncError' },

  // ---------------------------------------------------------------- environment (never on an API)
  CONFIG_INVALID: { http: null, exit: USAGE, safe: true, raisedBy: 'host-bridge/config.ts ConfigError (one line naming the key)' },
  BLUETOOTH_UNAVAILABLE: { http: null, exit: UNAVAILABLE, safe: false, raisedBy: 'link-io LinkUnavailableError: device BLE peripheral driver, bridge BLE transport' },
  HID_UNAVAILABLE: { http: null, exit: UNAVAILABLE, safe: false, raisedBy: 'link-io LinkUnavailableError: device HID gadget driver, bridge HID transport' },
  SERIAL_UNAVAILABLE: { http: null, exit: UNAVAILABLE, safe: false, raisedBy: 'link-io/serial-port.ts LinkUnavailableError' },
  SOCKET_UNAVAILABLE: { http: null, exit: UNAVAILABLE, safe: false, raisedBy: 'device/links/unix-socket-server.ts LinkUnavailableError' },
  // Node's own system error codes the CLI meets (not ours; listed for their exit code).
  EADDRINUSE: { http: null, exit: UNAVAILABLE, safe: false, raisedBy: 'node: a listen on a taken port (server/start.ts, bridge, emulator)' },
  ECONNREFUSED: { http: null, exit: UNAVAILABLE, safe: false, raisedBy: 'node: nothing listens at a called address' },
  ENOENT: { http: null, exit: UNAVAILABLE, safe: false, raisedBy: 'node: a socket path or device node that does not exist' },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERRORS;

type Specs = typeof ERRORS;
/** The codes a device and a host say to each other: those with a wire number. */
export type WireCode = { [K in ErrorCode]: Specs[K] extends { wire: number } ? K : never }[ErrorCode];

/** Code → wire number, for the wire codes (protocol/errors.ts ERROR_CODES). */
export const WIRE_NUMBERS = Object.freeze(
  Object.fromEntries(Object.entries(ERRORS).flatMap(([code, spec]) => ('wire' in spec ? [[code, spec.wire]] : []))),
) as { readonly [K in WireCode]: number };

export function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === 'string' && Object.hasOwn(ERRORS, code);
}

export function errorSpec(code: string): ErrorSpec | undefined {
  return isErrorCode(code) ? ERRORS[code] : undefined;
}

/** The HTTP status for a code; 500 for a code that is not an API answer or not ours. */
export function httpStatusOf(code: string): number {
  return errorSpec(code)?.http ?? 500;
}

/** The CLI exit code for a code; FAILURE (1) for a code not in the catalogue. */
export function exitCodeOf(code: string): ExitCode {
  return errorSpec(code)?.exit ?? EXIT.FAILURE;
}
