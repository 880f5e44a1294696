// The product runs with plain node from the built tree alone: a copy of dist/ outside the
// repository, next to a node_modules without tsx, no NODE_OPTIONS, cwd elsewhere. The CLI starts
// and reports its version, and the service builds a dataset in its child process (plain node,
// resolved next to the running module) — so neither the repository nor a TypeScript loader is
// needed at run time. dist/ is the one test/setup/build-dist.ts just built from these sources.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { killAllTracked, run, spawnTracked, waitForOutput } from '../../testkit/process.ts';
import { makeTempDir, type TempDir } from '../../testkit/tmp.ts';
import { withTimeout } from '../../testkit/wait.ts';

const ROOT = path.resolve(import.meta.dirname, '..', '..');
let tmp: TempDir;
let app: string;
let env: NodeJS.ProcessEnv;

beforeAll(() => {
  tmp = makeTempDir('pc-plain-');
  app = tmp.file('app');
  // the built tree under another name, nothing of the repository beside it
  fs.cpSync(path.join(ROOT, 'dist'), path.join(app, 'lib'), { recursive: true });
  // the installed packages, one link each, minus tsx (a dev dependency for bench/ and fuzz only)
  const modules = fs.realpathSync(path.join(ROOT, 'node_modules'));
  fs.mkdirSync(path.join(app, 'node_modules'));
  for (const name of fs.readdirSync(modules)) {
    if (name === 'tsx' || name.startsWith('.')) continue;
    fs.symlinkSync(path.join(modules, name), path.join(app, 'node_modules', name));
  }
  env = { ...process.env };
  delete env.NODE_OPTIONS;
});

afterAll(async () => {
  await killAllTracked();
  tmp?.cleanup();
});

const precheck = (...args: string[]) => run(process.execPath, [path.join(app, 'lib', 'cli', 'main.js'), ...args], { cwd: tmp.dir, env, timeoutMs: 60_000 });

describe('plain node, outside the repository', () => {
  it('has no tsx and no TypeScript sources to fall back on', async () => {
    const r = await run(process.execPath, ['--input-type=module', '-e', "await import('tsx')"], { cwd: app, env });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/Cannot find package 'tsx'/);
    const ts = fs.readdirSync(app, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.ts') && !f.startsWith('node_modules'));
    expect(ts).toEqual([]);
  });

  it('starts the CLI and reports the package version', async () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string };
    const r = await precheck('--version');
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe(`precheck ${pkg.version} (node ${process.version})\n`);
  });

  it('runs the service, which builds a dataset in a plain node child', async () => {
    const data = tmp.file('server');
    expect((await precheck('server', 'init', '--data', data)).code).toBe(0);
    const child = spawnTracked(process.execPath, [path.join(app, 'lib', 'cli', 'main.js'), 'server', '--data', data, '--port', '0', '--log-level', 'info', '--train-schedule', 'off'], {
      cwd: tmp.dir,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    const published = new Promise<string>((resolve) => {
      child.stdout!.setEncoding('utf8').on('data', (d: string) => {
        out += d;
        const line = out.split('\n').find((l) => l.includes('"msg":"dataset published"') && l.includes('"version":2'));
        if (line) resolve(line);
      });
    });
    const [, url] = await waitForOutput(child, /listening on (http:\/\/127\.0\.0\.1:\d+)/, { stream: 'stdout', timeoutMs: 60_000 });
    const adminKey = fs.readFileSync(path.join(data, 'admin.key'), 'utf8').trim();
    const admin = async (p: string, body?: unknown) => {
      const r = await fetch(`${url}${p}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${adminKey}`, ...(body ? { 'content-type': 'application/json' } : {}) },
        body: body ? JSON.stringify(body) : undefined,
      });
      return { status: r.status, json: (await r.json()) as Record<string, unknown> };
    };
    expect((await admin('/v1/admin/restricted', { token: '5a'.repeat(16), reason: 'fraud' })).status).toBe(200);
    const pub = await admin('/v1/admin/publish');
    expect(pub.status, JSON.stringify(pub.json)).toBe(200);
    expect(pub.json).toMatchObject({ version: 2, created: true });
    // the build ran in the child process, not in the service (the log line may follow the answer)
    expect(await withTimeout(published, 60_000, 'the publish log line')).toContain('"child":true');
  }, 180_000);
});
