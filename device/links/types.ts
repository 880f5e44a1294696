// The contract between the link drivers and the device core: a driver turns a link's frames into
// whole protocol messages, hands each to the handler with the connection it came from, and sends
// the handler's answer back the same way. Sessions, encryption and dispatch live above this.

import type { ProtocolError } from '../../protocol/errors.ts';
import type { DeviceStatusRegisters } from '../../protocol/framing/modbus-registers.ts';
import type { LinkKind } from '../../protocol/link-kind.ts';

export type { LinkKind };

/**
 * One logical peer: one HID channel, one BLE connection, or one RS485 (master, address) pair.
 * The session layer keeps one secure session per connection and drops it on close.
 */
export interface LinkConnection {
  /** Unique within the process, stable for the connection's life (e.g. "hid-cable:1:cid=0a1b2c3d"). */
  readonly id: string;
  readonly link: LinkKind;
  /** Called once when the connection ends (channel evicted, peer disconnected, driver closed). */
  onClose(cb: () => void): void;
}

/** Answer one request message. A thrown ProtocolError is sent back as the link's error frame. */
export type MessageHandler = (msg: Uint8Array, conn: LinkConnection) => Promise<Uint8Array>;

/** Status served as Modbus input registers (function 0x04). */
export type StatusRegisters = DeviceStatusRegisters;
export type StatusProvider = () => StatusRegisters;

/** Why a frame was dropped; given to onRejectedFrame so the core can count it (register 8-9). */
export interface RejectedFrame {
  link: LinkKind;
  error: ProtocolError;
  /** How many bytes were dropped (never their content: they may hold card data). */
  bytes: number;
}

export interface LinkDriverCommon {
  handler: MessageHandler;
  /** Count a rejected frame (bad CRC, garbage, bad report). Must not throw. */
  onRejectedFrame?: (info: RejectedFrame) => void;
}

export interface LinkDriver {
  readonly link: LinkKind;
  start(): Promise<void>;
  /** Stop accepting, close every connection (their onClose fire), release the OS resource. */
  close(): Promise<void>;
}
