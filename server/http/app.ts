// The HTTP API of the network service (Fastify). Every route declares its JSON schema (validated
// by ajv with unknown fields rejected, and published as OpenAPI at /v1/openapi.json), its caller
// role (bridge key, admin key, or public), and answers errors as {"error":{"code","message"}}
// through one error handler and httpStatusFor().
import Fastify, { type FastifyReply, type FastifyRequest } from 'fastify';
import swagger from '@fastify/swagger';
import crypto from 'node:crypto';
import { isProtocolError } from '../../protocol/errors.ts';
import { keyIdOf } from '../../protocol/dataset/manifest.ts';
import type { BinRule } from '../../protocol/dataset/types.ts';
import { parseTokenHex } from '../../protocol/dataset/token.ts';
import { bearerKey, hashApiKey } from '../auth/api-keys.ts';
import type { AuthRequest, OutcomeRequest } from '../decision/network-auth.ts';
import { importRestricted } from '../admin/restricted-import.ts';
import { ServiceError, httpStatusFor, isServiceError, type ServiceErrorCode } from '../errors.ts';
import { findPan, scrubPans } from '../../contracts/pan-guard.ts';
import { ContractError } from '../../contracts/limits.ts';
import { DATASET_VERSION_HEADER } from '../../contracts/dataset-version.ts';
import type { Service } from '../service.ts';
import type { ApiKeyRecord } from '../storage/storage.ts';
import * as S from './schemas.ts';
import { registerNotifyRoutes } from '../notify/routes.ts';
import { metricsRoute } from './metrics.ts';
import { RequestSummary, ServiceLogController } from './request-log.ts';
import { RequestLimiter } from './rate-limit.ts';
import { sendAfterTurn } from './send-batching.ts';
import { DEFAULT_MERCHANT, parseObjectiveSetting } from '../routing/objectives.ts';
import { toUnixSeconds } from '../../runtime/clock.ts';

type Role = 'bridge' | 'admin' | 'any' | 'public';

export interface Caller {
  keyId: string;
  role: 'bridge' | 'admin';
  merchant: string | null;
}

declare module 'fastify' {
  interface FastifyRequest {
    caller?: Caller;
    /** The bearer key's hash: null until asked, false without a well-formed key (keyHashOf). */
    keyHash: string | false | null;
  }
  interface FastifyContextConfig {
    role?: Role;
  }
}

const PROTOCOL_TO_SERVICE: Record<string, ServiceErrorCode> = {
  INVALID_FIELD: 'INVALID_FIELD',
  MALFORMED: 'MALFORMED',
  TOO_LARGE: 'TOO_LARGE',
  LIMIT_EXCEEDED: 'TOO_LARGE',
  SIGNATURE_INVALID: 'INTERNAL',
};

/** Maps anything thrown by a route, hook or Fastify itself to a stable code and a safe message. */
export function toServiceError(err: unknown): ServiceError {
  if (isServiceError(err)) return err;
  if (err instanceof ContractError) return new ServiceError('INVALID_FIELD', err.message);
  if (isProtocolError(err)) return new ServiceError(PROTOCOL_TO_SERVICE[err.code] ?? 'BAD_REQUEST', err.message);
  const e = err as { code?: string; statusCode?: number; message?: string; validation?: unknown };
  if (e?.validation) return new ServiceError('INVALID_FIELD', e.message ?? 'invalid request');
  switch (e?.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new ServiceError('TOO_LARGE', 'request body is too large');
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new ServiceError('UNSUPPORTED_MEDIA_TYPE', 'unsupported content type');
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new ServiceError('MALFORMED', 'request body is not valid JSON');
  }
  if (e?.statusCode === 429) return new ServiceError('RATE_LIMITED', 'too many requests for this key; slow down');
  if (err instanceof SyntaxError || e?.statusCode === 400) return new ServiceError('MALFORMED', 'malformed request');
  if (typeof e?.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
    return new ServiceError(e.statusCode === 404 ? 'NOT_FOUND' : e.statusCode === 413 ? 'TOO_LARGE' : e.statusCode === 415 ? 'UNSUPPORTED_MEDIA_TYPE' : 'BAD_REQUEST', 'bad request');
  }
  return new ServiceError('INTERNAL', 'internal error');
}

