// The one place the bridge's errors become HTTP statuses (from the catalogue, errors/catalogue.ts)
// and `{"error":{"code","message"}}` bodies. Messages of unknown errors are never echoed (a library
// message could quote the request body, and with it a card number): they become a generic
// INTERNAL / MALFORMED.
import { ERRORS, httpStatusOf, type ErrorCode } from '../../errors/catalogue.ts';
import { isEchoable, PrecheckError } from '../../errors/precheck-error.ts';

/** Status per code the bridge answers with, read from the catalogue (errors/catalogue.ts). */
export const HTTP_STATUS_BY_CODE: Record<string, number> = Object.fromEntries(
  Object.entries(ERRORS).flatMap(([code, spec]) => (spec.http === null ? [] : [[code, spec.http]])),
);

export class ApiError extends PrecheckError {
  constructor(
    code: ErrorCode,
    message: string,
    readonly field?: string,
  ) {
    super(code, message);
    this.name = 'ApiError';
  }
}

export interface ErrorBody {
  error: { code: string; message: string; field?: string };
}

export function statusFor(code: string): number {
  return httpStatusOf(code);
}

/** The parts of a sync report (host-bridge/sync SyncReport) that decide its HTTP status. */
interface SyncReportLike {
  exitCode: number;
  service?: { code?: string; error?: string };
  results: Array<{ device: string; result: string; code?: string; error?: string }>;
}

function isSyncReport(x: unknown): x is SyncReportLike {
  const r = x as SyncReportLike | null;
  return typeof r === 'object' && r !== null && typeof r.exitCode === 'number' && Array.isArray(r.results);
}

/**
 * POST /v1/sync: the status a sync report is answered with, and the error that heads it, or null
 * for 200 (every device up to date). The body stays the whole per-device report either way, so a
 * caller sees which device failed and why. The service failed → its code's status (503 unreachable,
 * 502 forged or refused data, 501 no service URL); a device failed → 503 when it was unavailable
 * (link down, timeout), 409 when every failure is SYNC_BUSY, else 502 (it refused or rolled back).
 */
export function syncReportStatus(x: unknown): { status: number; error: { code: string; message: string } } | null {
  if (!isSyncReport(x) || x.exitCode === 0) return null;
  const failed = x.results.filter((r) => r.result === 'failed' || r.result === 'rolled-back');
  const svc = x.service?.code;
  if (svc) {
    const status = statusFor(svc);
    return { status: status === 501 ? 501 : status === 503 ? 503 : 502, error: { code: svc, message: `network service: ${x.service?.error ?? svc}` } };
  }
  if (failed.length === 0) return { status: 502, error: { code: 'SYNC_FAILED', message: `sync ended with exit code ${x.exitCode}` } };
  const codes = failed.map((r) => r.code ?? (r.result === 'rolled-back' ? 'FIRMWARE_INVALID' : 'INTERNAL'));
  const names = failed.map((r, i) => `${r.device} (${codes[i]})`).join(', ');
  const message = `${failed.length} of ${x.results.length} device syncs failed: ${names}`.slice(0, 500);
  if (codes.every((c) => c === 'SYNC_BUSY')) return { status: 409, error: { code: 'SYNC_BUSY', message } };
  const unavailable = codes.find((c) => statusFor(c) === 503 || statusFor(c) === 504);
  return unavailable ? { status: 503, error: { code: unavailable, message } } : { status: 502, error: { code: codes[0], message } };
}

interface AjvError {
  keyword: string;
  instancePath: string;
  message?: string;
  params: Record<string, unknown>;
}

/** Name the field an ajv validation error is about, as a dotted path ("card.number"). */
export function fieldOf(v: AjvError): string {
  let path = v.instancePath.replace(/^\//, '').replace(/\//g, '.');
  const extra = (v.params.missingProperty ?? v.params.additionalProperty) as string | undefined;
  if (extra) path = path ? `${path}.${extra}` : extra;
  return path || '(body)';
}

function validationMessage(v: AjvError, field: string): string {
  switch (v.keyword) {
    case 'required':
      return `${field} is required`;
    case 'additionalProperties':
      return `${field} is not an accepted field`;
    default:
      // ajv's messages describe the rule ("must be integer", "must match pattern ..."), never the value.
      return `${field} ${v.message ?? 'is invalid'}`;
  }
}

/** Map anything thrown in a request to a status and a body that carries no request data. */
export function toErrorResponse(err: unknown): { status: number; body: ErrorBody } {
  const e = err as {
    name?: string;
    code?: unknown;
    message?: string;
    field?: string;
    detail?: string;
    statusCode?: number;
    validation?: AjvError[];
  };
  if (Array.isArray(e?.validation) && e.validation.length > 0) {
    const field = fieldOf(e.validation[0]);
    return { status: 400, body: { error: { code: 'INVALID_FIELD', message: validationMessage(e.validation[0], field), field } } };
  }
  const code = typeof e?.code === 'string' ? e.code : '';
  if (isEchoable(err)) {
    const field = e.field;
    return { status: statusFor(code), body: { error: { code, message: e.message ?? code, ...(field ? { field } : {}) } } };
  }
  // Fastify's own errors: fixed messages, never the parser's (a JSON SyntaxError quotes the body).
  switch (code) {
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return { status: 415, body: { error: { code: 'UNSUPPORTED_MEDIA_TYPE', message: 'send the request body as application/json' } } };
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return { status: 413, body: { error: { code: 'TOO_LARGE', message: 'request body too large' } } };
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return { status: 400, body: { error: { code: 'MALFORMED', message: 'request body is empty but content-type is application/json', field: '(body)' } } };
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return { status: 400, body: { error: { code: 'MALFORMED', message: 'request body is not valid JSON', field: '(body)' } } };
    case 'FST_ERR_NOT_FOUND':
      return { status: 404, body: { error: { code: 'NOT_FOUND', message: 'no such route' } } };
    case 'FST_ERR_RATE_LIMITED':
      return { status: 429, body: { error: { code: 'RATE_LIMITED', message: 'too many requests' } } };
  }
  if (e?.name === 'SyntaxError' || (e?.statusCode === 400 && !code)) {
    return { status: 400, body: { error: { code: 'MALFORMED', message: 'request body is not valid JSON', field: '(body)' } } };
  }
  if (typeof e?.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
    return { status: e.statusCode, body: { error: { code: 'BAD_REQUEST', message: 'bad request' } } };
  }
  return { status: 500, body: { error: { code: 'INTERNAL', message: 'internal error (see the bridge log)' } } };
}
