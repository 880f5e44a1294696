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
    const deadline = o.deadlineMs !== undefined ? performance.now() + o.deadlineMs : Number.POSITIVE_INFINITY;
    const left = () => deadline - performance.now();
    let last: NetworkError | undefined;
    for (let attempt = 0; attempt <= retries; attempt++) {
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
        const res = await this.attempt(path, body, { ...o, timeoutMs: Math.max(1, Math.ceil(Math.min(o.timeoutMs ?? this.opts.timeoutMs, left()))) });
        this.breaker.success();
        if (res.status >= 200 && res.status < 300) {
          this.stats.ok++;
          return res;
        }
        // A 4xx proves the service is up: report it, do not retry, do not trip the breaker.
        this.stats.rejected++;
        const code = (res.body as { error?: { code?: string } } | null)?.error?.code;
        throw new NetworkError('NETWORK_REJECTED', 'status', `network service answered ${res.status}${code ? ` ${code}` : ''}`, res.status);
      } catch (e) {
        if (e instanceof NetworkError && e.code === 'NETWORK_REJECTED') throw e;
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

  private async attempt(path: string, body: unknown, o: PostOptions): Promise<JsonResponse> {
    const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'application/json' };
    if (this.opts.apiKey) headers.authorization = `Bearer ${this.opts.apiKey}`;
    if (o.idempotencyKey) headers['idempotency-key'] = o.idempotencyKey;
    const signal = AbortSignal.timeout(o.timeoutMs ?? this.opts.timeoutMs);
    const res = await request(this.opts.baseUrl + path, {
      method: 'POST',
      headers,
      body: JSON.stringify(body),
      signal,
      dispatcher: this.agent,
    });
    const announced = parseDatasetVersionHeader(res.headers[DATASET_VERSION_HEADER]);
    if (announced !== null) {
      for (const l of this.datasetListeners) {
        try {
          l(announced);
        } catch {
          /* a listener's fault never fails the call that carried the news */
        }
      }
    }
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
