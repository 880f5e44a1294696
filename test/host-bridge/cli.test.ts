// The CLI as a user runs it: `precheck bridge` as a child process with a config file, then
// `precheck status` and `precheck verify` against it; errors are one line with a stable exit code.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ScriptedService } from './scripted-service.ts';
import { makeTempDir } from './temp-dir.ts';
import { toMinorUnits, formatMinorUnits } from '../../contracts/currency.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const BIN = join(ROOT, 'bin', 'precheck.js');
const PAN = '4111111111111111';

function run(args: string[], opts: { stdin?: string; env?: Record<string, string> } = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, env: { ...process.env, ...opts.env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(opts.stdin ?? '');
  });
}

let dir: ReturnType<typeof makeTempDir>;
let svc: ScriptedService;
let bridgeProc: ChildProcess | null = null;
let bridgeUrl = '';
let bridgeOut = '';

beforeAll(async () => {
  dir = makeTempDir();
  svc = await new ScriptedService().start();
  // `precheck status` probes the service's /v1/health too
  svc.handler = (req) => (req.path === '/v1/health' ? { status: 200, body: { status: 'ok', datasetVersion: 7 } } : { status: 200, body: { decision: 'approve', reason: 'known_segment', prompt: null, gateway: 'gw-z' } });
  const cfg = join(dir.path, 'bridge.json');
  writeFileSync(cfg, JSON.stringify({ listen: { host: '127.0.0.1', port: 0 }, dataDir: join(dir.path, 'data'), network: { serviceUrl: svc.url }, log: { level: 'info' } }));
  bridgeProc = spawn(process.execPath, [BIN, 'bridge', '--config', cfg], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  bridgeProc.stdout!.on('data', (d) => (bridgeOut += d));
  bridgeUrl = await new Promise<string>((resolve, reject) => {
    let err = '';
    const timer = setTimeout(() => reject(new Error(`bridge did not start: ${err}`)), 30_000);
    bridgeProc!.stderr!.on('data', (d) => {
      err += d;
      const m = /listening on (http:\/\/\S+)/.exec(err);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    bridgeProc!.on('exit', (code) => reject(new Error(`bridge exited ${code}: ${err}`)));
  });
});

afterAll(async () => {
  if (bridgeProc && bridgeProc.exitCode === null) {
    const exited = new Promise((r) => bridgeProc!.once('exit', r));
    bridgeProc.kill('SIGKILL');
    await exited;
  }
  await svc.close();
  dir.remove();
});

describe('precheck CLI (bridge side)', () => {
  it('converts amounts with the currency exponent, without floating point', () => {
    expect(toMinorUnits('19.99', 'USD')).toBe(1999);
    expect(toMinorUnits('0.1', 'USD')).toBe(10);
    expect(toMinorUnits('1999', 'JPY')).toBe(1999);
    expect(toMinorUnits('1.234', 'BHD')).toBe(1234);
    expect(() => toMinorUnits('19.99', 'JPY')).toThrow(/JPY has 0 decimal places/);
    expect(() => toMinorUnits('1,5', 'EUR')).toThrow(/positive decimal/);
    expect(() => toMinorUnits('1', 'XYZ1')).toThrow(/ISO 4217/);
    expect(formatMinorUnits(1999, 'USD')).toBe('19.99 USD');
    expect(formatMinorUnits(5, 'EUR')).toBe('0.05 EUR');
  });

  it('`precheck status` shows the running bridge', async () => {
    const r = await run(['status', '--url', bridgeUrl]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^bridge\s+http:\/\/\S+ ok/m);
    expect(r.stdout).toContain('breaker closed');
    expect(r.stdout).toContain('devices  none');
    expect(r.stdout).toContain(`service  ${svc.url} ok, dataset v7`);
  });

  it('`precheck status` exits 1 naming the problem when the service does not answer', async () => {
    const before = svc.handler;
    svc.handler = (req) => (req.path === '/v1/health' ? 'hang' : before(req));
    try {
      const r = await run(['status', '--url', bridgeUrl]);
      expect(r.code).toBe(1);
      expect(r.stdout).toMatch(/^PROBLEM {2}network service http:\/\/127\.0\.0\.1:\d+: no answer within 3 s/m);
      expect(r.stderr.trim()).toBe('precheck: degraded: 1 problem(s)');
    } finally {
      svc.handler = before;
    }
  });

  it('`precheck status --url <service>` checks a network service alone', async () => {
    const r = await run(['status', '--url', svc.url]);
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe(`service  ${svc.url} ok, dataset v7`);
  });

  it('`precheck verify` reads the card from stdin, converts the amount, prints JSON', async () => {
    const r = await run(['verify', '--card', '-', '--exp', '12/30', '--amount', '19.99', '--currency', 'usd', '--country', 'de', '--order', 'cli-order-1', '--url', bridgeUrl, '--json'], { stdin: `${PAN}\n` });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out).toMatchObject({ orderId: 'cli-order-1', decision: 'approve', stage: 'network', gateway: 'gw-z', card: { bin: '411111', last4: '1111', brand: 'visa' } });
    const [auth] = await svc.waitFor('/v1/auth');
    expect(auth.body).toMatchObject({ order: { id: 'cli-order-1', amount: { value: 1999, currency: 'USD' }, country: 'DE' }, expMonth: 12, expYear: 2030 });
    expect(r.stdout).not.toContain(PAN);
  });

  it('human output names decision, stage, card mask', async () => {
    const r = await run(['verify', '--card', PAN, '--exp', '01/2031', '--amount', '500', '--currency', 'JPY', '--url', bridgeUrl]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^APPROVE {2}\(stage: network, reason: known_segment\)/);
    expect(r.stdout).toContain('visa 411111…1111');
    expect(r.stdout).toContain('500 JPY');
  });

  it('errors are one line with a stable exit code', async () => {
    const frac = await run(['verify', '--card', PAN, '--exp', '12/30', '--amount', '19.99', '--currency', 'JPY', '--url', bridgeUrl]);
    expect(frac.code).toBe(2);
    expect(frac.stderr.trim().split('\n')).toHaveLength(1);
    expect(frac.stderr).toContain('JPY has 0 decimal places');

    const luhn = await run(['verify', '--card', '4111111111111112', '--exp', '12/30', '--amount', '1', '--currency', 'USD', '--url', bridgeUrl]);
    expect(luhn.code).toBe(2);
    expect(luhn.stderr.trim()).toBe('precheck: CARD_NUMBER_INVALID: card.number fails the Luhn check digit');

    const exp = await run(['verify', '--card', PAN, '--exp', '13/30', '--amount', '1', '--currency', 'USD', '--url', bridgeUrl]);
    expect(exp.code).toBe(2);
    expect(exp.stderr).toContain('--exp must be MM/YY');

    const down = await run(['status', '--url', 'http://127.0.0.1:1']);
    expect(down.code).toBe(3);
    expect(down.stderr.trim().split('\n')).toHaveLength(1);

    // commander's own errors: one line naming --help, exit 2 (not the whole help text)
    const [notUrl, missing, unknown, version] = await Promise.all([
      run(['status', '--url', 'notaurl']),
      run(['verify', '--card', PAN, '--exp', '12/30', '--currency', 'USD', '--url', bridgeUrl]),
      run(['status', '--bogus']),
      run(['--version']),
    ]);
    expect(notUrl.code).toBe(2);
    expect(notUrl.stderr.trim()).toBe('precheck: --url must be an http:// or https:// URL (got "notaurl")');
    expect(missing.code).toBe(2);
    expect(missing.stderr.trim()).toBe("precheck: required option '--amount <decimal>' not specified (see --help)");
    expect(unknown.code).toBe(2);
    expect(unknown.stderr.trim()).toBe("precheck: unknown option '--bogus' (see --help)");
    expect(version.code).toBe(0);
    expect(version.stdout).toMatch(/^precheck \d+\.\d+\.\d+ \(node v\d+/);

    const badCfg = await run(['bridge'], { env: { PRECHECK_BRIDGE_HOST: '0.0.0.0', PRECHECK_BRIDGE_TOKEN: '' } });
    expect(badCfg.code).toBe(2);
    expect(badCfg.stderr.trim()).toMatch(/^precheck: CONFIG_INVALID: config: token is required when listen.host is not loopback/);
  }, 180_000);

  it('the bridge process logs BIN and last four only, and stops cleanly on SIGTERM', async () => {
    const exited = new Promise<number | null>((r) => bridgeProc!.once('exit', (code) => r(code)));
    bridgeProc!.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(bridgeOut).toContain('"last4":"1111"');
    expect(bridgeOut).not.toContain(PAN);
  });
});
