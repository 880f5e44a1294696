// The bridge's HTTP API (Fastify, localhost by default). Request bodies are validated by JSON
// Schema (also the source of /v1/openapi.json); every error goes through error-map.ts, which
// never echoes request data, so a card number cannot come back in an error or reach the log.
import { createHash, timingSafeEqual } from 'node:crypto';
import Fastify, { LogController, type FastifyInstance } from 'fastify';
import swagger from '@fastify/swagger';
import rateLimit from '@fastify/rate-limit';
import type { Logger } from 'pino';
import type { DeviceRegistry } from '../devices/types.ts';
import type { VerifyInput, VerifyPipeline } from '../pipeline/verify-pipeline.ts';
import type { Outbox } from '../outbox/outbox-db.ts';
import { queueOutcome, type OutcomeReport } from '../outbox/outcomes.ts';
import type { NetworkClient } from '../network/network-client.ts';
import type { BridgeMetrics } from '../metrics/bridge-metrics.ts';
import { PROMETHEUS_CONTENT_TYPE } from '../metrics/prometheus.ts';
import { ApiError, syncReportStatus, toErrorResponse } from './error-map.ts';
import { PairingBroker } from './pairing-broker.ts';
import * as S from './schemas.ts';
import type { IvrChannel } from '../ivr/channel.ts';
import { registerIvrRoutes } from '../ivr/routes.ts';
import { RecentDecisions, statusPageRoutes } from './status-page.ts';
import { isLoopback } from '../../runtime/loopback.ts';
import { RulesReference } from '../devices/rules-reference.ts';
import { datasetAgeOf } from '../devices/freshness.ts';
import { productVersion } from '../../runtime/version.ts';
import { findPan } from '../../contracts/pan-guard.ts';
import { bearerCredentials } from '../../contracts/bearer.ts';

/** Runs a dataset/firmware sync (filled in by the sync part); its result is returned as JSON. */
export type SyncRunner = ((req: { devices?: string[]; force?: boolean; firmware?: boolean; dataset?: boolean }) => Promise<unknown>) & {
  /** Progress events while subscribed; POST /v1/sync with Accept: application/x-ndjson streams them. */
  subscribe?: (listener: (p: unknown) => void) => () => void;
  /** With these two the bridge follows the service's new datasets (host-bridge/sync/follower.ts). */
  latestDataset?: () => Promise<number | null>;
  busy?: (deviceId: string) => boolean;
};

export const NDJSON = 'application/x-ndjson';

export interface ApiOptions {
  pipeline: VerifyPipeline;
  outbox: Outbox;
  registry: DeviceRegistry | null;
  network: NetworkClient | null;
  metrics: BridgeMetrics;
  logger: Logger;
  /** Bearer token required on every route when set. */
  token: string | null;
  /** /metrics and the status page need no token from a loopback address (config loopbackWithoutToken). */
  loopbackWithoutToken?: boolean;
  fallback: string;
  syncRunner?: SyncRunner | null;
  /** Called after an outcome was queued (wakes the forwarder; the bridge's gateway health sees it). */
  onOutcomeQueued?: (report: OutcomeReport) => void;
  pairingTtlMs?: number;
  /** Requests per minute per client address; 0 or absent = unlimited. */
  rateLimitPerMinute?: number;
  /**
   * Host names (lower case, no port) the API answers to: its listen addresses and configured names.
   * A request naming any other Host is refused (421) — a DNS-rebinding page cannot reach the API.
   * Absent/null: no check (tests of the API alone).
   */
  allowedHosts?: ReadonlySet<string> | null;
  now?: () => number;
  /** Phone capture (VoiceXML) and call-backs, when enabled. */
  ivr?: IvrChannel | null;
  /** The decision rules devices should run (default: this bridge's own). */
  rules?: RulesReference;
}

const sha = (s: string) => createHash('sha256').update(s).digest();

