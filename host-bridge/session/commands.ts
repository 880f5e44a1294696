// `precheck devices` and `precheck pair DEVICE`. A running bridge holds its devices' links (a
// serial port opens in one process only), so when one answers (found as host-bridge/cli-target.ts
// says) both go through its API: GET /v1/devices, POST /v1/devices/{id}/pair. With no bridge they
// open the configured links themselves (--local forces that), so they work before the bridge is
// set up. Only commander types at top level; the rest loads inside the actions.
import { RulesReference } from '../devices/rules-reference.ts';
import type { Command } from 'commander';

interface CommonOptions {
  config?: string;
  url?: string;
  token?: string;
  data?: string;
  local?: boolean;
}

/** The running bridge to go through, or null to open the links here. */
async function runningBridge(o: CommonOptions): Promise<{ url: string; token: string | undefined; source: string } | null> {
  if (o.local) return null;
  const { resolveBridge, answers } = await import('../cli-target.ts');
  const t = resolveBridge(o);
  if (await answers(t.url, t.token)) return t;
  if (o.url !== undefined) {
    const { CliError, EXIT } = await cli();
    throw new CliError(`no bridge answers at ${t.url}`, EXIT.UNAVAILABLE);
  }
  return null;
}

type DeviceRow = { id: string; link: string; address: string; paired: boolean; healthy: boolean; firmwareVersion: number; firmwareState?: string; datasetVersion: number; datasetState: string; rulesVersion?: number | null; rulesCurrent?: boolean; lastError?: string };

function deviceRows(devices: Array<DeviceRow & { links?: { link: string; address: string }[] }>): string[][] {
  const rows = [['ID', 'LINK', 'ADDRESS', 'PAIRED', 'FIRMWARE', 'RULES', 'DATASET', 'STATE', 'HEALTH']];
  for (const d of devices) {
    for (const l of d.links?.length ? d.links : [{ link: d.link, address: d.address }]) {
      rows.push([
        d.id,
        l.link,
        l.address,
        d.paired ? 'yes' : 'no',
        `${d.firmwareVersion}${d.firmwareState === 'trial' ? ' (trial)' : ''}`,
        // "old": the device decides by other rules than the service (update its firmware)
        `${d.rulesVersion == null ? 'none' : `v${d.rulesVersion}`}${d.rulesCurrent === false ? ' (old)' : ''}`,
        d.datasetVersion === 0 ? '-' : `v${d.datasetVersion}`,
        d.datasetState,
        d.healthy ? 'ok' : (d.lastError ?? 'unhealthy'),
      ]);
    }
  }
  return rows;
}

function withTarget(cmd: Command): Command {
  return cmd
    .option('--url <url>', 'bridge URL (default: $PRECHECK_BRIDGE_URL, the run file of a running `precheck up`, the config\'s listen address)')
    .option('--token <token>', 'bridge bearer token (default $PRECHECK_BRIDGE_TOKEN, else the bridge config)')
    .option('--data <dir>', 'data dir of a running `precheck up` (default $PRECHECK_DATA or ./.precheck)')
    .option('--local', 'open the configured links in this process even if a bridge runs (fails on links it holds)');
}

async function cli() {
  return import('../../errors/cli-exit.ts');
}

/** Open config, pin store and registry; run `fn`; always stop the registry. */
async function withRegistry<T>(o: CommonOptions, fn: (r: import('../discovery/registry.ts').DeviceRegistryImpl, pins: import('./pin-store.ts').PinStore) => Promise<T>): Promise<T> {
  const { loadConfig } = await import('../config.ts');
  const { PinStore } = await import('./pin-store.ts');
  const { createDeviceRegistry } = await import('../discovery/registry.ts');
  const config = loadConfig({ file: o.config });
  const pins = PinStore.open(config.dataDir);
  const registry = createDeviceRegistry(config, pins, {
    statusIntervalMs: 0,
    reconnectMs: 0,
    onSecurityEvent: (l) => process.stderr.write(`${l}\n`),
  });
  await registry.start();
  try {
    return await fn(registry, pins);
  } finally {
    await registry.stop();
  }
}

function table(rows: string[][]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) => r.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd()).join('\n');
}

async function askYesNo(question: string): Promise<boolean> {
  const readline = await import('node:readline');
  const rl = readline.createInterface({ input: process.stdin, output: process.stderr });
  try {
    const answer = await new Promise<string | null>((resolve) => {
      rl.once('close', () => resolve(null));
      rl.question(question, (a) => resolve(a));
    });
    return answer !== null && /^\s*y(es)?\s*$/i.test(answer);
  } finally {
    rl.close();
  }
}

