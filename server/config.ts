// Options of the network service and their defaults (one place, so the CLI, tests and docs agree).
import type { Logger } from './log.ts';
import type { DestinationStream } from 'pino';
import type { RouterOptions } from './routing/router.ts';
import type { TrustLevel } from './trust/model.ts';
import type { NotifyConfig } from './notify/notify-service.ts';
import type { PublishClock } from './datasets/publisher.ts';
import { checkNowMs, systemNowMs, type NowMs } from '../runtime/clock.ts';

export interface ServerOptions {
  /** Data directory: SQLite database, key files. Default ./.precheck/server */
  dataDir: string;
  /**
   * PostgreSQL URL (postgres://user:pass@host:port/db): several instances share one database.
   * Default: the SQLite file <dataDir>/precheck.db (the CLI also reads PRECHECK_DATABASE_URL).
   */
  database?: string | null;
  /** TCP port; 0 picks a free one. Default 8700. */
  port?: number;
  /** Listen address. Default 127.0.0.1. */
  host?: string;
  /** A ready pino logger; otherwise one is made (level logLevel, to logDestination or stdout). */
  logger?: Logger;
  logLevel?: string;
  logDestination?: DestinationStream;
  /** Wall clock, ms (runtime/clock.ts; tests move time). Stored and sent instants are Unix seconds. */
  now?: NowMs;
  /** Dataset lifetime after creation (no-freeze: devices stop approving locally after it). */
  datasetTtlSeconds?: number;
  /** Wait this long after the last data change before rebuilding the dataset; <0 disables. */
  publishDebounceMs?: number;
  /** `publish.maxDelay`: a change is in a published dataset within this long, however steady the traffic. */
  publishMaxDelayMs?: number;
  /** Clock and timers of the publish schedule (default: the real ones; the market simulator's are simulated). */
  publishClock?: PublishClock;
  /** Build a dataset at start when none exists. Default true. */
  publishOnStart?: boolean;
  /**
   * That first build runs before the service listens while the store holds fewer restricted cards
   * plus outcomes than this (default 100 000), else after it listens: at 10^6 it took minutes, and
   * on PostgreSQL an instance would wait for another instance's build (publish lock) to listen.
   */
  publishOnStartBlockingMaxRows?: number;
  /** Snapshots kept for deltas. */
  keepVersions?: number;
  /** Previous versions each publish builds a delta from (the rest on request). */
  deltaBases?: number;
  /** Chunk size of datasets and firmware in bytes; grown automatically for large payloads. */
  chunkSize?: number;
  /** History digest: events newer than this window go into datasets (plus hard declines ever). */
  historyWindowSeconds?: number;
  maxEventsPerToken?: number;
  /** Build datasets and deltas in a child process (default true) so big builds never stall requests. */
  buildInChild?: boolean;
  /** New-card payment limits per trust level, in dollar-sized major units (converted per currency). */
  trustLimitsUsd?: Partial<Record<TrustLevel, number>>;
  /** Learn and publish floor limits for unknown cards (datasets/floor-limits.ts). Default true. */
  floorLimits?: boolean;
  /** Gateway routing knobs (window, exploration share, elimination); clock and RNG are the service's. */
  routing?: Omit<RouterOptions, 'gateways' | 'clock'>;
  /** `train.schedule`: cron expression (croner) for training the trust model; null = off. */
  train?: { schedule?: string | null };
  /** Requests per key (or per IP without a key) per window. */
  rateLimitMax?: number;
  rateLimitWindowMs?: number;
  /** JSON body limit in bytes. */
  bodyLimit?: number;
  /** Limits of the streaming restricted-card import. */
  importMaxBytes?: number;
  importMaxLineBytes?: number;
  firmwareMaxBytes?: number;
  /** How often the request summary is logged at info (ms; http/request-log.ts). Default 60 000. */
  requestSummaryMs?: number;
  /** Payer notices: SMS adapter, http:// webhooks allowed, delivery retry knobs. */
  notify?: NotifyConfig;
}

export type ResolvedOptions = Required<Omit<ServerOptions, 'logger' | 'logDestination' | 'publishClock'>> &
  Pick<ServerOptions, 'logger' | 'logDestination' | 'publishClock'>;

export const DEFAULTS = {
  dataDir: './.precheck/server',
  port: 8700,
  host: '127.0.0.1',
  logLevel: 'info',
  datasetTtlSeconds: 7 * 24 * 3600,
  publishDebounceMs: 2000,
  publishMaxDelayMs: 10_000,
  publishOnStart: true,
  publishOnStartBlockingMaxRows: 100_000,
  keepVersions: 8,
  deltaBases: 2,
  chunkSize: 4096,
  historyWindowSeconds: 30 * 24 * 3600,
  maxEventsPerToken: 32,
  buildInChild: true,
  trustLimitsUsd: {},
  floorLimits: true,
  routing: {},
  train: { schedule: '17 3 * * *' }, // daily at 03:17, off the top of the hour
  // Per key per instance: a busy shop's peak (auth + outcomes + an outbox replay) with room to spare.
  rateLimitMax: 60_000,
  rateLimitWindowMs: 60_000,
  bodyLimit: 64 * 1024,
  importMaxBytes: 2 * 1024 * 1024 * 1024,
  importMaxLineBytes: 1024,
  firmwareMaxBytes: 64 * 1024 * 1024,
  requestSummaryMs: 60_000,
} as const;

export function resolveOptions(o: ServerOptions): ResolvedOptions {
  const def = <K extends keyof typeof DEFAULTS>(k: K): (typeof DEFAULTS)[K] =>
    ((o as unknown as Record<string, unknown>)[k] ?? DEFAULTS[k]) as (typeof DEFAULTS)[K];
  return {
    dataDir: o.dataDir || DEFAULTS.dataDir,
    database: o.database ?? null,
    port: o.port ?? DEFAULTS.port,
    host: o.host ?? DEFAULTS.host,
    logger: o.logger,
    logLevel: def('logLevel'),
    logDestination: o.logDestination,
    now: o.now ? checkNowMs(o.now, 'ServerOptions.now') : systemNowMs,
    datasetTtlSeconds: def('datasetTtlSeconds'),
    publishDebounceMs: def('publishDebounceMs'),
    publishMaxDelayMs: def('publishMaxDelayMs'),
    publishClock: o.publishClock,
    publishOnStart: def('publishOnStart'),
    publishOnStartBlockingMaxRows: def('publishOnStartBlockingMaxRows'),
    keepVersions: def('keepVersions'),
    deltaBases: def('deltaBases'),
    chunkSize: def('chunkSize'),
    historyWindowSeconds: def('historyWindowSeconds'),
    maxEventsPerToken: def('maxEventsPerToken'),
    buildInChild: def('buildInChild'),
    trustLimitsUsd: def('trustLimitsUsd'),
    floorLimits: def('floorLimits'),
    routing: def('routing'),
    train: { schedule: o.train?.schedule === undefined ? DEFAULTS.train.schedule : o.train.schedule },
    rateLimitMax: def('rateLimitMax'),
    rateLimitWindowMs: def('rateLimitWindowMs'),
    bodyLimit: def('bodyLimit'),
    importMaxBytes: def('importMaxBytes'),
    importMaxLineBytes: def('importMaxLineBytes'),
    firmwareMaxBytes: def('firmwareMaxBytes'),
    requestSummaryMs: def('requestSummaryMs'),
    notify: o.notify ?? {},
  } as ResolvedOptions;
}
