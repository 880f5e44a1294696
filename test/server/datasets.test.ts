// Dataset and firmware publishing over real HTTP: signatures, chunk hashes, deltas, debounce.
import crypto from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { assemble, contentHash, openSignedManifest, verifyChunk, cardToken } from '../../protocol/dataset/index.ts';
import { applyOnto } from '../../testkit/dataset-model.ts';
import type { DatasetContent, DatasetManifest } from '../../protocol/dataset/types.ts';
import { authBody, outcomeBody, randomToken, startHarness, type Harness } from './helpers.ts';

let h: Harness | null = null;
afterEach(async () => {
  await h?.close();
  h = null;
});

async function trustedKey(x: Harness): Promise<Uint8Array> {
  const r = await x.call('GET', '/v1/keys/dataset', undefined, null);
  expect(r.status).toBe(200);
  expect(r.json.algorithm).toBe('Ed25519');
  return new Uint8Array(Buffer.from(r.json.publicKey, 'hex'));
}

async function fetchChunks(x: Harness, base: string, m: DatasetManifest): Promise<Uint8Array[]> {
  const out: Uint8Array[] = [];
  let expected: Uint8Array | null = m.firstChunkHash;
  for (let i = 0; i < m.chunkCount; i++) {
    const r = await x.call('GET', `${base}${i}`);
    expect(r.status).toBe(200);
    const sha = crypto.createHash('sha256').update(r.bytes).digest('hex');
    expect(r.headers.get('x-chunk-sha256')).toBe(sha);
    expect(r.headers.get('etag')).toBe(`"${sha}"`);
    expected = verifyChunk(m, i, r.bytes, expected ?? undefined);
    out.push(r.bytes);
  }
  return out;
}

async function snapshot(x: Harness, version: number, key: Uint8Array): Promise<{ manifest: DatasetManifest; content: DatasetContent }> {
  const r = await x.call('GET', `/v1/datasets/${version}/manifest`);
  expect(r.status).toBe(200);
  expect(r.headers.get('content-type')).toBe('application/cbor');
  const manifest = openSignedManifest(r.bytes, [key]);
  expect(manifest.kind).toBe('snapshot');
  expect(manifest.version).toBe(version);
  const chunks = await fetchChunks(x, `/v1/datasets/${version}/chunks/`, manifest);
  const a = assemble(manifest, chunks);
  if (a.kind !== 'snapshot') throw new Error('not a snapshot');
  return { manifest, content: a.content };
}

const hex = (u: Uint8Array) => Buffer.from(u).toString('hex');

