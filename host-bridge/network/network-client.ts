// HTTP client for the network service: undici with a per-attempt timeout, retries with
// exponential backoff and jitter for idempotent calls, and a circuit breaker shared by every call
// to the service (so a dead service costs one fast failure, not a timeout per checkout).
import { Agent, request } from 'undici';
import { CircuitBreaker, type BreakerState } from './circuit-breaker.ts';
import { DATASET_VERSION_HEADER, parseDatasetVersionHeader } from '../../contracts/dataset-version.ts';
import { PrecheckError } from '../../errors/precheck-error.ts';

export type NetworkErrorCode = 'NETWORK_UNAVAILABLE' | 'NETWORK_REJECTED';
export type NetworkFailureKind = 'timeout' | 'connect' | 'status' | 'breaker' | 'bad-response' | 'not-configured' | 'rate-limited';

/**
 * Unavailable: timeout, connection failure, 5xx after retries, circuit open, or rate limited (429,
 * with the service's Retry-After in `retryAfterMs`). Rejected: other 4xx.
 */
export class NetworkError extends PrecheckError<NetworkErrorCode> {
  constructor(
    code: NetworkErrorCode,
    readonly kind: NetworkFailureKind,
    message: string,
    readonly status?: number,
    readonly retryAfterMs?: number,
  ) {
    super(code, message);
    this.name = 'NetworkError';
  }
}

export interface NetworkClientOptions {
  baseUrl: string;
  apiKey?: string | null;
  timeoutMs: number;
  retries: number;
  backoffMs: number;
  backoffMaxMs: number;
  breaker: { failureThreshold: number; resetMs: number };
  /** Injected for tests of the jitter; defaults to Math.random. */
  random?: () => number;
  now?: () => number;
  /** Largest response body accepted. */
  maxResponseBytes?: number;
}

export interface PostOptions {
  /** Safe to repeat (the service deduplicates or the call is a query). Only these are retried. */
  idempotent?: boolean;
  idempotencyKey?: string;
  retries?: number;
  timeoutMs?: number;
  /**
   * One deadline for the whole call — attempts, backoff and Retry-After waits together. When it is
   * reached the call fails with kind 'timeout' (a checkout then gets the fallback answer).
   */
  deadlineMs?: number;
}

export interface JsonResponse {
  status: number;
  body: unknown;
}

export interface GetOptions {
  /** Statuses returned as answers (default [200]); e.g. [200, 404] when "none" is an answer. */
  okStatuses?: readonly number[];
  retries?: number;
  timeoutMs?: number;
  accept?: string;
  /** Largest body accepted (default 64 MiB: firmware chunks). */
  maxResponseBytes?: number;
}

export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

const RETRY_STATUSES = new Set([429, 500, 502, 503, 504]);

export class NetworkClient {
  readonly breaker: CircuitBreaker;
  private readonly agent: Agent;
  private readonly random: () => number;
  private closed = false;
  private readonly datasetListeners = new Set<(version: number) => void>();
  /** Counts by outcome for metrics: ok, rejected, unavailable, retry. */
  readonly stats = { ok: 0, rejected: 0, unavailable: 0, retries: 0, rateLimited: 0 };

  constructor(private readonly opts: NetworkClientOptions) {
    this.breaker = new CircuitBreaker({ ...opts.breaker, now: opts.now });
    this.agent = new Agent({ keepAliveTimeout: 10_000, connections: 32, connectTimeout: opts.timeoutMs });
    this.random = opts.random ?? Math.random;
  }

  /** The service this client talks to (shown by /v1/health so `precheck status` can probe it). */
  get serviceUrl(): string {
    return this.opts.baseUrl;
  }

  /**
   * Called with the service's newest dataset version whenever an answer carries it
   * (Precheck-Dataset-Version): the bridge's sync follower learns of new data at no extra cost.
   */
  onDatasetVersion(fn: (version: number) => void): () => void {
    this.datasetListeners.add(fn);
    return () => void this.datasetListeners.delete(fn);
  }

  breakerState(): BreakerState {
    return this.breaker.current();
  }

  /** Delay before retry number `attempt` (1-based): exponential, capped, with "equal jitter". */
  backoffDelay(attempt: number): number {
    const exp = Math.min(this.opts.backoffMaxMs, this.opts.backoffMs * 2 ** (attempt - 1));
    return Math.round(exp / 2 + (exp / 2) * this.random());
  }