function sendBinary(req: FastifyRequest, reply: FastifyReply, data: Uint8Array, type: string) {
  const hash = crypto.createHash('sha256').update(data).digest('hex');
  const etag = `"${hash}"`;
  reply.header('etag', etag).header('x-chunk-sha256', hash).header('cache-control', 'public, max-age=31536000, immutable');
  if (req.headers['if-none-match'] === etag) return reply.code(304).send();
  return reply.type(type).send(Buffer.from(data.buffer, data.byteOffset, data.byteLength));
}

const int = (s: string) => Number.parseInt(s, 10);

/** A connection's last Authorization header and what keyHashOf made of it. */
const LAST_AUTH = Symbol('precheck.lastAuthorization');
type AuthMemo = { header: string; hash: string | false };

/**
 * The caller's key hash, made once per request: the rate limiter keys on it, the key check looks
 * it up. A bridge sends every request of a keep-alive connection with the same header, so the
 * connection remembers its last header and hash (for as long as the connection holds the header's
 * bytes anyway) and a request with exactly that header reuses the hash; any other header is parsed
 * and hashed afresh. A hash is a function of the header alone: whether the key is known, revoked
 * or allowed on the route is checked per request as before.
 */
function keyHashOf(req: FastifyRequest): string | false {
  if (req.keyHash === null) {
    const header = req.headers.authorization;
    const socket = req.raw.socket as (typeof req.raw.socket & { [LAST_AUTH]?: AuthMemo }) | null;
    const memo = socket?.[LAST_AUTH];
    if (memo !== undefined && memo.header === header) req.keyHash = memo.hash;
    else {
      const key = bearerKey(header);
      req.keyHash = key ? hashApiKey(key) : false;
      if (socket && typeof header === 'string') socket[LAST_AUTH] = { header, hash: req.keyHash };
    }
  }
  return req.keyHash;
}

