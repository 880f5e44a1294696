// BLE transport (host side) through @abandonware/noble: scan for the Precheck service, connect
// with a timeout, read the control point length, subscribe to status notifications, negotiate
// the frame length (min(control point length, ATT MTU − 3)), then exchange fragments through
// BleChannelTransport — the same code as the BLE cable. Reconnects on link loss by default.
//
// noble is loaded lazily: loading it opens an HCI socket, which throws EAFNOSUPPORT where the OS
// has no Bluetooth; that, or an adapter that never powers on, is
// LinkUnavailableError('BLUETOOTH_UNAVAILABLE'), never a crash.

import { ProtocolError } from '../../protocol/errors.ts';
import {
  PRECHECK_BLE_CONTROL_POINT_LENGTH_UUID,
  PRECHECK_BLE_CONTROL_POINT_UUID,
  PRECHECK_BLE_SERVICE_UUID,
  PRECHECK_BLE_STATUS_UUID,
  bleUuidCompact,
  decodeControlPointLength,
  negotiateBleFrameLength,
} from '../../protocol/framing/ble.ts';
import { LinkUnavailableError, describeCause } from '../../link-io/link-errors.ts';
import { BleChannelTransport } from './ble-channel-transport.ts';
import { ReconnectingTransport } from './reconnecting-transport.ts';
import { PortEvents, type ReportPort } from './report-port.ts';
import type { MessageTransport } from './types.ts';

type Noble = typeof import('@abandonware/noble');
type Peripheral = import('@abandonware/noble').Peripheral;

export interface BlePeripheralInfo {
  id: string;
  address: string;
  name?: string;
  rssi: number;
}

let noblePromise: Promise<Noble> | null = null;

/** Load noble once and wait for the adapter; BLUETOOTH_UNAVAILABLE otherwise. */
export async function loadNoble(powerOnTimeoutMs = 5000): Promise<Noble> {
  noblePromise ??= (async () => {
    let noble: Noble;
    try {
      const mod = (await import('@abandonware/noble')) as Noble & { default?: Noble };
      noble = mod.default ?? mod;
    } catch (e) {
      throw new LinkUnavailableError('BLUETOOTH_UNAVAILABLE', `Bluetooth unavailable: ${describeCause(e)}`, e);
    }
    // The `state` getter (untyped) also initialises noble's bindings lazily.
    const state = (): string => (noble as unknown as { state: string }).state;
    if (state() !== 'poweredOn') {
      await new Promise<void>((resolve, reject) => {
        const t = setTimeout(() => {
          noble.removeListener('stateChange', on);
          reject(new LinkUnavailableError('BLUETOOTH_UNAVAILABLE', `Bluetooth adapter not powered on (state ${state()})`));
        }, powerOnTimeoutMs);
        const on = (s: string): void => {
          if (s !== 'poweredOn') return;
          clearTimeout(t);
          noble.removeListener('stateChange', on);
          resolve();
        };
        noble.on('stateChange', on);
      });
    }
    return noble;
  })().catch((e) => {
    noblePromise = null;
    throw e;
  });
  return noblePromise;
}

/** Peripherals advertising the Precheck service, seen within `timeoutMs`. */
export async function scanBle(opts: { timeoutMs?: number } = {}): Promise<BlePeripheralInfo[]> {
  const found = new Map<string, BlePeripheralInfo>();
  await scanFor(opts.timeoutMs ?? 5000, (p) => {
    found.set(p.id, { id: p.id, address: p.address, name: p.advertisement?.localName, rssi: p.rssi });
    return false;
  });
  return [...found.values()];
}

async function scanFor(timeoutMs: number, stopWhen: (p: Peripheral) => boolean): Promise<Peripheral | undefined> {
  const noble = await loadNoble();
  return new Promise<Peripheral | undefined>((resolve, reject) => {
    const finish = (p?: Peripheral): void => {
      clearTimeout(t);
      noble.removeListener('discover', onDiscover);
      noble.stopScanningAsync().catch(() => undefined).finally(() => resolve(p));
    };
    const onDiscover = (p: Peripheral): void => {
      if (stopWhen(p)) finish(p);
    };
    const t = setTimeout(() => finish(), timeoutMs);
    noble.on('discover', onDiscover);
    noble.startScanningAsync([bleUuidCompact(PRECHECK_BLE_SERVICE_UUID)], false).catch((e: unknown) => {
      clearTimeout(t);
      noble.removeListener('discover', onDiscover);
      reject(new LinkUnavailableError('BLUETOOTH_UNAVAILABLE', `BLE scan failed: ${describeCause(e)}`, e));
    });
  });
}

