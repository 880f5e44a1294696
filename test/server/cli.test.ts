// `precheck server ...` through the real CLI entry point (child processes, temp data dirs).
import { spawn, execFile } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { luhnPan } from './helpers.ts';

const CLI = path.resolve(import.meta.dirname, '../../bin/precheck.js');
const run = promisify(execFile);
const dirs: string[] = [];
const children: ReturnType<typeof spawn>[] = [];
afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null) c.kill('SIGKILL');
  while (dirs.length) fs.rmSync(dirs.pop()!, { recursive: true, force: true });
});
function tmp() {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'precheck-cli-'));
  dirs.push(d);
  return d;
}
async function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await run(process.execPath, [CLI, ...args], { timeout: 60_000 });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const x = e as { code: number; stdout: string; stderr: string };
    return { code: x.code, stdout: x.stdout, stderr: x.stderr };
  }
}

describe('precheck server (CLI)', () => {
  it('imports restricted cards directly, manages tables and publishes', async () => {
    const d = tmp();
    const data = path.join(d, 'data');
    const pans = Array.from({ length: 500 }, () => luhnPan('4', 16));
    fs.writeFileSync(path.join(d, 'cards.csv'), ['number,reason', ...pans.map((p, i) => (i % 2 ? `${p},stolen` : p)), '1234'].join('\n'));
    const imp = await cli('server', 'import-restricted', path.join(d, 'cards.csv'), '--data', data);
    expect(imp.code, imp.stderr).toBe(0);
    expect(imp.stdout).toContain('imported 500 restricted cards (500 new) from 502 lines');
    expect(imp.stdout).toMatch(/1 invalid lines .*: 502\n/);
    expect(imp.stdout + imp.stderr).not.toContain(pans[0]);
    expect((await cli('server', 'add-gateway', 'gw-1', '--fee', '25', '--bps', '180', '--data', data)).stdout).toBe('gateway gw-1: 25 per attempt + 180 bps\n');
    expect((await cli('server', 'add-prompt', 'use_another_card', 'zh', '请换卡', '--data', data)).code).toBe(0);
    expect((await cli('server', 'add-bin-rule', '6011', 'review', 'watch', '--data', data)).code).toBe(0);
    const key = await cli('server', 'issue-key', 'shop-1', '--data', data);
    expect(key.stdout).toMatch(/^pk_[A-Za-z0-9_-]{32}\n$/);
    const pub = await cli('server', 'publish', '--data', data);
    expect(pub.stdout).toMatch(/^dataset version 1: \d+ bytes in \d+ chunks/);
    expect((await cli('server', 'publish', '--data', data)).stdout).toBe('unchanged: dataset version 1 is current\n');
    const db = fs.readFileSync(path.join(data, 'precheck.db'));
    expect(db.includes(Buffer.from(pans[1]))).toBe(false);
  });

  it('reports bad arguments in one line with exit code 2', async () => {
    const data = tmp();
    const r = await cli('server', 'add-gateway', 'gw', '--fee', '-1', '--data', data);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toEqual(['precheck: --fee must be an integer 0..1000000000']);
    const b = await cli('server', 'add-bin-rule', 'abc', 'decline', 'x', '--data', data);
    expect([b.code, b.stderr.trim()]).toEqual([2, 'precheck: prefix: 1-8 digits']);
  });

  it('runs the service, prints its URL and the admin key once, stops on SIGTERM', async () => {
    const data = path.join(tmp(), 'd');
    const child = spawn(process.execPath, [CLI, 'server', '--data', data, '--port', '0', '--log-level', 'warn'], { stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    let out = '';
    const url = await new Promise<string>((resolve, reject) => {
      child.stdout!.on('data', (b) => {
        out += b;
        const m = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
        if (m && out.includes('admin key')) resolve(m[1]);
      });
      child.once('exit', (c) => reject(new Error(`exited ${c}: ${out}`)));
    });
    const adminKey = fs.readFileSync(path.join(data, 'admin.key'), 'utf8').trim();
    expect(out).toContain(adminKey);
    const health = await fetch(`${url}/v1/health`);
    expect(await health.json()).toEqual({ status: 'ok', datasetVersion: 1, oldestUnpublishedChangeAgeSeconds: null });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  });

  it('a taken port is one clear line and exit code 3', async () => {
    const blocker = net.createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    const port = (blocker.address() as net.AddressInfo).port;
    try {
      const r = await cli('server', '--data', tmp(), '--port', String(port), '--log-level', 'warn');
      expect(r.code).toBe(3);
      expect(r.stderr.trim().split('\n')).toEqual([`precheck: EADDRINUSE: port ${port} on 127.0.0.1 is already in use`]);
    } finally {
      blocker.close();
    }
  });
});
