// `precheck doctor` and `precheck ports`: what a shop PC needs before the bridge works, checked
// one line at a time with the fix next to each problem, and the serial adapters the machine has
// (serialport's list, with the stable /dev/serial/by-id path to put in the config).
// Only commander types at top level; everything else loads inside the actions.
import type { Command } from 'commander';

export type CheckLevel = 'ok' | 'warn' | 'fail' | 'skip';
export interface Check {
  name: string;
  level: CheckLevel;
  detail: string;
  fix?: string;
}

interface PortRow {
  path: string;
  byId: string | null;
  vendorId: string | null;
  productId: string | null;
  serialNumber: string | null;
  manufacturer: string | null;
}

/** /dev/serial/by-id/* → the device each names (realpath), so a port can be shown by its stable name. */
async function byIdMap(): Promise<Map<string, string>> {
  const fs = await import('node:fs');
  const path = await import('node:path');
  const m = new Map<string, string>();
  const dir = '/dev/serial/by-id';
  let names: string[] = [];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return m;
  }
  for (const n of names) {
    try {
      m.set(fs.realpathSync(path.join(dir, n)), path.join(dir, n));
    } catch {
      // dangling link
    }
  }
  return m;
}

export async function listPorts(): Promise<PortRow[]> {
  const { SerialPort } = await import('serialport');
  const ids = await byIdMap();
  const fs = await import('node:fs');
  const ports = await SerialPort.list();
  return ports.map((p) => {
    let real = p.path;
    try {
      real = fs.realpathSync(p.path);
    } catch {
      // keep the listed path
    }
    return {
      path: p.path,
      byId: ids.get(real) ?? null,
      vendorId: p.vendorId ?? null,
      productId: p.productId ?? null,
      serialNumber: p.serialNumber ?? null,
      manufacturer: p.manufacturer ?? null,
    };
  });
}

function hasLib(name: string): boolean {
  const fs = require_fs();
  for (const d of ['/usr/lib/x86_64-linux-gnu', '/usr/lib/aarch64-linux-gnu', '/usr/lib/arm-linux-gnueabihf', '/lib/x86_64-linux-gnu', '/usr/lib', '/lib']) {
    if (fs.existsSync(`${d}/${name}`)) return true;
  }
  return false;
}
let fsMod: typeof import('node:fs') | null = null;
function require_fs(): typeof import('node:fs') {
  return fsMod!;
}

/** Effective capabilities of this process (Linux), as a bit set; null elsewhere. */
function effectiveCaps(): bigint | null {
  try {
    const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(require_fs().readFileSync('/proc/self/status', 'utf8'));
    return m ? BigInt(`0x${m[1]}`) : null;
  } catch {
    return null;
  }
}

/** Pids (other than ours) holding `file` open, from /proc/<pid>/fd. */
function holders(file: string): number[] {
  const fs = require_fs();
  const out: number[] = [];
  let real = file;
  try {
    real = fs.realpathSync(file);
  } catch {
    return out;
  }
  for (const pid of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(pid) || Number(pid) === process.pid) continue;
    let fds: string[];
    try {
      fds = fs.readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        if (fs.readlinkSync(`/proc/${pid}/fd/${fd}`) === real) {
          out.push(Number(pid));
          break;
        }
      } catch {
        // closed meanwhile
      }
    }
  }
  return out;
}

/** How long each of the service's probes may take (ms); `--timeout` changes it for slow links. */
export const DEFAULT_PROBE_TIMEOUT_MS = 3000;

