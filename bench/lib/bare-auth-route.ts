// Child entry for the auth-ratio benchmark: the bound the service is measured against. A bare
// Fastify app with the service's ajv options and one route per measured path (POST /v1/auth, POST /v1/outcomes), validating the same
// request schema and serialising the same response schema, answering a constant. No storage, no
// key lookup, no logging: what the HTTP stack alone costs on this machine.
// BENCH_BARE_BATCHED=1: with the service's onSend hook that writes a turn's answers together
// (server/http/send-batching.ts), the bound for the service's own way of writing answers.
// Prints "listening on <url>" on stdout.
import Fastify from 'fastify';
import * as S from '../../server/http/schemas.ts';
import { sendAfterTurn } from '../../server/http/send-batching.ts';

const app = Fastify({
  logger: false,
  bodyLimit: 64 * 1024,
  ajv: { customOptions: { removeAdditional: false, coerceTypes: false, useDefaults: true, allErrors: false } },
});
if (process.env.BENCH_BARE_BATCHED === '1') app.addHook('onSend', sendAfterTurn);
const answer = {
  decision: 'approve',
  reason: 'trust_ok',
  detail: null,
  prompt: null,
  gateway: 'gw-a',
  route: { successRate: 0.9, explored: false, segmentLevel: 'brand+currency', eliminated: [] },
  trust: { level: 'high', limit: 200000, score: 0.93, modelVersion: 'trust-prior-v1' },
  modelVersion: 'trust-prior-v1',
  datasetVersion: 1,
};
app.post('/v1/auth', { schema: { body: S.authBody, response: { 200: S.authResponse } } }, async () => answer);
// The bound of bench/outcomes.bench.ts: the outcome body validated, a constant answer.
const outcomeAnswer = { outcomeId: '00000000-0000-4000-8000-000000000000', restricted: false, knownGood: true };
app.post('/v1/outcomes', { schema: { body: S.outcomeBody, response: { 200: S.outcomeResponse } } }, async () => outcomeAnswer);
const url = await app.listen({ port: 0, host: '127.0.0.1' });
process.stdout.write(`listening on ${url}\n`);
const stop = () => void app.close().then(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