export interface BleTransportOptions {
  /** noble peripheral id or MAC address (as from scanBle). */
  id: string;
  scanTimeoutMs?: number;
  connectTimeoutMs?: number;
  reconnect?: boolean;
  maxMessageSize?: number;
}

async function connectOnce(opts: BleTransportOptions): Promise<BleChannelTransport> {
  const want = opts.id.toLowerCase();
  const p = await scanFor(opts.scanTimeoutMs ?? 10_000, (x) => x.id.toLowerCase() === want || x.address?.toLowerCase() === want);
  if (!p) throw new ProtocolError('DISCONNECTED', `BLE device ${opts.id} not found`);
  const connectMs = opts.connectTimeoutMs ?? 10_000;
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => {
      p.cancelConnect();
      reject(new ProtocolError('TIMEOUT', `BLE connect to ${opts.id} timed out after ${connectMs} ms`));
    }, connectMs);
    p.connectAsync().then(
      () => {
        clearTimeout(t);
        resolve();
      },
      (e: unknown) => {
        clearTimeout(t);
        reject(new ProtocolError('DISCONNECTED', `BLE connect to ${opts.id} failed: ${describeCause(e)}`));
      },
    );
  });
  try {
    const { characteristics } = await p.discoverSomeServicesAndCharacteristicsAsync(
      [bleUuidCompact(PRECHECK_BLE_SERVICE_UUID)],
      [PRECHECK_BLE_CONTROL_POINT_UUID, PRECHECK_BLE_STATUS_UUID, PRECHECK_BLE_CONTROL_POINT_LENGTH_UUID].map(bleUuidCompact),
    );
    const by = (u: string) => characteristics.find((c) => c.uuid === bleUuidCompact(u));
    const cp = by(PRECHECK_BLE_CONTROL_POINT_UUID);
    const status = by(PRECHECK_BLE_STATUS_UUID);
    const cpl = by(PRECHECK_BLE_CONTROL_POINT_LENGTH_UUID);
    if (!cp || !status || !cpl) throw new ProtocolError('UNSUPPORTED', `${opts.id} lacks the Precheck GATT characteristics`);
    const controlPointLength = decodeControlPointLength(new Uint8Array(await cpl.readAsync()));
    const events = new PortEvents();
    status.on('data', (d: Buffer) => events.data(new Uint8Array(d)));
    p.once('disconnect', () => events.closed(new Error('BLE link lost')));
    await status.subscribeAsync();
    const port: ReportPort = {
      write: async (f) => {
        try {
          await cp.writeAsync(Buffer.from(f), false);
        } catch (e) {
          throw new ProtocolError('DISCONNECTED', `BLE write failed: ${describeCause(e)}`);
        }
      },
      onData: (cb) => events.onData(cb),
      onClose: (cb) => events.onClose(cb),
      close: async () => {
        await p.disconnectAsync().catch(() => undefined);
      },
    };
    return new BleChannelTransport(port, {
      link: 'ble',
      address: `ble:${p.address || p.id}`,
      writeFrameLength: negotiateBleFrameLength(p.mtu ?? 23, controlPointLength),
      notifyFrameLength: Math.max(controlPointLength, Math.min((p.mtu ?? 23) - 3, 512)),
      maxMessageSize: opts.maxMessageSize,
    });
  } catch (e) {
    await p.disconnectAsync().catch(() => undefined);
    throw e;
  }
}

export const BleTransport = {
  async open(opts: BleTransportOptions): Promise<MessageTransport> {
    if (opts.reconnect === false) return connectOnce(opts);
    return ReconnectingTransport.open({ link: 'ble', address: `ble:${opts.id}`, connect: () => connectOnce(opts) });
  },
};
