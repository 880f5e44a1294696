// `precheck server ...` through the real CLI entry point (child processes, temp data dirs).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { luhnPan } from './helpers.ts';
import { PRECHECK_BIN, precheck } from '../../testkit/cli.ts';
import { holdPort } from '../../testkit/port.ts';

const CLI = PRECHECK_BIN;
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
const cli = precheck;

describe('precheck server (CLI)', () => {
  it('imports restricted cards directly, manages tables and publishes', async () => {
    const d = tmp();
    const data = path.join(d, 'data');
    const pans = Array.from({ length: 500 }, () => luhnPan('4', 16));
    fs.writeFileSync(path.join(d, 'cards.csv'), ['number,reason', ...pans.map((p, i) => (i % 2 ? `${p},stolen` : p)), '1234'].join('\n'));
    // not a service data dir yet: refused, and nothing is created (no silent new keys)
    const refused = await cli('server', 'import-restricted', path.join(d, 'cards.csv'), '--data', data);
    expect(refused.code).toBe(2);
    expect(refused.stderr.trim()).toBe(`precheck: --data ${data}: no such directory; create a service data dir with \`precheck server init --data ${data}\``);
    expect(fs.existsSync(data)).toBe(false);
    const init = await cli('server', 'init', '--data', data);
    expect(init.code).toBe(0);
    expect(init.stdout).toMatch(/^created service data dir .*\ndataset signing key \(provision devices with it\): [0-9a-f]{64}\nadmin key written to .*admin\.key \(mode 0600; read it from there\)\n$/);
    // the key itself is in the 0600 file only, never on stdout (a service's stdout lands in journals)
    expect(init.stdout).not.toContain(fs.readFileSync(path.join(data, 'admin.key'), 'utf8').trim());
    expect((fs.statSync(path.join(data, 'admin.key')).mode & 0o777).toString(8)).toBe('600');
    expect((fs.statSync(path.join(data, 'card.key')).mode & 0o777).toString(8)).toBe('600');
    const again = await cli('server', 'init', '--data', data);
    expect(again.stdout).toContain('is already a service data dir (kept as it is)');
    expect(again.stdout).not.toContain('admin key');
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
  }, 300_000);

  it('reports bad arguments in one line with exit code 2', async () => {
    const data = tmp();
    const r = await cli('server', 'add-gateway', 'gw', '--fee', '-1', '--data', data);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toEqual(['precheck: --fee must be an integer 0..1000000000']);
    const b = await cli('server', 'add-bin-rule', 'abc', 'decline', 'x', '--data', data);
    expect([b.code, b.stderr.trim()]).toEqual([2, 'precheck: prefix: 1-8 digits']);
  });

  it('runs the service, prints its URL (never the admin key), no plain-HTTP warning on loopback, stops on SIGTERM', async () => {
    const data = path.join(tmp(), 'd');
    const init = await cli('server', 'init', '--data', data);
    const child = spawn(process.execPath, [CLI, 'server', '--data', data, '--port', '0', '--log-level', 'warn'], { stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    let out = '';
    let err = '';
    child.stderr!.on('data', (b) => (err += b));
    const url = await new Promise<string>((resolve, reject) => {
      child.stdout!.on('data', (b) => {
        out += b;
        const m = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
        if (m) resolve(m[1]);
      });
      child.once('exit', (c) => reject(new Error(`exited ${c}: ${out}`)));
    });
    const adminKey = fs.readFileSync(path.join(data, 'admin.key'), 'utf8').trim();
    expect(init.stdout).not.toContain(adminKey);
    expect(init.stdout).toContain(`admin key written to ${path.resolve(data, 'admin.key')}`);
    expect(out).not.toContain(adminKey);
    const health = await fetch(`${url}/v1/health`);
    expect(await health.json()).toEqual({ status: 'ok', datasetVersion: 1, oldestUnpublishedChangeAgeSeconds: null });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(err).not.toMatch(/WARNING/);
  }, 180_000);

  it('beyond loopback it warns loudly that it speaks plain HTTP (stderr and its log) and names the fix', async () => {
    const data = path.join(tmp(), 'd');
    expect((await cli('server', 'init', '--data', data)).code).toBe(0);
    const child = spawn(process.execPath, [CLI, 'server', '--data', data, '--host', '0.0.0.0', '--port', '0', '--log-level', 'warn'], { stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    let out = '';
    let err = '';
    // both: the line on stderr and the same warning in the service's own log (pino JSON on stdout)
    await new Promise<void>((resolve, reject) => {
      const check = () => {
        if (/WARNING: the network service listens on 0\.0\.0\.0:\d+ beyond loopback over plain HTTP/.test(err) && /"level":40.*beyond loopback over plain HTTP/.test(out)) resolve();
      };
      child.stdout!.on('data', (b) => {
        out += b;
        check();
      });
      child.stderr!.on('data', (b) => {
        err += b;
        check();
      });
      child.once('exit', (c) => reject(new Error(`exited ${c}: ${out}\n${err}`)));
    });
    expect(err).toMatch(/TLS reverse proxy/);
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGKILL');
    await exited;
  }, 180_000);

  it('a directory that is not a service data dir is refused by every command; bad paths are one line, exit 2, fast', async () => {
    const other = tmp();
    fs.writeFileSync(path.join(other, 'notes.txt'), 'x');
    const cmds = [['server', '--port', '0'], ['server', 'publish'], ['server', 'issue-key', 'shop-1'], ['server', 'add-gateway', 'gw'], ['server', 'train']];
    const results = await Promise.all(cmds.map((args) => cli(...args, '--data', other)));
    results.forEach((r, i) => {
      expect([r.code, r.stderr.trim()], cmds[i].join(' ')).toEqual([2, `precheck: --data ${other} is not a service data dir (no card.key, signing.key); create one with \`precheck server init --data ${other}\``]);
    });
    expect(fs.readdirSync(other)).toEqual(['notes.txt']);
    const notEmpty = await cli('server', 'init', '--data', other);
    expect([notEmpty.code, notEmpty.stderr.trim()]).toEqual([2, `precheck: --data ${other} is not empty and not a service data dir; give an empty or new directory`]);
    const file = await cli('server', 'init', '--data', '/etc/passwd');
    expect([file.code, file.stderr.trim()]).toEqual([2, 'precheck: --data /etc/passwd: /etc/passwd exists and is not a directory']);
    // recursive mkdir loops forever on /proc: created level by level, it is one line at once
    const proc = await cli('server', 'init', '--data', '/proc/precheck-x/y');
    expect(proc.code).toBe(2);
    expect(proc.stderr.trim()).toMatch(/^precheck: --data \/proc\/precheck-x\/y: (cannot create \/proc\/precheck-x|\/proc is not writable)/);
  }, 180_000);

  it('a taken port is one clear line and exit code 3', async () => {
    const { port, close } = await holdPort();
    try {
      const data = tmp();
      await cli('server', 'init', '--data', data);
      const r = await cli('server', '--data', data, '--port', String(port), '--log-level', 'warn');
      expect(r.code).toBe(3);
      expect(r.stderr.trim().split('\n')).toEqual([`precheck: EADDRINUSE: port ${port} on 127.0.0.1 is already in use`]);
    } finally {
      await close();
    }
  }, 180_000);
  it('every command that opens the data takes --database after its own name (not only the environment)', async () => {
    // The command tree: each server command with --data has --database too.
    const { Command } = await import('commander');
    const { registerServerCommands } = await import('../../server/cli.ts');
    const program = new Command('precheck');
    registerServerCommands(program);
    const all = (c: InstanceType<typeof Command>, prefix: string): [string, InstanceType<typeof Command>][] =>
      c.commands.flatMap((s) => [[`${prefix} ${s.name()}`, s] as [string, InstanceType<typeof Command>], ...all(s, `${prefix} ${s.name()}`)]);
    const withData = all(program, '').filter(([, c]) => c.options.some((o) => o.long === '--data'));
    expect(withData.length).toBeGreaterThan(10);
    for (const [name, c] of withData) expect(c.options.some((o) => o.long === '--database'), name).toBe(true);
    // ...and a real command reads it there: a URL that is not PostgreSQL's is refused by the
    // option's own check (an unknown option would be commander's "unknown option" instead).
    const d = tmp();
    const data = path.join(d, 'data');
    expect((await cli('server', 'init', '--data', data)).code).toBe(0);
    for (const args of [['issue-key', 'shop-1'], ['notify', 'list']]) {
      const r = await cli('server', ...args, '--data', data, '--database', 'mysql://db.example/x');
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr.trim()).toBe('precheck: --database: database must be a postgres:// or postgresql:// URL');
    }
  }, 180_000);
});
