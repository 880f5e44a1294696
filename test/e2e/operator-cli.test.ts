// The operator's command line against a running `precheck up` on non-default ports: the client
// commands find it through its run file (no --url), go through the bridge that holds the device
// links, the card number is asked for on a terminal without echo, outcomes are reported from the
// shell, and `status` says when something is degraded. Then `up` as a supervisor: the service
// killed with SIGKILL comes back by itself while the bridge keeps answering.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type Browser } from 'playwright-core';
import { RUN_FILE } from '../../host-bridge/cli-target.ts';
import { DEMO_CARDS } from '../../tools/up/demo-data.ts';
import { killAllTracked, run, spawnTracked } from '../../testkit/process.ts';
import { onceEvent, withTimeout } from '../../testkit/wait.ts';
import { getJson, postJson, verifyBody } from './helpers/http.ts';
import { removeDir, startUpFixture, type UpFixture } from './helpers/up-fixture.ts';

const BIN = path.resolve('bin/precheck.js');
// Debian's chromium (.ci/run installs it); without it the browser test is skipped, saying so.
const CHROMIUM = process.env.PRECHECK_CHROMIUM ?? '/usr/bin/chromium';
const haveChromium = fs.existsSync(CHROMIUM);
if (!haveChromium) process.stderr.write(`test/e2e/operator-cli: ${CHROMIUM} not found (apt-get install chromium); the status page browser test is skipped\n`);
let fx: UpFixture;
let dataDir: string;

/** `precheck ARGS` with no URL in the environment: it must find the stack through --data. */
function precheck(args: string[], input?: string) {
  const env = { ...process.env };
  delete env.PRECHECK_BRIDGE_URL;
  delete env.PRECHECK_DATA;
  return run(process.execPath, [BIN, ...args, '--data', dataDir], { env, input, timeoutMs: 60_000 });
}

beforeAll(async () => {
  // a 5 s first backoff leaves a clear window in which the service is down
  // The bridge follows new datasets by itself (sync.follow); off here, so the `sync` test below is
  // the one that brings the devices up to date and its progress can be seen. `up` keeps what the
  // bridge config file already says.
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'pc-e2e-'));
  fs.mkdirSync(path.join(root, 'd', 'bridge'), { recursive: true });
  fs.writeFileSync(path.join(root, 'd', 'bridge', 'config.json'), JSON.stringify({ sync: { follow: false } }));
  fx = await startUpFixture({ restartBaseMs: 5000 }, root);
  dataDir = fx.up.paths.dataDir;
}, 180_000);

afterAll(async () => {
  await fx?.close();
  await killAllTracked();
  if (fx) {
    // the run file goes with the stack: a later client must not find a dead bridge through it
    expect(fs.existsSync(path.join(dataDir, RUN_FILE))).toBe(false);
    removeDir(fx.dir);
  }
}, 60_000);