export async function runChecks(o: { config?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number }): Promise<Check[]> {
  const probeMs = o.timeoutMs ?? DEFAULT_PROBE_TIMEOUT_MS;
  fsMod = await import('node:fs');
  const fs = fsMod;
  const os = await import('node:os');
  const path = await import('node:path');
  const { findExecutable } = await import('../../runtime/executables.ts');
  const { loadConfig } = await import('../config.ts');
  const env = o.env ?? process.env;
  const checks: Check[] = [];
  const add = (name: string, level: CheckLevel, detail: string, fix?: string) => checks.push({ name, level, detail, ...(fix ? { fix } : {}) });

  const [maj, min] = process.versions.node.split('.').map(Number);
  if (maj < 20 || (maj === 20 && min < 18)) add('node', 'fail', `Node.js ${process.version}`, 'install Node.js 24 LTS (22 and 20.18+ work)');
  else add('node', maj < 22 ? 'warn' : 'ok', `Node.js ${process.version}${maj < 22 ? ' (end of life since April 2026)' : ''}`, maj < 22 ? 'install Node.js 24 LTS' : undefined);

  const socat = findExecutable('socat', env.PATH);
  add('socat', socat ? 'ok' : 'warn', socat ? socat : 'not installed (only `precheck up` emulation and the tests need it)', socat ? undefined : 'sudo apt-get install socat');

  const usb = hasLib('libusb-1.0.so.0');
  add('libusb', usb ? 'ok' : 'fail', usb ? 'libusb-1.0 found' : 'libusb-1.0.so.0 not found: USB HID verifiers cannot be opened', usb ? undefined : 'sudo apt-get install libusb-1.0-0');
  const udev = hasLib('libudev.so.1');
  add('libudev', udev ? 'ok' : 'fail', udev ? 'libudev found' : 'libudev.so.1 not found: device hotplug and HID enumeration fail', udev ? undefined : 'sudo apt-get install libudev1');

  const rules = '/etc/udev/rules.d/99-precheck.rules';
  add('udev rules', fs.existsSync(rules) ? 'ok' : 'warn', fs.existsSync(rules) ? rules : `${rules} is missing: verifiers and RS485 adapters are root-only`, fs.existsSync(rules) ? undefined : 'sudo install -m 0644 host-bridge/udev/99-precheck.rules /etc/udev/rules.d/ && sudo udevadm control --reload-rules && sudo udevadm trigger');

  const user = os.userInfo().username;
  let groups: string[] = [];
  try {
    const gids = new Set(process.getgroups?.() ?? []);
    groups = fs.readFileSync('/etc/group', 'utf8').split('\n').map((l) => l.split(':')).filter((f) => f.length > 2 && gids.has(Number(f[2]))).map((f) => f[0]);
  } catch {
    // no /etc/group: not Linux
  }
  if (process.getuid?.() === 0) add('groups', 'ok', 'running as root (the service units run as user precheck instead)');
  else {
    const inGroup = groups.includes('precheck') || groups.includes('dialout');
    add('groups', inGroup ? 'ok' : 'warn', `${user} is in ${groups.join(', ') || 'no groups'}`, inGroup ? undefined : `sudo usermod -aG precheck,dialout ${user} (then log in again)`);
  }

  let config: import('../config.ts').BridgeConfig | null = null;
  try {
    config = loadConfig({ file: o.config, env });
    add('config', 'ok', o.config ? `${o.config} is valid` : 'no --config: defaults and PRECHECK_* variables');
  } catch (e) {
    add('config', 'fail', (e as Error).message, 'fix the key named above (docs/operations.md "Configuration")');
  }

  for (const p of config?.devices.rs485.ports ?? []) {
    const name = `serial ${p.path}`;
    if (!fs.existsSync(p.path)) {
      add(name, 'fail', 'does not exist (adapter unplugged or renamed)', 'use its /dev/serial/by-id/… path (precheck ports lists them)');
      continue;
    }
    try {
      fs.accessSync(p.path, fs.constants.R_OK | fs.constants.W_OK);
    } catch {
      add(name, 'fail', `no read/write permission for ${user}`, `sudo usermod -aG dialout ${user}, or install the udev rules (group precheck)`);
      continue;
    }
    const lockName = `/var/lock/LCK..${path.basename(fs.realpathSync(p.path))}`;
    const held = holders(p.path);
    if (held.length) add(name, 'warn', `open in process ${held.join(', ')} (a running bridge holds its ports; anything else would corrupt the bus)`, 'fine if that is the bridge; otherwise stop that process');
    else if (fs.existsSync(lockName)) add(name, 'warn', `lock file ${lockName} exists but no process holds the port`, `remove the stale ${lockName}`);
    else add(name, 'ok', `readable and writable, free${p.path.startsWith('/dev/serial/by-id/') ? '' : ' (prefer its /dev/serial/by-id path)'}`);
  }

  if (config?.devices.ble.enabled) {
    const hci = fs.existsSync('/sys/class/bluetooth') ? fs.readdirSync('/sys/class/bluetooth').filter((n) => n.startsWith('hci')) : [];
    const caps = effectiveCaps();
    const capOk = process.getuid?.() === 0 || (caps !== null && (caps & (1n << 13n)) !== 0n && (caps & (1n << 12n)) !== 0n);
    if (hci.length === 0) add('bluetooth', 'fail', 'no Bluetooth adapter (/sys/class/bluetooth has no hci*)', 'plug in a BLE adapter, or set devices.ble.enabled false');
    else add('bluetooth', capOk ? 'ok' : 'fail', `${hci.join(', ')}${capOk ? '' : '; node lacks CAP_NET_RAW/CAP_NET_ADMIN'}`, capOk ? undefined : `sudo setcap cap_net_raw,cap_net_admin+eip ${fs.realpathSync(process.execPath)} (or AmbientCapabilities in the unit)`);
  } else add('bluetooth', 'skip', 'devices.ble.enabled is false');

  const svcUrl = config?.network.serviceUrl ?? null;
  if (!svcUrl) {
    add('service', 'warn', 'no network.serviceUrl: every escalation gets the fallback policy', 'set network.serviceUrl and network.apiKey');
  } else {
    const base = svcUrl.replace(/\/+$/, '');
    let date: string | null = null;
    try {
      const t0 = Date.now();
      const res = await fetch(`${base}/v1/health`, { signal: AbortSignal.timeout(probeMs) });
      date = res.headers.get('date');
      add('service', res.ok ? 'ok' : 'fail', `${base} answers HTTP ${res.status} in ${Date.now() - t0} ms`, res.ok ? undefined : 'check the service log');
    } catch (e) {
      add('service', 'fail', `${base} unreachable (${(e as Error).name === 'TimeoutError' ? `no answer within ${probeMs / 1000} s` : ((e as { cause?: { code?: string } }).cause?.code ?? (e as Error).message)})`, 'start the service, or check network.serviceUrl, DNS, firewall and TLS');
    }
    if (date) {
      const skew = Math.round((Date.now() - Date.parse(date)) / 1000);
      add('clock', Math.abs(skew) <= 60 ? 'ok' : 'fail', `${skew >= 0 ? '+' : ''}${skew} s against the service`, Math.abs(skew) <= 60 ? undefined : 'enable NTP (timedatectl set-ntp true): dataset expiry and freshness depend on the clock');
    }
    if (config?.network.apiKey && date) {
      try {
        const res = await fetch(`${base}/v1/datasets/latest`, { headers: { authorization: `Bearer ${config.network.apiKey}` }, signal: AbortSignal.timeout(probeMs) });
        const ok = res.status === 200 || res.status === 404;
        add('api key', ok ? 'ok' : 'fail', ok ? 'accepted by the service' : `refused (HTTP ${res.status})`, ok ? undefined : 'issue a new one: precheck server issue-key MERCHANT, then set network.apiKey');
      } catch (e) {
        add('api key', 'fail', `could not be checked (${(e as Error).message})`);
      }
    } else if (!config?.network.apiKey) add('api key', 'warn', 'network.apiKey is not set', 'precheck server issue-key MERCHANT, then set network.apiKey');
    try {
      const pin = JSON.parse(fs.readFileSync(path.join(config!.dataDir, 'sync', 'signing-key.json'), 'utf8')) as { publicKey: string };
      const res = await fetch(`${base}/v1/keys/dataset`, { signal: AbortSignal.timeout(probeMs) });
      const cur = ((await res.json()) as { publicKey?: string }).publicKey;
      add('signing key', cur === pin.publicKey ? 'ok' : 'fail', cur === pin.publicKey ? `the service signs with the pinned key ${pin.publicKey.slice(0, 16)}…` : `the service announces ${String(cur).slice(0, 16)}…, the bridge pinned ${pin.publicKey.slice(0, 16)}…`, cur === pin.publicKey ? undefined : 'a changed signing key is refused on purpose: if the change is genuine, delete sync/signing-key.json in the bridge data dir and re-provision the devices');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') add('signing key', 'skip', 'not pinned yet (pinned at the first sync)');
      else add('signing key', 'warn', `could not be compared (${(e as Error).message})`);
    }
  }
  return checks;
}