describe('datasets', () => {
  it('publishes a signed snapshot of the tables that verifies with the served key', async () => {
    h = await startHarness({ chunkSize: 256 });
    const key = await trustedKey(h);
    const restricted = Array.from({ length: 50 }, randomToken);
    for (const t of restricted) await h.admin('POST', '/v1/admin/restricted', { token: t, reason: 'fraud' });
    const good = randomToken();
    await h.call('POST', '/v1/outcomes', outcomeBody(good, { status: 'success' }));
    await h.admin('POST', '/v1/admin/bin-rules', { prefix: '6011', action: 'review', reason: 'watch' });
    await h.admin('POST', '/v1/admin/prompts', { code: 'use_another_card', lang: 'zh', message: '请换一张卡。' });
    const pub = await h.admin('POST', '/v1/admin/publish');
    expect(pub.status).toBe(200);
    expect(pub.json).toMatchObject({ version: 2, created: true });

    const latest = await h.call('GET', '/v1/datasets/latest');
    expect(latest.json).toMatchObject({ version: 2, manifestUrl: '/v1/datasets/2/manifest' });
    expect(latest.json.expiresAt - latest.json.createdAt).toBe(7 * 24 * 3600);

    const { manifest, content } = await snapshot(h, 2, key);
    expect(manifest.chunkCount).toBeGreaterThan(1);
    expect(hex(manifest.contentHash)).toBe(latest.json.contentHash);
    expect(new Set(content.restricted.map((r) => hex(r.token)))).toEqual(new Set(restricted));
    expect(content.knownGood.map((k) => hex(k.token))).toEqual([good]);
    expect(content.history.map((e) => hex(e.token))).toEqual([good]);
    expect(content.binRules).toEqual([{ prefix: '6011', action: 'review', reason: 'watch' }]);
    expect(content.prompts).toContainEqual({ code: 'use_another_card', lang: 'zh', message: '请换一张卡。' });
    expect(content.routes).toEqual([{ brand: 'visa', currency: 'USD', gateway: 'gw-a', successRate: 1, rank: 0 }]);

    // A different key does not verify it.
    const other = crypto.generateKeyPairSync('ed25519').publicKey.export({ format: 'der', type: 'spki' }).subarray(12);
    const m = await h.call('GET', '/v1/datasets/2/manifest');
    expect(() => openSignedManifest(m.bytes, [new Uint8Array(other)])).toThrow(/signature/);

    // Builds run in a child process, off the service's event loop.
    expect(h.logs.some((l) => l.includes('"msg":"dataset published"') && l.includes('"child":true') && l.includes('"version":2'))).toBe(true);
    // Publishing unchanged data creates no new version.
    expect((await h.admin('POST', '/v1/admin/publish')).json).toMatchObject({ version: 2, created: false });
    // Conditional GET of an immutable chunk.
    const c0 = await h.call('GET', '/v1/datasets/2/chunks/0');
    const again = await h.call('GET', '/v1/datasets/2/chunks/0', undefined, undefined, { 'if-none-match': c0.headers.get('etag')! });
    expect(again.status).toBe(304);
    expect((await h.call('GET', '/v1/datasets/2/chunks/9999')).json.error.code).toBe('NOT_FOUND');
    expect((await h.call('GET', '/v1/datasets/77/manifest')).json.error.code).toBe('DATASET_NOT_FOUND');
  });

  it('serves a delta A→B that, applied to A, gives exactly B; too-old bases get DELTA_UNAVAILABLE', async () => {
    h = await startHarness({ chunkSize: 128, keepVersions: 3 });
    const key = await trustedKey(h);
    const tokens = Array.from({ length: 40 }, randomToken);
    for (const t of tokens) await h.admin('POST', '/v1/admin/restricted', { token: t, reason: 'fraud' });
    const a = (await h.admin('POST', '/v1/admin/publish')).json.version as number;
    // churn: remove 5, add 5, a soft decline and a success
    for (const t of tokens.slice(0, 5)) await h.admin('DELETE', `/v1/admin/restricted/${t}`);
    for (let i = 0; i < 5; i++) await h.admin('POST', '/v1/admin/restricted', { token: randomToken(), reason: 'lost' });
    await h.call('POST', '/v1/outcomes', outcomeBody(randomToken(), { status: 'failure', code: '51', type: 'soft' }));
    const b = (await h.admin('POST', '/v1/admin/publish')).json.version as number;
    expect(b).toBe(a + 1);

    const A = await snapshot(h, a, key);
    const B = await snapshot(h, b, key);
    const d = await h.call('GET', `/v1/datasets/delta?from=${a}&to=${b}`);
    expect(d.status).toBe(200);
    expect(d.headers.get('x-chunks-url')).toBe(`/v1/datasets/delta/${a}-${b}/chunks/`);
    const dm = openSignedManifest(d.bytes, [key]);
    expect(dm).toMatchObject({ kind: 'delta', version: b, baseVersion: a });
    const chunks = await fetchChunks(h, `/v1/datasets/delta/${a}-${b}/chunks/`, dm);
    const applied = assemble(dm, chunks);
    if (applied.kind !== 'delta') throw new Error('not a delta');
    expect(hex(contentHash(applyOnto(dm, applied.delta, A.content)))).toBe(hex(contentHash(B.content)));
    // the delta is much smaller than the snapshot
    expect(dm.size).toBeLessThan(B.manifest.size);
    // second request is served from storage, byte-identical
    expect(hex((await h.call('GET', `/v1/datasets/delta?from=${a}`)).bytes)).toBe(hex(d.bytes));

    // Publish past keepVersions: version 1 is pruned.
    await h.admin('POST', '/v1/admin/restricted', { token: randomToken(), reason: 'lost' });
    await h.admin('POST', '/v1/admin/publish');
    const old = await h.call('GET', `/v1/datasets/delta?from=1`);
    expect(old.status).toBe(404);
    expect(old.json.error.code).toBe('DELTA_UNAVAILABLE');
    const bad = await h.call('GET', `/v1/datasets/delta?from=${b}&to=${a}`);
    expect(bad.json.error.code).toBe('DELTA_UNAVAILABLE');
  });

  it('builds the deltas from the previous versions when a version is published, not on first request', async () => {
    h = await startHarness({ chunkSize: 128, keepVersions: 4, deltaBases: 2 });
    const key = await trustedKey(h);
    const published: { version: number; deltas: number[] }[] = [];
    h.s.service.publisher.onPublished((r) => published.push({ version: r.info.version, deltas: r.deltas.map((d) => d.from) }));
    const versions: number[] = [];
    for (let i = 0; i < 3; i++) {
      for (let j = 0; j < 10; j++) await h.admin('POST', '/v1/admin/restricted', { token: randomToken(), reason: 'fraud' });
      versions.push((await h.admin('POST', '/v1/admin/publish')).json.version as number);
    }
    const [a, b, c] = versions;
    // Stored with the publish (in the build child), before anybody asked for them.
    expect(await h.s.service.storage.deltaManifest(a, b)).not.toBeNull();
    expect(await h.s.service.storage.deltaManifest(b, c)).not.toBeNull();
    expect(await h.s.service.storage.deltaManifest(a, c)).not.toBeNull();
    expect(published.find((p) => p.version === c)!.deltas).toEqual([b, a]);
    // What is served is what was stored, and applied to A it gives exactly C.
    const stored = await h.s.service.storage.deltaManifest(a, c);
    const d = await h.call('GET', `/v1/datasets/delta?from=${a}&to=${c}`);
    expect(hex(d.bytes)).toBe(hex(stored!));
    const A = await snapshot(h, a, key);
    const C = await snapshot(h, c, key);
    const dm = openSignedManifest(d.bytes, [key]);
    const applied = assemble(dm, await fetchChunks(h, `/v1/datasets/delta/${a}-${c}/chunks/`, dm));
    if (applied.kind !== 'delta') throw new Error('not a delta');
    expect(hex(contentHash(applyOnto(dm, applied.delta, A.content)))).toBe(hex(C.manifest.contentHash));
  });

  it('rebuilds after a data change once the debounce has passed', async () => {
    h = await startHarness({ publishDebounceMs: 50 });
    const published = new Promise<number>((resolve) => h!.s.service.publisher.onPublished((r) => resolve(r.info.version)));
    const t = randomToken();
    await h.call('POST', '/v1/outcomes', outcomeBody(t, { status: 'failure', code: '41', type: 'hard' }));
    expect(await published).toBe(2);
    const key = await trustedKey(h);
    const { content } = await snapshot(h, 2, key);
    expect(content.restricted.map((r) => hex(r.token))).toContain(t);
    expect(content.restricted.find((r) => hex(r.token) === t)!.reason).toBe('41');
    expect((await h.call('GET', '/v1/health', undefined, null)).json.datasetVersion).toBe(2);
  });

  it('keeps answering auth requests while a dataset build runs (the build is in a child process)', async () => {
    h = await startHarness();
    const rows = Array.from({ length: 50_000 }, () => ({ token: new Uint8Array(crypto.randomBytes(16)), bin: null, last4: null, reason: 'fraud', source: 'test', addedAt: 1, expiresAt: null }));
    await h.s.service.storage.addRestricted(rows);
    const order: string[] = [];
    const building = h.s.service.publisher.publish('test').then((r) => {
      order.push('build');
      return r;
    });
    const r = await h.call('POST', '/v1/auth', authBody(Buffer.from(rows[0].token).toString('hex')));
    order.push('auth');
    expect(r.json).toMatchObject({ decision: 'decline', reason: 'restricted' });
    const built = await building;
    expect(order).toEqual(['auth', 'build']);
    expect(built.info).toMatchObject({ version: 2 });
    expect(built.created).toBe(true);
  });

  it('one build child serves the publishes and keeps the previous version in memory; a new one takes over when it dies', async () => {
    h = await startHarness();
    const pub = h.s.service.publisher;
    const row = (n: number) => ({ token: new Uint8Array(16).fill(n), bin: null, last4: null, reason: 'fraud', source: 'test', addedAt: 1, expiresAt: null });
    await h.s.service.storage.addRestricted([row(1)]);
    const v2 = await pub.publish('test');
    const child = pub.buildChild!;
    expect(child).not.toBeNull();
    await h.s.service.storage.addRestricted([row(2)]);
    const v3 = await pub.publish('test');
    expect(pub.buildChild).toBe(child);
    expect(v3.info.version).toBe(v2.info.version + 1);
    expect(v3.deltas.map((d) => d.from)).toEqual([v2.info.version, v2.info.version - 1]);
    const key = await trustedKey(h);
    const { content } = await snapshot(h, v3.info.version, key);
    expect(content.restricted.map((r) => r.token[0]).sort()).toEqual([1, 2]);

    const gone = new Promise((resolve) => child.once('close', resolve));
    child.kill('SIGKILL');
    await gone;
    expect(pub.buildChild).toBeNull();
    await h.s.service.storage.addRestricted([row(3)]);
    const v4 = await pub.publish('test');
    expect(pub.buildChild).not.toBeNull();
    expect(pub.buildChild).not.toBe(child);
    expect(v4.info.version).toBe(v3.info.version + 1);
    // the new child indexed v3 from storage: its delta v3 → v4 applied to v3 is v4
    const a = v3.info.version;
    const b = v4.info.version;
    const d = await h.call('GET', `/v1/datasets/delta?from=${a}&to=${b}`);
    expect(d.status).toBe(200);
    const dm = openSignedManifest(d.bytes, [key]);
    const applied = assemble(dm, await fetchChunks(h, `/v1/datasets/delta/${a}-${b}/chunks/`, dm));
    if (applied.kind !== 'delta') throw new Error('not a delta');
    const B = (await snapshot(h, b, key)).content;
    expect(hex(contentHash(applyOnto(dm, applied.delta, content)))).toBe(hex(contentHash(B)));
    expect(B.restricted.map((r) => r.token[0]).sort()).toEqual([1, 2, 3]);
  });

  it('history digest keeps 30 days of events plus hard declines ever', async () => {
    let now = 1_800_000_000;
    h = await startHarness({ now: () => now * 1000 });
    const soft = randomToken();
    const hard = randomToken();
    const day = 86400;
    for (const [t, over] of [
      [soft, { status: 'failure', code: '51', at: now - 40 * day }],
      [soft, { status: 'success', at: now - 2 * day }],
      [hard, { status: 'failure', code: '57', at: now - 200 * day }],
    ] as const) {
      const r = await h.call('POST', '/v1/outcomes', outcomeBody(t, over));
      expect(r.status, JSON.stringify(r.json)).toBe(200);
    }
    await h.admin('POST', '/v1/admin/publish');
    const { content } = await snapshot(h, 2, await trustedKey(h));
    const bySoft = content.history.find((e) => hex(e.token) === soft)!;
    expect(bySoft.events.map((e) => e.status)).toEqual(['success']);
    const byHard = content.history.find((e) => hex(e.token) === hard)!;
    expect(byHard.events).toEqual([{ at: now - 200 * day, amount: 2500, currency: 'USD', status: 'failure', code: '57', gateway: 'gw-a' }]);
    now += 1; // keep the clock used
  });
});

