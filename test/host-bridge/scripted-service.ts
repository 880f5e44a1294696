// A real HTTP server on loopback standing in for the network service; each test scripts its
// answers (status and body, a hang past the client's timeout, or a dropped connection).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { EventEmitter, once } from 'node:events';

export interface SeenRequest {
  method: string;
  path: string;
  headers: IncomingMessage['headers'];
  raw: string;
  body: unknown;
}

export type Reply = { status: number; body?: unknown; headers?: Record<string, string> } | 'hang' | 'drop';
export type Handler = (req: SeenRequest) => Reply | Promise<Reply>;

export class ScriptedService extends EventEmitter {
  readonly requests: SeenRequest[] = [];
  handler: Handler = () => ({ status: 200, body: { decision: 'approve', reason: 'network_ok', prompt: null, gateway: 'gw-a' } });
  private server: Server | null = null;
  private readonly sockets = new Set<import('node:net').Socket>();
  private readonly hanging = new Set<ServerResponse>();
  port = 0;

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async start(port = 0): Promise<this> {
    this.server = createServer((req, res) => void this.handle(req, res));
    this.server.on('connection', (s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    this.server.listen(port, '127.0.0.1');
    await once(this.server, 'listening');
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const raw = Buffer.concat(chunks).toString('utf8');
    let body: unknown = null;
    try {
      body = raw ? JSON.parse(raw) : null;
    } catch {
      body = raw;
    }
    const seen: SeenRequest = { method: req.method ?? '', path: req.url ?? '', headers: req.headers, raw, body };
    this.requests.push(seen);
    this.emit('request', seen);
    const reply = await this.handler(seen);
    if (reply === 'hang') {
      this.hanging.add(res);
      return;
    }
    if (reply === 'drop') {
      req.socket.destroy();
      return;
    }
    res.writeHead(reply.status, { 'content-type': 'application/json', ...reply.headers });
    res.end(reply.body === undefined ? '' : JSON.stringify(reply.body));
  }

  /** Resolve when `n` requests to `path` have been seen (counting earlier ones). */
  async waitFor(path: string, n = 1, timeoutMs = 10_000): Promise<SeenRequest[]> {
    const matches = () => this.requests.filter((r) => r.path === path);
    if (matches().length >= n) return matches();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.off('request', on);
        reject(new Error(`timed out waiting for ${n} request(s) to ${path} (saw ${matches().length})`));
      }, timeoutMs);
      const on = () => {
        if (matches().length >= n) {
          clearTimeout(timer);
          this.off('request', on);
          resolve(matches());
        }
      };
      this.on('request', on);
    });
  }

  async close(): Promise<void> {
    if (!this.server) return;
    for (const r of this.hanging) r.destroy();
    for (const s of this.sockets) s.destroy();
    const srv = this.server;
    this.server = null;
    await new Promise<void>((r) => srv.close(() => r()));
  }
}
