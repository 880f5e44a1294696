// LinkConnection objects handed to the message handler: an id, the link kind, and close
// callbacks that fire exactly once (a callback registered after the close runs right away).

import type { LinkConnection, LinkKind } from './types.ts';

export class DriverConnection implements LinkConnection {
  private callbacks: (() => void)[] = [];
  private isClosed = false;

  constructor(
    readonly id: string,
    readonly link: LinkKind,
  ) {}

  get closed(): boolean {
    return this.isClosed;
  }

  onClose(cb: () => void): void {
    if (this.isClosed) queueMicrotask(() => safeCall(cb));
    else this.callbacks.push(cb);
  }

  /** Fire the close callbacks once; a throwing callback does not stop the others. */
  close(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    const cbs = this.callbacks;
    this.callbacks = [];
    for (const cb of cbs) safeCall(cb);
  }
}

function safeCall(cb: () => void): void {
  try {
    cb();
  } catch {
    // A session layer's cleanup failing must not take the link down.
  }
}

let instance = 0;
/** Process-unique prefix for connection ids of one driver instance ("hid-cable#3"). */
export function nextDriverTag(link: LinkKind): string {
  instance++;
  return `${link}#${instance}`;
}
