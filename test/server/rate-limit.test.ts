// The service's request limit (server/http/rate-limit.ts): a window per caller from its first
// request, bounded memory; and over HTTP, the one onRequest hook that checks the key, counts the
// request and announces the dataset version.
import { Client } from 'undici';
import { describe, expect, it } from 'vitest';
import { RequestLimiter } from '../../server/http/rate-limit.ts';
import { hashApiKey } from '../../server/auth/api-keys.ts';
import { authBody, randomToken, startHarness } from './helpers.ts';

describe('RequestLimiter', () => {
  it('allows max requests per window per caller, then refuses until the window ends', () => {
    let t = 1_000;
    const l = new RequestLimiter(3, 60_000, 100, () => t);
    expect([l.take('a'), l.take('a'), l.take('a'), l.take('a')]).toEqual([true, true, true, false]);
    expect(l.take('b')).toBe(true); // another caller has its own budget
    t += 59_999;
    expect(l.take('a')).toBe(false); // the window runs from a's first request
    t += 1;
    expect([l.take('a'), l.take('a'), l.take('a'), l.take('a')]).toEqual([true, true, true, false]);
  });

  it('keeps at most maxCallers windows, forgetting ended ones first, else the oldest', () => {
    let t = 0;
    const l = new RequestLimiter(1, 1_000, 3, () => t);
    l.take('a');
    t = 500;
    l.take('b');
    l.take('c');
    t = 1_200; // a's window has ended, b's and c's have not
    l.take('d');
    expect(l.size).toBe(3);
    expect(l.take('b')).toBe(false); // b kept its count
    l.take('e'); // full of live windows: the oldest (b) goes
    expect(l.size).toBe(3);
    expect(l.take('c')).toBe(false);
    expect(l.take('b')).toBe(true); // forgotten: a fresh window
  });
});

describe('the key hash the hook looks keys up by', () => {
  it('stays the SHA-256 hex of the key, so keys issued before keep matching their stored hash', () => {
    expect(hashApiKey('pk_abcdefgh12345678')).toBe('0857c7ffd06b46f5b1c2290b7d4608d08bf851c2fb49fab3b1d7487a37a60978');
  });
});

describe('request limit over HTTP', () => {
  it('counts a bridge key on /v1/auth, answers 429 with Retry-After and the dataset version, and leaves other callers alone', async () => {
    const h = await startHarness({ rateLimitMax: 3, rateLimitWindowMs: 60_000 });
    try {
      await h.admin('POST', '/v1/admin/publish');
      const version = (await h.call('GET', '/v1/health', undefined, null)).json.datasetVersion;
      expect(version).toBeGreaterThan(0);
      const ok = [];
      for (let i = 0; i < 2; i++) ok.push(await h.call('POST', '/v1/auth', authBody(randomToken())));
      expect(ok.map((r) => r.status)).toEqual([200, 200]);
      expect(ok[0].headers.get('precheck-dataset-version')).toBe(String(version));
      // An unknown key is refused before it is counted; the bridge key's budget is untouched by it.
      expect((await h.call('POST', '/v1/auth', authBody(randomToken()), 'pk_unknownunknownunknown')).status).toBe(401);
      expect((await h.call('POST', '/v1/auth', authBody(randomToken()))).status).toBe(200);
      const limited = await h.call('POST', '/v1/auth', authBody(randomToken()));
      expect([limited.status, limited.json.error.code]).toEqual([429, 'RATE_LIMITED']);
      expect(limited.headers.get('retry-after')).toBe('60');
      expect(limited.headers.get('precheck-dataset-version')).toBe(String(version));
      // The limit is per key: the admin key still has its budget; a public route counts per address.
      expect((await h.admin('GET', '/v1/admin/stats')).status).toBe(200);
      const health = [];
      for (let i = 0; i < 4; i++) health.push((await h.call('GET', '/v1/health', undefined, null)).status);
      // one /v1/health without a key was asked above: 3 allowed in all
      expect(health).toEqual([200, 200, 429, 429]);
    } finally {
      await h.close();
    }
  });
});

describe('one keep-alive connection, several keys (the connection remembers its last key hash)', () => {
  it('checks, counts and revokes each request by its own header, never by the connection\'s previous one', async () => {
    const h = await startHarness({ rateLimitMax: 3, rateLimitWindowMs: 60_000 });
    const other = await h.s.issueKey('merchant-b', 'other');
    const client = new Client(h.s.url, { pipelining: 1 });
    let connects = 0;
    client.on('connect', () => void connects++);
    const auth = async (authorization: string | null) => {
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      if (authorization !== null) headers.authorization = authorization;
      const res = await client.request({ path: '/v1/auth', method: 'POST', headers, body: JSON.stringify(authBody(randomToken())) });
      const json = (await res.body.json()) as { error?: { code: string } };
      return res.statusCode === 200 ? 200 : `${res.statusCode} ${json.error?.code}`;
    };
    try {
      const a = `Bearer ${h.bridgeKey}`;
      const b = `Bearer ${other.key}`;
      expect(await auth(a)).toBe(200);
      expect(await auth('Bearer pk_unknownunknownunknown')).toBe('401 UNAUTHORIZED');
      expect(await auth(null)).toBe('401 UNAUTHORIZED');
      expect(await auth(`Bearer ${h.s.adminKey}`)).toBe('403 FORBIDDEN');
      expect(await auth(a)).toBe(200);
      expect(await auth(b)).toBe(200);
      expect(await auth(a)).toBe(200); // a's third request: its budget is now spent
      expect(await auth(a)).toBe('429 RATE_LIMITED');
      expect(await auth(b)).toBe(200); // b counted under its own hash
      // Revoked between two requests of the connection: refused at once.
      const id = ((await h.admin('GET', '/v1/admin/keys')).json as { keys: { id: string; merchant: string }[] }).keys.find((k) => k.merchant === 'merchant-b')!.id;
      expect((await h.admin('DELETE', `/v1/admin/keys/${id}`)).status).toBe(200);
      expect(await auth(b)).toBe('401 UNAUTHORIZED');
      expect(connects).toBe(1); // all of it on one connection
    } finally {
      await client.close();
      await h.close();
    }
  });
});
