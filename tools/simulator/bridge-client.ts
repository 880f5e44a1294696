// PrecheckPort over the bridge's public HTTP API, the way a shop's payment module calls it:
// POST /v1/verify before an attempt, POST /v1/outcomes after it. The card number goes only into
// the verify request body to the (loopback) bridge; nothing here logs or keeps it.
//
// Before each verification the client waits until the bridge's outbox has forwarded every earlier
// outcome (GET /v1/health → outbox.outcomesPending = 0): in a real shop minutes pass between one
// customer's decline and the next order, so the network service has learned from it; a simulation
// that runs thousands of orders per minute must wait for that explicitly or it would measure the
// outbox's latency instead of Precheck.
import { Agent, request } from 'undici';
import type { PrecheckPort, ReportedOutcome, VerifyDecision, VerifyRequest } from './engine.ts';
import { codeOf } from '../../errors/precheck-error.ts';

export class SimulatorHttpError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status?: number,
  ) {
    super(message);
    this.name = 'SimulatorHttpError';
  }
}

export interface BridgeClientOptions {
  bridgeUrl: string;
  /** Bearer token of the bridge API, when it has one. */
  token?: string | null;
  /** Send simulated timestamps with outcomes (only when the service runs on the simulated clock). */
  sendTimes?: boolean;
  /** Longest wait for the outbox to drain before a verification; default 5000 ms. */
  drainTimeoutMs?: number;
}

export interface BridgeClientStats {
  verifies: number;
  reports: number;
  stages: Record<string, number>;
  reasons: Record<string, number>;
  drainWaits: number;
  drainTimeouts: number;
  /** From the bridge's health at the end: outcomes the network service refused. */
  outcomesRejected: number;
}

const TIMEOUT_MS = 10_000;

export class BridgeClient implements PrecheckPort {
  readonly stats: BridgeClientStats = { verifies: 0, reports: 0, stages: {}, reasons: {}, drainWaits: 0, drainTimeouts: 0, outcomesRejected: 0 };
  private readonly base: string;
  private readonly agent = new Agent({ connections: 4, keepAliveTimeout: 10_000 });
  private pendingReports = 0;
  private stuck = false;

  constructor(private readonly o: BridgeClientOptions) {
    this.base = o.bridgeUrl.replace(/\/+$/, '');
  }

  private async call(method: 'GET' | 'POST', path: string, body?: unknown): Promise<{ status: number; json: unknown }> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (this.o.token) headers.authorization = `Bearer ${this.o.token}`;
    let res;
    try {
      res = await request(`${this.base}${path}`, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        dispatcher: this.agent,
        headersTimeout: TIMEOUT_MS,
        bodyTimeout: TIMEOUT_MS,
      });
    } catch (e) {
      // Never echo the request (it may hold a card number): the code and the URL path only.
      const code = codeOf(e) ?? 'NETWORK_ERROR';
      throw new SimulatorHttpError('UNAVAILABLE', `bridge ${method} ${path} failed: ${code}`);
    }
    const text = await res.body.text();
    let json: unknown = null;
    try {
      json = text ? JSON.parse(text) : null;
    } catch {
      json = null;
    }
    if (res.statusCode >= 400) {
      const err = (json as { error?: { code?: string; message?: string } } | null)?.error;
      throw new SimulatorHttpError(err?.code ?? 'HTTP_ERROR', `bridge ${method} ${path} answered ${res.statusCode} ${err?.code ?? ''}`.trim(), res.statusCode);
    }
    return { status: res.statusCode, json };
  }

  /** Outbox depth from /v1/health. */
  async health(): Promise<{ outcomesPending: number; outcomesRejected: number; status: string }> {
    const { json } = await this.call('GET', '/v1/health');
    const h = json as { status?: string; outbox?: { outcomesPending?: number; outcomesRejected?: number } };
    return { outcomesPending: h.outbox?.outcomesPending ?? 0, outcomesRejected: h.outbox?.outcomesRejected ?? 0, status: h.status ?? 'unknown' };
  }

  /** Waits (bounded) until every reported outcome has left the bridge's outbox. */
  async drain(): Promise<void> {
    if (this.pendingReports === 0) return;
    // After a timeout (the service is down or slow) wait only briefly until the outbox drains
    // again, so a dead network service costs a run seconds, not hours.
    const budget = this.stuck ? 50 : (this.o.drainTimeoutMs ?? 5000);
    const deadline = Date.now() + budget;
    let delay = 1;
    for (;;) {
      const h = await this.health();
      if (h.outcomesPending === 0) {
        this.stuck = false;
        break;
      }
      if (Date.now() > deadline) {
        this.stats.drainTimeouts++;
        this.stuck = true;
        break;
      }
      this.stats.drainWaits++;
      // Polling a remote bridge's health is the only signal its public API offers.
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(50, delay * 2);
    }
    this.pendingReports = 0;
  }

  async verify(req: VerifyRequest): Promise<VerifyDecision> {
    await this.drain();
    const c = req.order.customer;
    const body = {
      card: { number: req.card.pan, expMonth: req.card.expMonth, expYear: req.card.expYear },
      order: { id: req.orderId, amount: { value: req.amount, currency: req.currency }, country: req.card.issuerCountry },
      customer: { accountId: `acct-${c.id}`, deviceId: `dev-${c.deviceId}`, ip: c.ip },
      lang: 'en',
    };
    this.stats.verifies++;
    const { json } = await this.call('POST', '/v1/verify', body);
    const r = json as { decision?: string; reason?: string; stage?: string; prompt?: { code?: string } | null; gateway?: string | null };
    if (r?.decision !== 'approve' && r?.decision !== 'decline' && r?.decision !== 'review') throw new SimulatorHttpError('MALFORMED', 'bridge verify answer has no decision');
    const stage = r.stage ?? 'unknown';
    this.stats.stages[stage] = (this.stats.stages[stage] ?? 0) + 1;
    const reason = `${r.decision}:${r.reason ?? ''}`;
    this.stats.reasons[reason] = (this.stats.reasons[reason] ?? 0) + 1;
    return { decision: r.decision, reason: r.reason ?? '', promptCode: r.prompt?.code ?? null, gateway: r.gateway ?? null, stage };
  }

  async report(o: ReportedOutcome): Promise<void> {
    const body: Record<string, unknown> = { orderId: o.orderId, gateway: o.gateway, status: o.status, attempt: o.attempt };
    if (o.code) body.code = o.code;
    if (o.type) body.type = o.type;
    if (this.o.sendTimes) body.at = o.at;
    this.stats.reports++;
    await this.call('POST', '/v1/outcomes', body);
    this.pendingReports++;
  }

  /** Waits for the last outcomes to leave the outbox and reads the final outbox state into stats. */
  async finish(): Promise<void> {
    await this.drain();
    this.stats.outcomesRejected = (await this.health()).outcomesRejected;
  }

  async close(): Promise<void> {
    await this.agent.close().catch(() => undefined);
  }
}