/** The documented operations: OpenAPI operationId and what each success status means. */
const OPERATIONS: Record<string, { id: string; ok: Record<string, string> }> = {
  'POST /v1/verify': { id: 'verifyCard', ok: { 200: 'The decision: approve, decline or review, with stage, reason, prompt and gateway' } },
  'POST /v1/outcomes': { id: 'reportOutcome', ok: { 202: 'Queued in the outbox for the network service (or a duplicate of one already queued)' } },
  'GET /v1/devices': { id: 'listDevices', ok: { 200: 'The verifier devices the bridge sees' } },
  'POST /v1/devices/:id/pair': { id: 'pairDevice', ok: { 200: 'Paired, or the pairing was rejected', 202: 'Compare this code with the device display, then confirm' } },
  'POST /v1/sync': { id: 'syncDevices', ok: { 200: 'The sync report (per device and kind); with Accept: application/x-ndjson, progress lines then the report' } },
  'GET /v1/health': { id: 'getHealth', ok: { 200: 'Bridge health: devices, dataset age, breaker, outbox' } },
  'GET /metrics': { id: 'getMetrics', ok: { 200: 'Prometheus text exposition format (version 0.0.4)' } },
  'GET /v1/openapi.json': { id: 'getOpenApi', ok: { 200: 'This OpenAPI 3.0 document' } },
};

/** Routes a loopback client may use without the token when loopbackWithoutToken is set. */
function isLoopbackExempt(url: string): boolean {
  const p = url.split('?')[0];
  return p === '/metrics' || p === '/' || p.startsWith('/ui/');
}

/** The host name of a Host header, lower case, without port or IPv6 brackets; null when unusable. */
export function hostOf(header: string | undefined): string | null {
  if (!header) return null;
  const h = header.trim().toLowerCase();
  const v6 = /^\[([0-9a-f:.]+)\](?::\d{1,5})?$/.exec(h);
  if (v6) return v6[1];
  const m = /^([a-z0-9.-]+?)\.?(?::\d{1,5})?$/.exec(h);
  return m ? m[1] : null;
}