  async postJson(path: string, body: unknown, o: PostOptions = {}): Promise<JsonResponse> {
    const retries = o.idempotent === false ? 0 : (o.retries ?? this.opts.retries);
    return this.call({ retries, deadlineMs: o.deadlineMs }, async (left) => {
      const res = await this.attempt(path, body, { ...o, timeoutMs: Math.max(1, Math.ceil(Math.min(o.timeoutMs ?? this.opts.timeoutMs, left))) });
      if (res.status >= 200 && res.status < 300) return res;
      const code = (res.body as { error?: { code?: string } } | null)?.error?.code;
      throw new NetworkError('NETWORK_REJECTED', 'status', `network service answered ${res.status}${code ? ` ${code}` : ''}`, res.status);
    });
  }

  /**
   * GET from the service (datasets, chunks, manifests, keys, health): the same breaker, retries
   * and backoff as every other call. An answer with a status in `okStatuses` is returned as is;
   * 429 and 5xx are retried; any other status fails NETWORK_REJECTED (message "PATH: HTTP status
   * CODE: message" from the service's error body).
   */
  async get(path: string, o: GetOptions = {}): Promise<RawResponse> {
    const ok = o.okStatuses ?? [200];
    return this.call({ retries: o.retries ?? this.opts.retries }, async (left) => {
      const res = await request(this.opts.baseUrl + path, {
        method: 'GET',
        headers: this.headers({ accept: o.accept ?? '*/*' }),
        signal: AbortSignal.timeout(Math.max(1, Math.ceil(Math.min(o.timeoutMs ?? this.opts.timeoutMs, left)))),
        dispatcher: this.agent,
      });
      this.announce(res.headers);
      const body = await readCapped(res.body, o.maxResponseBytes ?? 64 << 20);
      if (ok.includes(res.statusCode)) return { status: res.statusCode, headers: res.headers, body };
      if (res.statusCode === 429) throw new NetworkError('NETWORK_UNAVAILABLE', 'rate-limited', `${path}: HTTP 429 ${errorText(body)}`.trim(), 429, retryAfterMs(res.headers['retry-after']));
      if (res.statusCode >= 500) throw new NetworkError('NETWORK_UNAVAILABLE', 'status', `${path}: HTTP ${res.statusCode} ${errorText(body)}`.trim(), res.statusCode);
      throw new NetworkError('NETWORK_REJECTED', 'status', `${path}: HTTP ${res.statusCode} ${errorText(body)}`.trim(), res.statusCode);
    });
  }

  /**
   * The one retry loop of every service call: breaker, attempts, exponential backoff with jitter
   * (a 429's Retry-After instead), one optional deadline over it all. `once` makes one attempt
   * with the time left; it returns the answer or throws a NetworkError (REJECTED: not retried).
   */
  private async call<T>(o: { retries: number; deadlineMs?: number }, once: (leftMs: number) => Promise<T>): Promise<T> {
    const deadline = o.deadlineMs !== undefined ? performance.now() + o.deadlineMs : Number.POSITIVE_INFINITY;
    const left = () => deadline - performance.now();
    let last: NetworkError | undefined;
    for (let attempt = 0; attempt <= o.retries; attempt++) {
      if (attempt > 0) {
        // A 429 says when to come back (Retry-After); anything else backs off exponentially.
        const wait = last?.kind === 'rate-limited' && last.retryAfterMs !== undefined ? last.retryAfterMs : this.backoffDelay(attempt);
        if (wait >= left()) break; // would not be back before the deadline
        this.stats.retries++;
        await new Promise((r) => setTimeout(r, wait));
      }
      if (this.closed) throw new NetworkError('NETWORK_UNAVAILABLE', 'connect', 'network client closed');
      if (left() <= 0) break;
      if (!this.breaker.tryAcquire()) {
        this.stats.unavailable++;
        throw new NetworkError('NETWORK_UNAVAILABLE', 'breaker', `circuit open: network service failed repeatedly; retry in ${this.breaker.retryInMs()} ms`);
      }
      try {
        const res = await once(left());
        this.breaker.success();
        this.stats.ok++;
        return res;
      } catch (e) {
        if (e instanceof NetworkError && e.code === 'NETWORK_REJECTED') {
          // A 4xx proves the service is up: report it, do not retry, do not trip the breaker.
          this.breaker.success();
          this.stats.rejected++;
          throw e;
        }
        if (e instanceof NetworkError && e.kind === 'rate-limited') {
          // Back-pressure from a healthy service, not a failure: it never opens the breaker.
          this.stats.rateLimited++;
          this.breaker.success();
        } else {
          this.breaker.failure();
        }
        last = e instanceof NetworkError ? e : classify(e);
      }
    }
    this.stats.unavailable++;
    if (!last || (left() <= 0 && last.kind !== 'rate-limited')) throw new NetworkError('NETWORK_UNAVAILABLE', 'timeout', `network service did not answer within the ${o.deadlineMs} ms deadline`);
    throw last;
  }

