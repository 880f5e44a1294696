// JSON over HTTP for the end-to-end tests (global fetch; every call bounded by a timeout).
export interface JsonResponse<T = any> {
  status: number;
  json: T;
}

export async function postJson<T = any>(url: string, body?: unknown, token?: string, timeoutMs = 60_000): Promise<JsonResponse<T>> {
  const headers: Record<string, string> = {};
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (token) headers.authorization = `Bearer ${token}`;
  const res = await fetch(url, { method: 'POST', headers, body: body === undefined ? undefined : JSON.stringify(body), signal: AbortSignal.timeout(timeoutMs) });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : null };
}

export async function getJson<T = any>(url: string, token?: string, timeoutMs = 30_000): Promise<JsonResponse<T>> {
  const res = await fetch(url, { headers: token ? { authorization: `Bearer ${token}` } : {}, signal: AbortSignal.timeout(timeoutMs) });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : null };
}

export async function getText(url: string, timeoutMs = 30_000): Promise<string> {
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  return res.text();
}

/** Poll `probe` (an HTTP readiness check) until it returns a value, bounded by `timeoutMs`. */
export async function until<T>(probe: () => Promise<T | undefined | null | false>, timeoutMs: number, what: string, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v) return v as T;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${(last as Error).message})` : ''}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export function verifyBody(pan: string, orderId: string, extra: Record<string, unknown> = {}) {
  return {
    card: { number: pan, expMonth: 12, expYear: 2030 },
    order: { id: orderId, amount: { value: 2500, currency: 'EUR' }, country: 'DE' },
    ...extra,
  };
}
