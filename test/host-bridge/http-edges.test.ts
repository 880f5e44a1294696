// The bridge's HTTP edges (issue 13, items 5 and 10), against a real bridge on loopback with raw
// node:http requests (fetch would not let a test set Host or stream a chunked body as it likes):
// Host checked against the listen addresses and configured names (DNS rebinding), a default rate
// limit, RFC 7235 bearer parsing, 415 for text/plain, 405 for a known path with another method,
// 413 (an answer, not a dropped connection) for an oversize chunked body.
import { describe, expect, it } from 'vitest';
import { bridgesEachTest, testConfig } from './bridge-harness.ts';
import { allowedHostNames } from '../../host-bridge/bridge.ts';
import { hostOf } from '../../host-bridge/api/server.ts';
import { rawRequest, type RawRequest, type RawResponse } from '../../testkit/http-request.ts';

const scope = bridgesEachTest();

async function start(raw: Record<string, unknown> = {}) {
  const dir = scope.tempDir('precheck-http-edges-');
  const bridge = await scope.start({ dataDir: dir.path, raw });
  return new URL(bridge.url);
}

const request = (url: URL, o: RawRequest): Promise<RawResponse> => rawRequest(url, o);

describe('bridge HTTP edges', () => {
  it('item 5: a Host that is not a listen address or configured name is refused (DNS rebinding)', async () => {
    const url = await start({ listen: { host: '127.0.0.1', port: 0, names: ['pos-1.shop.lan'] } });
    const get = (host: string) => request(url, { path: '/v1/health', headers: { host } });
    expect((await get(`127.0.0.1:${url.port}`)).status).toBe(200);
    expect((await get(`localhost:${url.port}`)).status).toBe(200);
    expect((await get(`POS-1.shop.lan:${url.port}`)).status).toBe(200);
    for (const evil of ['attacker.example', `attacker.example:${url.port}`, '127.0.0.1.nip.io']) {
      const r = await get(evil);
      expect(r.status, evil).toBe(421);
      expect(r.json.error.field).toBe('host');
      expect(r.json.error.code).toBe('MISDIRECTED');
    }
    // A rebinding page posting a verify gets nothing either.
    const v = await request(url, { method: 'POST', path: '/v1/verify', headers: { host: 'attacker.example', 'content-type': 'application/json' }, body: '{}' });
    expect(v.status).toBe(421);
  });

  it('item 5: the allowed names are the listen address (every local one on a wildcard) and the configured names', () => {
    expect(allowedHostNames('127.0.0.1', [])).toEqual(new Set(['127.0.0.1', 'localhost', '::1']));
    expect(allowedHostNames('10.1.2.3', ['pos.lan'])).toEqual(new Set(['10.1.2.3', 'pos.lan']));
    const all = allowedHostNames('0.0.0.0', []);
    expect(all.has('127.0.0.1') && all.has('localhost')).toBe(true);
    expect(all.has('attacker.example')).toBe(false);
    expect(hostOf('[::1]:8787')).toBe('::1');
    expect(hostOf('Example.COM.')).toBe('example.com');
    expect(hostOf('a b')).toBeNull();
  });

  it('item 5: rate-limited by default, and the token stays required beyond loopback', async () => {
    expect(testConfig('/tmp/x').rateLimit.perMinute).toBe(6000);
    expect(() => testConfig('/tmp/x', { listen: { host: '0.0.0.0', port: 0 } })).toThrow(/token/);
    const url = await start({ rateLimit: { perMinute: 3 } });
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) statuses.push((await request(url, { path: '/v1/health', headers: { host: `127.0.0.1:${url.port}` } })).status);
    expect(statuses).toEqual([200, 200, 200, 429]);
  });

  it('item 10: bearer is case-insensitive (RFC 7235), exactly one space', async () => {
    const token = 'a-long-enough-token-123';
    const url = await start({ token });
    const get = (authorization: string) => request(url, { path: '/v1/health', headers: { authorization } });
    expect((await get(`Bearer ${token}`)).status).toBe(200);
    expect((await get(`bearer ${token}`)).status).toBe(200);
    expect((await get(`BEARER ${token}`)).status).toBe(200);
    expect((await get(`Bearer  ${token}`)).status).toBe(401);
    expect((await get(`Basic ${token}`)).status).toBe(401);
  });

  it('item 10: text/plain is 415, GET /v1/verify is 405 with Allow, an oversize chunked body is 413', async () => {
    const url = await start();
    const text = await request(url, { method: 'POST', path: '/v1/verify', headers: { 'content-type': 'text/plain' }, body: '{"card":{}}' });
    expect([text.status, text.json.error.code]).toEqual([415, 'UNSUPPORTED_MEDIA_TYPE']);
    const get = await request(url, { path: '/v1/verify' });
    expect([get.status, get.json.error.code, get.headers.allow]).toEqual([405, 'METHOD_NOT_ALLOWED', 'POST']);
    const pair = await request(url, { path: '/v1/devices/dev-1/pair' });
    expect(pair.status).toBe(405);
    expect((await request(url, { path: '/v1/nothing' })).status).toBe(404);
    const big = await request(url, { method: 'POST', path: '/v1/verify', headers: { 'content-type': 'application/json' }, chunks: Array.from({ length: 40 }, () => 'x'.repeat(1024)) });
    expect([big.status, big.json.error.code]).toEqual([413, 'TOO_LARGE']);
  });

  it('the OpenAPI document states 413 and 415 on every route that reads a body, and 405 (with Allow) once', async () => {
    const url = await start();
    const doc = (await request(url, { path: '/v1/openapi.json' })).json;
    const posts = Object.entries(doc.paths as Record<string, Record<string, { responses: Record<string, any> }>>).flatMap(([p, ops]) => (ops.post ? [[p, ops.post.responses] as const] : []));
    expect(posts.length).toBeGreaterThan(3);
    for (const [p, responses] of posts) for (const s of ['413', '415']) expect(responses[s]?.content?.['application/json']?.schema?.properties?.error, `${p} ${s}`).toBeDefined();
    expect(doc.components.responses.MethodNotAllowed).toMatchObject({ headers: { Allow: expect.any(Object) } });
  });
});
