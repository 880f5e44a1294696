// HTTP face of the phone channel on the bridge: the merchant's call centre opens a capture session
// for a call-in (POST /v1/ivr/sessions) or queues a call-back (POST /v1/ivr/callbacks); the
// telephony platform fetches the VoiceXML documents under /v1/ivr/s/{session}/… . The session id in
// the path is the call's capability (128 random bits, handed only to the platform), on top of the
// bridge's bearer token when one is configured. Keyed digits arrive as POSTed form fields and are
// never logged (the API logs no requests; error bodies never echo input).
import type { FastifyInstance, FastifyReply } from 'fastify';
import { ApiError } from '../api/error-map.ts';
import type { CallState } from './campaigns.ts';
import type { IvrChannel } from './channel.ts';
import { VXML_CONTENT_TYPE } from './vxml.ts';

const idRule = { type: 'string', minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_.:/@#-]+$' } as const;
const order = {
  type: 'object',
  additionalProperties: false,
  required: ['id', 'amount'],
  properties: {
    id: idRule,
    amount: {
      type: 'object',
      additionalProperties: false,
      required: ['value', 'currency'],
      properties: { value: { type: 'integer', minimum: 0, maximum: 1e15 }, currency: { type: 'string', pattern: '^[A-Z]{3}$' } },
    },
    country: { type: 'string', pattern: '^[A-Z]{2}$' },
  },
} as const;
const captureProps = {
  order,
  lang: { type: 'string', maxLength: 16, pattern: '^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$' },
  identity: {
    type: 'object',
    description: 'identity data the caller must key in (name → expected digits): postcode, idLast4, birthYear',
    maxProperties: 3,
    additionalProperties: false,
    properties: Object.fromEntries(['postcode', 'idLast4', 'birthYear'].map((k) => [k, { type: 'string', pattern: '^[0-9]{1,16}$' }])),
  },
  requireCvc: { type: 'boolean' },
  accountId: { type: 'string', minLength: 1, maxLength: 128, pattern: '^[A-Za-z0-9_.:/@#-]+$' },
} as const;
const sidParams = { type: 'object', properties: { sid: { type: 'string', pattern: '^[0-9a-f]{32}$' } }, required: ['sid'] } as const;

export async function registerIvrRoutes(app: FastifyInstance, ivr: IvrChannel): Promise<void> {
  // VoiceXML <submit> posts application/x-www-form-urlencoded (VoiceXML 2.1 §5.3.8).
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: 4096 }, (_req, body, done) => {
    done(null, Object.fromEntries(new URLSearchParams(body as string)));
  });
  const vxml = (reply: FastifyReply, r: { status: number; vxml: string }) => reply.status(r.status).type(VXML_CONTENT_TYPE).send(r.vxml);
  const flow = ivr.flow;
  const tags = ['ivr'];

  app.post('/v1/ivr/sessions', {
    schema: { summary: 'Open a phone capture session for a call-in; the platform fetches startUrl', tags, body: { type: 'object', additionalProperties: false, required: ['order'], properties: captureProps } },
  }, async (req) => {
    const b = req.body as { order: never; lang?: string; identity?: Record<string, string>; requireCvc?: boolean; accountId?: string };
    const s = flow.create({ ...b, lang: b.lang ?? ivr.defaultLang });
    return { sessionId: s.sessionId, startUrl: `${ivr.publicUrl()}${s.startPath}` };
  });

  app.post('/v1/ivr/callbacks', {
    schema: {
      summary: 'Queue a call-back: the bridge calls the cardholder within the window and captures the card',
      tags,
      body: {
        type: 'object',
        additionalProperties: false,
        required: ['order', 'phone'],
        properties: {
          ...captureProps,
          phone: { type: 'string', minLength: 3, maxLength: 32, description: 'E.164, or a national number in region (default: the merchant country)' },
          region: { type: 'string', pattern: '^[A-Z]{2}$' },
          window: { type: 'object', additionalProperties: false, properties: { notBefore: { type: 'integer', minimum: 0 }, notAfter: { type: 'integer', minimum: 0 } } },
        },
      },
    },
  }, async (req, reply) => reply.status(201).send(ivr.requireCampaigns().add(req.body as never)));

  app.get('/v1/ivr/callbacks', {
    schema: { summary: 'Call-backs and their states', tags, querystring: { type: 'object', additionalProperties: false, properties: { state: { type: 'string', enum: ['queued', 'dialing', 'in-call', 'completed', 'failed', 'expired', 'cancelled'] } } } },
  }, async (req) => ({ calls: ivr.requireCampaigns().list((req.query as { state?: CallState }).state) }));

  app.get('/v1/ivr/callbacks/:id', { schema: { summary: 'One call-back', tags, params: { type: 'object', properties: { id: { type: 'string', maxLength: 64 } } } } }, async (req) => {
    const c = ivr.requireCampaigns().get((req.params as { id: string }).id);
    if (!c) throw new ApiError('NOT_FOUND', 'no such call-back');
    return c;
  });

  app.delete('/v1/ivr/callbacks/:id', { schema: { summary: 'Cancel a queued call-back', tags, params: { type: 'object', properties: { id: { type: 'string', maxLength: 64 } } } } }, async (req) => {
    if (!ivr.requireCampaigns().cancel((req.params as { id: string }).id)) throw new ApiError('NOT_FOUND', 'no queued call-back with this id');
    return { ok: true };
  });

  // ---------------------------------------------------------------- VoiceXML documents
  const doc = { tags, hide: true, params: sidParams };
  app.get('/v1/ivr/s/:sid/start', { schema: doc }, async (req, reply) => vxml(reply, flow.start((req.params as { sid: string }).sid)));
  app.get('/v1/ivr/s/:sid/card', { schema: doc }, async (req, reply) => vxml(reply, flow.cardPrompt((req.params as { sid: string }).sid)));
  for (const step of ['card', 'expiry', 'cvc'] as const) {
    const field = step === 'card' ? 'pan' : step;
    app.post(`/v1/ivr/s/:sid/${step}`, { schema: doc }, async (req, reply) => vxml(reply, await flow.enter((req.params as { sid: string }).sid, step, (req.body as Record<string, unknown> | null)?.[field])));
  }
  app.post('/v1/ivr/s/:sid/identity/:n', { schema: { ...doc, params: { type: 'object', properties: { sid: sidParams.properties.sid, n: { type: 'string', pattern: '^[0-9]$' } } } } }, async (req, reply) => {
    const p = req.params as { sid: string; n: string };
    return vxml(reply, await flow.enter(p.sid, `identity/${Number(p.n)}`, (req.body as Record<string, unknown> | null)?.identity));
  });
  // Where a document for an unknown or ended session sends its hang-up report: nothing to do.
  app.route({ method: ['GET', 'POST'], url: '/v1/ivr/gone', schema: { tags, hide: true }, handler: async (_req, reply) => vxml(reply, flow.hangup('')) });
  for (const method of ['GET', 'POST'] as const) {
    app.route({ method, url: '/v1/ivr/s/:sid/timeout', schema: doc, handler: async (req, reply) => vxml(reply, flow.timeout((req.params as { sid: string }).sid)) });
    app.route({ method, url: '/v1/ivr/s/:sid/bye', schema: doc, handler: async (req, reply) => vxml(reply, flow.bye((req.params as { sid: string }).sid)) });
    app.route({ method, url: '/v1/ivr/s/:sid/hangup', schema: doc, handler: async (req, reply) => vxml(reply, flow.hangup((req.params as { sid: string }).sid)) });
  }
}
