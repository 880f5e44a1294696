// `precheck devices` and `precheck pair DEVICE`: talk to the devices directly (not through a
// running bridge), so they work before the bridge is set up. A running bridge holds its serial
// ports; stop it first (or use its `GET /v1/devices` and `POST /v1/devices/{id}/pair`).
// Only commander types at top level; the rest loads inside the actions.
import type { Command } from 'commander';

interface CommonOptions {
  config?: string;
}

async function cli() {
  return import('../../bin/cli.ts');
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
  program
    .command('devices')
    .description('List verifier devices on every configured link (id, link, address, paired, firmware, dataset)')
    .option('-c, --config <file>', 'bridge JSON config file (PRECHECK_* environment variables override it)')
    .option('--json', 'print JSON')
    .action(async (o: CommonOptions & { json?: boolean }) => {
      await withRegistry(o, async (registry, pins) => {
        const links = registry.links();
        const devices = registry.clients().map((c) => {
          const s = c.summary();
          return { ...s, links: links.filter((l) => l.id === s.id).map((l) => ({ link: l.link, address: l.address })) };
        });
        const found = new Set(devices.map((d) => d.id));
        const absent = pins.list().filter((p) => !found.has(p.deviceId)).map((p) => ({ id: p.deviceId, link: p.link, address: p.address, pairedAt: p.pairedAt }));
        const sources = registry.sources();
        if (o.json) {
          process.stdout.write(`${JSON.stringify({ devices, pairedButAbsent: absent, sources }, null, 2)}\n`);
          return;
        }
        if (devices.length === 0) process.stdout.write('no devices found\n');
        else {
          const rows = [['ID', 'LINK', 'ADDRESS', 'PAIRED', 'FIRMWARE', 'DATASET', 'STATE', 'HEALTH']];
          for (const d of devices) {
            for (const l of d.links.length ? d.links : [{ link: d.link, address: d.address }]) {
              rows.push([
                d.id,
                l.link,
                l.address,
                d.paired ? 'yes' : 'no',
                `${d.firmwareVersion}${d.firmwareState === 'trial' ? ' (trial)' : ''}`,
                d.datasetVersion === 0 ? '-' : `v${d.datasetVersion}`,
                d.datasetState,
                d.healthy ? 'ok' : (d.lastError ?? 'unhealthy'),
              ]);
            }
          }
          process.stdout.write(`${table(rows)}\n`);
        }
        for (const a of absent) process.stdout.write(`paired but not found: ${a.id} (last seen on ${a.address})\n`);
        for (const s of sources) {
          if (s.state !== 'connected') process.stdout.write(`${s.kind} ${s.target}: ${s.state}${s.code ? ` (${s.code}${s.message ? `: ${s.message}` : ''})` : ''}\n`);
        }
      });
    });

  program
    .command('pair')
    .description('Pair this host with a device: compare the six-digit code shown on both, then pin the device key')
    .argument('<device>', 'device id (see `precheck devices`) or link address')
    .option('-c, --config <file>', 'bridge JSON config file (PRECHECK_* environment variables override it)')
    .option('-y, --yes', 'accept the code without asking (only when you can see both screens)')
    .action(async (device: string, o: CommonOptions & { yes?: boolean }) => {
      const { CliError, EXIT } = await cli();
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
