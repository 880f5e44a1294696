// The bridge config `precheck up` writes to <data>/bridge/config.json (mode 0600: it holds the
// bridge's API key for the service). An existing file is merged, not replaced: keys the user
// added (real RS485 ports, USB ids, BLE, fallback, schedule...) stay; `up` only owns the listen
// port, the data dir, the service URL, and the emulated links (which --no-emulate removes).
import fs from 'node:fs';
import path from 'node:path';
import { validateConfig } from '../../host-bridge/config.ts';
import { UpError } from './preflight.ts';

/** The sync schedule `precheck up` gives the bridge (the market simulator plays it on its clock). */
export const UP_SYNC_SCHEDULE = '*/15 * * * *';

type Obj = Record<string, any>;

export interface UpBridgeConfigInput {
  file: string;
  host: string;
  port: number;
  bridgeDataDir: string;
  serviceUrl: string;
  /** Used only when the file holds no key yet. */
  apiKey: () => Promise<string>;
  emulated: { rs485Path: string; baud: number; address: number; hidSocket: string } | null;
  /** Paths `up` uses for emulated links (removed from the file when not emulating). */
  ownPaths: { rs485Path: string; hidSocket: string };
}

export function readConfigFile(file: string): Obj | null {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new UpError(`cannot read ${file}: ${(e as NodeJS.ErrnoException).code}`, 2);
  }
  try {
    const v = JSON.parse(text);
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('not an object');
    return v as Obj;
  } catch (e) {
    throw new UpError(`${file} is not a JSON object (${(e as Error).message.split('\n')[0]}); fix or remove it`, 2);
  }
}

function obj(parent: Obj, key: string): Obj {
  if (typeof parent[key] !== 'object' || parent[key] === null || Array.isArray(parent[key])) parent[key] = {};
  return parent[key] as Obj;
}

/** Merge, validate with the bridge's own validator, write atomically; returns the raw object. */
export async function writeUpBridgeConfig(i: UpBridgeConfigInput): Promise<Obj> {
  const c: Obj = readConfigFile(i.file) ?? {};
  const listen = obj(c, 'listen');
  listen.host ??= i.host;
  listen.port = i.port;
  c.dataDir = i.bridgeDataDir;
  const network = obj(c, 'network');
  network.serviceUrl = i.serviceUrl;
  if (typeof network.apiKey !== 'string' || network.apiKey === '') network.apiKey = await i.apiKey();
  obj(c, 'merchant').country ??= 'DE';
  obj(c, 'sync').schedule ??= UP_SYNC_SCHEDULE;
  obj(c, 'log').level ??= 'info';

  const devices = obj(c, 'devices');
  const rs485 = obj(devices, 'rs485');
  const ports: Obj[] = Array.isArray(rs485.ports) ? rs485.ports.filter((p: Obj) => p?.path !== i.ownPaths.rs485Path) : [];
  const cables = obj(devices, 'cables');
  if (cables.hidSocket === i.ownPaths.hidSocket) delete cables.hidSocket;
  if (i.emulated) {
    ports.push({ path: i.emulated.rs485Path, baud: i.emulated.baud, addresses: { from: i.emulated.address, to: i.emulated.address } });
    cables.hidSocket = i.emulated.hidSocket;
  }
  rs485.ports = ports;

  try {
    validateConfig(c);
  } catch (e) {
    throw new UpError(`${i.file}: ${(e as Error).message}`, 2);
  }
  fs.mkdirSync(path.dirname(i.file), { recursive: true, mode: 0o700 });
  const tmp = `${i.file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, `${JSON.stringify(c, null, 2)}\n`, { mode: 0o600 });
  fs.renameSync(tmp, i.file);
  return c;
}

/** Device sections the user configured besides the emulated links (for the "real hardware" note). */
export function realDeviceSources(c: Obj, own: { rs485Path: string; hidSocket: string }): string[] {
  const out: string[] = [];
  const d = c.devices ?? {};
  for (const p of d.rs485?.ports ?? []) if (p?.path && p.path !== own.rs485Path) out.push(`rs485 ${p.path}`);
  if (d.usb?.vid !== undefined) out.push(`usb ${String(d.usb.vid)}:${String(d.usb.pid)}`);
  if (d.cables?.hidSocket && d.cables.hidSocket !== own.hidSocket) out.push(`hid-cable ${d.cables.hidSocket}`);
  if (d.cables?.bleSocket) out.push(`ble-cable ${d.cables.bleSocket}`);
  if (d.ble?.enabled === true || d.ble?.enabled === 'true') out.push('ble radio');
  return out;
}
