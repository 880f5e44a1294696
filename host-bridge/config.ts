// Host bridge configuration: a JSON file, then PRECHECK_* environment variables on top, then
// validation into a fully-defaulted BridgeConfig. Every problem is one line naming the key.
// Hand-written validation (no schema library is installed besides Fastify's ajv, whose messages
// would need rewriting into one-line config errors anyway).
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { Cron } from 'croner';
import { PrecheckError } from '../errors/precheck-error.ts';
import { isLoopback } from '../runtime/loopback.ts';

export class ConfigError extends PrecheckError<'CONFIG_INVALID'> {
  constructor(message: string) {
    super('CONFIG_INVALID', message);
    this.name = 'ConfigError';
  }
}

export type FallbackPolicy =
  | { kind: 'decline' }
  | { kind: 'review' }
  /** Approve when amount < limit (minor units); if `currency` is set, only in that currency. Otherwise review. */
  | { kind: 'approve-below'; limit: number; currency: string | null };

export interface Rs485PortConfig {
  path: string;
  baud: number;
  addresses: { from: number; to: number };
}

export interface BridgeConfig {
  /** `names`: extra host names the API answers to (Host header), besides its listen addresses. */
  listen: { host: string; port: number; names: string[] };
  /** Bearer token for the HTTP API; required when listen.host is not loopback. */
  token: string | null;
  /**
   * Requests from a loopback address to /metrics and the status page (/, /ui/…) need no token
   * (a local Prometheus or browser). Not for a bridge behind a reverse proxy on the same host.
   */
  loopbackWithoutToken: boolean;
  dataDir: string;
  network: {
    serviceUrl: string | null;
    apiKey: string | null;
    timeoutMs: number;
    retries: number;
    backoffMs: number;
    backoffMaxMs: number;
    breaker: { failureThreshold: number; resetMs: number };
  };
  fallback: FallbackPolicy;
  verify: { deviceTimeoutMs: number; networkDeadlineMs: number };
  /** Requests per minute per client address on the HTTP API; 0 = unlimited (default 6000). */
  rateLimit: { perMinute: number };
  /** retentionDays: how long the verification journal keeps a row (pruned in the background). */
  outbox: { retryBaseMs: number; retryMaxMs: number; maxPerSecond: number; concurrency: number; retentionDays: number };
  devices: {
    rs485: { ports: Rs485PortConfig[] };
    usb: { vid: number; pid: number } | null;
    cables: { hidSocket: string | null; bleSocket: string | null };
    ble: { enabled: boolean };
  };
  /**
   * schedule: cron of the full sync job (dataset + firmware checks). follow: sync devices as soon
   * as the service has a newer dataset (its Precheck-Dataset-Version header, and a poll of
   * GET /v1/datasets/latest every pollSeconds; 0 = header only). host-bridge/sync/follower.ts.
   */
  sync: { schedule: string | null; follow: boolean; pollSeconds: number };
  merchant: { country: string | null };
  lang: string;
  log: { level: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent' };
  /**
   * Card capture by phone (host-bridge/ivr): VoiceXML under /v1/ivr/… when enabled. The dialler
   * (call-backs) and SMS adapter are provider integrations passed in code (`startBridge({ ivr })`).
   */
  ivr: IvrConfig;
}

export interface IvrConfig {
  enabled: boolean;
  /** Base URL the telephony platform reaches this bridge at; null = the bridge's own URL. */
  publicUrl: string | null;
  /** Caller language when a session gives none; null = `lang`. */
  defaultLang: string | null;
  capture: { sessionTtlMs: number; maxErrors: number; maxCards: number; maxNoInput: number };
  campaigns: { lines: number; maxAttempts: number; baseBackoffMs: number; maxBackoffMs: number; defaultWindowMs: number };
}

/**
 * The integer keys of the `ivr` section as data: [default, min, max]. Validation, the known-key
 * check and the defaults all read this table (defaults = the channel's own).
 */
export const IVR_INT_SCHEMA = {
  'ivr.capture.sessionTtlMs': [600_000, 10_000, 3_600_000],
  'ivr.capture.maxErrors': [3, 1, 10],
  'ivr.capture.maxCards': [2, 1, 10],
  'ivr.capture.maxNoInput': [3, 1, 10],
  'ivr.campaigns.lines': [4, 1, 1000],
  'ivr.campaigns.maxAttempts': [3, 1, 20],
  'ivr.campaigns.baseBackoffMs': [300_000, 1, 86_400_000],
  'ivr.campaigns.maxBackoffMs': [3_600_000, 1, 86_400_000],
  'ivr.campaigns.defaultWindowMs': [86_400_000, 60_000, 30 * 86_400_000],
} as const satisfies Record<string, readonly [number, number, number]>;

export const DEFAULT_PORT = 8787;
/** How often the sync follower asks the service for its newest dataset when no answer said it. */
export const DEFAULT_SYNC_POLL_SECONDS = 20;

/** Environment variable → config key path (dotted). Values are strings; parsed per key below. */
export const ENV_KEYS: Record<string, string> = {
  PRECHECK_BRIDGE_HOST: 'listen.host',
  PRECHECK_BRIDGE_PORT: 'listen.port',
  PRECHECK_BRIDGE_HOSTNAMES: 'listen.names',
  PRECHECK_BRIDGE_TOKEN: 'token',
  PRECHECK_LOOPBACK_WITHOUT_TOKEN: 'loopbackWithoutToken',
  PRECHECK_BRIDGE_DATA_DIR: 'dataDir',
  PRECHECK_SERVICE_URL: 'network.serviceUrl',
  PRECHECK_API_KEY: 'network.apiKey',
  PRECHECK_NETWORK_TIMEOUT_MS: 'network.timeoutMs',
  PRECHECK_NETWORK_RETRIES: 'network.retries',
  PRECHECK_NETWORK_BACKOFF_MS: 'network.backoffMs',
  PRECHECK_NETWORK_BACKOFF_MAX_MS: 'network.backoffMaxMs',
  PRECHECK_BREAKER_FAILURES: 'network.breaker.failureThreshold',
  PRECHECK_BREAKER_RESET_MS: 'network.breaker.resetMs',
  PRECHECK_FALLBACK: 'fallback',
  PRECHECK_DEVICE_TIMEOUT_MS: 'verify.deviceTimeoutMs',
  PRECHECK_NETWORK_DEADLINE_MS: 'verify.networkDeadlineMs',
  PRECHECK_BRIDGE_RATE_LIMIT: 'rateLimit.perMinute',
  PRECHECK_BRIDGE_RETENTION_DAYS: 'outbox.retentionDays',
  PRECHECK_USB_VID: 'devices.usb.vid',
  PRECHECK_USB_PID: 'devices.usb.pid',
  PRECHECK_HID_SOCKET: 'devices.cables.hidSocket',
  PRECHECK_BLE_SOCKET: 'devices.cables.bleSocket',
  PRECHECK_BLE_ENABLED: 'devices.ble.enabled',
  PRECHECK_SYNC_SCHEDULE: 'sync.schedule',
  PRECHECK_SYNC_FOLLOW: 'sync.follow',
  PRECHECK_SYNC_POLL_SECONDS: 'sync.pollSeconds',
  PRECHECK_MERCHANT_COUNTRY: 'merchant.country',
  PRECHECK_LANG: 'lang',
  PRECHECK_LOG_LEVEL: 'log.level',
  PRECHECK_IVR_ENABLED: 'ivr.enabled',
  PRECHECK_IVR_PUBLIC_URL: 'ivr.publicUrl',
};

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type Obj = Record<string, unknown>;

const KNOWN_KEYS: Record<string, string[]> = {
  '': ['listen', 'token', 'loopbackWithoutToken', 'dataDir', 'network', 'fallback', 'verify', 'rateLimit', 'outbox', 'devices', 'sync', 'merchant', 'lang', 'log', 'ivr'],
  listen: ['host', 'port', 'names'],
  network: ['serviceUrl', 'apiKey', 'timeoutMs', 'retries', 'backoffMs', 'backoffMaxMs', 'breaker'],
  'network.breaker': ['failureThreshold', 'resetMs'],
  verify: ['deviceTimeoutMs', 'networkDeadlineMs'],
  rateLimit: ['perMinute'],
  outbox: ['retryBaseMs', 'retryMaxMs', 'maxPerSecond', 'concurrency', 'retentionDays'],
  devices: ['rs485', 'usb', 'cables', 'ble'],
  'devices.rs485': ['ports'],
  'devices.usb': ['vid', 'pid'],
  'devices.cables': ['hidSocket', 'bleSocket'],
  'devices.ble': ['enabled'],
  sync: ['schedule', 'follow', 'pollSeconds'],
  merchant: ['country'],
  log: ['level'],
  ivr: ['enabled', 'publicUrl', 'defaultLang', 'capture', 'campaigns'],
  'ivr.capture': leafKeys('ivr.capture'),
  'ivr.campaigns': leafKeys('ivr.campaigns'),
};

function leafKeys(section: string): string[] {
  return Object.keys(IVR_INT_SCHEMA).filter((k) => k.startsWith(`${section}.`)).map((k) => k.slice(section.length + 1));
}

function fail(key: string, what: string, got?: unknown): never {
  const shown = got === undefined ? '' : ` (got ${JSON.stringify(got)?.slice(0, 60)})`;
  throw new ConfigError(`config: ${key} ${what}${shown}`);
}

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function checkKnown(obj: Obj, path: string): void {
  const known = KNOWN_KEYS[path];
  if (!known) return;
  for (const k of Object.keys(obj)) {
    if (!known.includes(k)) fail(path ? `${path}.${k}` : k, `is not a known key (known: ${known.join(', ')})`);
  }
  for (const k of known) {
    const sub = path ? `${path}.${k}` : k;
    if (KNOWN_KEYS[sub] && obj[k] !== undefined && obj[k] !== null) {
      if (!isObj(obj[k])) fail(sub, 'must be an object', obj[k]);
      checkKnown(obj[k] as Obj, sub);
    }
  }
}

function get(obj: Obj, path: string): unknown {
  let cur: unknown = obj;
  for (const p of path.split('.')) {
    if (!isObj(cur)) return undefined;
    cur = cur[p];
  }
  return cur;
}

function set(obj: Obj, path: string, value: unknown): void {
  const parts = path.split('.');
  let cur = obj;
  for (const p of parts.slice(0, -1)) {
    if (!isObj(cur[p])) cur[p] = {};
    cur = cur[p] as Obj;
  }
  cur[parts[parts.length - 1]] = value;
}

function int(obj: Obj, key: string, def: number, min: number, max: number): number {
  let v = get(obj, key);
  if (v === undefined || v === null) return def;
  if (typeof v === 'string' && /^-?\d+$/.test(v.trim())) v = Number(v.trim());
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    fail(key, `must be an integer from ${min} to ${max}`, v);
  }
  return v;
}