export async function buildApi(o: ApiOptions): Promise<FastifyInstance> {
  const now = o.now ?? Date.now;
  const startedAt = now();
  const rules = o.rules ?? new RulesReference();
  const app = Fastify({
    loggerInstance: o.logger,
    // No per-request logs: the pipeline logs one line per verification (BIN + last four only).
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: 16 * 1024,
    // Strict payment API: no silent stripping of unknown fields, no "123" → 123 coercion.
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, allErrors: false } },
  });
  const pairing = new PairingBroker(o.registry, o.pairingTtlMs);
  const recent = new RecentDecisions();
  app.addHook('onClose', async () => pairing.close());

  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'Precheck host bridge',
        version: '1.0.0',
        description: 'Card pre-verification on the merchant host: local verifier devices, then the network service.',
        license: { name: 'Proprietary' },
      },
      servers: [{ url: 'http://127.0.0.1:8787', description: 'The bridge on this machine (config listen.host / listen.port; `precheck up` may choose another port)' }],
      // Security is stated per operation (onRoute below): bearer when a token is configured.
      components: {
        ...(o.token ? { securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'The bridge token (config `token`)' } } } : {}),
        // not tied to one operation: any known path asked with a method it does not have
        responses: {
          MethodNotAllowed: {
            description: 'METHOD_NOT_ALLOWED: a known path asked with another method; the Allow header lists the methods it takes',
            headers: { Allow: { schema: { type: 'string' } } },
            content: { 'application/json': { schema: structuredClone(S.errorBody) as unknown as Record<string, never> } },
          },
        },
      },
    },
  });

  // operationId, per-operation security and success descriptions for the OpenAPI document, in one
  // place for every documented route (routes not listed here are hidden from the document).
  const bearer = o.token ? [{ bearer: [] as string[] }] : [];
  app.addHook('onRoute', (r) => {
    const op = OPERATIONS[`${Array.isArray(r.method) ? r.method[0] : r.method} ${r.url}`];
    if (!op || !r.schema) return;
    const response = { ...(r.schema.response as Record<string, Record<string, unknown>> | undefined) };
    for (const [status, desc] of Object.entries(op.ok)) if (response[status]) response[status] = { description: desc, ...response[status] };
    // every route that reads a body can answer 413 and 415 (the error handler's shape)
    if ([r.method].flat().some((m) => m === 'POST' || m === 'PUT' || m === 'PATCH')) {
      response[413] ??= { description: 'Request body over 16 KiB', ...S.errorBody };
      response[415] ??= { description: 'Body not sent as application/json', ...S.errorBody };
    }
    const openMetrics = r.url === '/metrics' && o.loopbackWithoutToken && o.token;
    r.schema = { ...r.schema, operationId: op.id, response, security: openMetrics ? [...bearer, {}] : bearer };
  });

  if (o.rateLimitPerMinute) {
    await app.register(rateLimit, {
      max: o.rateLimitPerMinute,
      timeWindow: 60_000,
      errorResponseBuilder: (_req, ctx) => new ApiError('RATE_LIMITED', `too many requests; retry in ${ctx.after}`),
    });
  }

  app.setErrorHandler((err, req, reply) => {
    const { status, body } = toErrorResponse(err);
    if (status === 500) o.logger.error({ route: req.routeOptions.url, code: body.error.code, errName: (err as Error)?.name }, 'request failed');
    void reply.status(status).send(body);
  });
  // Routes by path pattern, so a known path with another method is a 405 with Allow, not a 404.
  const routes: Array<{ re: RegExp; method: string }> = [];
  app.addHook('onRoute', (r) => {
    const re = new RegExp(`^${r.url.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/:[A-Za-z]+/g, '[^/]+')}$`);
    for (const m of [r.method].flat()) if (m !== 'HEAD') routes.push({ re, method: m });
  });
  app.setNotFoundHandler((req, reply) => {
    const path = req.url.split('?')[0];
    const allow = [...new Set(routes.filter((r) => r.re.test(path)).map((r) => r.method))];
    if (allow.length > 0) {
      void reply.status(405).header('allow', allow.join(', ')).send({ error: { code: 'METHOD_NOT_ALLOWED', message: `use ${allow.join(' or ')} on this route` } });
      return;
    }
    void reply.status(404).send({ error: { code: 'NOT_FOUND', message: 'no such route' } });
  });
  // JSON only: a text/plain body is 415 (Fastify parses text/plain by default; this API never reads it).
  app.removeContentTypeParser('text/plain');

  if (o.allowedHosts) {
    const allowed = o.allowedHosts;
    app.addHook('onRequest', async (req) => {
      const name = hostOf(req.headers.host);
      if (name === null || !allowed.has(name)) {
        throw new ApiError('MISDIRECTED', 'this bridge does not answer for that Host; add the name to listen.names (PRECHECK_BRIDGE_HOSTNAMES) if it is yours', 'host');
      }
    });
  }

  if (o.token) {
    const want = sha(o.token);
    app.addHook('onRequest', async (req) => {
      if (o.loopbackWithoutToken && isLoopback(req.socket.remoteAddress) && isLoopbackExempt(req.url)) return;
      const presented = bearerCredentials(req.headers.authorization);
      // Compare digests: constant time and independent of the presented token's length.
      if (presented === null || !timingSafeEqual(sha(presented), want)) throw new ApiError('UNAUTHORIZED', 'missing or wrong bearer token (Authorization: Bearer <token>)');
    });
  }

  // The one PAN guard (contracts/pan-guard.ts), as at the service: a card-number-shaped value
  // anywhere but card.number is refused here, before it reaches the outbox, the log or the service.
  app.addHook('preValidation', async (req) => {
    // The phone-capture steps receive keyed card digits by design (like card.number); they never forward them.
    if (req.routeOptions.url?.startsWith('/v1/ivr/s/')) return;
    const body = req.body && typeof req.body === 'object' ? { ...(req.body as Record<string, unknown>) } : req.body;
    if (body && typeof body === 'object' && req.routeOptions.url === '/v1/verify') delete (body as Record<string, unknown>).card;
    const where = findPan(req.params) ?? findPan(req.query) ?? findPan(body);
    if (where) {
      const field = where.replace(/^\//, '').replace(/\//g, '.') || '(body)';
      throw new ApiError('PAN_REJECTED', `${field} looks like a card number; card numbers are accepted only in card.number`, field);
    }
  });

  app.post<{ Body: VerifyInput }>(
    '/v1/verify',
    {
      schema: {
        summary: 'Verify a card before sending the order to a gateway',
        body: S.verifyBody,
        response: { 200: S.verifyResponse, 422: { ...S.errorResponses[400], description: 'Impossible card (Luhn, expired, CVC format)' }, ...S.errorResponses, ...S.verifyErrorResponses },
      },
    },
    async (req) => {
      const r = await o.pipeline.verify(req.body);
      recent.add(r, now()); // for the status page: BIN, last four and the answer, nothing else
      return r;
    },
  );

  app.post<{ Body: OutcomeReport }>(
    '/v1/outcomes',
    {
      schema: {
        summary: "Report a gateway's outcome for a verified order (forwarded to the network service)",
        body: S.outcomeBody,
        response: { 202: S.outcomeResponse, ...S.errorResponses },
      },
    },
    async (req, reply) => {
      const r = queueOutcome(o.outbox, req.body, now());
      o.metrics.outcomes.inc({ status: req.body.status, duplicate: String(r.duplicate) });
      if (!r.duplicate) o.onOutcomeQueued?.(req.body);
      return reply.status(202).send({ ...r, queued: true });
    },
  );

  app.get('/v1/devices', { schema: { summary: 'Attached verifier devices', response: { 200: { type: 'object', properties: { devices: { type: 'array', items: S.deviceSummary } } }, 401: S.errorResponses[401], 500: S.errorResponses[500] } } }, async () => ({
    devices: (o.registry?.list() ?? []).map((h) => {
      const s = h.summary();
      return { ...s, rulesCurrent: rules.current(s.rulesVersion) };
    }),
  }));

  app.post<{ Params: { id: string }; Body: { confirm?: boolean; code?: string } | undefined }>(
    '/v1/devices/:id/pair',
    {
      // No body at all means "start pairing"; give the schema an object to check.
      preValidation: async (req) => {
        req.body ??= {};
      },
      schema: {
        summary: 'Pair a device: call with no body to get the code, then with {"confirm":true,"code":...}',
        params: { type: 'object', properties: { id: { type: 'string', maxLength: 128 } }, required: ['id'] },
        body: S.pairBody,
        response: { 200: S.pairResponse, 202: S.pairResponse, ...S.errorResponses },
      },
    },
    async (req, reply) => {
      const body = req.body ?? {};
      if (body.confirm === undefined) {
        const step = await pairing.start(req.params.id);
        return reply.status(step.status === 'confirm' ? 202 : 200).send(step);
      }
      return reply.status(200).send(await pairing.confirm(req.params.id, body.confirm, body.code));
    },
  );

  app.post<{ Body: { devices?: string[]; force?: boolean } | undefined }>(
    '/v1/sync',
    {
      preValidation: async (req) => {
        req.body ??= {};
      },
      schema: { summary: "Bring devices' datasets and firmware up to date now", body: S.syncBody, response: { 200: S.syncResponse, ...S.errorResponses, ...S.syncErrorResponses } },
    },
    async (req, reply) => {
      if (!o.syncRunner) throw new ApiError('SYNC_NOT_CONFIGURED', 'this bridge has no sync runner configured');
      const runner = o.syncRunner;
      if (!runner.subscribe || !(req.headers.accept ?? '').includes(NDJSON)) {
        const report = await runner(req.body ?? {});
        // A failed service or device is not a 200: the status says so, the body is still the report.
        const failure = syncReportStatus(report);
        if (!failure) return report;
        return reply.status(failure.status).send({ ...(report as object), error: failure.error });
      }
      // Streamed: one JSON line per progress event, then {"type":"report","report":…} (the same
      // report the plain call returns). The status (200) is sent before the outcome is known, so
      // the report's exitCode (and "error" on the last line) says how it went.
      const body = req.body ?? {};
      const wanted = body.devices ? new Set(body.devices) : null;
      reply.hijack();
      reply.raw.writeHead(200, { 'content-type': `${NDJSON}; charset=utf-8`, 'cache-control': 'no-store' });
      const unsubscribe = runner.subscribe((p) => {
        const dev = (p as { device?: string }).device;
        if (wanted && dev && !wanted.has(dev)) return;
        reply.raw.write(`${JSON.stringify({ type: 'progress', ...(p as object) })}\n`);
      });
      try {
        const report = await runner(body);
        const failure = syncReportStatus(report);
        reply.raw.end(`${JSON.stringify({ type: 'report', report: failure ? { ...(report as object), error: failure.error } : report })}\n`);
      } catch (e) {
        const { body: err } = toErrorResponse(e);
        reply.raw.end(`${JSON.stringify({ type: 'error', ...err })}\n`);
      } finally {
        unsubscribe();
      }
    },
  );

  app.get('/v1/health', { schema: { summary: 'Devices, dataset age, network breaker, outbox depth', response: { 200: S.healthResponse, 401: S.errorResponses[401], 500: S.errorResponses[500] } } }, async () => {
    const nowMs = now();
    const devices = (o.registry?.list() ?? []).map((h) => {
      const s = h.summary();
      const age = datasetAgeOf(s, nowMs);
      return {
        id: s.id,
        link: s.link,
        paired: s.paired,
        healthy: s.healthy,
        datasetVersion: s.datasetVersion,
        datasetState: age.datasetState,
        datasetAgeS: age.ageSeconds,
        rulesVersion: s.rulesVersion,
        rulesCurrent: rules.current(s.rulesVersion),
        ...(s.lastError ? { lastError: s.lastError } : {}),
      };
    });
    const outbox = o.outbox.depth();
    const breaker = o.network ? o.network.breakerState() : null;
    const degraded =
      (devices.length > 0 && !devices.some((d) => d.healthy && d.paired)) ||
      breaker === 'open' ||
      !o.network ||
      outbox.outcomesRejected > 0 ||
      outbox.reconciliationsRejected > 0;
    return {
      status: degraded ? 'degraded' : 'ok',
      uptimeS: Math.floor((now() - startedAt) / 1000),
      fallback: o.fallback,
      devices,
      rules: { version: rules.version, source: rules.source },
      network: { configured: o.network !== null, breaker, ...(o.network ? { serviceUrl: o.network.serviceUrl } : {}) },
      outbox,
    };
  });

  app.get('/metrics', { schema: { summary: 'Prometheus metrics (text exposition format)', response: { 200: S.metricsResponse, 401: S.errorResponses[401] } } }, async (_req, reply) => {
    return reply.type(PROMETHEUS_CONTENT_TYPE).send(o.metrics.render());
  });

  await app.register(
    statusPageRoutes({ registry: o.registry, outbox: o.outbox, network: o.network, pairing, recent, fallback: o.fallback, token: o.token, startedAt, now, version: productVersion() }),
  );

  app.get('/v1/openapi.json', { schema: { summary: 'This document', response: { 200: S.openapiResponse, 401: S.errorResponses[401] } } }, async () => app.swagger());

  if (o.ivr) await app.register(async (r) => registerIvrRoutes(r, o.ivr!));

  await app.ready();
  // The pino Logger type is wider than FastifyBaseLogger; callers only need the base instance.
  return app as unknown as FastifyInstance;
}