export function registerDoctorCommands(program: Command): void {
  program
    .command('doctor')
    .description('Check what the bridge needs on this machine (libraries, udev rules, groups, serial ports, Bluetooth, the service, API key, signing-key pin, clock); each problem with its fix. Exit 1 if anything fails')
    .option('-c, --config <file>', 'bridge JSON config file (PRECHECK_* environment variables override it)')
    .option('--json', 'print the checks as JSON')
    .option('--timeout <ms>', `how long each probe of the service may take (default ${DEFAULT_PROBE_TIMEOUT_MS})`)
    .action(async (o: { config?: string; json?: boolean; timeout?: string }) => {
      const { parseProbeTimeout } = await import('../cli.ts');
      const checks = await runChecks({ ...o, timeoutMs: await parseProbeTimeout(o.timeout) });
      if (o.json) process.stdout.write(`${JSON.stringify({ checks }, null, 2)}\n`);
      else {
        const w = Math.max(...checks.map((c) => c.name.length));
        for (const c of checks) {
          process.stdout.write(`${c.level.toUpperCase().padEnd(4)}  ${c.name.padEnd(w)}  ${c.detail}\n`);
          if (c.fix) process.stdout.write(`${' '.repeat(w + 8)}fix: ${c.fix}\n`);
        }
      }
      const failed = checks.filter((c) => c.level === 'fail').length;
      if (failed) {
        const { CliError, EXIT } = await import('../../errors/cli-exit.ts');
        throw new CliError(`${failed} check(s) failed`, EXIT.FAILURE);
      }
    });

  program
    .command('ports')
    .description('List serial ports (serialport): path, stable /dev/serial/by-id path, USB VID:PID, serial number, manufacturer')
    .option('--json', 'print JSON')
    .action(async (o: { json?: boolean }) => {
      const ports = await listPorts();
      if (o.json) {
        process.stdout.write(`${JSON.stringify({ ports }, null, 2)}\n`);
        return;
      }
      if (ports.length === 0) {
        process.stdout.write('no serial ports found\n');
        return;
      }
      const rows = [['PATH', 'BY-ID', 'VID:PID', 'SERIAL', 'MANUFACTURER'], ...ports.map((p) => [p.path, p.byId ?? '-', p.vendorId ? `${p.vendorId}:${p.productId ?? '?'}` : '-', p.serialNumber ?? '-', p.manufacturer ?? '-'])];
      const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
      process.stdout.write(`${rows.map((r) => r.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd()).join('\n')}\n`);
    });
}
