// HTTP routes of the payer-notification channel. Merchant routes (bridge key: the merchant's app
// backend) register and withdraw payer endpoints; admin routes set terminal locations, load the
// offers catalogue and rule set, and operate the delivery queue. Registered by http/app.ts inside
// its authentication and error handling (roles, PAN guard, {"error":{code,message}}).
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ServiceError } from '../errors.ts';
import type { NotifyService } from './notify-service.ts';

const id = (max: number) => ({ type: 'string', minLength: 1, maxLength: max, pattern: '^[A-Za-z0-9_.:/@#-]+$' }) as const;
const lang = { type: 'string', pattern: '^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$', maxLength: 16 } as const;
const bearer = [{ bearer: [] }];
const ok = { type: 'object', properties: { ok: { type: 'boolean' } } } as const;

const endpointBody = {
  type: 'object',
  additionalProperties: false,
  required: ['account', 'kind', 'lang', 'consent'],
  properties: {
    account: { ...id(128), description: "the payer's account at the merchant" },
    kind: { type: 'string', enum: ['webhook', 'sms'] },
    url: { type: 'string', maxLength: 2048, description: 'webhook: https URL of the merchant or wallet app backend' },
    phone: { type: 'string', maxLength: 32, description: 'sms: E.164 (+country code), or national with region' },
    region: { type: 'string', pattern: '^[A-Z]{2}$' },
    lang: { ...lang, description: "the payer's language for notices" },
    consent: {
      type: 'object',
      additionalProperties: false,
      required: ['granted', 'text'],
      properties: {
        granted: { type: 'boolean', description: 'must be true: explicit opt-in' },
        text: { type: 'string', minLength: 1, maxLength: 1000, description: 'the wording the payer agreed to' },
        at: { type: 'integer', minimum: 0, description: 'unix seconds of the opt-in; default now' },
      },
    },
  },
} as const;

const locationBody = {
  type: 'object',
  additionalProperties: false,
  required: ['lat', 'lon', 'category'],
  properties: {
    lat: { type: 'number', minimum: -90, maximum: 90 },
    lon: { type: 'number', minimum: -180, maximum: 180 },
    category: { type: 'string', pattern: '^[0-9]{4}$', description: 'merchant category code (ISO 18245)' },
    merchantName: { type: 'string', minLength: 1, maxLength: 128, description: 'name shown to payers' },
  },
} as const;

const offerItem = {
  type: 'object',
  additionalProperties: false,
  required: ['merchant', 'name', 'category', 'lat', 'lon', 'item', 'price', 'currency'],
  properties: {
    merchant: id(64),
    name: { type: 'string', minLength: 1, maxLength: 128 },
    category: { type: 'string', pattern: '^[0-9]{4}$' },
    lat: { type: 'number', minimum: -90, maximum: 90 },
    lon: { type: 'number', minimum: -180, maximum: 180 },
    item: { type: 'string', minLength: 1, maxLength: 128 },
    price: { type: 'integer', minimum: 0, maximum: 1e13, description: 'minor units' },
    currency: { type: 'string', pattern: '^[A-Z]{3}$' },
  },
} as const;

const stateParam = { type: 'string', enum: ['pending', 'sending', 'delivered', 'dead'] } as const;

