// Service errors: the codes the network service answers with ({"error":{"code","message"}}).
// Their HTTP statuses (and who raises each) are in the one catalogue, errors/catalogue.ts.
// Messages never carry card data.
import { ERRORS, httpStatusOf } from '../errors/catalogue.ts';
import { PrecheckError } from '../errors/precheck-error.ts';

/** The codes a ServiceError may carry. */
const SERVICE_CODES = [
  'BAD_REQUEST',
  'INVALID_FIELD', // JSON-schema validation failed
  'MALFORMED', // body is not valid JSON / CBOR
  'PAN_REJECTED', // something that looks like a card number was sent
  'UNAUTHORIZED',
  'FORBIDDEN',
  'WEBHOOK_HOST_NOT_ALLOWED',
  'NOT_FOUND',
  'DATASET_NOT_FOUND',
  'DELTA_UNAVAILABLE', // base version too old / unknown: take the snapshot
  'FIRMWARE_NOT_FOUND',
  'METHOD_NOT_ALLOWED', // known path, other method (with Allow)
  'CONFLICT', // idempotency key reused with a different body, duplicate resource
  'TOO_LARGE',
  'UNSUPPORTED_MEDIA_TYPE',
  'RATE_LIMITED',
  'INTERNAL',
  'UNAVAILABLE',
] as const satisfies readonly (keyof typeof ERRORS)[];

export type ServiceErrorCode = (typeof SERVICE_CODES)[number];

/** Status per service code, read from the catalogue. */
export const SERVICE_ERROR_STATUS = Object.fromEntries(SERVICE_CODES.map((c) => [c, ERRORS[c].http])) as Record<ServiceErrorCode, number>;

export class ServiceError extends PrecheckError<ServiceErrorCode> {
  constructor(code: ServiceErrorCode, message: string) {
    super(code, message);
    this.name = 'ServiceError';
  }
}

export function httpStatusFor(code: string): number {
  return httpStatusOf(code);
}

export function isServiceError(e: unknown): e is ServiceError {
  return e instanceof ServiceError;
}
