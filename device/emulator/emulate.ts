// `precheck device emulate`: the real device firmware (DeviceCore + SessionDispatcher) behind
// real or virtual links on a machine without the hardware:
//   - RS485 on a serial port (a socat pty pair in tests), one device instance per slave address;
//   - USB HID reports over a unix-socket "virtual cable" (HidCableServer);
//   - BLE GATT writes/notifications over a unix-socket "virtual cable" (BleCableServer).
//
// Instances and data dirs: one device per RS485 address. With zero or one address the device
// lives in DIR; with several, address N lives in DIR/rs485-N (provisioned on first start from
// DIR's identity: same server signing keys and card key, its own device id and static key), and
// the HID and BLE cables serve the first address's device.
//
// Prints one line per fact on stdout so scripts can wait for them:
//   precheck-device: device <id> data <dir>
//   precheck-device: listening rs485 <path>@<baud> address <n> id <id>
//   precheck-device: listening hid-cable <socket> id <id>
//   precheck-device: listening ble-cable <socket> frame <n> id <id>
//   precheck-device: ready
//   precheck-device: PAIRING CODE <6 digits> device <id>
//   precheck-device: pairing <accepted|rejected> device <id>

import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { ProtocolError } from '../../protocol/errors.ts';
import type { LinkDriver } from '../links/types.ts';
import { SessionDispatcher } from '../session/dispatcher.ts';
import { openSessionCore, type OpenedCore } from '../session/core-adapter.ts';
import { isProvisioned, loadIdentity, provision } from '../core/identity.ts';
import type { NowMs } from '../../runtime/clock.ts';

export interface EmulateOptions {
  dataDir: string;
  rs485?: { path: string; baud: number; addresses: number[] };
  hidSocket?: string;
  bleSocket?: string;
  /** BLE frame length (ATT MTU - 3), default 185. */
  bleFrame?: number;
  /** Real hardware: a USB HID gadget node (/dev/hidgN, see device/usb-gadget). */
  hidGadget?: string;
  /** Real hardware: advertise on the BLE radio (bleno) under this name. */
  bleRadio?: string;
  /** Accept every pairing code on the device side (tests, `precheck up`). */
  autoConfirm?: boolean;
  maxHosts?: number;
  /** ISO 3166-1 alpha-2 country of the merchant; orders from another country are cross-border. Persisted. */
  merchantCountry?: string;
  /** Stand in for firmware running other decision rules: the rules version INFO_RES reports (null: none, firmware from before rules versions). */
  rulesVersion?: number | null;
  /** Where the status lines go (default stdout). */
  out?: (line: string) => void;
  /** Device wall clock, ms (runtime/clock.ts; the market simulator runs devices on its simulated clock). */
  now?: NowMs;
  /** Device-side confirmation when not auto-confirming (default: a `y` line on stdin). */
  ask?: (code: string, deviceId: string, signal: AbortSignal) => Promise<boolean>;
}

export interface EmulatedDevice {
  deviceId: string;
  dataDir: string;
  address?: number;
  dispatcher: SessionDispatcher;
  core: OpenedCore;
}

export interface RunningEmulator {
  devices: EmulatedDevice[];
  /** The running link drivers (tests close one to drop a link). */
  drivers: LinkDriver[];
  close(): Promise<void>;
}

const PREFIX = 'precheck-device:';

/** Data dir of each instance (see the header comment). */
export function instanceDirs(dataDir: string, addresses: number[]): { dir: string; address?: number }[] {
  if (addresses.length <= 1) return [{ dir: dataDir, address: addresses[0] }];
  return addresses.map((a) => ({ dir: path.join(dataDir, `rs485-${a}`), address: a }));
}

function provisionFromBase(baseDir: string, dir: string): void {
  if (isProvisioned(dir)) return;
  if (!isProvisioned(baseDir)) {
    throw new ProtocolError('INVALID_FIELD', `no device identity in ${baseDir}; run: precheck device provision --data ${baseDir} --server-key KEY`);
  }
  const base = loadIdentity(baseDir);
  provision(dir, { serverSigningPublicKey: base.trustedSigningKeys, cardKey: base.cardKey });
}

