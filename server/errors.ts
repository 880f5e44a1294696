// Service errors: stable string codes for the HTTP API ({"error":{"code","message"}}) and the one
// function that maps a code to an HTTP status. Messages never carry card data.

export const SERVICE_ERROR_STATUS = {
  BAD_REQUEST: 400,
  INVALID_FIELD: 400, // JSON-schema validation failed
  MALFORMED: 400, // body is not valid JSON / CBOR
  PAN_REJECTED: 400, // something that looks like a card number was sent
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  WEBHOOK_HOST_NOT_ALLOWED: 403, // a webhook URL's host is outside notify.webhookHosts (or not public)
  NOT_FOUND: 404,
  DATASET_NOT_FOUND: 404,
  DELTA_UNAVAILABLE: 404, // base version too old / unknown: take the snapshot
  FIRMWARE_NOT_FOUND: 404,
  CONFLICT: 409, // idempotency key reused with a different body, duplicate resource
  TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  RATE_LIMITED: 429,
  INTERNAL: 500,
  UNAVAILABLE: 503,
} as const;

export type ServiceErrorCode = keyof typeof SERVICE_ERROR_STATUS;

export class ServiceError extends Error {
  readonly code: ServiceErrorCode;
  constructor(code: ServiceErrorCode, message: string) {
    super(message);
    this.name = 'ServiceError';
    this.code = code;
  }
}

export function httpStatusFor(code: string): number {
  return (SERVICE_ERROR_STATUS as Record<string, number>)[code] ?? 500;
}

export function isServiceError(e: unknown): e is ServiceError {
  return e instanceof ServiceError;
}
