// The work of `precheck sync` (command.ts registers it).
//
// Who talks to the devices: a serial port can be open in one process only, and a running bridge
// holds its devices' links. So:
//   - a bridge answers on its API (probe GET /v1/health) → ask it: POST /v1/sync; the bridge runs
//     the same engine with its own links, locks and cache, and returns the report;
//   - no bridge → open the devices here (the same discovery the bridge uses), sync, close them.
// --via-bridge / --local force one way. Either way the per-device lock files in the bridge data
// dir stop two processes from syncing one device at once.
import fs from 'node:fs';
import { request } from 'undici';
import { CliError, EXIT, exitCodeForSyncAnswer } from '../../errors/cli-exit.ts';
import type { BridgeConfig } from '../config.ts';
import type { SyncCommandOptions } from './command.ts';
import type { SyncReport } from './sync-engine.ts';
import { failureLine, formatSummaryTable } from './summary-table.ts';
import { codeOf } from '../../errors/precheck-error.ts';

export async function runSyncCommand(o: SyncCommandOptions): Promise<void> {
  if (o.all && o.device.length > 0) throw new CliError('give --device ID or --all, not both', EXIT.USAGE);
  if (o.local && o.viaBridge) throw new CliError('give --local or --via-bridge, not both', EXIT.USAGE);
  const { loadConfig } = await import('../config.ts');
  const { resolveBridge } = await import('../cli-target.ts');
  // --url, $PRECHECK_BRIDGE_URL, a running `precheck up`'s run file, the config (cli-target.ts)
  const target = resolveBridge(o);
  const config = loadConfig({ file: o.config ?? target.configFile });
  const signingKey = o.signingKey ? readKeyArg(o.signingKey) : null;
  const url = target.url;
  const token = target.token ?? config.token ?? undefined;

  let report: SyncReport;
  if (!o.local && (await bridgeAnswers(url, token))) {
    process.stderr.write(`sync: asking the running bridge at ${url} (it owns the device links)\n`);
    report = await viaBridge(url, token, o);
  } else {
    if (o.viaBridge) throw new CliError(`no bridge answers at ${url}; start \`precheck bridge\` or drop --via-bridge`, EXIT.UNAVAILABLE);
    report = await locally(config, o, signingKey);
  }

  process.stdout.write(o.json ? `${JSON.stringify(report, null, 2)}\n` : `${formatSummaryTable(report)}\n`);
  switch (report.exitCode) {
    case 0:
      return;
    case 3:
      throw new CliError(failureLine(report), EXIT.UNAVAILABLE);
    case 5:
      throw new CliError(failureLine(report), EXIT.REFUSED);
    default:
      throw new CliError(failureLine(report), EXIT.PARTIAL);
  }
}

/** Any HTTP answer on /v1/health means a bridge is there (even a 401: then the token is wrong). */
async function bridgeAnswers(url: string, token?: string): Promise<boolean> {
  try {
    const res = await request(`${url}/v1/health`, {
      method: 'GET',
      headers: token ? { authorization: `Bearer ${token}` } : {},
      signal: AbortSignal.timeout(2_000),
    });
    await res.body.dump();
    return true;
  } catch {
    return false;
  }
}

async function viaBridge(url: string, token: string | undefined, o: SyncCommandOptions): Promise<SyncReport> {
  const body: Record<string, unknown> = {};
  if (o.device.length > 0) body.devices = o.device;
  if (o.firmware) body.firmware = true;
  let res;
  try {
    res = await request(`${url}/v1/sync`, {
      method: 'POST',
      // NDJSON: the bridge streams progress while it transfers (an older bridge answers plain JSON)
      headers: { 'content-type': 'application/json', accept: 'application/x-ndjson, application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify(body),
      // a sync over a slow bus takes minutes: no response deadline, the bridge bounds each step
      headersTimeout: 0,
      bodyTimeout: 0,
    });
  } catch (e) {
    throw new CliError(`cannot reach the bridge at ${url} (${codeOf(e) ?? (e as Error).message})`, EXIT.UNAVAILABLE);
  }
  if (res.statusCode === 200 && String(res.headers['content-type'] ?? '').startsWith('application/x-ndjson')) return streamed(res.body, url, o);
  const text = await res.body.text();
  let json: any = null;
  try {
    json = JSON.parse(text);
  } catch {
    /* not JSON */
  }
  // 409/502/503 carry the per-device report when the run itself failed: print it like a 200's.
  const isReport = !!json && Array.isArray(json.results) && typeof json.exitCode === 'number';
  if (res.statusCode >= 400 && !isReport) {
    const code = json?.error?.code ?? `HTTP_${res.statusCode}`;
    const msg = json?.error?.message ?? text.slice(0, 200);
    if (o.firmware && res.statusCode === 400 && /firmware/.test(String(msg))) {
      throw new CliError(`the running bridge does not take firmware sync requests (${code}: ${msg}); update it, or stop it and run with --local`, EXIT.FAILURE);
    }
    throw new CliError(`the bridge refused the sync: ${code}: ${msg}`, exitCodeForSyncAnswer(res.statusCode));
  }
  if (!isReport) throw new CliError('the bridge answered POST /v1/sync without a sync report', EXIT.FAILURE);
  const { error: _error, ...report } = json;
  return report as SyncReport;
}

/** Progress lines rendered as they come (cli-progress bars on a TTY), then the report line. */
async function streamed(body: AsyncIterable<Buffer>, url: string, o: SyncCommandOptions): Promise<SyncReport> {
  const { createProgressView } = await import('./progress-view.ts');
  const view = o.json ? null : createProgressView(process.stderr);
  let buf = '';
  let report: SyncReport | null = null;
  let failure: string | null = null;
  try {
    for await (const chunk of body) {
      buf += chunk.toString('utf8');
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl).trim();
        buf = buf.slice(nl + 1);
        if (!line) continue;
        let ev: any;
        try {
          ev = JSON.parse(line);
        } catch {
          continue;
        }
        if (ev.type === 'progress') view?.update(ev);
        else if (ev.type === 'report') report = ev.report as SyncReport;
        else if (ev.type === 'error') failure = `${ev.error?.code ?? 'ERROR'}: ${ev.error?.message ?? ''}`;
      }
    }
  } catch (e) {
    failure = `the bridge at ${url} stopped answering mid-sync (${codeOf(e) ?? (e as Error).message})`;
  } finally {
    view?.stop();
  }
  if (report && Array.isArray(report.results) && typeof report.exitCode === 'number') return report;
  throw new CliError(failure ?? 'the bridge answered POST /v1/sync without a sync report', failure?.includes('stopped answering') ? EXIT.UNAVAILABLE : EXIT.FAILURE);
}

