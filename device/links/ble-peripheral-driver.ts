// BLE link driver (device side): a GATT peripheral through @abandonware/bleno, serving the
// Precheck service (protocol/framing/ble.ts UUIDs): control point (write), status (notify),
// control point length (read), service revision (read). Fragments go through BleEndpoint, the
// same code the BLE cable server uses.
//
// bleno is loaded lazily inside start(): loading it opens an HCI socket, which throws
// EAFNOSUPPORT on a machine without Bluetooth. That — or an adapter that never reaches
// 'poweredOn' — is reported as LinkUnavailableError('BLUETOOTH_UNAVAILABLE'), never a crash.
// bleno serves one central at a time; that central is one LinkConnection.

import { EventEmitter } from 'node:events';
import { ProtocolError } from '../../protocol/errors.ts';
import {
  BLE_ATT_HEADER,
  BLE_MAX_FRAME,
  BLE_MIN_FRAME,
  PRECHECK_BLE_CONTROL_POINT_LENGTH_UUID,
  PRECHECK_BLE_CONTROL_POINT_UUID,
  PRECHECK_BLE_SERVICE_REVISION_UUID,
  PRECHECK_BLE_SERVICE_UUID,
  PRECHECK_BLE_STATUS_UUID,
  bleUuidCompact,
  encodeControlPointLength,
  encodeServiceRevision,
} from '../../protocol/framing/ble.ts';
import { BleEndpoint, type BleEndpointOptions } from './ble-endpoint.ts';
import { LinkUnavailableError, describeCause } from '../../link-io/link-errors.ts';
import { DriverConnection, nextDriverTag } from './connection.ts';
import type { LinkDriver, MessageHandler, RejectedFrame } from './types.ts';

type Bleno = typeof import('@abandonware/bleno');

export interface BlePeripheralDriverOptions {
  /** Advertised local name (default "Precheck"). */
  name?: string;
  /** Control point length (20..512, default 244). */
  frameLength?: number;
  handler: MessageHandler;
  onRejectedFrame?: (info: RejectedFrame) => void;
  /** How long to wait for the adapter to power on (ms, default 5000). */
  powerOnTimeoutMs?: number;
  endpoint?: Pick<BleEndpointOptions, 'keepaliveMs' | 'reassemblyTimeoutMs' | 'maxMessageSize'>;
}

/** Load bleno once; BLUETOOTH_UNAVAILABLE when the OS has no Bluetooth (EAFNOSUPPORT). */
export async function loadBleno(): Promise<Bleno> {
  try {
    const mod = (await import('@abandonware/bleno')) as Bleno & { default?: Bleno };
    return mod.default ?? mod;
  } catch (e) {
    throw new LinkUnavailableError('BLUETOOTH_UNAVAILABLE', `Bluetooth unavailable: ${describeCause(e)}`, e);
  }
}

/** Events: 'accept' (LinkConnection), 'disconnect' (LinkConnection). */
export class BlePeripheralDriver extends EventEmitter implements LinkDriver {
  readonly link = 'ble' as const;
  private bleno: Bleno | null = null;
  private active: { conn: DriverConnection; ep: BleEndpoint } | null = null;
  private notifyCb: ((d: Buffer) => void) | null = null;
  private mtu = 23;
  private readonly tag = nextDriverTag('ble');
  private count = 0;
  private readonly frameLength: number;

  constructor(private readonly opts: BlePeripheralDriverOptions) {
    super();
    this.frameLength = opts.frameLength ?? 244;
    if (!Number.isInteger(this.frameLength) || this.frameLength < BLE_MIN_FRAME || this.frameLength > BLE_MAX_FRAME) {
      throw new ProtocolError('INVALID_FIELD', `BLE frame length must be ${BLE_MIN_FRAME}..${BLE_MAX_FRAME}`, String(this.frameLength));
    }
  }