export function registerSessionCommands(program: Command): void {
  withTarget(
    program
      .command('devices')
      .description('List verifier devices (id, link, address, paired, firmware, dataset): from the running bridge, else on every configured link')
      .option('-c, --config <file>', 'bridge JSON config file (PRECHECK_* environment variables override it)')
      .option('--json', 'print JSON'),
  ).action(async (o: CommonOptions & { json?: boolean }) => {
      const bridge = await runningBridge(o);
      if (bridge) {
        const { callUrl } = await import('../cli.ts');
        const r = (await callUrl(bridge.url, bridge.token, 'GET', '/v1/devices', undefined, bridge.source)) as { devices: DeviceRow[] };
        if (o.json) {
          process.stdout.write(`${JSON.stringify({ bridge: bridge.url, devices: r.devices }, null, 2)}\n`);
          return;
        }
        process.stdout.write(r.devices.length === 0 ? `no devices found (bridge ${bridge.url})\n` : `${table(deviceRows(r.devices))}\n`);
        return;
      }
      await withRegistry(o, async (registry, pins) => {
        const links = registry.links();
        const rules = new RulesReference();
        const devices = registry.clients().map((c) => {
          const s = c.summary();
          return { ...s, rulesCurrent: rules.current(s.rulesVersion), links: links.filter((l) => l.id === s.id).map((l) => ({ link: l.link, address: l.address })) };
        });
        const found = new Set(devices.map((d) => d.id));
        const absent = pins.list().filter((p) => !found.has(p.deviceId)).map((p) => ({ id: p.deviceId, link: p.link, address: p.address, pairedAt: p.pairedAt }));
        const sources = registry.sources();
        if (o.json) {
          process.stdout.write(`${JSON.stringify({ devices, pairedButAbsent: absent, sources }, null, 2)}\n`);
          return;
        }
        if (devices.length === 0) process.stdout.write('no devices found\n');
        else process.stdout.write(`${table(deviceRows(devices))}\n`);
        for (const a of absent) process.stdout.write(`paired but not found: ${a.id} (last seen on ${a.address})\n`);
        for (const s of sources) {
          if (s.state !== 'connected') process.stdout.write(`${s.kind} ${s.target}: ${s.state}${s.code ? ` (${s.code}${s.message ? `: ${s.message}` : ''})` : ''}\n`);
        }
      });
    });

  withTarget(
    program
      .command('pair')
      .description('Pair this host with a device: compare the six-digit code shown on both, then pin the device key (through the running bridge when there is one)')
      .argument('<device>', 'device id (see `precheck devices`) or link address')
      .option('-c, --config <file>', 'bridge JSON config file (PRECHECK_* environment variables override it)')
      .option('-y, --yes', 'accept the code without asking (only when you can see both screens)'),
  ).action(async (device: string, o: CommonOptions & { yes?: boolean }) => {
      const { CliError, EXIT } = await cli();
      const bridge = await runningBridge(o);
      if (bridge) {
        const { callUrl } = await import('../cli.ts');
        const list = (await callUrl(bridge.url, bridge.token, 'GET', '/v1/devices', undefined, bridge.source)) as { devices: DeviceRow[] };
        const d = list.devices.find((x) => x.id === device || x.address === device);
        if (!d) throw new CliError(`no device "${device}" found by the bridge at ${bridge.url} (devices found: ${list.devices.map((x) => x.id).join(', ') || 'none'})`, EXIT.UNAVAILABLE);
        const url = `/v1/devices/${encodeURIComponent(d.id)}/pair`;
        const step = (await callUrl(bridge.url, bridge.token, 'POST', url, undefined, bridge.source, 60_000)) as { status: string; code?: string };
        if (step.status === 'paired') {
          process.stdout.write(`${d.id} is already paired with this bridge\n`);
          return;
        }
        process.stdout.write(`Pairing code: ${step.code}\n`);
        const ok = o.yes ? true : await askYesNo('Does the device show the same code? [y/N] ');
        const done = (await callUrl(bridge.url, bridge.token, 'POST', url, ok ? { confirm: true, code: step.code } : { confirm: false }, bridge.source, 60_000)) as { status: string };
        if (!ok) throw new CliError(`pairing ${d.id} cancelled: the codes were not confirmed`, EXIT.REFUSED);
        if (done.status !== 'paired') throw new CliError(`pairing ${d.id} did not complete (${done.status})`, EXIT.REFUSED);
        process.stdout.write(`paired ${d.id} (${d.link} ${d.address}) through the bridge at ${bridge.url}\n`);
        return;
      }
      await withRegistry(o, async (registry) => {
        const id = registry.get(device)?.id ?? registry.links().find((l) => l.address === device)?.id;
        if (!id) {
          const known = registry.clients().map((c) => c.id).join(', ') || 'none';
          throw new CliError(`no device "${device}" found (devices found: ${known})`, EXIT.UNAVAILABLE);
        }
        const summary = await registry.pair(id, async (code) => {
          process.stdout.write(`Pairing code: ${code}\n`);
          if (o.yes) return true;
          return askYesNo('Does the device show the same code? [y/N] ');
        });
        process.stdout.write(`paired ${summary.id} (${summary.link} ${summary.address})\n`);
      });
    });
}
