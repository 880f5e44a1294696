// In-process transport for the session layer's unit tests: request() calls the device's
// MessageHandler directly with a real DriverConnection. Hooks let a test lose an answer
// (TIMEOUT after the device ran the request) or end the connection.
import { EventEmitter } from 'node:events';
import { ProtocolError } from '../../../protocol/errors.ts';
import { DriverConnection } from '../../../device/links/connection.ts';
import type { MessageHandler } from '../../../device/links/types.ts';

let n = 0;

export class LoopbackTransport extends EventEmitter {
  readonly link = 'hid-cable';
  readonly address: string;
  readonly maxMessageSize = 7609;
  conn: DriverConnection;
  /** Every request's bytes, in order. */
  readonly sent: Uint8Array[] = [];
  /** Lose the answers of the next N requests (the device still runs them). */
  loseAnswers = 0;

  constructor(private readonly handler: MessageHandler) {
    super();
    n++;
    this.address = `loop:${n}`;
    this.conn = new DriverConnection(`loop#${n}:1`, 'hid-cable');
  }

  async request(msg: Uint8Array, _opts?: { timeoutMs?: number }): Promise<Uint8Array> {
    this.sent.push(Uint8Array.from(msg));
    const answer = await this.handler(msg, this.conn);
    if (this.loseAnswers > 0) {
      this.loseAnswers--;
      throw new ProtocolError('TIMEOUT', 'answer lost (test)');
    }
    return answer;
  }

  /** The link drops and comes back as a new connection (the device forgets its state). */
  reconnect(): void {
    this.conn.close();
    n++;
    this.conn = new DriverConnection(`loop#${n}:1`, 'hid-cable');
  }

  async close(): Promise<void> {
    this.conn.close();
  }
}