export async function startEmulator(opts: EmulateOptions): Promise<RunningEmulator> {
  const out = opts.out ?? ((l: string) => process.stdout.write(`${l}\n`));
  const addresses = opts.rs485?.addresses ?? [];
  if (opts.rs485 && addresses.length === 0) throw new ProtocolError('INVALID_FIELD', '--rs485 needs --address N[,N...]');
  if (!opts.rs485 && !opts.hidSocket && !opts.bleSocket && !opts.hidGadget && !opts.bleRadio) {
    throw new ProtocolError('INVALID_FIELD', 'nothing to listen on: give --rs485, --hid-socket, --ble-socket, --hid-gadget and/or --ble-radio');
  }
  if (!isProvisioned(opts.dataDir)) {
    throw new ProtocolError('INVALID_FIELD', `no device identity in ${opts.dataDir}; run: precheck device provision --data ${opts.dataDir} --server-key KEY`);
  }
  const ask: Ask = opts.ask ?? stdinAsk();
  const devices: EmulatedDevice[] = [];
  const drivers: LinkDriver[] = [];
  let closing: Promise<void> | null = null;

  const close = (): Promise<void> =>
    (closing ??= (async () => {
      for (const d of drivers.reverse()) await d.close().catch(() => undefined);
      for (const dev of devices) {
        dev.dispatcher.close();
        try {
          dev.core.close();
        } catch {
          // closing twice or a busy database: the process is ending anyway
        }
      }
      ask.close?.();
    })());

  try {
    for (const { dir, address } of instanceDirs(opts.dataDir, addresses)) {
      if (dir !== opts.dataDir) provisionFromBase(opts.dataDir, dir);
      const core = await openSessionCore(dir, {
        maxPairedHosts: opts.maxHosts,
        merchantCountry: opts.merchantCountry,
        now: opts.now,
        ...(opts.rulesVersion !== undefined ? { hooks: { rulesVersion: opts.rulesVersion } } : {}),
      });
      const deviceId = core.info().deviceId;
      const boot = core.core.bootResult;
      if (boot.rolledBack) out(`${PREFIX} firmware rolled back to ${boot.info.version} (${boot.reason}) device ${deviceId}`);
      // FW_COMMIT boots the new image on trial: the emulated device "reboots" right after its
      // answer is on its way (sessions are lost, the boot check runs), as the hardware would.
      const sessionCore: typeof core = Object.create(core, {
        fwCommit: {
          value: (v: number) => {
            const r = core.fwCommit(v);
            setImmediate(() => {
              out(`${PREFIX} rebooting into firmware ${v} (trial) device ${deviceId}`);
              dispatcher.resetSessions();
              const b = core.reboot();
              out(`${PREFIX} booted firmware ${b.info.version} (${b.info.state}${b.rolledBack ? `, rolled back: ${b.reason}` : ''}) device ${deviceId}`);
            });
            return r;
          },
        },
      });
      const dispatcher = new SessionDispatcher({
        core: sessionCore,
        maxPairedHosts: opts.maxHosts,
        confirmPairing: async (code, ctx) => {
          out(`${PREFIX} PAIRING CODE ${code} device ${deviceId}`);
          const ok = opts.autoConfirm ? true : await ask(code, deviceId, ctx.signal);
          out(`${PREFIX} pairing ${ctx.signal.aborted ? 'withdrawn' : ok ? 'accepted' : 'rejected'} device ${deviceId}`);
          return ok;
        },
        log: (l) => out(`${PREFIX} ${l} device ${deviceId}`),
      });
      devices.push({ deviceId, dataDir: dir, address, dispatcher, core });
      out(`${PREFIX} device ${deviceId} data ${dir}`);
    }

    const first = devices[0];
    if (opts.rs485) {
      const { Rs485SlaveDriver } = await import('../links/rs485-slave-driver.ts');
      const driver = new Rs485SlaveDriver({
        path: opts.rs485.path,
        baud: opts.rs485.baud,
        addresses: devices.map((d) => ({
          address: d.address!,
          handler: d.dispatcher.handle,
          statusProvider: () => d.dispatcher.statusRegisters(),
          onRejectedFrame: () => d.core.countRejectedFrame(),
        })),
      });
      await driver.start();
      drivers.push(driver);
      for (const d of devices) out(`${PREFIX} listening rs485 ${opts.rs485.path}@${opts.rs485.baud} address ${d.address} id ${d.deviceId}`);
    }
    if (opts.hidSocket) {
      const { HidCableServer } = await import('../links/hid-cable-server.ts');
      const driver = new HidCableServer({
        socketPath: opts.hidSocket,
        handler: first.dispatcher.handle,
        onRejectedFrame: () => first.core.countRejectedFrame(),
      });
      await driver.start();
      drivers.push(driver);
      out(`${PREFIX} listening hid-cable ${opts.hidSocket} id ${first.deviceId}`);
    }
    if (opts.bleSocket) {
      const frame = opts.bleFrame ?? 185;
      const mod = (await import('../links/ble-cable-server.ts')) as {
        BleCableServer: new (o: { socketPath: string; frameLength: number; handler: SessionDispatcher['handle']; onRejectedFrame?: () => void }) => LinkDriver;
      };
      const driver = new mod.BleCableServer({
        socketPath: opts.bleSocket,
        frameLength: frame,
        handler: first.dispatcher.handle,
        onRejectedFrame: () => first.core.countRejectedFrame(),
      });
      await driver.start();
      drivers.push(driver);
      out(`${PREFIX} listening ble-cable ${opts.bleSocket} frame ${frame} id ${first.deviceId}`);
    }
    if (opts.hidGadget) {
      const { HidGadgetDriver } = await import('../links/hid-gadget-driver.ts');
      const driver = new HidGadgetDriver({ path: opts.hidGadget, handler: first.dispatcher.handle, onRejectedFrame: () => first.core.countRejectedFrame() });
      await driver.start();
      drivers.push(driver);
      out(`${PREFIX} listening usb ${opts.hidGadget} id ${first.deviceId}`);
    }
    if (opts.bleRadio) {
      const { BlePeripheralDriver } = await import('../links/ble-peripheral-driver.ts');
      const driver = new BlePeripheralDriver({
        name: opts.bleRadio,
        frameLength: opts.bleFrame,
        handler: first.dispatcher.handle,
        onRejectedFrame: () => first.core.countRejectedFrame(),
      });
      await driver.start();
      drivers.push(driver);
      out(`${PREFIX} listening ble ${opts.bleRadio} id ${first.deviceId}`);
    }
  } catch (e) {
    await close();
    throw e;
  }
  out(`${PREFIX} ready`);
  return { devices, drivers, close };
}