export async function buildApp(svc: Service) {
  const { storage, opts, auth, publisher } = svc;
  const summary = new RequestSummary(svc.log, opts.requestSummaryMs);
  const app = Fastify({
    loggerInstance: svc.log,
    bodyLimit: opts.bodyLimit,
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, useDefaults: true, allErrors: false } },
    return503OnClosing: true,
    forceCloseConnections: true,
    // A summary per minute at info, a line per request at debug (http/request-log.ts).
    logController: new ServiceLogController(svc.log, summary),
  });
  app.decorateRequest('keyHash', null);
  app.addHook('onClose', (_app, done) => {
    summary.close();
    done();
  });

  app.setErrorHandler((err, req, reply) => {
    const se = toServiceError(err);
    const status = httpStatusFor(se.code);
    // With the request line (scrubbed by the logger's serializer): at info it is logged nowhere else.
    if (status >= 500) req.log.error({ err, req }, 'request failed');
    else req.log.info({ code: se.code, req }, 'request refused');
    if (status === 429) reply.header('retry-after', Math.ceil(opts.rateLimitWindowMs / 1000));
    return reply.code(status).send({ error: { code: se.code, message: scrubPans(se.message) } });
  });
  // Routes by path pattern, so a known path asked with another method is 405 with Allow (as the
  // bridge answers), not 404.
  const routes: Array<{ re: RegExp; method: string }> = [];
  app.addHook('onRoute', (r) => {
    const re = new RegExp(`^${r.url.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/:[A-Za-z]+/g, '[^/]+')}$`);
    for (const m of [r.method].flat()) if (m !== 'HEAD') routes.push({ re, method: m });
    // Every route that reads a body can answer 413 and 415 (the error handler's shape): say so in
    // the OpenAPI document.
    const withBody = [r.method].flat().some((m) => m === 'POST' || m === 'PUT' || m === 'PATCH');
    if (withBody && r.schema && !(r.schema as { hide?: boolean }).hide) {
      const response = { ...(r.schema.response as Record<string, unknown> | undefined) };
      response[413] ??= { ...S.errorSchema, description: `TOO_LARGE: body over the limit (${opts.bodyLimit} bytes for JSON)` };
      response[415] ??= { ...S.errorSchema, description: 'UNSUPPORTED_MEDIA_TYPE: body not in a content type this route reads' };
      r.schema = { ...r.schema, response };
    }
  });
  app.setNotFoundHandler((req, reply) => {
    const path = req.url.split('?')[0];
    const allow = [...new Set(routes.filter((r) => r.re.test(path)).map((r) => r.method))];
    if (allow.length > 0) {
      return reply.code(405).header('allow', allow.join(', ')).send({ error: { code: 'METHOD_NOT_ALLOWED', message: `use ${allow.join(' or ')} on this route` } });
    }
    return reply.code(404).send({ error: { code: 'NOT_FOUND', message: `no route ${req.method} ${scrubPans(path)}` } });
  });
  // JSON routes only take JSON: Fastify parses text/plain by default, which then failed the schema
  // as 400; it is 415 now. The admin imports add text/plain and text/csv for their own routes.
  app.removeContentTypeParser('text/plain');

  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: { title: 'Precheck network service', version: '1' },
      components: {
        securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
        // not tied to one operation: any known path asked with a method it does not have
        responses: {
          MethodNotAllowed: {
            description: 'METHOD_NOT_ALLOWED: a known path asked with another method; the Allow header lists the methods it takes',
            headers: { Allow: { schema: { type: 'string' } } },
            content: { 'application/json': { schema: structuredClone(S.errorSchema) as unknown as Record<string, never> } },
          },
        },
      },
    },
  });

  // One hook on every request: caller authentication by route role, then the request limit per
  // key (hashed, so the limiter's memory never holds keys) or, without a key, per client address.
  // Callbacks, not promises: a known key (the cache's answer) passes without a promise made.
  const limiter = new RequestLimiter(opts.rateLimitMax, opts.rateLimitWindowMs);
  const rateLimited = () => new ServiceError('RATE_LIMITED', 'too many requests for this key; slow down');
  const admit = (req: FastifyRequest, role: Role, rec: ApiKeyRecord | null): ServiceError | undefined => {
    if (!rec || rec.revokedAt !== null) return new ServiceError('UNAUTHORIZED', 'unknown or revoked key');
    if (role === 'admin' && rec.role !== 'admin') return new ServiceError('FORBIDDEN', 'admin key required');
    if (role === 'bridge' && rec.role !== 'bridge') return new ServiceError('FORBIDDEN', 'bridge key required');
    req.caller = { keyId: rec.id, role: rec.role, merchant: rec.merchant };
    return limiter.take(req.keyHash as string) ? undefined : rateLimited();
  };
  app.addHook('onRequest', (req, reply, done) => {
    const role = req.routeOptions.config?.role ?? 'public';
    if (role === 'public') {
      const hash = keyHashOf(req);
      return done(limiter.take(hash || `ip:${req.ip}`) ? undefined : rateLimited());
    }
    // Bridges learn from answers they get anyway that a newer dataset exists, and sync their
    // devices then instead of on their schedule (docs/architecture.md, "Following new datasets").
    if (role === 'bridge') {
      const v = svc.datasetVersion();
      if (v !== null) reply.header(DATASET_VERSION_HEADER, String(v));
    }
    const hash = keyHashOf(req);
    if (!hash) return done(new ServiceError('UNAUTHORIZED', 'missing or malformed Authorization: Bearer <key>'));
    const cached = svc.apiKeys.cached(hash);
    if (cached !== undefined) return done(admit(req, role, cached));
    svc.apiKeys.find(hash).then((rec) => done(admit(req, role, rec)), done);
  });

  // Each turn's answers written together after it (http/send-batching.ts).
  app.addHook('onSend', sendAfterTurn);

  // No card numbers accepted anywhere: a PAN-looking field or value is refused before validation.
  app.addHook('preValidation', (req, _reply, done) => {
    const where = findPan(req.query) ?? (req.body && typeof req.body === 'object' && !Buffer.isBuffer(req.body) && !('pipe' in (req.body as object)) ? findPan(req.body) : null);
    done(where ? new ServiceError('PAN_REJECTED', `card numbers are not accepted; send the token, BIN and last four (at ${where})`) : undefined);
  });

  const bearer = [{ bearer: [] }];
  const merchantOf = (req: FastifyRequest) => req.caller!.merchant ?? '';

  app.get('/v1/openapi.json', { schema: { hide: true } }, async () => app.swagger());

  app.get('/v1/health', {
    schema: { summary: 'Liveness, dataset version and publishing lag', response: { 200: S.healthResponse } },
  }, async () => {
    const age = publisher.status().oldestUnpublishedChangeAgeMs;
    return { status: 'ok', datasetVersion: svc.datasetVersion(), oldestUnpublishedChangeAgeSeconds: age === null ? null : age / 1000 };
  });

  await app.register(metricsRoute(svc));

  app.get('/v1/keys/dataset', {
    schema: {
      summary: 'Ed25519 public key that signs datasets and firmware (devices are provisioned with it)',
      response: { 200: { type: 'object', properties: { algorithm: { type: 'string' }, publicKey: { type: 'string' }, keyId: { type: 'string' } } } },
    },
  }, async () => ({
    algorithm: 'Ed25519',
    publicKey: Buffer.from(svc.keys.signingPublicKey).toString('hex'),
    keyId: keyIdOf(svc.keys.signingPublicKey),
  }));

  // ---------------------------------------------------------------- bridge API
  app.post('/v1/auth', {
    config: { role: 'bridge' },
    schema: { summary: 'Network authentication of a card (token, never the PAN)', security: bearer, body: S.authBody, response: { 200: { ...S.authResponse, headers: S.datasetVersionHeader }, ...S.errors(400, 401, 403, 413, 429) } },
  }, async (req) => auth.authorize(req.body as AuthRequest, merchantOf(req)));

  app.post('/v1/outcomes', {
    config: { role: 'bridge' },
    schema: { summary: 'Report a gateway outcome (idempotent per idempotencyKey)', security: bearer, body: S.outcomeBody, response: { 200: { ...S.outcomeResponse, headers: S.datasetVersionHeader }, ...S.errors(400, 401, 409, 429) } },
  }, async (req, reply) => {
    const { answer, replay } = await auth.recordOutcome(req.body as OutcomeRequest, merchantOf(req));
    if (replay) reply.header('idempotent-replay', 'true');
    else svc.notify.onOutcome(merchantOf(req), { ...(req.body as OutcomeRequest & { terminal?: string; account?: string }), at: (req.body as OutcomeRequest).at ?? toUnixSeconds(opts.now()) });
    return answer;
  });

  // ---------------------------------------------------------------- datasets
  app.get('/v1/datasets/latest', {
    config: { role: 'any' },
    schema: { summary: 'Newest dataset version', security: bearer, response: { 200: S.datasetLatestResponse, ...S.errors(404) } },
  }, async () => {
    const d = await storage.latestDataset();
    if (!d) throw new ServiceError('DATASET_NOT_FOUND', 'no dataset has been published yet');
    // A client that already has this version learns how old the service's newest data is, and
    // whether newer data is waiting to be published.
    const pending = publisher.status().oldestUnpublishedChangeAgeMs;
    return {
      ...d,
      manifestUrl: `/v1/datasets/${d.version}/manifest`,
      ageSeconds: Math.max(0, toUnixSeconds(opts.now()) - d.createdAt),
      oldestUnpublishedChangeAgeSeconds: pending === null ? null : pending / 1000,
    };
  });

  app.get('/v1/datasets/delta', {
    config: { role: 'any' },
    schema: {
      summary: 'Signed delta manifest from version A to B (default: latest); chunks at /v1/datasets/delta/{A}-{B}/chunks/{n}',
      security: bearer,
      querystring: { type: 'object', additionalProperties: false, required: ['from'], properties: { from: S.versionParam, to: S.versionParam } },
    },
  }, async (req, reply) => {
    const q = req.query as { from: string; to?: string };
    const from = int(q.from);
    const to = q.to !== undefined ? int(q.to) : (await storage.latestDataset())?.version;
    if (to === undefined) throw new ServiceError('DATASET_NOT_FOUND', 'no dataset has been published yet');
    const bytes = await publisher.delta(from, to);
    reply.header('x-chunks-url', `/v1/datasets/delta/${from}-${to}/chunks/`);
    return sendBinary(req, reply, bytes, 'application/cbor');
  });

  app.get('/v1/datasets/delta/:range/chunks/:n', {
    config: { role: 'any' },
    schema: { summary: 'One chunk of a delta', security: bearer, params: { type: 'object', properties: { range: { type: 'string', pattern: '^[0-9]{1,10}-[0-9]{1,10}$' }, n: S.indexParam } } },
  }, async (req, reply) => {
    const p = req.params as { range: string; n: string };
    const [a, b] = p.range.split('-').map(int);
    const data = await storage.deltaChunk(a, b, int(p.n));
    if (!data) throw new ServiceError('NOT_FOUND', `no chunk ${p.n} of delta ${p.range}`);
    return sendBinary(req, reply, data, 'application/octet-stream');
  });

  /** GET <base>/:version/manifest and <base>/:version/chunks/:n of a stored release (dataset snapshot, firmware image). */
  const releaseRoutes = (
    base: string,
    what: 'dataset' | 'firmware',
    notFound: ServiceErrorCode,
    summaries: { manifest: string; chunk: string },
    read: { manifest(v: number): Promise<Uint8Array | null>; chunk(v: number, n: number): Promise<Uint8Array | null> },
  ): void => {
    app.get(`${base}/:version/manifest`, {
      config: { role: 'any' },
      schema: { summary: summaries.manifest, security: bearer, params: { type: 'object', properties: { version: S.versionParam } } },
    }, async (req, reply) => {
      const v = int((req.params as { version: string }).version);
      const bytes = await read.manifest(v);
      if (!bytes) throw new ServiceError(notFound, `${what} version ${v} not found`);
      return sendBinary(req, reply, bytes, 'application/cbor');
    });
    app.get(`${base}/:version/chunks/:n`, {
      config: { role: 'any' },
      schema: { summary: summaries.chunk, security: bearer, params: { type: 'object', properties: { version: S.versionParam, n: S.indexParam } } },
    }, async (req, reply) => {
      const p = req.params as { version: string; n: string };
      const data = await read.chunk(int(p.version), int(p.n));
      if (!data) throw new ServiceError('NOT_FOUND', `no chunk ${p.n} of ${what} ${p.version}`);
      return sendBinary(req, reply, data, 'application/octet-stream');
    });
  };

  releaseRoutes('/v1/datasets', 'dataset', 'DATASET_NOT_FOUND', { manifest: 'Signed manifest of a dataset snapshot (application/cbor)', chunk: 'One chunk of a dataset snapshot' }, {
    manifest: (v) => storage.datasetManifest(v),
    chunk: (v, n) => storage.datasetChunk(v, n),
  });

  // ---------------------------------------------------------------- firmware
  app.get('/v1/firmware/latest', {
    config: { role: 'any' },
    schema: { summary: 'Newest firmware release', security: bearer, response: { 200: S.firmwareLatestResponse, ...S.errors(404) } },
  }, async () => {
    const f = await storage.latestFirmware();
    if (!f) throw new ServiceError('FIRMWARE_NOT_FOUND', 'no firmware has been published yet');
    return { ...f, manifestUrl: `/v1/firmware/${f.version}/manifest` };
  });

  releaseRoutes('/v1/firmware', 'firmware', 'FIRMWARE_NOT_FOUND', { manifest: 'Signed firmware manifest (application/cbor)', chunk: 'One chunk of a firmware image' }, {
    manifest: (v) => storage.firmwareManifest(v),
    chunk: (v, n) => storage.firmwareChunk(v, n),
  });

  // ---------------------------------------------------------------- admin
  await app.register(async (admin) => {
    const changed = () => publisher.notifyChanged();
    const ok = { type: 'object', properties: { ok: { type: 'boolean' } } } as const;
    const adminSchema = (summary: string, extra: Record<string, unknown> = {}) => ({ summary, security: bearer, tags: ['admin'], ...extra });

    // Restricted-card import: the body streams through the tokeniser; nothing buffers it whole.
    admin.addContentTypeParser(['text/plain', 'text/csv'], (_req, payload, done) => done(null, payload));
    admin.post('/v1/admin/restricted/import', {
      config: { role: 'admin' },
      schema: adminSchema('Import restricted cards: one PAN per line, or CSV number,reason (text/plain or text/csv). Tokenised on arrival; invalid lines reported by number.', {
        querystring: { type: 'object', additionalProperties: false, properties: { reason: { type: 'string', pattern: '^[A-Za-z0-9_.:-]{1,64}$' }, expiresAt: { type: 'string', pattern: '^[0-9]{1,12}$' } } },
        response: { 200: S.importReport },
      }),
    }, async (req) => {
      const q = req.query as { reason?: string; expiresAt?: string };
      const body = req.body as { [Symbol.asyncIterator]?: unknown } | null;
      if (!body || typeof body[Symbol.asyncIterator] !== 'function') {
        throw new ServiceError('UNSUPPORTED_MEDIA_TYPE', 'send the file as text/plain or text/csv');
      }
      const report = await importRestricted(req.body as AsyncIterable<Uint8Array>, {
        cardKey: svc.keys.cardKey,
        storage,
        now: toUnixSeconds(opts.now()),
        source: 'import',
        defaultReason: q.reason ?? 'imported',
        expiresAt: q.expiresAt ? int(q.expiresAt) : null,
        maxBytes: opts.importMaxBytes,
        maxLineBytes: opts.importMaxLineBytes,
      });
      req.log.info({ lines: report.lines, imported: report.imported, added: report.added, invalid: report.invalidCount }, 'restricted import');
      if (report.imported > 0) changed();
      return report;
    });

    admin.addContentTypeParser('application/octet-stream', { parseAs: 'buffer', bodyLimit: opts.firmwareMaxBytes }, (_req, body, done) => done(null, body));
    admin.post('/v1/admin/firmware', {
      config: { role: 'admin' },
      bodyLimit: opts.firmwareMaxBytes,
      schema: adminSchema('Publish a firmware image (application/octet-stream body); version is a u32 above the latest', {
        querystring: { type: 'object', additionalProperties: false, required: ['version'], properties: { version: S.versionParam, name: { type: 'string', pattern: '^[A-Za-z0-9_.+-]{1,32}$' } } },
        response: { 200: S.firmwareLatestResponse },
      }),
    }, async (req) => {
      const q = req.query as { version: string; name?: string };
      const body = req.body;
      if (!Buffer.isBuffer(body) || body.length === 0) throw new ServiceError('BAD_REQUEST', 'firmware image (application/octet-stream) required');
      const version = int(q.version);
      if (version < 1 || version > 0xffffffff) throw new ServiceError('INVALID_FIELD', 'version must be 1..4294967295');
      const f = await publisher.publishFirmware(new Uint8Array(body), version, q.name ?? null);
      return { ...f, manifestUrl: `/v1/firmware/${f.version}/manifest` };
    });

    admin.post('/v1/admin/restricted', {
      config: { role: 'admin' },
      schema: adminSchema('Add one restricted card by token', { body: S.restrictedBody, response: { 200: ok } }),
    }, async (req) => {
      const b = req.body as { token: string; reason: string; bin?: string; last4?: string; expiresAt?: number };
      await storage.addRestricted([{ token: parseTokenHex(b.token), bin: b.bin ?? null, last4: b.last4 ?? null, reason: b.reason, source: 'admin', addedAt: toUnixSeconds(opts.now()), expiresAt: b.expiresAt ?? null }]);
      changed();
      return { ok: true };
    });
    admin.delete('/v1/admin/restricted/:token', {
      config: { role: 'admin' },
      schema: adminSchema('Remove a restricted card', { params: { type: 'object', properties: { token: { type: 'string', pattern: '^[0-9a-f]{32}$' } } }, response: { 200: ok } }),
    }, async (req) => {
      const removed = await storage.removeRestricted(parseTokenHex((req.params as { token: string }).token));
      if (!removed) throw new ServiceError('NOT_FOUND', 'token is not on the restricted list');
      changed();
      return { ok: true };
    });

    admin.post('/v1/admin/prompts', { config: { role: 'admin' }, schema: adminSchema('Add or replace a prompt text', { body: S.promptBody, response: { 200: ok } }) }, async (req) => {
      await storage.upsertPrompt(req.body as { code: string; lang: string; message: string });
      auth.invalidatePrompts();
      changed();
      return { ok: true };
    });
    admin.get('/v1/admin/prompts', { config: { role: 'admin' }, schema: adminSchema('List prompt texts') }, async () => ({ prompts: await storage.listPrompts() }));

    admin.post('/v1/admin/bin-rules', { config: { role: 'admin' }, schema: adminSchema('Add or replace a BIN rule', { body: S.binRuleBody, response: { 200: ok } }) }, async (req) => {
      await storage.upsertBinRule(req.body as BinRule);
      auth.invalidateBinRules();
      changed();
      return { ok: true };
    });
    admin.get('/v1/admin/bin-rules', { config: { role: 'admin' }, schema: adminSchema('List BIN rules') }, async () => ({ binRules: await storage.listBinRules() }));

    admin.post('/v1/admin/gateways', { config: { role: 'admin' }, schema: adminSchema('Add or replace a gateway and its fees', { body: S.gatewayBody, response: { 200: ok } }) }, async (req) => {
      await storage.upsertGateway(req.body as { name: string; feePerAttempt: number; feeBps: number });
      // The router routes only to registered gateways, with their fees: tell it at once.
      await svc.router.refreshGateways();
      changed();
      return { ok: true };
    });
    admin.get('/v1/admin/gateways', { config: { role: 'admin' }, schema: adminSchema('List gateways') }, async () => ({ gateways: await storage.listGateways() }));

    // Routing objective per merchant ('*' in the stored key = the default for all others).
    const objectives = svc.router.objectives;
    const merchantParam = { type: 'object', properties: { merchant: { type: 'string', pattern: '^[A-Za-z0-9_.:@-]{1,64}$' } } } as const;
    const showObjective = async (merchant: string) => {
      if (!objectives) throw new ServiceError('INTERNAL', 'routing objectives are not configured');
      const e = await objectives.effective(merchant);
      return { merchant, objective: e.objective, marginBps: e.marginBps, source: e.source };
    };
    const setObjective = async (merchant: string, body: unknown) => {
      if (!objectives) throw new ServiceError('INTERNAL', 'routing objectives are not configured');
      await objectives.set(merchant, parseObjectiveSetting(body as { objective?: unknown; marginBps?: unknown }));
      return showObjective(merchant);
    };
    admin.get('/v1/admin/routing', { config: { role: 'admin' }, schema: adminSchema('Default routing objective (merchants without their own)', { response: { 200: S.routingObjectiveResponse } }) }, async () => showObjective(DEFAULT_MERCHANT));
    admin.put('/v1/admin/routing', {
      config: { role: 'admin' },
      schema: adminSchema('Set the default routing objective: success (default) or value with a margin', { body: S.routingObjectiveBody, response: { 200: S.routingObjectiveResponse } }),
    }, async (req) => setObjective(DEFAULT_MERCHANT, req.body));
    admin.get('/v1/admin/merchants/:merchant/routing', {
      config: { role: 'admin' },
      schema: adminSchema("A merchant's routing objective and where it comes from", { params: merchantParam, response: { 200: S.routingObjectiveResponse } }),
    }, async (req) => showObjective((req.params as { merchant: string }).merchant));
    admin.put('/v1/admin/merchants/:merchant/routing', {
      config: { role: 'admin' },
      schema: adminSchema("Set a merchant's routing objective: success (default) or value with its margin", { params: merchantParam, body: S.routingObjectiveBody, response: { 200: S.routingObjectiveResponse } }),
    }, async (req) => setObjective((req.params as { merchant: string }).merchant, req.body));

    admin.post('/v1/admin/keys', {
      config: { role: 'admin' },
      schema: adminSchema('Issue a bridge API key for a merchant (the key is shown once)', {
        body: S.issueKeyBody,
        response: { 200: { type: 'object', properties: { id: { type: 'string' }, key: { type: 'string' }, merchant: { type: 'string' } } } },
      }),
    }, async (req) => {
      const b = req.body as { merchant: string; label?: string };
      return svc.issueKey(b.merchant, b.label ?? null);
    });
    admin.get('/v1/admin/keys', { config: { role: 'admin' }, schema: adminSchema('List API keys (never the keys themselves)') }, async () => ({
      keys: (await storage.listApiKeys()).map(({ hash: _h, ...k }) => k),
    }));
    admin.delete('/v1/admin/keys/:id', { config: { role: 'admin' }, schema: adminSchema('Revoke an API key', { params: { type: 'object', properties: { id: { type: 'string', pattern: '^[0-9a-f]{1,32}$' } } } }) }, async (req) => {
      const done = await storage.revokeApiKey((req.params as { id: string }).id, toUnixSeconds(opts.now()));
      svc.apiKeys.invalidate();
      if (!done) throw new ServiceError('NOT_FOUND', 'no such active key');
      return { ok: true };
    });

    admin.post('/v1/admin/devices', { config: { role: 'admin' }, schema: adminSchema('Register a device / terminal', { body: S.deviceBody, response: { 200: ok } }) }, async (req) => {
      const b = req.body as { id: string; merchant: string; kind: string; label?: string; publicKey?: string };
      await storage.upsertDevice({ id: b.id, merchant: b.merchant, kind: b.kind, label: b.label ?? null, publicKey: b.publicKey ?? null, createdAt: toUnixSeconds(opts.now()) });
      return { ok: true };
    });
    admin.post('/v1/admin/devices/:id/hosts', {
      config: { role: 'admin' },
      schema: adminSchema('Record a host paired with a device', { params: { type: 'object', properties: { id: { type: 'string', maxLength: 64 } } }, body: S.deviceHostBody, response: { 200: ok } }),
    }, async (req) => {
      const b = req.body as { hostId: string; publicKey?: string };
      const okk = await storage.addDeviceHost((req.params as { id: string }).id, b.hostId, b.publicKey ?? null, toUnixSeconds(opts.now()));
      if (!okk) throw new ServiceError('NOT_FOUND', 'no such device');
      return { ok: true };
    });
    admin.get('/v1/admin/devices', { config: { role: 'admin' }, schema: adminSchema('List devices, their paired hosts and terminal locations') }, async () => ({ devices: svc.notify.withLocations(await storage.listDevices()) }));

    // What `precheck device provision --service URL` needs: the dataset-signing public key and the
    // card key (devices turn PANs into the same tokens as the service). Admin only, never cached.
    admin.get('/v1/admin/provisioning', {
      config: { role: 'admin' },
      schema: adminSchema("Keys a verifier device is provisioned with: the service's dataset-signing public key and its card key (hex)", {
        response: { 200: { type: 'object', required: ['signingPublicKey', 'cardKey'], properties: { signingPublicKey: { type: 'string', pattern: '^[0-9a-f]{64}$' }, cardKey: { type: 'string', pattern: '^[0-9a-f]{64}$' } } } },
      }),
    }, async (_req, reply) => {
      reply.header('cache-control', 'no-store');
      return { signingPublicKey: Buffer.from(svc.keys.signingPublicKey).toString('hex'), cardKey: Buffer.from(svc.keys.cardKey).toString('hex') };
    });

    admin.post('/v1/admin/publish', {
      config: { role: 'admin' },
      schema: adminSchema('Build and sign a dataset now', { response: { 200: { type: 'object', properties: { version: { type: 'integer' }, created: { type: 'boolean' }, bytes: { type: 'integer' }, chunkCount: { type: 'integer' }, buildMs: { type: 'number' } } } } }),
    }, async () => {
      const r = await publisher.publish('admin');
      return { version: r.info.version, created: r.created, bytes: r.info.bytes, chunkCount: r.info.chunkCount, buildMs: r.buildMs };
    });

    admin.get('/v1/admin/stats', { config: { role: 'admin' }, schema: adminSchema('Table sizes') }, async () => ({
      restricted: await storage.countRestricted(),
      outcomes: await storage.countOutcomes(),
      datasetVersion: svc.datasetVersion(),
    }));
  });

  await app.register(async (r) => registerNotifyRoutes(r, svc.notify));
  svc.notify.startDelivery();
  return app;
}
