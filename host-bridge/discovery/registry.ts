// The bridge's device registry: finds devices on every configured link, keeps one
// SecureDeviceClient per device id, tracks health, and reconnects links that come back.
//
// Sources (from BridgeConfig.devices):
//   rs485.ports    open the bus, scan the address range (Modbus function 0x04), INFO each device;
//                  addresses that did not answer are probed again in the background with backoff
//                  (address-rescan.ts), so a device powered on later is found without a restart
//   cables         HID cable and BLE cable unix sockets (the emulator's virtual cables);
//                  reconnected every `reconnectMs` while absent
//   usb            HID devices by VID/PID, re-enumerated every `reconnectMs` (hotplug)
//   ble            real BLE; an absent radio is the source state BLUETOOTH_UNAVAILABLE, not a crash
//
// One device may be reachable on several links (a module with RS485, USB and BLE; the emulator
// serves one device on both cables): the handle uses one transport and falls back to another
// live one when its link drops. Sessions are per link connection, so a switch re-opens the session.

import { EventEmitter } from 'node:events';
import { ProtocolError, asProtocolError } from '../../protocol/errors.ts';
import type { BridgeConfig } from '../config.ts';
import type { DeviceRegistry, DeviceSummary } from '../devices/types.ts';
import { pairDevice } from '../session/pairing.ts';
import type { PinStore } from '../session/pin-store.ts';
import { SecureDeviceClient } from '../session/secure-client.ts';
import type { SessionTransport } from '../session/exchange.ts';
import { AddressRescanner, DEFAULT_RESCAN, type AddressRescanOptions } from './address-rescan.ts';
import { codeOf as codeOfError } from '../../errors/precheck-error.ts';

export interface RegistryLogger {
  info(msg: string): void;
  warn(msg: string): void;
  error(msg: string): void;
}

export type SourceKind = 'rs485' | 'hid-cable' | 'ble-cable' | 'usb' | 'ble';

export interface SourceState {
  kind: SourceKind;
  /** Port path, socket path, "vid:pid", "radio". */
  target: string;
  state: 'connected' | 'absent' | 'unavailable' | 'error';
  /** e.g. BLUETOOTH_UNAVAILABLE, DISCONNECTED, ENOENT. */
  code?: string;
  message?: string;
  devices: number;
}

export interface RegistryOptions {
  logger?: RegistryLogger;
  /** Per-request timeout for discovery and status (ms); default config.verify.deviceTimeoutMs. */
  requestTimeoutMs?: number;
  /** Status refresh period (ms); 0 disables (default 30 s). */
  statusIntervalMs?: number;
  /** Retry period for absent cables, USB re-enumeration and lost buses (ms, default 1000; 0 = never). */
  reconnectMs?: number;
  /**
   * Background rescan of configured RS485 addresses missing after the start-up scan: first probe
   * after minMs, doubling to maxMs, gapMs between probes (default 5 s → 60 s, 100 ms; minMs 0 = off).
   */
  rs485Rescan?: Partial<AddressRescanOptions>;
  /** Pairing: device-user wait and poll period. */
  pairing?: { confirmTimeoutMs?: number; pollIntervalMs?: number };
  onSecurityEvent?: (line: string) => void;
}

const NOOP_LOGGER: RegistryLogger = { info: () => undefined, warn: () => undefined, error: () => undefined };

interface Entry {
  client: SecureDeviceClient;
  /** Live transports reaching this device, in attach order. */
  links: SessionTransport[];
}

/**
 * Events: 'attached' (SecureDeviceClient), 'detached' (id), 'status' (DeviceSummary),
 * 'link-changed' (id, address) when a device continues on another of its links.
 */
