// Assembles a running host bridge: outbox (SQLite), network client, verification pipeline,
// outbox forwarder, metrics and the HTTP API. The device registry is optional: a bridge without
// devices sends every verification straight to the network stage.
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { BridgeConfig } from './config.ts';
import { fallbackToString } from './config.ts';
import { isLoopback, plainHttpWarning } from '../runtime/loopback.ts';
import { hostname, networkInterfaces } from 'node:os';
import type { DeviceRegistry } from './devices/types.ts';
import { createBridgeLogger } from './logger.ts';
import { NetworkClient } from './network/network-client.ts';
import { Outbox } from './outbox/outbox-db.ts';
import { OutboxForwarder } from './outbox/forwarder.ts';
import { VerifyPipeline } from './pipeline/verify-pipeline.ts';
import { BridgeMetrics } from './metrics/bridge-metrics.ts';
import { GatewayHealth } from './routing/gateway-health.ts';
import { CustomerFlags } from './pipeline/customer-flags.ts';
import { LearningLag } from './metrics/learning-lag.ts';
import { RulesReference } from './devices/rules-reference.ts';
import { buildApi, type SyncRunner } from './api/server.ts';
import { IvrChannel, type IvrOptions } from './ivr/channel.ts';
import { DatasetFollower, type FollowClock, type FollowRunReport } from './sync/follower.ts';

export interface StartBridgeOptions {
  config: BridgeConfig;
  registry?: DeviceRegistry | null;
  logger?: Logger;
  syncRunner?: SyncRunner | null;
  /**
   * The service client (createNetworkClient(config)) when the caller shares it with the sync
   * runner; the bridge closes it on close. Default: one made from the config.
   */
  network?: NetworkClient | null;
  /** Start the registry now and stop it on close (default true). */
  manageRegistry?: boolean;
  now?: () => number;
  /**
   * Phone capture by VoiceXML and call-back campaigns (host-bridge/ivr): on when given here or when
   * `config.ivr.enabled`; what is given here (the dialler, the SMS adapter) overrides the config.
   */
  ivr?: IvrOptions | null;
  /** Clock and timers of the sync follower (default: the real ones; the simulator's are simulated). */
  followClock?: FollowClock;
}

export interface Bridge {
  /** Base URL the API listens on, e.g. http://127.0.0.1:8787 */
  url: string;
  app: FastifyInstance;
  config: BridgeConfig;
  pipeline: VerifyPipeline;
  outbox: Outbox;
  forwarder: OutboxForwarder;
  network: NetworkClient | null;
  metrics: BridgeMetrics;
  /** Gateways failing now and recent per-card answers, from the outcomes reported here. */
  gatewayHealth: GatewayHealth;
  learningLag: LearningLag;
  /** The sync runner as the API runs it (measures the learning lag); null without one. */
  sync: SyncRunner | null;
  /** Syncs devices when the service has a newer dataset (`sync.follow`); null when off or not possible. */
  follower: DatasetFollower | null;
  registry: DeviceRegistry | null;
  logger: Logger;
  ivr: IvrChannel | null;
  close(): Promise<void>;
}

export function createNetworkClient(config: BridgeConfig): NetworkClient | null {
  const n = config.network;
  if (!n.serviceUrl) return null;
  return new NetworkClient({
    baseUrl: n.serviceUrl,
    apiKey: n.apiKey,
    timeoutMs: n.timeoutMs,
    retries: n.retries,
    backoffMs: n.backoffMs,
    backoffMaxMs: n.backoffMaxMs,
    breaker: n.breaker,
  });
}

