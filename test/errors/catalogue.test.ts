// The one error catalogue (errors/catalogue.ts): every code raised anywhere in the product is in
// it, its wire numbers are protocol's, its mappings (HTTP status, exit code) are total, and the
// statuses and exit codes are the ones the seven former tables gave (pinned below).
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ERRORS, errorSpec, exitCodeOf, httpStatusOf, isErrorCode } from '../../errors/catalogue.ts';
import { CliError, EXIT, exitCodeFor, exitCodeForBridgeAnswer, exitCodeForSyncAnswer } from '../../errors/cli-exit.ts';
import { codeOf, isEchoable, PrecheckError } from '../../errors/precheck-error.ts';
import { ERROR_CODES, ProtocolError } from '../../protocol/errors.ts';
import { LinkUnavailableError } from '../../link-io/link-errors.ts';
import { ContractError } from '../../contracts/limits.ts';
import { AmountError } from '../../contracts/currency.ts';
import { ServiceError, SERVICE_ERROR_STATUS, httpStatusFor } from '../../server/errors.ts';
import { HTTP_STATUS_BY_CODE, ApiError, statusFor, toErrorResponse } from '../../host-bridge/api/error-map.ts';
import { SYNC_ERROR_CODES, SyncError } from '../../host-bridge/sync/errors.ts';
import { ConfigError } from '../../host-bridge/config.ts';
import { FormatCheckError } from '../../host-bridge/pipeline/format-checks.ts';
import { PipelineError } from '../../host-bridge/pipeline/verify-pipeline.ts';
import { NetworkError } from '../../host-bridge/network/network-client.ts';
import { OutcomeError } from '../../host-bridge/outbox/outcomes.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const PRODUCT = ['protocol', 'rules', 'link-io', 'contracts', 'errors', 'runtime', 'device', 'host-bridge', 'server', 'tools', 'cli'];

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(path.join(ROOT, dir), { withFileTypes: true })) {
    const rel = path.posix.join(dir, e.name);
    if (e.isDirectory()) out.push(...sources(rel));
    else if (e.name.endsWith('.ts')) out.push(rel);
  }
  return out;
}

