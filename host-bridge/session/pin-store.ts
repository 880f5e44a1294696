// The bridge's pairing memory: its own X25519 static key pair and, per device id, the device
// static key pinned at pairing. One small JSON file (`pins.json`, mode 0600, directory 0700)
// written atomically (temp file + rename), so a crash never leaves half a file. JSON rather
// than SQLite: a handful of records, read at start, written only when pairing changes.

import fs from 'node:fs';
import path from 'node:path';
import { ProtocolError } from '../../protocol/errors.ts';
import { generateStaticKeyPair, type StaticKeyPair } from '../../protocol/secure/index.ts';
import { toUnixSeconds } from '../../runtime/clock.ts';

export const PIN_FILE = 'pins.json';
const FORMAT = 1;

export interface PinnedDevice {
  deviceId: string;
  /** The device's X25519 static public key (32 bytes). */
  staticKey: Uint8Array;
  link: string;
  address: string;
  /** Unix seconds. */
  pairedAt: number;
}

interface FileShape {
  format: number;
  host: { publicKey: string; privateKey: string };
  devices: Record<string, { staticKey: string; link: string; address: string; pairedAt: number }>;
}

const HEX32 = /^[0-9a-f]{64}$/;

function fromHex(s: unknown, what: string): Uint8Array {
  if (typeof s !== 'string' || !HEX32.test(s)) throw new ProtocolError('MALFORMED', `pin store: ${what} is not 32 hex bytes`);
  return new Uint8Array(Buffer.from(s, 'hex'));
}
const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

export class PinStore {
  readonly file: string;
  private host: StaticKeyPair;
  private readonly devices = new Map<string, PinnedDevice>();

  private constructor(file: string, host: StaticKeyPair) {
    this.file = file;
    this.host = host;
  }

  /** Open (or create, with a fresh host key pair) the pin store in `dataDir`. */
  static open(dataDir: string): PinStore {
    fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    const file = path.join(dataDir, PIN_FILE);
    let text: string | null = null;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
    if (text === null) {
      const store = new PinStore(file, generateStaticKeyPair());
      store.save();
      return store;
    }
    let raw: FileShape;
    try {
      raw = JSON.parse(text) as FileShape;
    } catch {
      throw new ProtocolError('MALFORMED', `pin store ${file} is not valid JSON`);
    }
    if (!raw || raw.format !== FORMAT || typeof raw.host !== 'object' || typeof raw.devices !== 'object') {
      throw new ProtocolError('MALFORMED', `pin store ${file} has an unknown format`);
    }
    const store = new PinStore(file, {
      publicKey: fromHex(raw.host.publicKey, 'host public key'),
      privateKey: fromHex(raw.host.privateKey, 'host private key'),
    });
    for (const [deviceId, d] of Object.entries(raw.devices)) {
      store.devices.set(deviceId, {
        deviceId,
        staticKey: fromHex(d.staticKey, `static key of ${deviceId}`),
        link: String(d.link),
        address: String(d.address),
        pairedAt: Number(d.pairedAt) || 0,
      });
    }
    // Tighten permissions of a file created by hand or by an older version.
    fs.chmodSync(file, 0o600);
    return store;
  }

  /** The host's own static key pair (the private half never leaves this file). */
  hostKeyPair(): StaticKeyPair {
    return { publicKey: Uint8Array.from(this.host.publicKey), privateKey: Uint8Array.from(this.host.privateKey) };
  }

  get(deviceId: string): PinnedDevice | undefined {
    const d = this.devices.get(deviceId);
    return d && { ...d, staticKey: Uint8Array.from(d.staticKey) };
  }

  isPinned(deviceId: string): boolean {
    return this.devices.has(deviceId);
  }

  list(): PinnedDevice[] {
    return [...this.devices.keys()].map((id) => this.get(id)!);
  }

  pin(deviceId: string, d: { staticKey: Uint8Array; link: string; address: string; pairedAt?: number }): PinnedDevice {
    if (!(d.staticKey instanceof Uint8Array) || d.staticKey.length !== 32) throw new ProtocolError('INVALID_FIELD', 'device static key must be 32 bytes');
    const rec: PinnedDevice = {
      deviceId,
      staticKey: Uint8Array.from(d.staticKey),
      link: d.link,
      address: d.address,
      pairedAt: d.pairedAt ?? toUnixSeconds(Date.now()),
    };
    this.devices.set(deviceId, rec);
    this.save();
    return this.get(deviceId)!;
  }

  /** Forget a device. True when it was pinned. */
  unpin(deviceId: string): boolean {
    const had = this.devices.delete(deviceId);
    if (had) this.save();
    return had;
  }

  /** Re-read the file (another process, e.g. `precheck pair`, may have pinned a device). */
  reload(): void {
    const fresh = PinStore.open(path.dirname(this.file));
    this.host = fresh.host;
    this.devices.clear();
    for (const [k, v] of fresh.devices) this.devices.set(k, v);
  }

  private save(): void {
    const out: FileShape = {
      format: FORMAT,
      host: { publicKey: toHex(this.host.publicKey), privateKey: toHex(this.host.privateKey) },
      devices: Object.fromEntries(
        [...this.devices.values()].map((d) => [d.deviceId, { staticKey: toHex(d.staticKey), link: d.link, address: d.address, pairedAt: d.pairedAt }]),
      ),
    };
    const tmp = `${this.file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, `${JSON.stringify(out, null, 2)}\n`, { mode: 0o600 });
    fs.renameSync(tmp, this.file);
  }
}
