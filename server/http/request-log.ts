// What the service logs about requests. A line per request (Fastify's "incoming request" /
// "request completed" at info) cost more than the auth decision itself at thousands of requests
// a second, so at `info` the service logs one summary per interval instead: requests answered
// by status, and the slowest. A line per request comes back at `debug`. Refused requests (4xx)
// are logged one by one at `info` and failures (5xx) at `error` by the error handler
// (http/app.ts), with the request line scrubbed by the logger's serializer; a response that
// fails on the socket is logged at `error` here.
import { LogController, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Logger } from '../log.ts';

/** Counts answered requests and logs them as one `info` line per interval (none when idle). */
export class RequestSummary {
  private statuses = new Map<number, number>();
  private requests = 0;
  private slowestMs = 0;
  private since = Date.now();
  private readonly timer: NodeJS.Timeout;

  /** @param intervalMs how often the summary is logged */
  constructor(
    private readonly log: Logger,
    intervalMs: number,
  ) {
    this.timer = setInterval(() => this.flush(), intervalMs);
    this.timer.unref();
  }

  /** One answered request (its status, and how long it took in ms). */
  count(status: number, ms: number): void {
    this.requests++;
    this.statuses.set(status, (this.statuses.get(status) ?? 0) + 1);
    if (ms > this.slowestMs) this.slowestMs = ms;
  }

  /** Logs what was counted since the last line, if anything. */
  flush(): void {
    const now = Date.now();
    if (this.requests > 0) {
      const byStatus: Record<string, number> = {};
      for (const [s, n] of [...this.statuses].sort((a, b) => a[0] - b[0])) byStatus[s] = n;
      this.log.info({ requests: this.requests, byStatus, slowestMs: Math.round(this.slowestMs * 10) / 10, seconds: Math.round((now - this.since) / 100) / 10 }, 'requests answered');
    }
    this.statuses = new Map();
    this.requests = 0;
    this.slowestMs = 0;
    this.since = now;
  }

  /** Logs the last counts and stops (the server closes). */
  close(): void {
    clearInterval(this.timer);
    this.flush();
  }
}

/**
 * Fastify's per-request log lines, routed: every answered request is counted in the summary; the
 * lines themselves are written at `debug` only (the request line through the logger's `req`
 * serializer, then status and time), so at info and above the request path writes nothing.
 */
export class ServiceLogController extends LogController {
  private readonly debug: boolean;

  constructor(
    log: Logger,
    private readonly summary: RequestSummary,
  ) {
    // Fastify's other request-scoped lines (its default error and not-found handlers, which the
    // service replaces) stay off.
    super({ disableRequestLogging: true });
    this.debug = log.isLevelEnabled('debug');
  }

  override incomingRequest(request: FastifyRequest): void {
    if (this.debug) request.log.debug({ req: request }, 'incoming request');
  }

  override requestCompleted(error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    this.summary.count(reply.statusCode, reply.elapsedTime);
    if (error) reply.log.error({ req: request, res: reply, err: error, responseTime: reply.elapsedTime }, 'request errored');
    else if (this.debug) reply.log.debug({ res: reply, responseTime: reply.elapsedTime }, 'request completed');
  }
}
