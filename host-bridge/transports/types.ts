// The contract between the host bridge's transports and everything above them (device
// sessions, discovery): move one opaque protocol message to a device and bring its answer back.

import type { EventEmitter } from 'node:events';
import type { LinkKind } from '../../protocol/link-kind.ts';
import type { Deadline } from '../../runtime/deadline.ts';

export interface RequestOptions {
  /**
   * Idle timeout of the exchange in ms: how long without any sign of life from the device
   * (a fragment, an ACK, a KEEPALIVE, a PENDING) before it fails with ProtocolError('TIMEOUT').
   */
  timeoutMs?: number;
  /**
   * The whole call's budget (runtime/deadline.ts): the idle timeout never runs past it, and an
   * exchange that would start with nothing left fails with TIMEOUT without sending.
   */
  deadline?: Deadline;
  /** Abort the exchange: it fails with ProtocolError('CANCELLED') and the device is told. */
  signal?: AbortSignal;
}

/**
 * One device reached over one link: the seam between link framings (RS485 RTU, HID reports, BLE
 * fragments, socket cables) and the session layer, which sends opaque protocol messages and never
 * knows the link. Exchanges are one at a time per device (request() queues).
 * Errors are ProtocolError: TIMEOUT, CANCELLED, DISCONNECTED (device vanished; pending and later
 * requests fail at once), TOO_LARGE, or the code the device sent back.
 * Events: 'disconnect' (err: ProtocolError) once, when the device or the link goes away.
 */
export interface MessageTransport extends EventEmitter {
  readonly link: LinkKind;
  /** Human-readable and stable: "rs485:/dev/ttyUSB0#3", "hid:/dev/hidraw2", "ble:aa:bb:..". */
  readonly address: string;
  /** Largest message request() accepts and the device may answer with. */
  readonly maxMessageSize: number;
  request(msg: Uint8Array, opts?: RequestOptions): Promise<Uint8Array>;
  close(): Promise<void>;
}

export const DEFAULT_EXCHANGE_TIMEOUT_MS = 5000;