export async function registerNotifyRoutes(app: FastifyInstance, notify: NotifyService): Promise<void> {
  const merchantOf = (req: FastifyRequest) => req.caller!.merchant ?? '';
  const tags = ['notifications'];

  // ---------------------------------------------------------------- merchant: payer endpoints
  app.post('/v1/notify/endpoints', {
    config: { role: 'bridge' },
    schema: { summary: "Register a payer's notification endpoint with explicit consent; a webhook's signing secret is returned once", tags, security: bearer, body: endpointBody },
  }, async (req) => notify.registerEndpoint(merchantOf(req), req.body as Parameters<NotifyService['registerEndpoint']>[1]));

  app.get('/v1/notify/endpoints', {
    config: { role: 'bridge' },
    schema: { summary: "List this merchant's payer endpoints (never their secrets)", tags, security: bearer, querystring: { type: 'object', additionalProperties: false, properties: { account: id(128) } } },
  }, async (req) => ({ endpoints: notify.endpoints(merchantOf(req), (req.query as { account?: string }).account) }));

  app.delete('/v1/notify/endpoints/:id', {
    config: { role: 'bridge' },
    schema: { summary: 'Withdraw consent: deletes the endpoint and every message queued or kept for it', tags, security: bearer, params: { type: 'object', properties: { id: id(64) } } },
  }, async (req) => ({ ok: true, ...notify.withdraw(merchantOf(req), (req.params as { id: string }).id) }));

  // The account goes in the body, not the URL: request lines are logged, and erasure must not leave it there.
  app.post('/v1/notify/erasure', {
    config: { role: 'bridge' },
    schema: { summary: 'Erase a payer account from notifications: all its endpoints and messages, zeroed on disk', tags, security: bearer, body: { type: 'object', additionalProperties: false, required: ['account'], properties: { account: id(128) } } },
  }, async (req) => ({ ok: true, ...notify.eraseAccount(merchantOf(req), (req.body as { account: string }).account) }));

  // ---------------------------------------------------------------- admin
  await app.register(async (admin) => {
    const adminTags = ['admin', 'notifications'];
    admin.put('/v1/admin/devices/:id/location', {
      config: { role: 'admin' },
      schema: { summary: "Set a verifier device's terminal location and merchant category", tags: adminTags, security: bearer, params: { type: 'object', properties: { id: { type: 'string', maxLength: 64 } } }, body: locationBody },
    }, async (req) => ({ ok: true, location: notify.setTerminal((req.params as { id: string }).id, req.body as { lat: number; lon: number; category: string; merchantName?: string }) }));

    admin.delete('/v1/admin/devices/:id/location', {
      config: { role: 'admin' },
      schema: { summary: "Remove a device's terminal location", tags: adminTags, security: bearer, params: { type: 'object', properties: { id: { type: 'string', maxLength: 64 } } }, response: { 200: ok } },
    }, async (req) => {
      if (!notify.store.removeTerminal((req.params as { id: string }).id)) throw new ServiceError('NOT_FOUND', 'device has no location');
      return { ok: true };
    });

    // The catalogue CSV streams through the bounded line splitter; nothing buffers it whole.
    admin.addContentTypeParser(['text/csv'], (_req, payload, done) => done(null, payload));
    admin.post('/v1/admin/offers/import', {
      config: { role: 'admin' },
      schema: { summary: 'Import merchant offers from CSV (header merchant,name,category,lat,lon,item,price,currency); invalid lines reported by number', tags: adminTags, security: bearer },
    }, async (req) => {
      const body = req.body as { [Symbol.asyncIterator]?: unknown } | null;
      if (!body || typeof body[Symbol.asyncIterator] !== 'function') throw new ServiceError('UNSUPPORTED_MEDIA_TYPE', 'send the file as text/csv');
      return notify.importCsv(req.body as AsyncIterable<Uint8Array>);
    });

    admin.post('/v1/admin/offers', {
      config: { role: 'admin' },
      schema: { summary: 'Add or replace merchant offers (JSON, up to 1000)', tags: adminTags, security: bearer, body: { type: 'object', additionalProperties: false, required: ['offers'], properties: { offers: { type: 'array', maxItems: 1000, items: offerItem } } } },
    }, async (req) => notify.importRows((req.body as { offers: Record<string, unknown>[] }).offers));

    admin.get('/v1/admin/offers/stats', { config: { role: 'admin' }, schema: { summary: 'Catalogue size and version', tags: adminTags, security: bearer } }, async () => ({
      ...notify.store.catalogueCounts(),
      version: notify.store.catalogueVersion(),
    }));

    admin.get('/v1/admin/notify/rules', { config: { role: 'admin' }, schema: { summary: 'The rule set in use and its version (0 = built-in default)', tags: adminTags, security: bearer } }, async () => {
      const r = notify.ruleSet();
      return { version: r.version, ...r.set };
    });
    admin.put('/v1/admin/notify/rules', {
      config: { role: 'admin' },
      schema: { summary: 'Store a new rule set (validated; gets the next version)', tags: adminTags, security: bearer, body: { type: 'object' } },
    }, async (req) => {
      const r = notify.putRuleSet(req.body);
      return { version: r.version, ...r.set };
    });

    admin.get('/v1/admin/notify/messages', {
      config: { role: 'admin' },
      schema: { summary: 'Queued, delivered and dead-lettered notices (metadata; no payloads)', tags: adminTags, security: bearer, querystring: { type: 'object', additionalProperties: false, properties: { state: stateParam, merchant: id(64), limit: { type: 'string', pattern: '^[0-9]{1,5}$' } } } },
    }, async (req) => {
      const q = req.query as { state?: 'pending'; merchant?: string; limit?: string };
      return {
        counts: notify.store.counts(),
        messages: notify.messages({ state: q.state, merchant: q.merchant, limit: q.limit ? Number(q.limit) : 100 }).map(({ payload: _p, account: _a, ...m }) => m),
      };
    });
    admin.post('/v1/admin/notify/messages/:id/replay', {
      config: { role: 'admin' },
      schema: { summary: 'Send a dead-lettered (or delivered) message again, same webhook-id', tags: adminTags, security: bearer, params: { type: 'object', properties: { id: id(64) } }, response: { 200: ok } },
    }, async (req) => {
      if (!notify.replay((req.params as { id: string }).id)) throw new ServiceError('NOT_FOUND', 'no such dead or delivered message');
      return { ok: true };
    });
    admin.post('/v1/admin/notify/replay-dead', { config: { role: 'admin' }, schema: { summary: 'Requeue every dead-lettered message', tags: adminTags, security: bearer } }, async () => ({ replayed: notify.replayDead() }));
    admin.delete('/v1/admin/notify/messages', {
      config: { role: 'admin' },
      schema: { summary: 'Purge delivered or dead messages older than olderThanSeconds', tags: adminTags, security: bearer, querystring: { type: 'object', additionalProperties: false, required: ['state'], properties: { state: { type: 'string', enum: ['delivered', 'dead'] }, olderThanSeconds: { type: 'string', pattern: '^[0-9]{1,10}$' } } } },
    }, async (req) => {
      const q = req.query as { state: 'delivered' | 'dead'; olderThanSeconds?: string };
      return { purged: notify.purge(q.state, Number(q.olderThanSeconds ?? 0) * 1000) };
    });
  });
}