describe('operator CLI against a running precheck up', () => {
  it('up writes a run file naming where its bridge and service listen', () => {
    const rf = JSON.parse(fs.readFileSync(path.join(dataDir, RUN_FILE), 'utf8'));
    expect(rf).toMatchObject({ format: 1, pid: process.pid, bridgeUrl: fx.up.bridgeUrl, serviceUrl: fx.up.serverUrl, bridgeConfig: fx.up.paths.bridgeConfig });
    expect(fs.statSync(path.join(dataDir, RUN_FILE)).mode & 0o077).toBe(0);
  });

  it('`status` finds the stack on its random ports, probes the service and exits 0', async () => {
    // a generous probe timeout: the stack shares a loaded machine with the other tests
    const r = await precheck(['status', '--timeout', '30000']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`bridge   ${fx.up.bridgeUrl} ok`);
    expect(r.stdout).toMatch(new RegExp(`^service  ${fx.up.serverUrl} ok, dataset v\\d+`, 'm'));
    expect(r.stdout.match(/^device {3}pc-\S+ .* paired healthy/gm)).toHaveLength(2);
  });

  it('`devices` goes through the bridge that holds the links (no "Cannot lock port")', async () => {
    const r = await precheck(['devices', '--json']);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.bridge).toBe(fx.up.bridgeUrl);
    expect(j.devices.map((d: { link: string }) => d.link).sort()).toEqual(['hid-cable', 'rs485']);
    expect(j.devices.every((d: { paired: boolean }) => d.paired)).toBe(true);
  });

  it('`pair` goes through the bridge: the code is shown, the pairing completes, the device keeps answering', async () => {
    const id = fx.up.devices[0].id;
    const r = await precheck(['pair', id, '--yes']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^Pairing code: \\d{6}\npaired ${id} \\(.*\\) through the bridge at ${fx.up.bridgeUrl.replace(/\./g, '\\.')}$`, 'm'));
    const s = await precheck(['status', '--timeout', '30000']);
    expect(s.code).toBe(0);
  });

  it('`verify` asks for the card on a terminal with echo off; the number never appears on screen', async () => {
    const pan = DEMO_CARDS.approve.pan;
    // util-linux `script` gives the command a real pty; the number is typed after the prompt shows.
    const cmd = [process.execPath, BIN, 'verify', '--data', dataDir, '--order', 'op-tty-1', '--exp', '12/30', '--amount', '25.00', '--currency', 'EUR', '--country', 'DE'].map((a) => `'${a}'`).join(' ');
    const child = spawnTracked('script', ['-qec', cmd, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let screen = '';
    let typed = false;
    child.stdout!.on('data', (d) => {
      screen += d;
      if (!typed && screen.includes('Card number (not shown): ')) {
        typed = true;
        child.stdin!.write(`${pan}\r`);
      }
    });
    const code = await withTimeout(new Promise<number | null>((r) => child.on('exit', r)), 60_000, 'verify on a pty');
    expect(typed).toBe(true);
    expect(code).toBe(0);
    expect(screen).toMatch(/APPROVE {2}\(stage: local, reason: known_good\)/);
    expect(screen).toContain(`${pan.slice(0, 6)}…${pan.slice(-4)}`);
    expect(screen).not.toContain(pan);
  });

  it('`outcome` reports what the gateway said for a verified order', async () => {
    const ok = await precheck(['outcome', '--order', 'op-tty-1', '--gateway', 'stripe', '--status', 'success']);
    expect(ok.stderr).toBe('');
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/^queued: op-tty-1 stripe success \(idempotency key \S+\)/);
    const again = await precheck(['outcome', '--order', 'op-tty-1', '--gateway', 'stripe', '--status', 'success']);
    expect(again.stdout).toMatch(/^already reported/);
    const bad = await precheck(['outcome', '--order', 'op-tty-1', '--gateway', 'stripe', '--status', 'maybe']);
    expect(bad.code).toBe(2);
    expect(bad.stderr.trim()).toBe('precheck: --status must be success or failure (got "maybe")');
  });

  it('`sync` asks the running bridge found through the run file and shows its progress as it streams', async () => {
    // a change on the service (a restricted card; tokenised there), published: the devices are behind
    const admin = { authorization: `Bearer ${fx.adminKey()}` };
    const imp = await fetch(`${fx.up.serverUrl}/v1/admin/restricted/import`, { method: 'POST', headers: { ...admin, 'content-type': 'text/csv' }, body: '4000000000000002,op-test\n', signal: AbortSignal.timeout(30_000) });
    expect(imp.status).toBe(200);
    const pub = (await postJson(`${fx.up.serverUrl}/v1/admin/publish`, undefined, fx.adminKey())).json;
    const r = await precheck(['sync', '--all']);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain(`asking the running bridge at ${fx.up.bridgeUrl}`);
    // NDJSON progress from the bridge, rendered as plain lines (stderr is not a terminal here)
    expect(r.stderr).toMatch(new RegExp(`^sync: pc-\\S+ dataset v\\d+ → v${pub.version}: (chunk|finished)`, 'm'));
    expect(r.stdout).toMatch(new RegExp(`v\\d+ → v${pub.version} .* updated`));
  });

  it.skipIf(!haveChromium)('the status page at / in a real browser: devices of the running up, last decisions masked, a pairing started from it completes', async () => {
    let browser: Browser | null = null;
    try {
      browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'], timeout: 60_000 });
      const page = await browser.newPage();
      page.setDefaultTimeout(60_000);
      const res = await page.goto(`${fx.up.bridgeUrl}/`);
      expect(res?.status()).toBe(200);
      expect(await page.title()).toBe('Precheck bridge');
      for (const d of fx.up.devices) {
        const row = page.locator(`tr[data-device="${d.id}"]`);
        expect(await row.innerText()).toMatch(new RegExp(`${d.id}\\s+${d.link}[\\s\\S]*paired[\\s\\S]*v\\d+\\s+fresh`));
      }
      expect(await page.locator('#service').innerText()).toMatch(/reachable, dataset v\d+/);
      const html = await page.content();
      expect(html).toContain('424242…4242'); // the tty verify above, as BIN and last four
      expect(html).not.toContain(DEMO_CARDS.approve.pan);

      // pair the USB device again from the page: the code shown must be the one the device prints
      const usb = fx.up.devices.find((d) => d.link === 'hid-cable')!;
      const emu = fx.up.children.get('device-usb')!;
      const shown = emu.waitForLine(new RegExp(`PAIRING CODE (\\d{6}) device ${usb.id}\\b`), 60_000, 'the pairing code', emu.lineCount);
      await page.locator(`tr[data-device="${usb.id}"] button`).click();
      const code = (await page.locator('#pairing-code').innerText()).trim();
      expect(code).toMatch(/^\d{6}$/);
      expect((await shown)[1]).toBe(code);
      await page.locator('#confirm').click();
      expect(await page.locator('#pair-result').innerText()).toContain(`${usb.id} is paired with this bridge`);
      await page.goto(`${fx.up.bridgeUrl}/`);
      expect(await page.locator(`tr[data-device="${usb.id}"]`).innerText()).toContain('paired');
      // and the device still answers
      const v = await postJson(`${fx.up.bridgeUrl}/v1/verify`, verifyBody(DEMO_CARDS.approve.pan, 'op-page-1', { verifierId: usb.id }));
      expect(v.json).toMatchObject({ decision: 'approve', stage: 'local', device: { id: usb.id } });
    } finally {
      await browser?.close();
    }
  }, 240_000);

  it('`doctor` checks the running stack line by line; a wrong API key fails with its fix; `ports` lists serial ports', async () => {
    const env = { ...process.env };
    delete env.PRECHECK_BRIDGE_URL;
    const cfg = fx.up.paths.bridgeConfig;
    // a generous probe timeout: the stack shares a loaded machine with the other tests
    const r = await run(process.execPath, [BIN, 'doctor', '--config', cfg, '--json', '--timeout', '30000'], { env, timeoutMs: 120_000 });
    const checks = JSON.parse(r.stdout).checks as Array<{ name: string; level: string; detail: string; fix?: string }>;
    const by = (n: string) => checks.find((c) => c.name === n);
    expect(by('service')).toMatchObject({ level: 'ok' });
    expect(by('api key')).toMatchObject({ level: 'ok', detail: 'accepted by the service' });
    expect(by('signing key')?.level).toBe('ok'); // pinned at the first sync, still the service's
    expect(by('clock')?.level).toBe('ok');
    // the emulated RS485 bus: a pty the running bridge holds
    const serial = checks.find((c) => c.name.startsWith('serial '));
    expect(serial).toMatchObject({ level: 'warn' });
    expect(serial!.detail).toMatch(/^open in process \d+/);

    const bad = path.join(fx.dir, 'bad-key.json');
    const raw = JSON.parse(fs.readFileSync(cfg, 'utf8'));
    fs.writeFileSync(bad, JSON.stringify({ ...raw, network: { ...raw.network, apiKey: 'pk_not_a_key_0123456789abcdef' } }));
    const w = await run(process.execPath, [BIN, 'doctor', '--config', bad, '--timeout', '30000'], { env, timeoutMs: 120_000 });
    expect(w.code).toBe(1);
    expect(w.stdout).toMatch(/^FAIL {2}api key +refused \(HTTP 401\)\n +fix: issue a new one: precheck server issue-key MERCHANT/m);
    expect(w.stderr.trim()).toMatch(/^precheck: \d+ check\(s\) failed$/);
    const u = await run(process.execPath, [BIN, 'doctor', '--config', cfg, '--timeout', '3s'], { env, timeoutMs: 60_000 });
    expect(u.code).toBe(2);
    expect(u.stderr).toMatch(/--timeout must be a whole number of milliseconds/);

    const p = await run(process.execPath, [BIN, 'ports', '--json'], { env, timeoutMs: 60_000 });
    expect(p.code).toBe(0);
    expect(Array.isArray(JSON.parse(p.stdout).ports)).toBe(true);
  });

  it('a network service killed with SIGKILL is restarted; meanwhile the bridge answers a locally-decidable card', async () => {
    const server = fx.up.children.get('server')!;
    const serviceUrl = fx.up.serverUrl;
    const exited = onceEvent<[string, number | null, string | null]>(fx.up.events, 'exited', 30_000);
    const back = onceEvent<[string]>(fx.up.events, 'restarted', 180_000);
    let isBack = false;
    void back.then(() => (isBack = true), () => undefined);
    process.kill(server.pid!, 'SIGKILL');
    const [name, , signal] = await exited;
    expect([name, signal]).toEqual(['server', 'SIGKILL']);

    const local = await postJson(`${fx.up.bridgeUrl}/v1/verify`, verifyBody(DEMO_CARDS.approve.pan, 'op-down-1'));
    const answeredWhileDown = !isBack;
    expect(local.status).toBe(200);
    expect(local.json).toMatchObject({ decision: 'approve', stage: 'local', reason: 'known_good' });
    expect(answeredWhileDown).toBe(true);
    expect(fx.lines.some((l) => l.startsWith('precheck up: the network service stopped (killed by SIGKILL); restarting in 5.0 s (restart 1'))).toBe(true);

    expect(await back).toEqual(['server']);
    expect(fx.up.restarts.get('server')).toBe(1);
    expect(fx.up.serverUrl).toBe(serviceUrl); // same port: the bridge's config still points at it
    expect((await getJson(`${serviceUrl}/v1/health`)).json.status).toBe('ok');
    const network = await postJson(`${fx.up.bridgeUrl}/v1/verify`, verifyBody(DEMO_CARDS.new.pan, 'op-back-1'));
    expect(network.json.stage).toBe('network');
  }, 240_000);

  it('`up --data` on a path that cannot be created fails at once with one line, exit 2', async () => {
    const r = await run(process.execPath, [BIN, 'up', '--data', '/proc/precheck-up/x', '--port', '0', '--server-port', '0'], { timeoutMs: 60_000 });
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^precheck: --data \/proc\/precheck-up\/x: /);
  });
});
