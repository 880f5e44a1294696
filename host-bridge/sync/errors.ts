// Typed errors of the bridge's sync job. Codes are stable (the CLI maps them to exit codes, the
// report shows them); messages never carry card data (datasets hold tokens only anyway). Their
// statuses and exit codes are in the catalogue (errors/catalogue.ts).
import { codeOf, PrecheckError } from '../../errors/precheck-error.ts';

export const SYNC_ERROR_CODES = [
  'SERVICE_UNAVAILABLE', // network down, timeout, 5xx after retries
  'SERVICE_REJECTED', // 4xx other than "not found" (bad API key, ...)
  'NOT_CONFIGURED', // no service URL
  'SIGNATURE_INVALID', // manifest not signed by the trusted key
  'SIGNING_KEY_CHANGED', // the service now announces another key than the one pinned
  'MANIFEST_REJECTED', // well signed but not what was asked for (older, expired, other version)
  'CHUNK_HASH', // a downloaded chunk does not match the hash chain / content hash
  'SYNC_BUSY', // another sync of the device is running (this process or another)
  'DEVICE_NOT_FOUND',
  'DEVICE_UNAVAILABLE', // the link failed and did not come back in time
  'DEVICE_REFUSED', // the device refused the data (its own checks)
  'FIRMWARE_NOT_HEALTHY',
] as const;

export type SyncErrorCode = (typeof SYNC_ERROR_CODES)[number];

export class SyncError extends PrecheckError<SyncErrorCode> {
  constructor(code: SyncErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = 'SyncError';
  }
}

export function isSyncError(e: unknown): e is SyncError {
  return e instanceof SyncError;
}

/** "CODE: message" for any error (ProtocolError, SyncError, Node errors). */
export function describeError(e: unknown): string {
  if (e instanceof Error) {
    const code = codeOf(e);
    return code !== undefined ? `${code}: ${e.message}` : e.message;
  }
  return String(e);
}

export function errorCode(e: unknown): string {
  return codeOf(e) ?? 'INTERNAL';
}
