// Issue 13 item 4: card numbers sent in URLs (query strings and paths; plain, "+"-separated,
// "%20"-separated, dashed, "%2D"-separated, every digit "%3N"-encoded, mixed) to the real network
// service as its own process — with and without a key, on routes that answer 400, 401, 404 and
// 415 — leave no trace: afterwards neither its request log (stdout, as journald keeps it) nor any
// file of its data dir (SQLite database, WAL, keys) holds the digits in any of those forms.
// The log does hold each request line, with BIN…last4 only.
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { killAllTracked, killAndWait, run, spawnTracked, waitForOutput } from '../../testkit/process.ts';
import { filesUnder, makeTempDir, type TempDir } from '../../testkit/tmp.ts';
import { luhnComplete } from '../../testkit/cards.ts';
import { BIN, ROOT } from '../integration/fixtures.ts';

// Fixed numbers (no randomness); 16 digits, so a hit can only be a leak.
const PANS = [luhnComplete('411111987654321'), luhnComplete('555555246813579'), luhnComplete('401288975318642')];
const groups = (p: string) => p.match(/.{1,4}/g)!;
const pct = (s: string) => [...s].map((c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`).join('');
const forms = (p: string): string[] => [
  p,
  groups(p).join('+'),
  groups(p).join('%20'),
  groups(p).join('-'),
  groups(p).join('%2D'),
  groups(p).join('%2d'),
  pct(p),
  groups(p).map(pct).join('+'),
  groups(p).map(pct).join('%20'),
];

describe('e2e: card numbers in URLs never reach the service’s log or data files', () => {
  let tmp: TempDir;
  let data: string;
  let child: ChildProcess;
  let log = '';
  let base: URL;
  let key: string;

  beforeAll(async () => {
    tmp = makeTempDir('precheck-pan-url-');
    data = tmp.file('server');
    const init = await run(process.execPath, [BIN, 'server', 'init', '--data', data], { cwd: ROOT, timeoutMs: 60_000 });
    expect(init.code, init.stderr).toBe(0);
    const issued = await run(process.execPath, [BIN, 'server', 'issue-key', 'shop-1', '--data', data], { cwd: ROOT, timeoutMs: 60_000 });
    expect(issued.code, issued.stderr).toBe(0);
    key = issued.stdout.trim();
    // debug: every request is logged with its URL (at info only refused ones are, and a summary)
    child = spawnTracked(process.execPath, [BIN, 'server', '--data', data, '--port', '0', '--log-level', 'debug'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (log += d));
    const m = await waitForOutput(child, /precheck server listening on (http:\/\/\S+) /, { stream: 'stdout', timeoutMs: 60_000 });
    base = new URL(m[1]);
  }, 180_000);

  afterAll(async () => {
    await killAllTracked();
    tmp?.cleanup();
  });

  /** One request with the path exactly as written (fetch would normalise it). */
  const send = (method: string, p: string, headers: Record<string, string> = {}, body?: string) =>
    new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = http.request({ host: base.hostname, port: base.port, method, path: p, headers }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode!, text }));
      });
      req.on('error', reject);
      req.end(body);
    });

  it('sends every form on public, keyed and refused routes; nothing of them is logged or stored', async () => {
    const auth = { authorization: `Bearer ${key}` };
    const statuses = new Set<number>();
    const answers: string[] = [];
    let requests = 0;
    for (const pan of PANS) {
      for (const f of forms(pan)) {
        const calls: Array<[string, string, Record<string, string>, string?]> = [
          ['GET', `/v1/health?card=${f}`, {}],
          ['GET', `/v1/datasets/latest?card=${f}&x=1`, {}], // no key: 401
          ['GET', `/v1/datasets/latest?pan=${f}`, auth],
          ['GET', `/v1/lookup/${f}`, {}], // unknown route: 404 names the path
          ['GET', `/v1/datasets/${f}/manifest`, auth], // a param that is not a version
          ['GET', `/v1/auth?card=${f}`, auth], // 405
          ['POST', `/v1/auth?card=${f}`, { ...auth, 'content-type': 'text/plain' }, `card=${f}`], // 415
          ['POST', `/v1/outcomes/${f}`, { 'content-type': 'application/json' }, '{}'],
        ];
        for (const [method, p, headers, body] of calls) {
          const r = await send(method, p, headers, body);
          statuses.add(r.status);
          answers.push(r.text);
          requests++;
        }
      }
    }
    // refused as they come (401 without a key, 400 PAN_REJECTED for a card number in the query,
    // 404 for an unknown path, 415 for text/plain): each request line is logged all the same
    expect([...statuses].sort()).toEqual(expect.arrayContaining([400, 401, 404, 415]));
    // a marker request after all others: once it is in the log, every earlier line is too
    await send('GET', '/v1/health?marker=done');
    if (!log.includes('marker=done')) await waitForOutput(child, /marker=done/, { stream: 'stdout', timeoutMs: 30_000 });
    await killAndWait(child, 10_000); // flushes the log, checkpoints nothing away: the WAL is read too

    // the request lines are there, scrubbed to BIN…last4
    const lines = log.split('\n').filter((l) => l.includes('"incoming request"'));
    expect(lines.length).toBeGreaterThanOrEqual(requests);
    for (const pan of PANS) expect(log).toContain(`${pan.slice(0, 6)}…${pan.slice(-4)}`);

    const files = filesUnder(data);
    expect(files.some((f) => f.endsWith('precheck.db'))).toBe(true);
    const haystacks: Array<[string, Buffer]> = [['request log', Buffer.from(log)], ['responses', Buffer.from(answers.join('\n'))], ...files.map((f) => [path.relative(data, f), fs.readFileSync(f)] as [string, Buffer])];
    for (const pan of PANS) {
      const needles = forms(pan);
      for (const [where, hay] of haystacks) {
        for (const n of needles) expect(hay.includes(Buffer.from(n)), `${where} holds ${pan.slice(0, 6)}…${pan.slice(-4)} as ${n.length} chars`).toBe(false);
        // also case-insensitively for the percent forms
        expect(hay.toString('latin1').toLowerCase().includes(pct(pan).toLowerCase()), `${where}: percent form`).toBe(false);
      }
    }
  }, 300_000);
});
