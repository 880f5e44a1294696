// The bridge's device registry: one SecureDeviceClient per device id, whatever links reach it.
// It knows no link: each configured target of each provider in links/table.ts is started with a
// context (attach, state, reconnect timers) and hands back the transports it opens. Its jobs
// beside that are split out: target states (source-states.ts), reconnect timers (reconnect.ts),
// status polling (status-poll.ts) and pairing (pair.ts).
//
// One device may be reachable on several links (a module with RS485, USB and BLE; the emulator
// serves one device on both cables): the handle uses one transport and falls back to another
// live one when its link drops. Sessions are per link connection, so a switch re-opens the session.

import { EventEmitter } from 'node:events';
import { ProtocolError } from '../../protocol/errors.ts';
import type { BridgeConfig } from '../config.ts';
import type { DeviceRegistry, DeviceSummary } from '../devices/types.ts';
import { DEFAULT_RESCAN, type AddressRescanOptions } from '../links/address-rescan.ts';
import { describeError, type AnyLinkProvider, type LinkContext, type LinkLogger } from '../links/provider.ts';
import { LINK_PROVIDERS } from '../links/table.ts';
import type { PinStore } from '../session/pin-store.ts';
import { SecureDeviceClient } from '../session/secure-client.ts';
import type { SessionTransport } from '../session/exchange.ts';
import { pairOverCurrentLink } from './pair.ts';
import { RetryTimers } from './reconnect.ts';
import { SourceStates, type SourceState } from './source-states.ts';
import { StatusPoller } from './status-poll.ts';

export type { SourceState } from './source-states.ts';
export type RegistryLogger = LinkLogger;

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
  /** The link providers to run (default links/table.ts). */
  providers?: readonly AnyLinkProvider[];
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
  private readonly states = new SourceStates();
  private readonly retries: RetryTimers;
  private readonly poller: StatusPoller;
  private readonly closers: (() => void | Promise<void>)[] = [];
  private readonly log: RegistryLogger;
  private readonly timeoutMs: number;
  private readonly reconnectMs: number;
  private running = false;

  constructor(
    private readonly config: BridgeConfig,
    private readonly pins: PinStore,
    private readonly opts: RegistryOptions = {},
  ) {
    super();
    this.log = opts.logger ?? NOOP_LOGGER;
    this.timeoutMs = opts.requestTimeoutMs ?? config.verify.deviceTimeoutMs;
    this.reconnectMs = opts.reconnectMs ?? 1000;
    this.retries = new RetryTimers(this.reconnectMs);
    this.poller = new StatusPoller(opts.statusIntervalMs ?? 30_000, () => this.refreshAll());
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
    return this.states.list();
  }

  /** RS485 addresses still being looked for, on every bus (diagnostics, tests). */
  rescanning(): number[] {
    return this.states
      .list()
      .flatMap((s) => s.searching ?? [])
      .sort((a, b) => a - b);
  }

  async pair(id: string, confirm: (code: string) => Promise<boolean>): Promise<DeviceSummary> {
    const e = this.entries.get(id);
    if (!e) throw Object.assign(new Error(`no device with id "${id}"`), { code: 'DEVICE_NOT_FOUND' });
    if (e.links.length === 0) throw new ProtocolError('DISCONNECTED', `device ${id} is not reachable now`);
    const summary = await pairOverCurrentLink(id, e.client, confirm, {
      pins: this.pins,
      requestTimeoutMs: this.timeoutMs,
      confirmTimeoutMs: this.opts.pairing?.confirmTimeoutMs,
      pollIntervalMs: this.opts.pairing?.pollIntervalMs,
    });
    this.log.info(`paired device ${id} over ${e.client.currentTransport.address}`);
    return summary;
  }

  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    this.retries.start();
    const jobs: Promise<void>[] = [];
    for (const provider of this.opts.providers ?? LINK_PROVIDERS) {
      for (const target of provider.list(this.config)) jobs.push(provider.listen(target, this.contextFor(provider, target)));
    }
    await Promise.all(jobs);
    this.poller.start();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.poller.stop();
    this.retries.stop();
    for (const e of this.entries.values()) {
      for (const t of e.links) await Promise.resolve(t.close()).catch(() => undefined);
      e.links = [];
    }
    for (const c of this.closers.splice(0)) await Promise.resolve().then(c).catch(() => undefined);
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
      this.log.warn(`no INFO from ${t.address}: ${describeError(e)}`);
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

  // ---- link targets -------------------------------------------------------------------------

  /** What a provider gets for one of its targets: attach, state, timers, all bound to it. */
  private contextFor(provider: AnyLinkProvider, target: unknown): LinkContext {
    const s = this.states.of(provider.kind, provider.label(target));
    return {
      timeoutMs: this.timeoutMs,
      reconnectMs: this.reconnectMs,
      rescan: { ...DEFAULT_RESCAN, ...this.opts.rs485Rescan },
      log: this.log,
      running: () => this.running,
      attach: async (t) => (await this.attach(t, s)) !== undefined,
      report: (state, err) => this.states.set(s, state, err),
      searching: (addresses) => this.states.setSearching(s, addresses),
      later: (fn, ms) => this.retries.later(fn, ms),
      onStop: (close) => void this.closers.push(close),
    };
  }
}

/** Build the registry for a bridge config and its pin store. */
export function createDeviceRegistry(config: BridgeConfig, pinStore: PinStore, opts: RegistryOptions = {}): DeviceRegistryImpl {
  return new DeviceRegistryImpl(config, pinStore, opts);
}