function str(obj: Obj, key: string, def: string | null, pattern?: RegExp, what?: string): string | null {
  const v = get(obj, key);
  if (v === undefined || v === null || v === '') return def;
  if (typeof v !== 'string') fail(key, 'must be a string', v);
  if (pattern && !pattern.test(v)) fail(key, what ?? `must match ${pattern}`, v);
  return v;
}

function bool(obj: Obj, key: string, def: boolean): boolean {
  const v = get(obj, key);
  if (v === undefined || v === null || v === '') return def;
  if (typeof v === 'boolean') return v;
  if (v === 'true' || v === '1' || v === 'yes') return true;
  if (v === 'false' || v === '0' || v === 'no') return false;
  fail(key, 'must be true or false', v);
}

/** `decline` | `review` | `approve-below:<minor units>[:<CUR>]` */
export function parseFallback(v: unknown, key = 'fallback'): FallbackPolicy {
  if (v === undefined || v === null || v === '') return { kind: 'review' };
  if (v === 'decline' || v === 'review') return { kind: v };
  if (typeof v === 'string') {
    const m = /^approve-below:(\d{1,12})(?::([A-Z]{3}))?$/.exec(v);
    if (m) return { kind: 'approve-below', limit: Number(m[1]), currency: m[2] ?? null };
  }
  fail(key, 'must be "decline", "review" or "approve-below:<minor units>[:<CURRENCY>]"', v);
}

