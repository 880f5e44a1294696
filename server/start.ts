// startServer(): the network service on a TCP port, for the CLI, tests and `precheck up`.
import type { AddressInfo } from 'node:net';
import type { ServerOptions } from './config.ts';
import { ServiceError } from './errors.ts';
import { buildApp } from './http/app.ts';
import { openService, type Service } from './service.ts';

export interface RunningServer {
  /** http://host:port (no trailing slash) */
  url: string;
  host: string;
  port: number;
  /** The admin key in clear (also in <dataDir>/admin.key, mode 0600). */
  adminKey: string;
  /** True when this start created the admin key. */
  adminKeyCreated: boolean;
  /** Raw 32-byte Ed25519 public key that signs datasets and firmware. */
  signingPublicKey: Uint8Array;
  databaseFile: string;
  service: Service;
  /** Issues a bridge key for a merchant (same as POST /v1/admin/keys). */
  issueKey(merchant: string, label?: string): Promise<{ id: string; key: string; merchant: string }>;
  /** Builds and signs a dataset now; resolves with its version. */
  publish(): Promise<number>;
  close(): Promise<void>;
}

export async function startServer(options: ServerOptions): Promise<RunningServer> {
  const svc = await openService(options);
  let app: Awaited<ReturnType<typeof buildApp>>;
  try {
    app = await buildApp(svc);
    let firstBuildLater = false;
    if (svc.opts.publishOnStart && (await svc.storage.latestDataset()) === null) {
      // A big store's first build (minutes at 10^6 cards), or one waiting for another instance's
      // build (PostgreSQL publish lock), runs once the service listens: health and the dataset
      // version header say null until it is published.
      const rows = (await svc.storage.countRestricted()) + (await svc.storage.countOutcomes());
      if (rows < svc.opts.publishOnStartBlockingMaxRows) await svc.publisher.publish('first start');
      else firstBuildLater = true;
    }
    await app.listen({ port: svc.opts.port, host: svc.opts.host });
    // This process serves /v1/auth now: new cards are answered from memory (SQLite).
    svc.storage.watchCards?.();
    if (firstBuildLater) {
      svc.publisher.publish('first start').catch((e) => svc.log.error({ err: e }, 'first dataset build failed; built again with the next change'));
    }
  } catch (e) {
    await svc.close();
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE') {
      throw Object.assign(new ServiceError('UNAVAILABLE', `port ${svc.opts.port} on ${svc.opts.host} is already in use`), { code: 'EADDRINUSE' });
    }
    throw e;
  }
  const addr = app.server.address() as AddressInfo;
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  let closing: Promise<void> | null = null;
  return {
    url: `http://${host}:${addr.port}`,
    host: addr.address,
    port: addr.port,
    adminKey: svc.adminKey,
    adminKeyCreated: svc.adminKeyCreated,
    signingPublicKey: svc.keys.signingPublicKey,
    databaseFile: svc.databaseFile,
    service: svc,
    issueKey: (merchant, label) => svc.issueKey(merchant, label ?? null),
    publish: async () => (await svc.publisher.publish('api')).info.version,
    close() {
      closing ??= (async () => {
        await app.close();
        await svc.close();
      })();
      return closing;
    },
  };
}
