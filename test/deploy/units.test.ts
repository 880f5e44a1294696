// The deployment kit (deploy/): systemd units checked by systemd's own verifier, the install
// script's shell syntax, and the files the docs point at. `systemd-analyze verify` needs the
// ExecStart binary to exist, so the units are checked as install.sh would lay them out, with
// /usr/bin/node and /opt/precheck mapped to this machine's node and this checkout.
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(import.meta.dirname, '..', '..');
const UNITS = path.join(ROOT, 'deploy', 'systemd');
const analyze = spawnSync('systemd-analyze', ['--version'], { encoding: 'utf8' });
const haveAnalyze = analyze.status === 0;
if (!haveAnalyze) process.stderr.write('test/deploy: systemd-analyze not found (apt-get install systemd); the unit verification is skipped\n');

describe('deployment kit', () => {
  it.skipIf(!haveAnalyze)('systemd-analyze verify accepts every unit without a warning', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pc-units-'));
    try {
      for (const f of fs.readdirSync(UNITS)) {
        const text = fs.readFileSync(path.join(UNITS, f), 'utf8').replaceAll('/usr/bin/node', process.execPath).replaceAll('/opt/precheck', ROOT);
        fs.writeFileSync(path.join(dir, f), text);
      }
      const files = fs.readdirSync(dir).map((f) => path.join(dir, f));
      expect(files.map((f) => path.basename(f)).sort()).toEqual(['precheck-bridge.service', 'precheck-service.service', 'precheck-sync.service', 'precheck-sync.timer']);
      const r = spawnSync('systemd-analyze', ['verify', ...files], { encoding: 'utf8', timeout: 60_000 });
      // unknown keys and bad values are only warnings for systemd: any output is a failure here
      expect(r.stderr.trim()).toBe('');
      expect(r.status).toBe(0);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the units run the real commands with paths install.sh creates', () => {
    const unit = (n: string) => fs.readFileSync(path.join(UNITS, n), 'utf8');
    expect(unit('precheck-service.service')).toMatch(/^ExecStart=\/usr\/bin\/node \/opt\/precheck\/bin\/precheck\.js server --data \/var\/lib\/precheck\/server /m);
    expect(unit('precheck-bridge.service')).toMatch(/^ExecStart=\/usr\/bin\/node \/opt\/precheck\/bin\/precheck\.js bridge --config \/etc\/precheck\/bridge\.json$/m);
    expect(unit('precheck-sync.service')).toMatch(/^ExecStart=.* sync --all --via-bridge --config \/etc\/precheck\/bridge\.json$/m);
    const install = fs.readFileSync(path.join(ROOT, 'deploy', 'install.sh'), 'utf8');
    for (const d of ['/etc/precheck', '/var/lib/precheck/server', '/var/lib/precheck/bridge', '/var/log/precheck']) expect(install).toContain(d);
    expect(install).toContain('server init --data /var/lib/precheck/server');
    for (const f of ['host-bridge/udev/99-precheck.rules', 'deploy/logrotate/precheck', 'deploy/bridge.example.json']) expect(fs.existsSync(path.join(ROOT, f))).toBe(true);
  });

  it('install.sh and backup.sh are valid bash; the example bridge config passes the bridge validator', async () => {
    for (const s of ['install.sh', 'backup.sh']) execFileSync('bash', ['-n', path.join(ROOT, 'deploy', s)]);
    const { validateConfig } = await import('../../host-bridge/config.ts');
    const raw = JSON.parse(fs.readFileSync(path.join(ROOT, 'deploy', 'bridge.example.json'), 'utf8'));
    expect(() => validateConfig(raw)).not.toThrow();
  });
});
