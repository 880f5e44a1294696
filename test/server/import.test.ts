// Admin import of 100 000 restricted cards streamed over HTTP: tokenised on arrival, invalid
// lines reported by number, and no card number anywhere on disk or in the logs afterwards.
import fs from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cardToken, tokenHex } from '../../protocol/dataset/token.ts';
import { authBody, luhnPan, startHarness, type Harness } from './helpers.ts';

const N = 100_000;
let h: Harness;
let pans: string[];

function seeded(seed: number) {
  let x = seed >>> 0;
  return () => {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    return x / 2 ** 32;
  };
}

function filesUnder(dir: string): string[] {
  return fs.readdirSync(dir).map((f) => path.join(dir, f)).filter((f) => fs.statSync(f).isFile());
}

beforeAll(async () => {
  h = await startHarness({ logLevel: 'debug' });
  const rnd = seeded(42);
  const set = new Set<string>();
  while (set.size < N) set.add(luhnPan(['4', '51', '37', '62'][set.size % 4], set.size % 4 === 2 ? 15 : 16, rnd));
  pans = [...set];
});
afterAll(async () => {
  await h?.close();
});

describe('restricted import', () => {
  it('streams 100 000 PANs, tokenises them, reports invalid lines by number only', async () => {
    // Line layout: header, then the PANs as plain lines / CSV with reasons, with bad lines at
    // known positions.
    const bad: Record<number, string> = { 5: '4111111111111112', 77: 'not a card', 1000: '12345', 50_000: `${'9'.repeat(3000)}` };
    async function* body() {
      let line = 1;
      let buf = 'number,reason\n';
      let i = 0;
      while (i < pans.length) {
        line++;
        if (bad[line]) buf += `${bad[line]}\n`;
        else {
          const p = pans[i++];
          buf += i % 2 === 0 ? `${p},stolen\n` : `${p}\n`;
        }
        if (buf.length > 32_768) {
          yield Buffer.from(buf);
          buf = '';
        }
      }
      yield Buffer.from(buf);
    }
    const res = await request(`${h.s.url}/v1/admin/restricted/import?reason=lost`, {
      method: 'POST',
      headers: { authorization: `Bearer ${h.s.adminKey}`, 'content-type': 'text/csv' },
      body: Readable.from(body()),
    });
    const report = (await res.body.json()) as any;
    expect(res.statusCode, JSON.stringify(report)).toBe(200);
    expect(report).toMatchObject({ imported: N, added: N, invalidCount: 4, invalidLines: [5, 77, 1000, 50_000], lines: N + 5 });
    expect(JSON.stringify(report)).not.toMatch(/4111111111111112|not a card/);

    const stats = await h.admin('GET', '/v1/admin/stats');
    expect(stats.json.restricted).toBe(N);

    // The service decides with what it stored: tokens made with the card key on disk.
    const cardKey = new Uint8Array(fs.readFileSync(path.join(h.dir, 'card.key')));
    for (const [i, reason] of [[0, 'lost'], [1, 'stolen'], [N - 1, 'stolen']] as const) {
      const r = await h.call('POST', '/v1/auth', authBody(tokenHex(cardToken(cardKey, pans[i])), { bin: pans[i].slice(0, 6), last4: pans[i].slice(-4), brand: undefined }));
      expect(r.json).toMatchObject({ decision: 'decline', reason: 'restricted', detail: reason });
    }
    // Re-importing the same numbers adds nothing new.
    const again = await request(`${h.s.url}/v1/admin/restricted/import`, {
      method: 'POST',
      headers: { authorization: `Bearer ${h.s.adminKey}`, 'content-type': 'text/plain' },
      body: pans.slice(0, 10).join('\r\n'),
    });
    expect(await again.body.json()).toMatchObject({ imported: 10, added: 0, invalidCount: 0 });
  });

  it('leaves no card number in the SQLite files (db, -wal, -shm), the key dir or the logs', async () => {
    await h.admin('POST', '/v1/admin/publish');
    const sample = [pans[0], pans[1], pans[12_345], pans[54_321], pans[N - 1], '4111111111111112'];
    const files = filesUnder(h.dir);
    expect(files.some((f) => f.endsWith('precheck.db-wal'))).toBe(true);
    const logs = h.logs.join('');
    expect(logs).toContain('restricted import');
    for (const f of files) {
      const bytes = fs.readFileSync(f);
      for (const pan of sample) {
        expect(bytes.includes(Buffer.from(pan, 'latin1')), `${pan.slice(0, 6)}… in ${path.basename(f)}`).toBe(false);
        expect(bytes.includes(Buffer.from(pan, 'utf16le')), `${pan.slice(0, 6)}… (utf16) in ${path.basename(f)}`).toBe(false);
      }
    }
    for (const pan of sample) expect(logs.includes(pan)).toBe(false);
    // BIN and last four are stored (allowed), so the greps above could have found numbers.
    const db = fs.readFileSync(path.join(h.dir, 'precheck.db'));
    const wal = fs.readFileSync(path.join(h.dir, 'precheck.db-wal'));
    const last4 = Buffer.from(pans[0].slice(-4));
    expect(db.includes(last4) || wal.includes(last4)).toBe(true);
  });

  it('scrubs a PAN that arrives in a URL before it reaches the log', async () => {
    const pan = pans[7];
    const r = await h.call('GET', `/v1/datasets/latest?card=${pan}`);
    expect(r.status).toBe(400);
    expect(r.json.error.code).toBe('PAN_REJECTED');
    const r2 = await h.call('GET', `/v1/nowhere/${pan}`);
    expect(r2.status).toBe(404);
    expect(r2.json.error.message).not.toContain(pan);
    const logs = h.logs.join('');
    expect(logs).toContain(`${pan.slice(0, 6)}…${pan.slice(-4)}`);
    expect(logs.includes(pan)).toBe(false);
  });
});
