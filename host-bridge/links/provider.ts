// A link provider: everything the bridge knows about one kind of link, behind one interface, so
// the registry (discovery/) holds no per-link code and adding a link kind is one provider module
// plus its line in table.ts. A provider reads its targets from the config (`list`), opens one
// device at an address (`open`), and looks for devices at a target for as long as the bridge runs
// (`listen`: a scan, hotplug events, a cable that comes and goes), handing each transport it
// opens to `ctx.attach`.
import type { LinkKind } from '../../protocol/link-kind.ts';
import { asProtocolError } from '../../protocol/errors.ts';
import { codeOf } from '../../errors/precheck-error.ts';
import type { BridgeConfig } from '../config.ts';
import type { SessionTransport } from '../session/exchange.ts';
import type { AddressRescanOptions } from './address-rescan.ts';

export interface LinkLogger {
  info(msg: string): void;
  warn(msg: string): void;
  error(msg: string): void;
}

/** What the state of one target is, as `precheck devices`, doctor and status report it. */
export type TargetState = 'connected' | 'absent' | 'unavailable' | 'error';

/** What the registry gives a provider for one target. */
export interface LinkContext {
  /** Per-request timeout for opening and probing (ms). */
  readonly timeoutMs: number;
  /** Retry period for an absent or lost target (ms); 0 = never retry. */
  readonly reconnectMs: number;
  /** RS485: background rescan of silent addresses (minMs 0 = off). */
  readonly rescan: AddressRescanOptions;
  readonly log: LinkLogger;
  /** False once the registry stops: a provider opens nothing more and closes what it just opened. */
  running(): boolean;
  /**
   * Read INFO over a newly opened transport and file it under its device id; false when the
   * device did not answer (the transport is then closed).
   */
  attach(t: SessionTransport): Promise<boolean>;
  /** Record this target's state (an error's code and message go with it). */
  report(state: TargetState, err?: unknown): void;
  /** Run `fn` again after `ms` (default reconnectMs) while the registry runs; never when that is 0. */
  later(fn: () => void | Promise<void>, ms?: number): void;
  /** Addresses configured at this target that did not answer yet and are still looked for. */
  searching(addresses: readonly number[]): void;
  /** Close this when the registry stops (a bus, a hotplug watcher). */
  onStop(close: () => void | Promise<void>): void;
}

export interface LinkProvider<Target = unknown, Opened = unknown, Address = string> {
  readonly kind: LinkKind;
  /** The targets the config asks this link to watch; none = the link is off. */
  list(config: BridgeConfig): Target[];
  /** How a target is named in source states: a socket path, "port@baud", "vid:pid", "radio". */
  label(target: Target): string;
  /** Open the link at one address (a socket path, a hidraw path, a peripheral id, a bus). */
  open(address: Address, ctx: Pick<LinkContext, 'timeoutMs'>): Promise<Opened>;
  /** Find devices at the target and keep finding them until the registry stops. */
  listen(target: Target, ctx: LinkContext): Promise<void>;
}

/** Any provider, as the table and the registry hold them. */
export type AnyLinkProvider = LinkProvider<unknown, unknown, unknown>;

/** An error's stable code (a ProtocolError's, a LinkUnavailableError's, an errno). */
export function errorCode(e: unknown): string {
  return codeOf(e) ?? asProtocolError(e).code;
}

export function describeError(e: unknown): string {
  return `${errorCode(e)}: ${e instanceof Error ? e.message : String(e)}`;
}
