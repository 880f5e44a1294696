// How a client command (`verify`, `status`, `devices`, `pair`, `sync`, `outcome`) finds the bridge
// it talks to. `precheck up` writes <data>/run/endpoints.json (where its bridge and service listen,
// which config the bridge runs with); the order of precedence is
//   --url  >  $PRECHECK_BRIDGE_URL  >  the run file of a live `up` (--data, $PRECHECK_DATA,
//   ./.precheck)  >  --config's listen address  >  http://127.0.0.1:8787.
// The token comes from --token, $PRECHECK_BRIDGE_TOKEN, then the bridge config file.
import fs from 'node:fs';
import path from 'node:path';
import { CliError, EXIT } from '../errors/cli-exit.ts';
import { pidAlive } from '../runtime/pid.ts';

export const RUN_FILE = path.join('run', 'endpoints.json');
export const DEFAULT_DATA_DIR = './.precheck';
export const DEFAULT_BRIDGE_URL = 'http://127.0.0.1:8787';

export interface RunFile {
  format: 1;
  /** pid of the `precheck up` that wrote it (a dead pid makes the file stale). */
  pid: number;
  bridgeUrl: string;
  serviceUrl: string;
  bridgeConfig: string;
  startedAt: number;
}

export interface TargetOptions {
  url?: string;
  token?: string;
  data?: string;
  config?: string;
}

export interface BridgeTarget {
  url: string;
  token: string | undefined;
  /** Where the URL came from, for messages ("--url", "run file …", …). */
  source: string;
  /** The bridge config file, when known (run file or --config). */
  configFile: string | undefined;
  /** The network service the bridge uses, when known without asking it. */
  serviceUrl: string | undefined;
}

export function writeRunFile(dataDir: string, rf: Omit<RunFile, 'format'>): void {
  const file = path.join(dataDir, RUN_FILE);
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, `${JSON.stringify({ format: 1, ...rf }, null, 2)}\n`, { mode: 0o600 });
  fs.renameSync(tmp, file);
}

/** Remove the run file if this process wrote it. */
export function removeRunFile(dataDir: string, pid = process.pid): void {
  const file = path.join(dataDir, RUN_FILE);
  try {
    const cur = JSON.parse(fs.readFileSync(file, 'utf8')) as RunFile;
    if (cur.pid === pid) fs.rmSync(file, { force: true });
  } catch {
    // absent or unreadable: nothing of ours to remove
  }
}

/** The run file of a live `precheck up` in `dataDir`, or null (absent, unreadable or stale). */
export function readRunFile(dataDir: string): RunFile | null {
  let rf: Partial<RunFile>;
  try {
    rf = JSON.parse(fs.readFileSync(path.join(dataDir, RUN_FILE), 'utf8')) as Partial<RunFile>;
  } catch {
    return null;
  }
  if (rf.format !== 1 || typeof rf.pid !== 'number' || typeof rf.bridgeUrl !== 'string' || !pidAlive(rf.pid)) return null;
  return rf as RunFile;
}

/** An http(s) URL without trailing slashes; anything else is a usage error (exit 2). */
export function checkUrl(u: string, what: string): string {
  let parsed: URL;
  try {
    parsed = new URL(u);
  } catch {
    throw new CliError(`${what} must be an http:// or https:// URL (got "${u.slice(0, 80)}")`, EXIT.USAGE);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new CliError(`${what} must be an http:// or https:// URL (got "${u.slice(0, 80)}")`, EXIT.USAGE);
  return u.replace(/\/+$/, '');
}

function configToken(file: string | undefined): { token?: string; listen?: { host: string; port: number }; serviceUrl?: string } {
  if (!file) return {};
  let raw: any;
  try {
    raw = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new CliError(`cannot read the bridge config ${file}${code ? ` (${code})` : ': not JSON'}`, EXIT.USAGE);
  }
  return {
    token: typeof raw?.token === 'string' && raw.token ? raw.token : undefined,
    listen: raw?.listen && typeof raw.listen.port === 'number' ? { host: typeof raw.listen.host === 'string' ? raw.listen.host : '127.0.0.1', port: raw.listen.port } : undefined,
    serviceUrl: typeof raw?.network?.serviceUrl === 'string' ? raw.network.serviceUrl : undefined,
  };
}

function hostUrl(host: string, port: number): string {
  const h = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host;
  return `http://${h.includes(':') ? `[${h}]` : h}:${port}`;
}

export function resolveBridge(o: TargetOptions, env: NodeJS.ProcessEnv = process.env): BridgeTarget {
  const dataDir = o.data ?? env.PRECHECK_DATA ?? DEFAULT_DATA_DIR;
  if (o.data !== undefined && !fs.existsSync(o.data)) throw new CliError(`--data ${o.data}: no such directory`, EXIT.USAGE);
  const run = readRunFile(dataDir);
  const configFile = o.config ?? run?.bridgeConfig;
  const cfg = configToken(configFile && fs.existsSync(configFile) ? configFile : o.config);
  const token = o.token ?? env.PRECHECK_BRIDGE_TOKEN ?? cfg.token;
  const serviceUrl = run?.serviceUrl ?? cfg.serviceUrl;
  if (o.url !== undefined) return { url: checkUrl(o.url, '--url'), token, source: '--url', configFile, serviceUrl };
  if (env.PRECHECK_BRIDGE_URL) return { url: checkUrl(env.PRECHECK_BRIDGE_URL, 'PRECHECK_BRIDGE_URL'), token, source: '$PRECHECK_BRIDGE_URL', configFile, serviceUrl };
  if (run && !o.config) return { url: run.bridgeUrl, token, source: `${path.join(dataDir, RUN_FILE)} (precheck up, pid ${run.pid})`, configFile, serviceUrl };
  if (cfg.listen) return { url: hostUrl(cfg.listen.host, cfg.listen.port), token, source: `${configFile} listen address`, configFile, serviceUrl };
  return { url: DEFAULT_BRIDGE_URL, token, source: 'default', configFile, serviceUrl };
}

/** True when anything answers HTTP on <url>/v1/health within `ms` (even a 401: a bridge is there). */
export async function answers(url: string, token: string | undefined, ms = 2000): Promise<boolean> {
  const { request } = await import('undici');
  try {
    const res = await request(`${url}/v1/health`, { method: 'GET', headers: token ? { authorization: `Bearer ${token}` } : {}, signal: AbortSignal.timeout(ms) });
    await res.body.dump();
    return true;
  } catch {
    return false;
  }
}
