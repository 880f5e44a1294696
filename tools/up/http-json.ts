// The small HTTP calls `precheck up` makes to its own children (service admin API, bridge API).
// Errors become one line naming the call and the service's error code.
import { UpError } from './preflight.ts';

export interface HttpOptions {
  body?: unknown;
  /** Raw text body (e.g. CSV) instead of JSON. */
  text?: { data: string; contentType: string };
  token?: string | null;
  timeoutMs?: number;
  /** Error statuses whose JSON body is still the answer (POST /v1/sync: 502/503 carry the report). */
  accept?: readonly number[];
}

export async function httpJson<T = any>(method: 'GET' | 'POST', url: string, o: HttpOptions = {}): Promise<{ status: number; json: T }> {
  const headers: Record<string, string> = {};
  let body: string | undefined;
  if (o.text) {
    headers['content-type'] = o.text.contentType;
    body = o.text.data;
  } else if (o.body !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(o.body);
  }
  if (o.token) headers.authorization = `Bearer ${o.token}`;
  let res: Response;
  try {
    res = await fetch(url, { method, headers, body, signal: AbortSignal.timeout(o.timeoutMs ?? 30_000) });
  } catch (e) {
    const cause = (e as { cause?: { code?: string } }).cause?.code ?? (e as Error).name;
    throw new UpError(`${method} ${redact(url)} failed: ${cause}`, 3);
  }
  const text = await res.text();
  let json: any = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = null;
  }
  if (res.status >= 400 && !(o.accept?.includes(res.status) && json !== null)) {
    const err = json?.error;
    throw new UpError(`${method} ${redact(url)} answered ${res.status} ${err?.code ?? ''}: ${err?.message ?? text.slice(0, 160)}`.trim(), 1);
  }
  return { status: res.status, json: json as T };
}

/** URLs carry no secrets here, but keep any query string out of messages anyway. */
function redact(url: string): string {
  return url.split('?')[0];
}