type Ask = ((code: string, deviceId: string, signal: AbortSignal) => Promise<boolean>) & { close?: () => void };

/** Device-side confirmation from stdin: one line per code, `y`/`yes` accepts. */
function stdinAsk(): Ask {
  let rl: readline.Interface | null = null;
  let chain: Promise<unknown> = Promise.resolve();
  const lines: string[] = [];
  const waiters: ((l: string | null) => void)[] = [];
  let ended = false;
  const next = (signal: AbortSignal): Promise<string | null> => {
    if (lines.length) return Promise.resolve(lines.shift()!);
    if (ended || signal.aborted) return Promise.resolve(null);
    return new Promise((r) => {
      const w = (l: string | null): void => {
        signal.removeEventListener('abort', onAbort);
        r(l);
      };
      // A withdrawn question must not eat the answer meant for the next one.
      const onAbort = (): void => {
        const i = waiters.indexOf(w);
        if (i >= 0) waiters.splice(i, 1);
        r(null);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      waiters.push(w);
    });
  };
  const open = (): void => {
    if (rl) return;
    rl = readline.createInterface({ input: process.stdin });
    rl.on('line', (l) => {
      const w = waiters.shift();
      if (w) w(l);
      else lines.push(l);
    });
    rl.on('close', () => {
      ended = true;
      for (const w of waiters.splice(0)) w(null);
    });
  };
  const ask: Ask = (code, deviceId, signal) => {
    const run = chain.then(async () => {
      if (signal.aborted) return false;
      open();
      process.stdout.write(`${PREFIX} confirm pairing code ${code} on device ${deviceId}? [y/N]\n`);
      const l = await next(signal);
      return l !== null && /^\s*y(es)?\s*$/i.test(l);
    });
    chain = run.catch(() => undefined);
    return run;
  };
  ask.close = () => rl?.close();
  return ask;
}

/** Parse `PATH[:BAUD]` (default 115200). */
export function parseRs485Arg(v: string): { path: string; baud: number } {
  const m = /^(.+?)(?::(\d+))?$/.exec(v);
  if (!m) throw new ProtocolError('INVALID_FIELD', `--rs485 must be PATH[:BAUD], got ${v}`);
  const baud = m[2] ? Number(m[2]) : 115200;
  if (!Number.isInteger(baud) || baud < 300 || baud > 4_000_000) throw new ProtocolError('INVALID_FIELD', `--rs485 baud out of range: ${m[2]}`);
  return { path: m[1], baud };
}

/** Parse `N[,N...]` slave addresses (1..247, distinct). */
export function parseAddresses(v: string): number[] {
  const out: number[] = [];
  for (const part of v.split(',')) {
    const n = Number(part.trim());
    if (!Number.isInteger(n) || n < 1 || n > 247) throw new ProtocolError('INVALID_FIELD', `--address must be 1..247, got ${part}`);
    if (out.includes(n)) throw new ProtocolError('INVALID_FIELD', `--address ${n} given twice`);
    out.push(n);
  }
  return out;
}

/** Exists for `forget-host`: the data dirs of every instance under DIR. */
export function allInstanceDirs(dataDir: string): string[] {
  const dirs = [dataDir];
  try {
    for (const e of fs.readdirSync(dataDir)) if (/^rs485-\d+$/.test(e)) dirs.push(path.join(dataDir, e));
  } catch {
    // no dir: the caller reports it
  }
  return dirs.filter((d) => isProvisioned(d));
}
