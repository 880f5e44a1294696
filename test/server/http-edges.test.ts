// The service's HTTP edges answer like every other error ({"error":{"code","message"}}), as the
// bridge's do (test/host-bridge/http-edges.test.ts): 415 for a body that is not JSON on a JSON route
// (text/plain included), 405 with Allow for a known path with another method, 413 for a body over
// the limit, also when it comes chunked (an answer, not a dropped connection). Raw node:http
// requests: fetch would not stream a chunked body as the test likes.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { authBody, randomToken, startHarness, type Harness } from './helpers.ts';
import { rawRequest, type RawRequest, type RawResponse } from '../../testkit/http-request.ts';

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ bodyLimit: 16 * 1024 });
});
afterAll(async () => {
  await h?.close();
});

const request = (o: RawRequest): Promise<RawResponse> => rawRequest(h.s.url, o);

const bridge = () => ({ authorization: `Bearer ${h.bridgeKey}` });
const errorShape = (r: RawResponse, status: number, code: string) => {
  expect([r.status, r.json?.error?.code], JSON.stringify(r.json)).toEqual([status, code]);
  expect(typeof r.json.error.message).toBe('string');
  expect(Object.keys(r.json)).toEqual(['error']);
};

describe('service HTTP edges', () => {
  it('415 UNSUPPORTED_MEDIA_TYPE for text/plain (and other non-JSON types) on a JSON route', async () => {
    const body = JSON.stringify(authBody(randomToken()));
    errorShape(await request({ method: 'POST', path: '/v1/auth', headers: { ...bridge(), 'content-type': 'text/plain' }, body }), 415, 'UNSUPPORTED_MEDIA_TYPE');
    errorShape(await request({ method: 'POST', path: '/v1/outcomes', headers: { ...bridge(), 'content-type': 'application/x-www-form-urlencoded' }, body: 'a=1' }), 415, 'UNSUPPORTED_MEDIA_TYPE');
    // the admin import still takes its text/plain and text/csv files
    const imp = await request({ method: 'POST', path: '/v1/admin/restricted/import', headers: { authorization: `Bearer ${h.s.adminKey}`, 'content-type': 'text/plain' }, body: '' });
    expect(imp.status).toBe(200);
    // and JSON still works
    expect((await request({ method: 'POST', path: '/v1/auth', headers: { ...bridge(), 'content-type': 'application/json' }, body })).status).toBe(200);
  });

  it('405 METHOD_NOT_ALLOWED with Allow for a known path with another method; 404 for an unknown path', async () => {
    const get = await request({ path: '/v1/auth', headers: bridge() });
    errorShape(get, 405, 'METHOD_NOT_ALLOWED');
    expect(get.headers.allow).toBe('POST');
    const del = await request({ method: 'DELETE', path: '/v1/datasets/latest', headers: bridge() });
    errorShape(del, 405, 'METHOD_NOT_ALLOWED');
    expect(del.headers.allow).toMatch(/^GET/);
    // a parametric path too
    const put = await request({ method: 'PUT', path: '/v1/datasets/3/chunks/0', headers: bridge() });
    errorShape(put, 405, 'METHOD_NOT_ALLOWED');
    // unauthenticated: still 405 (the method is wrong whoever asks), never a route's data
    errorShape(await request({ path: '/v1/outcomes' }), 405, 'METHOD_NOT_ALLOWED');
    errorShape(await request({ path: '/v1/nothing-here', headers: bridge() }), 404, 'NOT_FOUND');
  });

  it('413 TOO_LARGE for a body over the limit, with a length and chunked (an answer, not a dropped connection)', async () => {
    const big = 'x'.repeat(20 * 1024);
    errorShape(await request({ method: 'POST', path: '/v1/auth', headers: { ...bridge(), 'content-type': 'application/json' }, body: big }), 413, 'TOO_LARGE');
    const chunked = await request({ method: 'POST', path: '/v1/auth', headers: { ...bridge(), 'content-type': 'application/json' }, chunks: Array.from({ length: 40 }, () => 'x'.repeat(1024)) });
    errorShape(chunked, 413, 'TOO_LARGE');
  });

  it('the OpenAPI document states 405, 413 and 415 with the error body', async () => {
    const doc = (await request({ path: '/v1/openapi.json' })).json;
    const posts = Object.entries(doc.paths as Record<string, Record<string, { responses: Record<string, any> }>>).flatMap(([p, ops]) => (ops.post ? [[p, ops.post.responses] as const] : []));
    expect(posts.map(([p]) => p)).toEqual(expect.arrayContaining(['/v1/auth', '/v1/outcomes']));
    for (const [p, responses] of posts) for (const s of ['413', '415']) expect(responses[s]?.content?.['application/json']?.schema?.properties?.error, `${p} ${s}`).toBeDefined();
    expect(doc.components.responses.MethodNotAllowed).toMatchObject({ headers: { Allow: expect.any(Object) } });
  });
});