export class DeviceRegistryImpl extends EventEmitter implements DeviceRegistry {
  private readonly entries = new Map<string, Entry>();
  private readonly sourcesByKey = new Map<string, SourceState>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly closers: (() => Promise<void>)[] = [];
  private readonly log: RegistryLogger;
  private readonly timeoutMs: number;
  private readonly reconnectMs: number;
  private readonly statusMs: number;
  private running = false;
  private statusTimer: NodeJS.Timeout | null = null;
  private readonly rescanners = new Set<AddressRescanner>();

  constructor(
    private readonly config: BridgeConfig,
    private readonly pins: PinStore,
    private readonly opts: RegistryOptions = {},
  ) {
    super();
    this.log = opts.logger ?? NOOP_LOGGER;
    this.timeoutMs = opts.requestTimeoutMs ?? config.verify.deviceTimeoutMs;
    this.reconnectMs = opts.reconnectMs ?? 1000;
    this.statusMs = opts.statusIntervalMs ?? 30_000;
  }

  // ---- DeviceRegistry -----------------------------------------------------------------------

  list(): SecureDeviceClient[] {
    return [...this.entries.values()].map((e) => e.client);
  }

  /** The concrete clients (sync job, CLI). */
  clients(): SecureDeviceClient[] {
    return [...this.entries.values()].map((e) => e.client);
  }

  get(id: string): SecureDeviceClient | undefined {
    return this.entries.get(id)?.client;
  }

  pick(): SecureDeviceClient | undefined {
    for (const e of this.entries.values()) {
      const s = e.client.summary();
      if (s.paired && s.healthy && e.links.length > 0) return e.client;
    }
    return undefined;
  }

  /** Every link a device was found on (id, link, address), for listings. */
  links(): { id: string; link: string; address: string; active: boolean }[] {
    const out: { id: string; link: string; address: string; active: boolean }[] = [];
    for (const [id, e] of this.entries) {
      for (const t of e.links) out.push({ id, link: t.link, address: t.address, active: t === e.client.currentTransport });
    }
    return out;
  }

  sources(): SourceState[] {
    return [...this.sourcesByKey.values()].map((s) => ({ ...s }));
  }

