// The seam between the bridge's application side (pipeline, API, CLI) and its device side
// (transports, Noise sessions, pairing, discovery). The application side codes only against these
// types; the device side implements them. Errors from devices are `ProtocolError`
// (protocol/errors.ts) with codes such as TIMEOUT, DISCONNECTED, BUSY, NOT_PAIRED,
// IDENTITY_MISMATCH, PAIRING_REJECTED.
import type { EventEmitter } from 'node:events';
import type { Decision } from '../../rules/decide.ts';
import type { LinkKind } from '../../protocol/link-kind.ts';
import type { DatasetState, FirmwareState } from '../../protocol/messages/catalogue.ts';
import type { Deadline } from '../../runtime/deadline.ts';

export interface DeviceSummary {
  id: string;
  link: LinkKind;
  /** Link address: a HID path, `port@slave` for RS485, a BLE address, a socket path. */
  address: string;
  paired: boolean;
  healthy: boolean;
  firmwareVersion: number;
  firmwareState: FirmwareState;
  datasetVersion: number;
  datasetState: DatasetState;
  /** Unix seconds. */
  datasetCreatedAt: number | null;
  /** Unix seconds. */
  datasetExpiresAt: number | null;
  /** The decision rules version the device reports (INFO_RES); null: firmware from before rules versions. */
  rulesVersion: number | null;
  lastError?: string;
}

/** What the bridge sends the device over the encrypted link. The only place a PAN travels. */
export interface LocalVerifyRequest {
  pan: string;
  expMonth: number;
  /** Four digits. */
  expYear: number;
  /** Integer minor units. */
  amount: number;
  /** ISO 4217. */
  currency: string;
  /** ISO 3166-1 alpha-2 of the order (cross-border rules compare it with the card's). */
  country?: string;
  lang?: string;
  orderId?: string;
}

export type LocalDecision = Decision;

export interface LocalVerifyResult {
  decision: LocalDecision;
  reason: string;
  prompt: { code: string; message: string; lang: string } | null;
  /** HMAC token of the PAN, 32 lowercase hex chars (the device holds the card key). */
  token: string;
  bin: string;
  last4: string;
  brand: string | null;
  datasetVersion: number;
  gateway: string | null;
  /** The segment's next gateways, best first (older firmware: absent). */
  alternatives?: string[];
}

/**
 * One verifier device, whatever link and session reach it: the pipeline and the API hold these,
 * so a new link kind or a session change never touches them. Calls to one device run one at a
 * time; errors are ProtocolError (see the top of this file).
 */
export interface DeviceHandle {
  /** The device id from INFO (`pc-` + 12 hex), stable across links and reconnects. */
  readonly id: string;
  /** Last known status, without I/O. */
  summary(): DeviceSummary;
  /**
   * Local authentication. `deadline` is the whole call's budget, made once by the caller: the
   * device side fits session setup, the exchange and any resend inside it and fails with
   * TIMEOUT when it is spent. `timeoutMs` overrides the idle timeout of one exchange.
   */
  verify(req: LocalVerifyRequest, opts?: { deadline?: Deadline; timeoutMs?: number }): Promise<LocalVerifyResult>;
  /** Ask the device for its status now. */
  refreshStatus(): Promise<DeviceSummary>;
  close(): Promise<void>;
}

/**
 * Events (optional for the application side): 'attached' (DeviceHandle), 'detached' (id),
 * 'status' (DeviceSummary), 'error' is never emitted (errors go to lastError).
 */
export interface DeviceRegistry extends Pick<EventEmitter, 'on' | 'off' | 'once'> {
  list(): DeviceHandle[];
  get(id: string): DeviceHandle | undefined;
  /** First healthy paired device, or undefined. */
  pick(): DeviceHandle | undefined;
  /**
   * Pair a device. The registry calls `confirm(code)` once the short code is shown on the device;
   * pairing completes only if `confirm` resolves true (else PAIRING_REJECTED).
   */
  pair(id: string, confirm: (code: string) => Promise<boolean>): Promise<DeviceSummary>;
  start(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Contract for the device side's factory, loaded lazily by `precheck bridge` from
 * `host-bridge/discovery/index.ts` when that module exists:
 *   export function createDeviceRegistry(opts: CreateDeviceRegistryOptions): DeviceRegistry
 */
export interface CreateDeviceRegistryOptions {
  config: import('../config.ts').BridgeConfig;
  logger: import('pino').Logger;
}