  async start(): Promise<void> {
    const bleno = await loadBleno();
    this.bleno = bleno;
    await this.waitPoweredOn(bleno, this.opts.powerOnTimeoutMs ?? 5000);
    const C = bleno.Characteristic;
    const controlPoint = new C({
      uuid: bleUuidCompact(PRECHECK_BLE_CONTROL_POINT_UUID),
      properties: ['write'],
      onWriteRequest: (data, offset, _withoutResponse, callback) => {
        if (offset !== 0) return callback(C.RESULT_ATTR_NOT_LONG);
        if (!this.active) return callback(C.RESULT_UNLIKELY_ERROR);
        callback(C.RESULT_SUCCESS);
        this.active.ep.write(new Uint8Array(data));
      },
    });
    const status = new C({
      uuid: bleUuidCompact(PRECHECK_BLE_STATUS_UUID),
      properties: ['notify'],
      onSubscribe: (_max, update) => {
        this.notifyCb = update;
      },
      onUnsubscribe: () => {
        this.notifyCb = null;
      },
    });
    const readOnly = (uuid: string, value: Uint8Array) =>
      new C({
        uuid: bleUuidCompact(uuid),
        properties: ['read'],
        onReadRequest: (offset, callback) => callback(C.RESULT_SUCCESS, Buffer.from(value).subarray(offset)),
      });
    const service = new bleno.PrimaryService({
      uuid: bleUuidCompact(PRECHECK_BLE_SERVICE_UUID),
      characteristics: [
        controlPoint,
        status,
        readOnly(PRECHECK_BLE_CONTROL_POINT_LENGTH_UUID, encodeControlPointLength(this.frameLength)),
        readOnly(PRECHECK_BLE_SERVICE_REVISION_UUID, encodeServiceRevision()),
      ],
    });
    await new Promise<void>((resolve, reject) =>
      bleno.setServices([service], (err?: Error | null) => (err ? reject(new LinkUnavailableError('BLUETOOTH_UNAVAILABLE', describeCause(err), err)) : resolve())),
    );
    bleno.on('accept', (address: string) => this.onAccept(address));
    bleno.on('disconnect', () => this.onDisconnect());
    bleno.on('mtuChange', (mtu: number) => {
      this.mtu = mtu;
    });
    await new Promise<void>((resolve, reject) =>
      bleno.startAdvertising(this.opts.name ?? 'Precheck', [bleUuidCompact(PRECHECK_BLE_SERVICE_UUID)], (err?: Error | null) =>
        err ? reject(new LinkUnavailableError('BLUETOOTH_UNAVAILABLE', describeCause(err), err)) : resolve(),
      ),
    );
  }

  async close(): Promise<void> {
    this.onDisconnect();
    const b = this.bleno;
    this.bleno = null;
    if (!b) return;
    try {
      b.stopAdvertising();
      b.disconnect();
      b.removeAllListeners();
    } catch {
      // the adapter may already be gone
    }
  }

  private waitPoweredOn(bleno: Bleno, timeoutMs: number): Promise<void> {
    if (bleno.state === 'poweredOn') return Promise.resolve();
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        bleno.removeListener('stateChange', onState);
        reject(new LinkUnavailableError('BLUETOOTH_UNAVAILABLE', `Bluetooth adapter not powered on (state ${bleno.state})`));
      }, timeoutMs);
      const onState = (state: string): void => {
        if (state === 'poweredOn') {
          clearTimeout(t);
          bleno.removeListener('stateChange', onState);
          resolve();
        } else if (state === 'unsupported' || state === 'unauthorized') {
          clearTimeout(t);
          bleno.removeListener('stateChange', onState);
          reject(new LinkUnavailableError('BLUETOOTH_UNAVAILABLE', `Bluetooth adapter ${state}`));
        }
      };
      bleno.on('stateChange', onState);
    });
  }

  private onAccept(address: string): void {
    this.onDisconnect();
    const conn = new DriverConnection(`${this.tag}:${++this.count}:${address}`, 'ble');
    const ep = new BleEndpoint({
      ...this.opts.endpoint,
      link: 'ble',
      conn,
      controlPointLength: this.frameLength,
      // Notifications carry at most ATT MTU − 3 bytes.
      notifyFrameLength: () => Math.max(BLE_MIN_FRAME, Math.min(this.mtu - BLE_ATT_HEADER, BLE_MAX_FRAME)),
      notify: async (f) => {
        this.notifyCb?.(Buffer.from(f));
      },
      handler: this.opts.handler,
      onRejectedFrame: this.opts.onRejectedFrame,
    });
    this.active = { conn, ep };
    this.emit('accept', conn);
  }

  private onDisconnect(): void {
    const a = this.active;
    this.active = null;
    this.notifyCb = null;
    this.mtu = 23;
    if (a) {
      a.ep.close();
      this.emit('disconnect', a.conn);
    }
  }
}