export async function startBridge(opts: StartBridgeOptions): Promise<Bridge> {
  const { config } = opts;
  const logger = opts.logger ?? createBridgeLogger(config.log.level);
  const registry = opts.registry ?? null;
  const manage = opts.manageRegistry ?? true;
  const now = opts.now ?? Date.now;

  const outbox = Outbox.open(config.dataDir);
  // One client for every call to the service (verify, outcomes, sync): one breaker, one retry policy.
  const network = opts.network !== undefined ? opts.network : createNetworkClient(config);
  const forwarder = new OutboxForwarder({ outbox, network, logger, retryBaseMs: config.outbox.retryBaseMs, retryMaxMs: config.outbox.retryMaxMs, maxPerSecond: config.outbox.maxPerSecond, concurrency: config.outbox.concurrency, now });
  const gatewayHealth = new GatewayHealth({ now });
  const customerFlags = new CustomerFlags();
  const learningLag = new LearningLag();
  let follower: DatasetFollower | null = null;
  const rules = new RulesReference();
  forwarder.on('acked', () => learningLag.accepted(now()));
  // `follower` is assigned below; the metrics read it at scrape time.
  const metrics = new BridgeMetrics({ registry, outbox, network, now, failingGateways: () => gatewayHealth.failing(), learningLag, serviceDatasetVersion: () => follower?.stats.known ?? null });
  // Every sync run (API or schedule) goes through here, so the lag sees each dataset a device gets.
  // The wrapper keeps the runner's progress subscription (POST /v1/sync streams it as NDJSON).
  const inner = opts.syncRunner;
  const observed = async (req: Parameters<SyncRunner>[0]) => {
    const report = await inner!(req);
    observeSyncReport(learningLag, report, now());
    rules.observeSyncReport(report);
    return report;
  };
  // Runs asked for by the API or the schedule wait for a follow run in flight, and no follow run
  // starts while one of them is waiting or running: the two never race for a device's lock.
  let othersRunning = 0;
  const sync: SyncRunner | null = inner
    ? Object.assign(
        async (req: Parameters<SyncRunner>[0]) => {
          othersRunning++;
          try {
            await follower?.idle();
            return await observed(req);
          } finally {
            othersRunning--;
          }
        },
        inner.subscribe ? { subscribe: inner.subscribe.bind(inner) } : {},
      )
    : null;
  const canFollow = inner?.latestDataset && inner.busy ? { latest: inner.latestDataset, busy: inner.busy } : null;
  if (config.sync.follow && canFollow && registry && network) {
    follower = new DatasetFollower({
      devices: () =>
        registry
          .list()
          .map((h) => h.summary())
          .filter((d) => d.paired)
          .map((d) => ({ id: d.id, datasetVersion: d.datasetVersion })),
      latest: canFollow.latest,
      busy: (id) => othersRunning > 0 || canFollow.busy(id),
      run: (devices) => observed({ devices, dataset: true }) as Promise<FollowRunReport>,
      pollMs: config.sync.pollSeconds * 1000,
      clock: opts.followClock,
      logger: { info: (m, f) => logger.info(f ?? {}, m), warn: (m, f) => logger.warn(f ?? {}, m), error: (m, f) => logger.error(f ?? {}, m) },
    });
    const f = follower;
    network.onDatasetVersion((v) => f.hint(v));
    f.on('run', (e: { report: FollowRunReport | null }) => {
      for (const r of e.report?.results ?? []) if ((r.kind ?? 'dataset') === 'dataset') metrics.followSyncs.inc({ device: r.device, result: r.result });
    });
  }
  const pipeline = new VerifyPipeline({
    registry,
    network,
    outbox,
    fallback: config.fallback,
    merchantCountry: config.merchant.country,
    lang: config.lang,
    deviceTimeoutMs: config.verify.deviceTimeoutMs,
    networkDeadlineMs: config.verify.networkDeadlineMs,
    logger,
    metrics,
    onQueued: () => forwarder.kick(),
    gatewayHealth,
    customerFlags,
    now,
  });

  const ivrOptions = ivrOptionsOf(config, opts.ivr);
  const ivr = ivrOptions ? new IvrChannel(ivrOptions, { pipeline, logger, dataDir: config.dataDir, merchantCountry: config.merchant.country, lang: config.lang }) : null;
  let app: FastifyInstance | null = null;
  try {
    if (registry && manage) await registry.start();
    app = await buildApi({
      pipeline,
      outbox,
      registry,
      network,
      metrics,
      logger,
      token: config.token,
      loopbackWithoutToken: config.loopbackWithoutToken,
      fallback: fallbackToString(config.fallback),
      syncRunner: sync,
      rules,
      onOutcomeQueued: (report) => {
        // After the background authorization of the order's floor-limit approval, if one is in
        // flight: the service labels the trust attempt it records with this outcome.
        const shadow = pipeline.shadowOf(report.orderId);
        if (shadow) void shadow.then(() => forwarder.kick());
        else forwarder.kick();
        gatewayHealth.observe(report, outbox.latestVerification(report.orderId)?.token ?? null);
        customerFlags.observeOutcome(report.orderId, report, Math.floor(now() / 1000));
      },
      rateLimitPerMinute: config.rateLimit.perMinute,
      allowedHosts: allowedHostNames(config.listen.host, config.listen.names),
      now,
      ivr,
    });
    await app.listen({ host: config.listen.host, port: config.listen.port });
  } catch (e) {
    await app?.close().catch(() => undefined);
    await ivr?.close().catch(() => undefined);
    if (registry && manage) await registry.stop().catch(() => undefined);
    await network?.close().catch(() => undefined);
    outbox.close();
    throw e;
  }
  forwarder.start();
  follower?.start();

  // Retention of the verification journal: pruned at start and then hourly, off the request path.
  const retentionS = config.outbox.retentionDays * 86_400;
  const prune = () => {
    try {
      const n = outbox.prune(Math.floor(now() / 1000) - retentionS);
      if (n.verifications + n.reconciliations + n.outcomes > 0) logger.info({ ...n, retentionDays: config.outbox.retentionDays }, 'journal pruned');
    } catch (e) {
      logger.warn({ err: (e as Error).message }, 'journal prune failed');
    }
  };
  const pruneTimer = setInterval(prune, 3_600_000);
  pruneTimer.unref();
  const firstPrune = setImmediate(prune);

  const addr = app.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : config.listen.port;
  const host = config.listen.host.includes(':') ? `[${config.listen.host}]` : config.listen.host;
  const url = `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${port}`;
  ivr?.start(url);
  logger.info({ url, devices: registry?.list().length ?? 0, network: config.network.serviceUrl ?? null, fallback: fallbackToString(config.fallback) }, 'bridge listening');
  const plain = bridgePlainHttpWarning(config.listen.host, port);
  if (plain) logger.warn({ host: config.listen.host, port }, plain);

  let closing: Promise<void> | null = null;
  const finalApp = app;
  return {
    url,
    app: finalApp,
    config,
    pipeline,
    outbox,
    forwarder,
    network,
    metrics,
    gatewayHealth,
    learningLag,
    sync,
    follower,
    registry,
    logger,
    ivr,
    close() {
      closing ??= (async () => {
        clearInterval(pruneTimer);
        clearImmediate(firstPrune); // a bridge closed at once must not prune a closed outbox
        follower?.stop();
        await follower?.idle();
        await finalApp.close();
        await ivr?.close();
        await forwarder.stop();
        await network?.close().catch(() => undefined);
        if (registry && manage) await registry.stop().catch(() => undefined);
        outbox.close();
      })();
      return closing;
    },
  };
}