export function fallbackToString(p: FallbackPolicy): string {
  return p.kind === 'approve-below' ? `approve-below:${p.limit}${p.currency ? `:${p.currency}` : ''}` : p.kind;
}

/** `listen.names`: an array of host names, or one comma-separated string (the environment's form). */
function hostNames(v: unknown): string[] {
  if (v === undefined || v === null) return [];
  const list = typeof v === 'string' ? v.split(',').map((s) => s.trim()).filter(Boolean) : v;
  if (!Array.isArray(list) || !list.every((n) => typeof n === 'string' && /^[a-z0-9.:[\]-]{1,253}$/i.test(n))) {
    fail('listen.names', 'must be host names (an array, or one comma-separated string)', v);
  }
  return (list as string[]).map((n) => n.toLowerCase());
}


function parseHexOrInt(obj: Obj, key: string): number {
  const v = get(obj, key);
  if (typeof v === 'string' && /^0x[0-9a-f]{1,4}$/i.test(v)) return parseInt(v, 16);
  return int(obj, key, -1, 0, 0xffff);
}

/** Validate a raw object (file contents merged with env) into a full config. */
export function validateConfig(raw: unknown): BridgeConfig {
  if (!isObj(raw)) fail('(root)', 'must be a JSON object');
  checkKnown(raw, '');

  const host = str(raw, 'listen.host', '127.0.0.1')!;
  if (host !== 'localhost' && isIP(host) === 0 && !/^[a-z0-9.-]+$/i.test(host)) fail('listen.host', 'must be an IP address or host name', host);
  const token = str(raw, 'token', null);
  if (token !== null && token.length < 16) fail('token', 'must be at least 16 characters');
  if (!isLoopback(host) && token === null) {
    fail('token', `is required when listen.host is not loopback (listen.host is "${host}"); set PRECHECK_BRIDGE_TOKEN`);
  }

  const serviceUrl = str(raw, 'network.serviceUrl', null);
  if (serviceUrl !== null) {
    let u: URL;
    try {
      u = new URL(serviceUrl);
    } catch {
      fail('network.serviceUrl', 'must be an http(s) URL', serviceUrl);
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') fail('network.serviceUrl', 'must be an http(s) URL', serviceUrl);
  }

  const backoffMs = int(raw, 'network.backoffMs', 100, 1, 60_000);
  const backoffMaxMs = int(raw, 'network.backoffMaxMs', 2_000, 1, 600_000);
  if (backoffMaxMs < backoffMs) fail('network.backoffMaxMs', `must be at least network.backoffMs (${backoffMs})`, backoffMaxMs);

  const portsRaw = get(raw, 'devices.rs485.ports') ?? [];
  if (!Array.isArray(portsRaw)) fail('devices.rs485.ports', 'must be an array', portsRaw);
  const ports: Rs485PortConfig[] = portsRaw.map((p, i) => {
    const k = `devices.rs485.ports[${i}]`;
    if (!isObj(p)) fail(k, 'must be an object', p);
    for (const key of Object.keys(p)) if (!['path', 'baud', 'addresses'].includes(key)) fail(`${k}.${key}`, 'is not a known key (known: path, baud, addresses)');
    const path = str(p, 'path', null);
    if (!path) fail(`${k}.path`, 'is required');
    const baud = int(p, 'baud', 19200, 1200, 4_000_000);
    const a = p.addresses ?? { from: 1, to: 247 };
    if (!isObj(a)) fail(`${k}.addresses`, 'must be {"from": n, "to": n}', a);
    const from = int(a, 'from', 1, 1, 247);
    const to = int(a, 'to', 247, 1, 247);
    if (to < from) fail(`${k}.addresses.to`, `must be at least addresses.from (${from})`, to);
    return { path, baud, addresses: { from, to } };
  });

  const usbRaw = get(raw, 'devices.usb');
  const usb = usbRaw === undefined || usbRaw === null ? null : { vid: parseHexOrInt(raw, 'devices.usb.vid'), pid: parseHexOrInt(raw, 'devices.usb.pid') };
  if (usb && (usb.vid < 0 || usb.pid < 0)) fail('devices.usb', 'needs both vid and pid (numbers or "0x1234")');

  const schedule = str(raw, 'sync.schedule', null);
  if (schedule !== null) {
    try {
      new Cron(schedule, { paused: true }).stop();
    } catch (e) {
      fail('sync.schedule', `is not a valid cron expression: ${(e as Error).message}`, schedule);
    }
  }

  const ivr = ivrConfig(raw);
  const level = str(raw, 'log.level', 'info', /^(fatal|error|warn|info|debug|trace|silent)$/, 'must be one of fatal, error, warn, info, debug, trace, silent')!;

  return {
    listen: { host, port: int(raw, 'listen.port', DEFAULT_PORT, 0, 65535), names: hostNames(get(raw, 'listen.names')) },
    token,
    loopbackWithoutToken: bool(raw, 'loopbackWithoutToken', false),
    dataDir: str(raw, 'dataDir', './.precheck/bridge')!,
    network: {
      serviceUrl: serviceUrl === null ? null : serviceUrl.replace(/\/+$/, ''),
      apiKey: str(raw, 'network.apiKey', null),
      timeoutMs: int(raw, 'network.timeoutMs', 2_000, 1, 600_000),
      retries: int(raw, 'network.retries', 2, 0, 10),
      backoffMs,
      backoffMaxMs,
      breaker: {
        failureThreshold: int(raw, 'network.breaker.failureThreshold', 5, 1, 1000),
        resetMs: int(raw, 'network.breaker.resetMs', 30_000, 1, 3_600_000),
      },
    },
    fallback: parseFallback(get(raw, 'fallback')),
    // One deadline for an escalated verify's network authentication (retries included); then the fallback policy answers.
    verify: { deviceTimeoutMs: int(raw, 'verify.deviceTimeoutMs', 4_000, 1, 120_000), networkDeadlineMs: int(raw, 'verify.networkDeadlineMs', 1_500, 1, 120_000) },
    // On by default: with the Host check it keeps a web page (or anything on the host) from using
    // /v1/verify as a card-testing oracle at full speed; a shop's own traffic stays far below.
    rateLimit: { perMinute: int(raw, 'rateLimit.perMinute', 6_000, 0, 1_000_000) },
    outbox: {
      retryBaseMs: int(raw, 'outbox.retryBaseMs', 1_000, 1, 3_600_000),
      retryMaxMs: int(raw, 'outbox.retryMaxMs', 300_000, 1, 86_400_000),
      // Replay pace after an outage: far below the service's per-key limit (default 60 000/min).
      maxPerSecond: int(raw, 'outbox.maxPerSecond', 50, 1, 10_000),
      concurrency: int(raw, 'outbox.concurrency', 4, 1, 64),
      retentionDays: int(raw, 'outbox.retentionDays', 30, 1, 36_500),
    },
    devices: {
      rs485: { ports },
      usb,
      cables: { hidSocket: str(raw, 'devices.cables.hidSocket', null), bleSocket: str(raw, 'devices.cables.bleSocket', null) },
      ble: { enabled: bool(raw, 'devices.ble.enabled', false) },
    },
    sync: { schedule, follow: bool(raw, 'sync.follow', true), pollSeconds: int(raw, 'sync.pollSeconds', DEFAULT_SYNC_POLL_SECONDS, 0, 3600) },
    merchant: { country: str(raw, 'merchant.country', null, /^[A-Z]{2}$/, 'must be an ISO 3166-1 alpha-2 code such as "DE"') },
    lang: str(raw, 'lang', 'en', /^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$/, 'must be a language tag such as "en" or "pt-BR"')!,
    log: { level: level as BridgeConfig['log']['level'] },
    ivr,
  };
}

const LANG_TAG = /^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$/;

function httpUrl(raw: Obj, key: string): string | null {
  const v = str(raw, key, null);
  if (v === null) return null;
  let u: URL | null = null;
  try {
    u = new URL(v);
  } catch {
    /* reported below */
  }
  if (!u || (u.protocol !== 'http:' && u.protocol !== 'https:')) fail(key, 'must be an http(s) URL', v);
  return v.replace(/\/+$/, '');
}

function ivrConfig(raw: Obj): IvrConfig {
  const n = (k: keyof typeof IVR_INT_SCHEMA) => {
    const [def, min, max] = IVR_INT_SCHEMA[k];
    return int(raw, k, def, min, max);
  };
  const campaigns = {
    lines: n('ivr.campaigns.lines'),
    maxAttempts: n('ivr.campaigns.maxAttempts'),
    baseBackoffMs: n('ivr.campaigns.baseBackoffMs'),
    maxBackoffMs: n('ivr.campaigns.maxBackoffMs'),
    defaultWindowMs: n('ivr.campaigns.defaultWindowMs'),
  };
  if (campaigns.maxBackoffMs < campaigns.baseBackoffMs) fail('ivr.campaigns.maxBackoffMs', `must be at least ivr.campaigns.baseBackoffMs (${campaigns.baseBackoffMs})`, campaigns.maxBackoffMs);
  return {
    enabled: bool(raw, 'ivr.enabled', false),
    publicUrl: httpUrl(raw, 'ivr.publicUrl'),
    defaultLang: str(raw, 'ivr.defaultLang', null, LANG_TAG, 'must be a language tag such as "en" or "pt-BR"'),
    capture: {
      sessionTtlMs: n('ivr.capture.sessionTtlMs'),
      maxErrors: n('ivr.capture.maxErrors'),
      maxCards: n('ivr.capture.maxCards'),
      maxNoInput: n('ivr.capture.maxNoInput'),
    },
    campaigns,
  };
}

/** Overlay PRECHECK_* variables (strings) on a raw config object. */
export function applyEnv(raw: Obj, env: NodeJS.ProcessEnv): Obj {
  const out = structuredClone(raw);
  for (const [name, path] of Object.entries(ENV_KEYS)) {
    const v = env[name];
    if (v !== undefined && v !== '') set(out, path, v);
  }
  return out;
}

/** Load the JSON file (if given), overlay the environment, validate. */
export function loadConfig(opts: { file?: string; env?: NodeJS.ProcessEnv; overrides?: Obj } = {}): BridgeConfig {
  let raw: Obj = {};
  if (opts.file) {
    let text: string;
    try {
      text = readFileSync(opts.file, 'utf8');
    } catch (e) {
      throw new ConfigError(`config: cannot read ${opts.file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    let parsed: Json;
    try {
      parsed = JSON.parse(text) as Json;
    } catch (e) {
      throw new ConfigError(`config: ${opts.file} is not valid JSON: ${(e as Error).message.split('\n')[0]}`);
    }
    if (!isObj(parsed)) throw new ConfigError(`config: ${opts.file} must hold a JSON object`);
    raw = parsed;
  }
  raw = applyEnv(raw, opts.env ?? process.env);
  if (opts.overrides) for (const [k, v] of Object.entries(opts.overrides)) set(raw, k, v);
  return validateConfig(raw);
}