async function locally(config: BridgeConfig, o: SyncCommandOptions, signingKey: Uint8Array | null): Promise<SyncReport> {
  const pino = (await import('pino')).default;
  const { createBridgeLogger } = await import('../logger.ts');
  const { createDeviceRegistry } = await import('../discovery/index.ts');
  const { createSyncRunner } = await import('./index.ts');
  const { createProgressView } = await import('./progress-view.ts');
  // logs on stderr, quiet unless asked: stdout carries the table
  const level = process.env.PRECHECK_LOG_LEVEL ?? 'warn';
  const logger = createBridgeLogger(level, pino.destination({ dest: 2, sync: true }));
  // A short-lived run rescans silent RS485 addresses every second (the bridge's 5 s → 60 s backoff
  // is for a process that stays up), so a device that missed the one start-up scan is found.
  const registry = createDeviceRegistry({ config, logger, registry: { statusIntervalMs: 0, rs485Rescan: { minMs: 1_000, maxMs: 1_000 } } });
  const view = o.json ? null : createProgressView(process.stderr);
  const runner = createSyncRunner({ config, registry, logger, signingKey, onProgress: view ? (p) => view.update(p) : undefined });
  try {
    await registry.start();
    const { PinStore } = await import('../session/pin-store.ts');
    const wanted = o.device.length > 0 ? o.device : PinStore.open(config.dataDir).list().map((p) => p.deviceId);
    await waitForDevices(registry, wanted, LOCAL_FIND_MS);
    for (const s of registry.sources()) {
      if (s.state !== 'connected') process.stderr.write(`sync: ${s.kind} ${s.target} ${s.state}${s.code ? ` (${s.code}: ${s.message ?? ''})` : ''}\n`);
    }
    const report = await runner({ devices: o.device.length > 0 ? o.device : undefined, firmware: o.firmware === true });
    if (o.device.length === 0) {
      // --all: a paired device that no link found is not "up to date"; say so (cron sees exit 4)
      const { failedRow, exitCodeOf } = await import('./sync-engine.ts');
      const { SyncError } = await import('./errors.ts');
      const seen = new Set(registry.list().map((h) => h.id));
      for (const pin of PinStore.open(config.dataDir).list()) {
        if (seen.has(pin.deviceId)) continue;
        const why = new SyncError('DEVICE_UNAVAILABLE', `paired but not found on any configured link (last seen on ${pin.address})`);
        report.results.push(failedRow(pin.deviceId, pin.link, 'dataset', why));
      }
      report.exitCode = exitCodeOf(report);
    }
    return report;
  } finally {
    view?.stop();
    await runner.close();
    await registry.stop();
  }
}

/** How long `sync --local` waits for paired devices that a link is still looking for. */
const LOCAL_FIND_MS = 10_000;

/**
 * Resolves once every wanted device is attached, or at the deadline; at once when no RS485 address
 * is being searched (nothing more can turn up). Event-driven: on a loaded machine an RS485 device can miss
 * the single start-up scan and answer the background rescan a moment later.
 */
async function waitForDevices(registry: import('../discovery/registry.ts').DeviceRegistryImpl, wanted: string[], deadlineMs: number): Promise<void> {
  const missing = () => wanted.filter((id) => !registry.get(id));
  if (missing().length === 0 || registry.rescanning().length === 0) return;
  await new Promise<void>((resolve) => {
    const done = () => {
      clearTimeout(timer);
      registry.off('attached', check);
      resolve();
    };
    const check = () => {
      if (missing().length === 0) done();
    };
    const timer = setTimeout(done, deadlineMs);
    registry.on('attached', check);
  });
}

function readKeyArg(v: string): Uint8Array {
  let text = v.trim();
  if (!/^[0-9a-fA-F]{64}$/.test(text)) {
    try {
      const raw = fs.readFileSync(v);
      if (raw.length === 32) return new Uint8Array(raw);
      text = raw.toString('utf8').trim();
    } catch {
      throw new CliError('--signing-key must be 64 hex characters or a file holding them (or the 32 raw bytes)', EXIT.USAGE);
    }
  }
  if (!/^[0-9a-fA-F]{64}$/.test(text)) throw new CliError('--signing-key must be 64 hex characters or a file holding them (or the 32 raw bytes)', EXIT.USAGE);
  return new Uint8Array(Buffer.from(text, 'hex'));
}