describe('firmware', () => {
  it('publishes an uploaded image signed like datasets; versions only go up', async () => {
    h = await startHarness({ chunkSize: 1024 });
    const key = await trustedKey(h);
    expect((await h.call('GET', '/v1/firmware/latest')).json.error.code).toBe('FIRMWARE_NOT_FOUND');
    const image = crypto.randomBytes(5000);
    const up = await fetch(`${h.s.url}/v1/admin/firmware?version=7&name=1.2.0`, {
      method: 'POST',
      headers: { authorization: `Bearer ${h.s.adminKey}`, 'content-type': 'application/octet-stream' },
      body: image,
    });
    expect(up.status).toBe(200);
    const latest = await h.call('GET', '/v1/firmware/latest');
    expect(latest.json).toMatchObject({ version: 7, name: '1.2.0', bytes: 5000, chunkCount: 6, manifestUrl: '/v1/firmware/7/manifest' });
    const m = openSignedManifest((await h.call('GET', '/v1/firmware/7/manifest')).bytes, [key]);
    expect(m.kind).toBe('firmware');
    const chunks = await fetchChunks(h, '/v1/firmware/7/chunks/', m);
    const a = assemble(m, chunks);
    expect(a.kind === 'firmware' && Buffer.from(a.image).equals(image)).toBe(true);
    const dup = await fetch(`${h.s.url}/v1/admin/firmware?version=7`, {
      method: 'POST',
      headers: { authorization: `Bearer ${h.s.adminKey}`, 'content-type': 'application/octet-stream' },
      body: image,
    });
    expect(dup.status).toBe(409);
    // a bridge key cannot upload
    const forbidden = await fetch(`${h.s.url}/v1/admin/firmware?version=8`, {
      method: 'POST',
      headers: { authorization: `Bearer ${h.bridgeKey}`, 'content-type': 'application/octet-stream' },
      body: image,
    });
    expect(forbidden.status).toBe(403);
  });
});

// The service's tokens are the shared token function with the service's card key.
it('imported PAN tokens equal protocol cardToken with the card key on disk', async () => {
  h = await startHarness();
  const fs = await import('node:fs');
  const cardKey = new Uint8Array(fs.readFileSync(`${h.dir}/card.key`));
  const res = await fetch(`${h.s.url}/v1/admin/restricted/import?reason=lost`, {
    method: 'POST',
    headers: { authorization: `Bearer ${h.s.adminKey}`, 'content-type': 'text/plain' },
    body: '4111111111111111\n',
  });
  expect((await res.json()).imported).toBe(1);
  const t = hex(cardToken(cardKey, '4111111111111111'));
  const a = await h.call('POST', '/v1/auth', { token: t, bin: '411111', last4: '1111', expMonth: 1, expYear: 2099, order: { id: 'x', amount: { value: 1, currency: 'USD' } } });
  expect(a.json).toMatchObject({ decision: 'decline', reason: 'restricted', detail: 'lost' });
});