/** The phone channel's options: the config's `ivr` section under what the caller passed in code; null = off. */
export function ivrOptionsOf(config: BridgeConfig, given: IvrOptions | null | undefined): IvrOptions | null {
  if (!given && !config.ivr.enabled) return null;
  const c = config.ivr;
  return {
    ...given,
    publicUrl: given?.publicUrl ?? c.publicUrl ?? undefined,
    defaultLang: given?.defaultLang ?? c.defaultLang ?? undefined,
    capture: { ...c.capture, ...given?.capture },
    campaigns: { ...c.campaigns, ...given?.campaigns },
  };
}

/** Dataset rows of a sync report that brought a device a new version: their outcomes arrived. */
export function observeSyncReport(lag: LearningLag, report: unknown, nowMs: number): void {
  const rows = (report as { results?: unknown } | null)?.results;
  if (!Array.isArray(rows)) return;
  for (const r of rows as Array<{ device?: unknown; kind?: unknown; result?: unknown; createdAt?: unknown }>) {
    if (r.kind === 'dataset' && r.result === 'updated' && typeof r.device === 'string' && typeof r.createdAt === 'number') lag.delivered(r.device, r.createdAt, nowMs);
  }
}

/**
 * The Host names the API answers to: its listen address (every local address when it listens on
 * all of them), the loopback names when it is reachable on loopback, and the configured names.
 */
export function allowedHostNames(listenHost: string, names: readonly string[]): Set<string> {
  const out = new Set<string>([listenHost.toLowerCase(), ...names]);
  const wildcard = listenHost === '0.0.0.0' || listenHost === '::';
  if (wildcard || isLoopback(listenHost)) for (const n of ['localhost', '127.0.0.1', '::1']) out.add(n);
  if (wildcard) {
    out.add(hostname().toLowerCase());
    for (const list of Object.values(networkInterfaces())) for (const a of list ?? []) out.add(a.address.toLowerCase().replace(/%.*$/, ''));
  }
  return out;
}

/**
 * The bridge API is plain HTTP: beyond loopback its bearer token and the card numbers of
 * /v1/verify bodies cross the network readable by anyone on the path (the config already refuses a
 * non-loopback listen address without a token). Said at every start, on stderr and in the log.
 */
export function bridgePlainHttpWarning(listenHost: string, port: number): string | null {
  return plainHttpWarning(
    'the bridge API',
    listenHost,
    port,
    'its bearer token and the card numbers of /v1/verify requests',
    'Keep listen.host on 127.0.0.1, or put a TLS reverse proxy in front; see docs/operations.md "Remote service behind TLS"',
  );
}