  async pair(id: string, confirm: (code: string) => Promise<boolean>): Promise<DeviceSummary> {
    const e = this.entries.get(id);
    if (!e) throw Object.assign(new Error(`no device with id "${id}"`), { code: 'DEVICE_NOT_FOUND' });
    if (e.links.length === 0) throw new ProtocolError('DISCONNECTED', `device ${id} is not reachable now`);
    const r = await pairDevice(e.client.currentTransport, (code) => confirm(code), {
      pinStore: this.pins,
      requestTimeoutMs: this.timeoutMs,
      confirmTimeoutMs: this.opts.pairing?.confirmTimeoutMs,
      pollIntervalMs: this.opts.pairing?.pollIntervalMs,
    });
    if (r.info.deviceId !== id) throw new ProtocolError('IDENTITY_MISMATCH', `paired device reports id ${r.info.deviceId}, expected ${id}`);
    e.client.clearMismatch();
    e.client.dropSession();
    this.log.info(`paired device ${id} over ${e.client.currentTransport.address}`);
    return e.client.refreshStatus();
  }

  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    const d = this.config.devices;
    const jobs: Promise<void>[] = [];
    for (const p of d.rs485.ports) jobs.push(this.startRs485(p.path, p.baud, p.addresses));
    if (d.cables.hidSocket) jobs.push(this.startCable('hid-cable', d.cables.hidSocket));
    if (d.cables.bleSocket) jobs.push(this.startCable('ble-cable', d.cables.bleSocket));
    if (d.usb) jobs.push(this.startUsb(d.usb.vid, d.usb.pid));
    if (d.ble.enabled) jobs.push(this.startBle());
    await Promise.all(jobs);
    if (this.statusMs > 0) {
      this.statusTimer = setInterval(() => void this.refreshAll(), this.statusMs);
      this.statusTimer.unref();
    }
  }

  async stop(): Promise<void> {
    this.running = false;
    if (this.statusTimer) clearInterval(this.statusTimer);
    for (const r of this.rescanners) r.stop();
    this.rescanners.clear();
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    for (const e of this.entries.values()) {
      for (const t of e.links) await Promise.resolve(t.close()).catch(() => undefined);
      e.links = [];
    }
    for (const c of this.closers.splice(0)) await c().catch(() => undefined);
  }

  /** Ask every reachable device for its status now. */
  async refreshAll(): Promise<DeviceSummary[]> {
    const out: DeviceSummary[] = [];
    for (const e of this.entries.values()) {
      if (e.links.length === 0) {
        out.push(e.client.summary());
        continue;
      }
      const s = await e.client.refreshStatus();
      out.push(s);
      this.emit('status', s);
    }
    return out;
  }

  // ---- attaching transports -----------------------------------------------------------------

  /**
   * Read INFO over a new transport and file it under the device id. Public so other discovery
   * paths (tests, a future mDNS) can add transports. Returns the handle, or undefined when the
   * device did not answer (the transport is closed).
   */
  async attach(t: SessionTransport, source?: SourceState): Promise<SecureDeviceClient | undefined> {
    const probe = new SecureDeviceClient({ transport: t, pinStore: this.pins, requestTimeoutMs: this.timeoutMs, onSecurityEvent: this.opts.onSecurityEvent });
    let info;
    try {
      info = await probe.info();
    } catch (e) {
      this.log.warn(`no INFO from ${t.address}: ${describe(e)}`);
      await Promise.resolve(t.close()).catch(() => undefined);
      return undefined;
    }
    const id = info.deviceId;
    let entry = this.entries.get(id);
    if (!entry) {
      entry = { client: probe, links: [] };
      this.entries.set(id, entry);
    } else {
      probe.release();
      if (!entry.links.includes(entry.client.currentTransport)) entry.client.replaceTransport(t);
    }
    entry.links.push(t);
    if (source) source.devices++;
    const e = entry;
    const onGone = (): void => {
      if (e.links.includes(t)) this.detach(id, e, t, source);
    };
    // A self-reconnecting transport (BLE) says 'reconnect' when its link is back.
    const onBack = (): void => {
      if (!this.running || e.links.includes(t)) return;
      e.links.push(t);
      if (source) source.devices++;
      if (!e.links.includes(e.client.currentTransport)) e.client.replaceTransport(t);
      void e.client.refreshStatus().then(() => this.emit('attached', e.client));
    };
    t.on?.('disconnect', onGone);
    t.on?.('reconnect', onBack);
    await e.client.refreshStatus();
    this.log.info(`device ${id} on ${t.address}${e.client.paired ? '' : ' (not paired)'}`);
    this.emit('attached', e.client);
    return e.client;
  }

  private detach(id: string, e: Entry, t: SessionTransport, source?: SourceState): void {
    e.links = e.links.filter((x) => x !== t);
    if (source) source.devices = Math.max(0, source.devices - 1);
    if (e.client.currentTransport === t) {
      e.client.dropSession();
      const next = e.links[0];
      if (next) {
        e.client.replaceTransport(next);
        this.log.info(`device ${id}: ${t.address} lost, continuing on ${next.address}`);
        this.emit('link-changed', id, next.address);
        return;
      }
    }
    if (e.links.length === 0) {
      this.log.warn(`device ${id} detached (${t.address})`);
      this.emit('detached', id);
    }
  }

  // ---- sources ------------------------------------------------------------------------------

  private source(kind: SourceKind, target: string): SourceState {
    const key = `${kind}:${target}`;
    let s = this.sourcesByKey.get(key);
    if (!s) {
      s = { kind, target, state: 'absent', devices: 0 };
      this.sourcesByKey.set(key, s);
    }
    return s;
  }

  private setState(s: SourceState, state: SourceState['state'], err?: unknown): void {
    s.state = state;
    if (err === undefined) {
      delete s.code;
      delete s.message;
    } else {
      s.code = codeOrProtocol(err);
      s.message = err instanceof Error ? err.message : String(err);
    }
  }

  private later(fn: () => void | Promise<void>, ms = this.reconnectMs): void {
    if (!this.running || ms <= 0) return;
    const t = setTimeout(() => {
      this.timers.delete(t);
      if (this.running) void fn();
    }, ms);
    t.unref();
    this.timers.add(t);
  }

  private async startCable(kind: 'hid-cable' | 'ble-cable', socketPath: string): Promise<void> {
    const s = this.source(kind, socketPath);
    let t: SessionTransport;
    try {
      t = await openCable(kind, socketPath, this.timeoutMs);
    } catch (e) {
      this.setState(s, 'absent', e);
      this.later(() => this.startCable(kind, socketPath));
      return;
    }
    if (!this.running) {
      await Promise.resolve(t.close()).catch(() => undefined);
      return;
    }
    this.setState(s, 'connected');
    t.on?.('disconnect', () => {
      this.setState(s, 'absent', new ProtocolError('DISCONNECTED', `${kind} ${socketPath} dropped`));
      this.later(() => this.startCable(kind, socketPath));
    });
    const client = await this.attach(t, s);
    if (!client) {
      this.setState(s, 'error', new ProtocolError('TIMEOUT', 'device did not answer INFO'));
      this.later(() => this.startCable(kind, socketPath));
    }
  }

  private async startRs485(path: string, baud: number, range: { from: number; to: number }): Promise<void> {
    const s = this.source('rs485', `${path}@${baud}`);
    let bus: import('../transports/rs485-bus.ts').Rs485Bus;
    try {
      const { Rs485Bus } = await import('../transports/rs485-bus.ts');
      bus = await Rs485Bus.open({ path, baud });
    } catch (e) {
      this.setState(s, 'unavailable', e);
      this.later(() => this.startRs485(path, baud, range));
      return;
    }
    if (!this.running) {
      await bus.close().catch(() => undefined);
      return;
    }
    this.closers.push(() => bus.close());
    this.setState(s, 'connected');
    bus.on('disconnect', (err: unknown) => {
      this.setState(s, 'absent', err);
      this.later(() => this.startRs485(path, baud, range));
    });
    let found: number[] = [];
    try {
      found = await bus.scan(range);
    } catch (e) {
      this.setState(s, 'error', e);
      return;
    }
    const missing = new Set<number>();
    for (let a = range.from; a <= range.to; a++) missing.add(a);
    for (const a of found) if (await this.attach(bus.device(a), s)) missing.delete(a);
    if (missing.size > 0 && this.running && !bus.disconnected) this.rescanRs485(bus, s, [...missing]);
  }

  /** Probe the configured-but-missing addresses of one bus until each answers (or the bus goes). */
  private rescanRs485(bus: import('../transports/rs485-bus.ts').Rs485Bus, s: SourceState, addresses: number[]): void {
    const opts = { ...DEFAULT_RESCAN, ...this.opts.rs485Rescan };
    if (opts.minMs <= 0) return;
    const rescanner = new AddressRescanner(
      addresses,
      async (a) => {
        if (!this.running || bus.disconnected) {
          stop();
          return false;
        }
        // One register read, one try: a verification to another address waits for one ADU at most.
        const answered = await bus.scan([a], { allowanceMs: 100 });
        if (answered.length === 0 || !this.running) return false;
        return (await this.attach(bus.device(a), s)) !== undefined;
      },
      opts,
      undefined,
      (a, foundNow) => {
        if (foundNow) this.log.info(`RS485 ${bus.path}: address ${a} answered the rescan`);
        if (rescanner.missing().length === 0) stop();
      },
    );
    const stop = (): void => {
      rescanner.stop();
      this.rescanners.delete(rescanner);
    };
    // A new bus (after a disconnect) gets a new scan and its own rescanner.
    bus.once('disconnect', stop);
    this.rescanners.add(rescanner);
    this.log.info(`RS485 ${bus.path}: rescanning ${addresses.length} silent address(es) in the background (${addresses.length <= 8 ? addresses.join(', ') : `${addresses[0]}..${addresses[addresses.length - 1]}`})`);
    rescanner.start();
  }

  /** RS485 addresses still being looked for, on every bus (diagnostics, tests). */
  rescanning(): number[] {
    return [...this.rescanners].flatMap((r) => r.missing()).sort((a, b) => a - b);
  }

  private async startUsb(vid: number, pid: number): Promise<void> {
    const s = this.source('usb', `${hex4(vid)}:${hex4(pid)}`);
    let mod: typeof import('../transports/hid-transport.ts');
    try {
      mod = await import('../transports/hid-transport.ts');
    } catch (e) {
      this.setState(s, 'unavailable', e);
      return;
    }
    const watcher = new mod.HidHotplugWatcher({ vid, pid, pollMs: this.reconnectMs > 0 ? Math.max(this.reconnectMs, 500) : undefined });
    const open = new Set<string>();
    watcher.on('attach', (d: { path: string }) => {
      if (open.has(d.path) || !this.running) return;
      open.add(d.path);
      void (async () => {
        try {
          const t = await mod.HidTransport.open({ path: d.path });
          t.once('disconnect', () => open.delete(d.path));
          this.setState(s, 'connected');
          if (!(await this.attach(t, s))) open.delete(d.path);
        } catch (e) {
          open.delete(d.path);
          this.log.warn(`USB HID ${d.path}: ${describe(e)}`);
        }
      })();
    });
    watcher.on('error', (e: unknown) => this.setState(s, 'unavailable', e));
    this.closers.push(async () => watcher.stop());
    try {
      const how = await watcher.start();
      if (s.state !== 'unavailable') this.setState(s, watcher.devices().length ? 'connected' : 'absent');
      this.log.info(`USB ${s.target}: watching by ${how}`);
    } catch (e) {
      this.setState(s, 'unavailable', e);
    }
  }

  private async startBle(): Promise<void> {
    const s = this.source('ble', 'radio');
    try {
      const { scanBle, BleTransport } = await import('../transports/ble-transport.ts');
      const found = await scanBle({ timeoutMs: Math.max(this.timeoutMs, 3000) });
      this.setState(s, 'connected');
      for (const p of found) {
        try {
          await this.attach(await BleTransport.open({ id: p.id }), s);
        } catch (e) {
          this.log.warn(`BLE ${p.address || p.id}: ${describe(e)}`);
        }
      }
    } catch (e) {
      // No radio (or no permission): a state to report, never a crash.
      this.setState(s, 'unavailable', e);
    }
  }
}

async function openCable(kind: 'hid-cable' | 'ble-cable', socketPath: string, timeoutMs: number): Promise<SessionTransport> {
  if (kind === 'hid-cable') {
    const { HidCableTransport } = await import('../transports/hid-cable-transport.ts');
    return HidCableTransport.open({ socketPath, connectTimeoutMs: timeoutMs });
  }
  const { BleCableTransport } = await import('../transports/ble-cable-transport.ts');
  return BleCableTransport.open({ socketPath, connectTimeoutMs: timeoutMs });
}

function codeOrProtocol(e: unknown): string {
  return codeOfError(e) ?? asProtocolError(e).code;
}

function describe(e: unknown): string {
  return `${codeOrProtocol(e)}: ${e instanceof Error ? e.message : String(e)}`;
}

const hex4 = (n: number): string => n.toString(16).padStart(4, '0');

/** Build the registry for a bridge config and its pin store. */
export function createDeviceRegistry(config: BridgeConfig, pinStore: PinStore, opts: RegistryOptions = {}): DeviceRegistryImpl {
  return new DeviceRegistryImpl(config, pinStore, opts);
}