/** Every literal error code in the product sources, with where it is raised. */
function raisedCodes(): Map<string, string[]> {
  const patterns = [
    /new\s+[A-Z][A-Za-z]*Error\(\s*'([A-Z][A-Z0-9_]+)'/g, // new ServiceError('NOT_FOUND', …)
    /\bcode:\s*'([A-Z][A-Z0-9_]+)'/g, // { error: { code: 'MALFORMED', … } }
    /readonly\s+code\s*=\s*'([A-Z][A-Z0-9_]+)'/g, // readonly code = 'INVALID_FIELD'
    /\bsuper\(\s*'([A-Z][A-Z0-9_]+)'/g, // super('CONFIG_INVALID', message)
  ];
  const found = new Map<string, string[]>();
  for (const dir of PRODUCT) {
    for (const file of sources(dir)) {
      const text = fs.readFileSync(path.join(ROOT, file), 'utf8');
      for (const re of patterns) for (const m of text.matchAll(re)) found.set(m[1]!, [...(found.get(m[1]!) ?? []), file]);
    }
  }
  return found;
}

describe('error catalogue', () => {
  it('holds every code raised anywhere in the product', () => {
    const found = raisedCodes();
    // The scan itself works: it sees codes of every kind of raiser.
    for (const c of ['NOT_FOUND', 'BAD_CRC', 'SYNC_BUSY', 'CONFIG_INVALID', 'TRUST_TRAINING', 'SERIAL_UNAVAILABLE', 'CARD_EXPIRED', 'MISDIRECTED', 'EADDRINUSE']) expect(found.has(c), c).toBe(true);
    const missing = [...found].filter(([c]) => !isErrorCode(c)).map(([c, files]) => `${c} (${[...new Set(files)].join(', ')})`);
    expect(missing, 'add these to errors/catalogue.ts').toEqual([]);
  });

  it('has the wire numbers of docs/protocol.md (unchanged since they moved here), and protocol/ reads them', () => {
    const documented = new Map<string, number>();
    const doc = fs.readFileSync(path.join(ROOT, 'docs/protocol.md'), 'utf8');
    const table = doc.slice(doc.indexOf('| 0x01 | MALFORMED |')).split('\n\n')[0]!; // the error code table
    for (const m of table.matchAll(/^\| (0x[0-9A-Fa-f]{2}) \| ([A-Z_]+) \|/gm)) documented.set(m[2]!, Number(m[1]));
    expect(documented.size).toBe(30);
    const wire = Object.entries(ERRORS).flatMap(([code, spec]) => ('wire' in spec ? [[code, spec.wire] as const] : []));
    expect(new Map(wire)).toEqual(documented);
    expect(ERROR_CODES).toEqual(Object.fromEntries(documented));
    expect(new ProtocolError('NOT_PAIRED', 'x').numeric).toBe(0x20);
  });

  it('is total: every code has an exit code, an HTTP status or none, a safety flag and who raises it', () => {
    const exits = new Set<number>(Object.values(EXIT));
    for (const [code, spec] of Object.entries(ERRORS)) {
      expect(/^[A-Z][A-Z0-9_]+$/.test(code), code).toBe(true);
      expect(exits.has(spec.exit), code).toBe(true);
      expect(spec.exit as number, code).not.toBe(EXIT.OK);
      if (spec.http !== null) expect(spec.http >= 400 && spec.http <= 599, code).toBe(true);
      expect(httpStatusOf(code)).toBe(spec.http ?? 500);
      expect(exitCodeOf(code)).toBe(spec.exit);
      expect(typeof spec.safe, code).toBe('boolean');
      expect(spec.raisedBy.length, code).toBeGreaterThan(10);
    }
    // Codes of the typed-error families are all in it.
    for (const c of [...Object.keys(SERVICE_ERROR_STATUS), ...SYNC_ERROR_CODES]) expect(isErrorCode(c), c).toBe(true);
    expect(httpStatusOf('NO_SUCH_CODE')).toBe(500);
    expect(exitCodeOf('NO_SUCH_CODE')).toBe(EXIT.FAILURE);
  });

  // The statuses and exit codes of the former per-part tables, pinned: the catalogue changed
  // where they live, not what they are. The service gained METHOD_NOT_ALLOWED (405, as the bridge) in issue 13.
  it('gives the service, the bridge and the CLI the statuses and exit codes they had', () => {
    const service = { BAD_REQUEST: 400, INVALID_FIELD: 400, MALFORMED: 400, PAN_REJECTED: 400, UNAUTHORIZED: 401, FORBIDDEN: 403, WEBHOOK_HOST_NOT_ALLOWED: 403, NOT_FOUND: 404, DATASET_NOT_FOUND: 404, DELTA_UNAVAILABLE: 404, FIRMWARE_NOT_FOUND: 404, METHOD_NOT_ALLOWED: 405, CONFLICT: 409, TOO_LARGE: 413, UNSUPPORTED_MEDIA_TYPE: 415, RATE_LIMITED: 429, INTERNAL: 500, UNAVAILABLE: 503 };
    expect(SERVICE_ERROR_STATUS).toEqual(service);
    for (const [c, s] of Object.entries(service)) expect(httpStatusFor(c), c).toBe(s);
    const bridge = {
      BAD_REQUEST: 400, INVALID_FIELD: 400, MALFORMED: 400, PAN_REJECTED: 400, UNAUTHORIZED: 401, NOT_FOUND: 404, METHOD_NOT_ALLOWED: 405, CONFLICT: 409, MISDIRECTED: 421, TOO_LARGE: 413, UNSUPPORTED_MEDIA_TYPE: 415, RATE_LIMITED: 429,
      CARD_NUMBER_INVALID: 422, CARD_EXPIRED: 422, EXPIRY_INVALID: 422, CVC_INVALID: 422, DEVICE_NOT_FOUND: 404, ORDER_NOT_FOUND: 404,
      PAIRING_NOT_STARTED: 409, PAIRING_IN_PROGRESS: 409, PAIRING_REJECTED: 409, PAIRING_FULL: 409, NOT_PAIRED: 409, IDENTITY_MISMATCH: 409, HANDSHAKE_FAILED: 502, BUSY: 503, DISCONNECTED: 503, TIMEOUT: 504,
      SYNC_BUSY: 409, NOT_CONFIGURED: 501, SERVICE_UNAVAILABLE: 503, SERVICE_REJECTED: 502, SIGNATURE_INVALID: 502, SIGNING_KEY_CHANGED: 502, MANIFEST_REJECTED: 502, CHUNK_HASH: 502, DEVICE_UNAVAILABLE: 503, DEVICE_REFUSED: 409, FIRMWARE_NOT_HEALTHY: 409,
      SYNC_NOT_CONFIGURED: 501, UNSUPPORTED: 501, NETWORK_UNAVAILABLE: 503, NETWORK_REJECTED: 502, INTERNAL: 500,
    };
    for (const [c, s] of Object.entries(bridge)) {
      expect(statusFor(c), c).toBe(s);
      expect(HTTP_STATUS_BY_CODE[c], c).toBe(s);
    }
    // Wire-only and environment codes never were API answers.
    for (const c of ['BAD_CRC', 'REPLAY', 'CONFIG_INVALID', 'SERIAL_UNAVAILABLE']) expect(statusFor(c), c).toBe(500);

    const refused = ['IDENTITY_MISMATCH', 'SIGNATURE_INVALID', 'PAIRING_REJECTED', 'NOT_PAIRED', 'HANDSHAKE_FAILED', 'FIRMWARE_INVALID'];
    const unavailable = ['TIMEOUT', 'DISCONNECTED', 'BUSY', 'EADDRINUSE', 'ECONNREFUSED', 'ENOENT', 'BLUETOOTH_UNAVAILABLE', 'HID_UNAVAILABLE', 'SERIAL_UNAVAILABLE', 'SOCKET_UNAVAILABLE', 'NETWORK_UNAVAILABLE'];
    const usage = ['INVALID_FIELD', 'BAD_REQUEST', 'CONFIG_INVALID'];
    for (const code of Object.keys(ERRORS)) {
      const want = refused.includes(code) ? EXIT.REFUSED : unavailable.includes(code) ? EXIT.UNAVAILABLE : usage.includes(code) ? EXIT.USAGE : EXIT.FAILURE;
      expect(exitCodeFor(Object.assign(new Error('x'), { code })), code).toBe(want);
    }
    expect(exitCodeFor(new CliError('x', 4))).toBe(4);
    // Error answers of a running bridge, as the bridge commands and `precheck sync` read them: a
    // refusal code is REFUSED (5) whether the command met it itself or through the bridge.
    for (const [status, code, want] of [[400, 'INVALID_FIELD', 2], [422, 'CARD_EXPIRED', 2], [401, 'UNAUTHORIZED', 2], [503, 'BUSY', 3], [504, 'TIMEOUT', 3], [409, 'PAIRING_REJECTED', 5], [409, 'IDENTITY_MISMATCH', 5], [409, 'NOT_PAIRED', 5], [404, 'DEVICE_NOT_FOUND', 1], [502, 'SIGNATURE_INVALID', 5], [502, 'HANDSHAKE_FAILED', 5], [501, 'NOT_CONFIGURED', 1]] as const) {
      expect(exitCodeForBridgeAnswer(status, code), `${status} ${code}`).toBe(want);
    }
    for (const [status, want] of [[401, 2], [400, 1], [409, 1], [502, 1], [501, 3], [503, 3], [504, 3]] as const) expect(exitCodeForSyncAnswer(status), String(status)).toBe(want);
    expect(exitCodeFor(new Error('no code'))).toBe(EXIT.FAILURE);
  });
});

describe('PrecheckError', () => {
  it('is the base of every part’s typed errors, with a catalogue code', () => {
    const errs = [
      new ServiceError('NOT_FOUND', 'x'),
      new SyncError('SYNC_BUSY', 'x'),
      new ApiError('MISDIRECTED', 'x'),
      new ConfigError('config: x'),
      new FormatCheckError('CARD_EXPIRED', 'card.expYear', 'x'),
      new PipelineError('DEVICE_NOT_FOUND', 'x'),
      new NetworkError('NETWORK_UNAVAILABLE', 'timeout', 'x'),
      new OutcomeError('ORDER_NOT_FOUND', 'x', 'orderId'),
      // the shared layers' errors too, with their codes unchanged
      new ProtocolError('TIMEOUT', 'x'),
      new LinkUnavailableError('SERIAL_UNAVAILABLE', 'x'),
      new ContractError('x', 'at'),
      new AmountError('x'),
    ];
    for (const e of errs) {
      expect(e).toBeInstanceOf(PrecheckError);
      expect(isErrorCode(e.code), e.name).toBe(true);
      expect(codeOf(e)).toBe(e.code);
    }
    expect(errs.map((e) => e.code).slice(-4)).toEqual(['TIMEOUT', 'SERIAL_UNAVAILABLE', 'INVALID_FIELD', 'INVALID_FIELD']);
    // AmountError quotes what was typed: never a card number.
    expect(new AmountError('amount must be a positive decimal (got "4111 1111 1111 1111")').message).not.toMatch(/4111 1111 1111 1111/);
    expect(codeOf(Object.assign(new Error('x'), { code: 'ECONNREFUSED' }))).toBe('ECONNREFUSED');
    expect(codeOf(null)).toBeUndefined();
  });

  it('decides which messages an API may return: our typed errors with a safe code only', () => {
    expect(isEchoable(new ApiError('NOT_FOUND', 'no such call-back'))).toBe(true);
    expect(isEchoable(new ProtocolError('TIMEOUT', 'device did not answer'))).toBe(true);
    // Not ours, or an environment error whose message quotes the OS: never echoed.
    expect(isEchoable(Object.assign(new Error('4111111111111111 in a library message'), { code: 'NOT_FOUND' }))).toBe(false);
    expect(isEchoable(new LinkUnavailableError('SERIAL_UNAVAILABLE', 'cannot open /dev/ttyUSB0'))).toBe(false);
    const r = toErrorResponse(Object.assign(new Error('4111111111111111'), { code: 'NOT_FOUND' }));
    expect(r).toEqual({ status: 500, body: { error: { code: 'INTERNAL', message: 'internal error (see the bridge log)' } } });
    expect(toErrorResponse(new FormatCheckError('CARD_EXPIRED', 'card.expYear', 'the card has expired'))).toEqual({ status: 422, body: { error: { code: 'CARD_EXPIRED', message: 'the card has expired', field: 'card.expYear' } } });
  });
});
