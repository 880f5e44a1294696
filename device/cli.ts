// `precheck device ...`: provision a device data dir, run the emulator, forget a paired host.
// Only commander at top level; everything else loads inside the actions.
import type { Command } from 'commander';

interface EmulateCliOptions {
  data: string;
  rs485?: string;
  address?: string;
  hidSocket?: string;
  bleSocket?: string;
  bleFrame?: string;
  autoConfirm?: boolean;
  maxHosts?: string;
  merchantCountry?: string;
  rulesVersion?: string;
  hidGadget?: string;
  bleRadio?: string | boolean;
}

async function usage(message: string): Promise<never> {
  const { CliError, EXIT } = await import('../errors/cli-exit.ts');
  throw new CliError(message, EXIT.USAGE);
}

function intArg(v: string | undefined, name: string, min: number, max: number): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) throw Object.assign(new Error(`${name} must be an integer from ${min} to ${max}`), { code: 'INVALID_FIELD' });
  return n;
}

async function countryArg(v: string): Promise<string> {
  if (!/^[A-Z]{2}$/.test(v)) return usage('--merchant-country must be an ISO 3166-1 alpha-2 code such as US or CN');
  return v;
}

export function registerDeviceCommands(program: Command): void {
  const device = program.command('device').description('Verifier device: provisioning and the emulator');

  device
    .command('provision')
    .description(
      "Create a device identity (device id, Noise static key, card key, trusted server signing key) in DIR. The keys are the service's: fetched with --service URL --admin-key, or given with --server-key and --card-key; it refuses to run without them",
    )
    .requiredOption('--data <dir>', 'device data directory')
    .option('--service <url>', 'network service to fetch both keys from (GET /v1/admin/provisioning; needs the admin key)')
    .option('--admin-key <key|file>', "the service's admin key, or its admin.key file (default $PRECHECK_ADMIN_KEY); with --service")
    .option('--server-key <hex|file>', "the network service's Ed25519 dataset-signing public key (64 hex chars, or a file); without --service")
    .option('--card-key <hex|file>', "the service's card key (HMAC key for card tokens; 64 hex chars or a 32-byte file, the service's card.key); without --service")
    .option('--device-id <id>', 'device id, "pc-" + 12 hex characters (default: random)')
    .option('--if-missing', 'succeed without changes when DIR already holds an identity (for scripts that run on every start)')
    .action(async (o: { data: string; serverKey?: string; cardKey?: string; service?: string; adminKey?: string; deviceId?: string; ifMissing?: boolean }) => {
      const { provision, isProvisioned, loadIdentity } = await import('./core/identity.ts');
      if (o.ifMissing && isProvisioned(o.data)) {
        process.stdout.write(`precheck-device: already provisioned ${loadIdentity(o.data).deviceId} data ${o.data}\n`);
        return;
      }
      const { provisionKeys } = await import('./emulator/provision-keys.ts');
      const keys = await provisionKeys(o);
      const id = provision(o.data, { serverSigningPublicKey: keys.serverKey, cardKey: keys.cardKey, deviceId: o.deviceId });
      process.stdout.write(
        `precheck-device: provisioned ${id.deviceId} data ${o.data} static-key ${Buffer.from(id.staticKeyPair.publicKey).toString('hex')}\n`,
      );
      if (o.service) process.stderr.write(`precheck-device: keys from the network service at ${keys.source}\n`);
    });

  device
    .command('emulate')
    .description('Run the device firmware on this machine behind RS485 (serial/pty), HID-cable and BLE-cable links')
    .requiredOption('--data <dir>', 'device data directory (provisioned); several RS485 addresses use DIR/rs485-<addr>')
    .option('--rs485 <path[:baud]>', 'serial port for the RS485 link (e.g. /dev/pts/5:115200; default baud 115200)')
    .option('--address <n[,n...]>', 'Modbus slave address(es), one device instance each')
    .option('--hid-socket <path>', 'unix socket of the USB HID virtual cable')
    .option('--ble-socket <path>', 'unix socket of the BLE virtual cable')
    .option('--ble-frame <n>', 'BLE frame length in bytes (ATT MTU - 3)', '185')
    .option('--hid-gadget <path>', 'real hardware: USB HID gadget node, e.g. /dev/hidg0 (device/usb-gadget sets it up)')
    .option('--ble-radio [name]', 'real hardware: advertise on the Bluetooth radio (default name "Precheck")')
    .option('--auto-confirm', 'accept every pairing code on the device side (else type y on stdin)')
    .option('--max-hosts <n>', 'paired hosts allowed per device', '4')
    .option('--merchant-country <CC>', "merchant's country (ISO 3166-1 alpha-2); orders from elsewhere are cross-border (kept in the data dir)")
    .option('--rules-version <n|none>', 'report this decision rules version in INFO_RES (none: as firmware from before rules versions), to stand for a device still running older rules')
    .action(async (o: EmulateCliOptions) => {
      const { startEmulator, parseAddresses, parseRs485Arg } = await import('./emulator/emulate.ts');
      if (o.address && !o.rs485) await usage('--address needs --rs485');
      const rs485 = o.rs485 ? { ...parseRs485Arg(o.rs485), addresses: o.address ? parseAddresses(o.address) : [1] } : undefined;
      const emu = await startEmulator({
        dataDir: o.data,
        rs485,
        hidSocket: o.hidSocket,
        bleSocket: o.bleSocket,
        bleFrame: intArg(o.bleFrame, '--ble-frame', 20, 512),
        hidGadget: o.hidGadget,
        bleRadio: typeof o.bleRadio === 'string' ? o.bleRadio : o.bleRadio ? 'Precheck' : undefined,
        autoConfirm: o.autoConfirm === true,
        maxHosts: intArg(o.maxHosts, '--max-hosts', 1, 255),
        merchantCountry: o.merchantCountry === undefined ? undefined : await countryArg(o.merchantCountry),
        ...(o.rulesVersion === undefined ? {} : { rulesVersion: o.rulesVersion === 'none' ? null : intArg(o.rulesVersion, '--rules-version', 1, 0xffff) }),
      });
      await new Promise<void>((resolve) => {
        const stop = (sig: NodeJS.Signals): void => {
          process.stdout.write(`precheck-device: stopping (${sig})\n`);
          process.off('SIGTERM', stop);
          process.off('SIGINT', stop);
          void emu.close().finally(resolve);
        };
        process.on('SIGTERM', stop);
        process.on('SIGINT', stop);
      });
      process.stdout.write('precheck-device: stopped\n');
      // stdin (pairing prompts) may still hold the event loop open
      process.stdin.destroy();
    });

  device
    .command('forget-host')
    .description('Remove a paired host (its Noise static public key, 64 hex chars) from the device(s) in DIR')
    .requiredOption('--data <dir>', 'device data directory')
    .argument('<hostkey>', "the host's static public key, hex")
    .action(async (hostKey: string, o: { data: string }) => {
      if (!/^[0-9a-fA-F]{64}$/.test(hostKey)) await usage('HOSTKEY must be 64 hex characters');
      const { allInstanceDirs } = await import('./emulator/emulate.ts');
      const { openSessionCore } = await import('./session/core-adapter.ts');
      const dirs = allInstanceDirs(o.data);
      if (dirs.length === 0) await usage(`no provisioned device in ${o.data}`);
      const key = new Uint8Array(Buffer.from(hostKey, 'hex'));
      let removed = 0;
      for (const dir of dirs) {
        const core = await openSessionCore(dir);
        try {
          if (core.pairedHosts.remove(key)) {
            removed++;
            process.stdout.write(`precheck-device: forgot host ${hostKey.slice(0, 16)} on ${core.info().deviceId}\n`);
          }
        } finally {
          core.close();
        }
      }
      if (removed === 0) process.stdout.write('precheck-device: that host was not paired\n');
    });
}