  private headers(extra: Record<string, string>): Record<string, string> {
    const h: Record<string, string> = { ...extra };
    if (this.opts.apiKey) h.authorization = `Bearer ${this.opts.apiKey}`;
    return h;
  }

  /** Tell the listeners the newest dataset version an answer names (Precheck-Dataset-Version). */
  private announce(headers: Record<string, string | string[] | undefined>): void {
    const announced = parseDatasetVersionHeader(headers[DATASET_VERSION_HEADER]);
    if (announced === null) return;
    for (const l of this.datasetListeners) {
      try {
        l(announced);
      } catch {
        /* a listener's fault never fails the call that carried the news */
      }
    }
  }

  private async attempt(path: string, body: unknown, o: PostOptions): Promise<JsonResponse> {
    const headers = this.headers({ 'content-type': 'application/json', accept: 'application/json' });
    if (o.idempotencyKey) headers['idempotency-key'] = o.idempotencyKey;
    const signal = AbortSignal.timeout(o.timeoutMs ?? this.opts.timeoutMs);
    const res = await request(this.opts.baseUrl + path, {
      method: 'POST',
      headers,
      body: JSON.stringify(body),
      signal,
      dispatcher: this.agent,
    });
    this.announce(res.headers);
    const max = this.opts.maxResponseBytes ?? 1 << 20;
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of res.body) {
      size += (chunk as Buffer).length;
      if (size > max) {
        res.body.destroy();
        throw new NetworkError('NETWORK_UNAVAILABLE', 'bad-response', `response over ${max} bytes`);
      }
      chunks.push(chunk as Buffer);
    }
    if (res.statusCode === 429) {
      throw new NetworkError('NETWORK_UNAVAILABLE', 'rate-limited', 'network service rate limit reached (429)', 429, retryAfterMs(res.headers['retry-after']));
    }
    if (res.statusCode >= 500) {
      throw new NetworkError('NETWORK_UNAVAILABLE', 'status', `network service answered ${res.statusCode}`, res.statusCode);
    }
    const text = Buffer.concat(chunks).toString('utf8');
    let parsed: unknown = null;
    if (text.length > 0) {
      try {
        parsed = JSON.parse(text);
      } catch {
        if (res.statusCode < 300) throw new NetworkError('NETWORK_UNAVAILABLE', 'bad-response', `network service sent non-JSON (status ${res.statusCode})`, res.statusCode);
      }
    }
    return { status: res.statusCode, body: parsed };
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.agent.close();
  }
}

async function readCapped(body: AsyncIterable<unknown> & { destroy(): void }, max: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += (chunk as Buffer).length;
    if (size > max) {
      body.destroy();
      throw new NetworkError('NETWORK_UNAVAILABLE', 'bad-response', `response over ${max} bytes`);
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/** "CODE: message" of a service error body, or ''. */
function errorText(body: Buffer): string {
  try {
    const j = JSON.parse(body.toString('utf8')) as { error?: { code?: string; message?: string } };
    if (j.error?.code) return `${j.error.code}: ${String(j.error.message ?? '').slice(0, 200)}`;
  } catch {
    /* not JSON */
  }
  return '';
}

/** Retry-After as delay-seconds or an HTTP date; 1 s when absent or unreadable, at most 10 min. */
export function retryAfterMs(h: string | string[] | undefined, now = Date.now()): number {
  const v = Array.isArray(h) ? h[0] : h;
  if (v === undefined || v.trim() === '') return 1000;
  const secs = /^\s*\d+\s*$/.test(v) ? Number(v) * 1000 : Date.parse(v) - now;
  return Number.isFinite(secs) ? Math.min(600_000, Math.max(0, Math.round(secs))) : 1000;
}

function classify(e: unknown): NetworkError {
  const err = e as { name?: string; code?: string; message?: string };
  if (err?.name === 'TimeoutError' || err?.name === 'AbortError' || err?.code === 'UND_ERR_HEADERS_TIMEOUT' || err?.code === 'UND_ERR_BODY_TIMEOUT' || err?.code === 'UND_ERR_CONNECT_TIMEOUT') {
    return new NetworkError('NETWORK_UNAVAILABLE', 'timeout', 'network service timed out');
  }
  const code = err?.code ?? err?.name ?? 'error';
  return new NetworkError('NETWORK_UNAVAILABLE', 'connect', `network service unreachable (${code})`);
}
