// A bidirectional port of fixed-size reports (HID) or GATT values (BLE): the I/O below a
// transport's framing. Implementations: node-hid device, unix-socket cable, noble characteristic.

export interface ReportPort {
  /** Send one report / value. Rejects if the port is gone. */
  write(data: Uint8Array): Promise<void>;
  /** Register the receiver of incoming reports (one receiver). */
  onData(cb: (data: Uint8Array) => void): void;
  /** Called once when the port goes away (unplugged, socket closed, close()). */
  onClose(cb: (err?: Error) => void): void;
  close(): Promise<void>;
}

/** Helper for implementations: one receiver, one close notification, fired once. */
export class PortEvents {
  private dataCb: ((d: Uint8Array) => void) | null = null;
  private closeCbs: ((err?: Error) => void)[] = [];
  private closedWith: { err?: Error } | null = null;

  onData(cb: (d: Uint8Array) => void): void {
    this.dataCb = cb;
  }

  onClose(cb: (err?: Error) => void): void {
    if (this.closedWith) queueMicrotask(() => cb(this.closedWith?.err));
    else this.closeCbs.push(cb);
  }

  data(d: Uint8Array): void {
    if (!this.closedWith) this.dataCb?.(d);
  }

  closed(err?: Error): void {
    if (this.closedWith) return;
    this.closedWith = { err };
    const cbs = this.closeCbs;
    this.closeCbs = [];
    for (const cb of cbs) cb(err);
  }

  get isClosed(): boolean {
    return this.closedWith !== null;
  }
}
