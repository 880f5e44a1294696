// `precheck bridge`, `precheck verify`, `precheck status`. Only commander types at top level:
// everything heavy is imported inside the actions so `precheck --help` stays fast.
import type { Command } from 'commander';
import { codeOf } from '../errors/precheck-error.ts';
import { formatAge } from './devices/freshness.ts';
import { FAILURE_TYPES } from '../protocol/dataset/types.ts';

const DEFAULT_URL = 'http://127.0.0.1:8787';

async function cliError(message: string, exitCode?: number): Promise<Error> {
  const { CliError } = await import('../errors/cli-exit.ts');
  return new CliError(message, exitCode);
}

async function exitCodes() {
  return (await import('../errors/cli-exit.ts')).EXIT;
}

/**
 * `--timeout <ms>` of `status` and `doctor`: how long each probe may take, for slow links and
 * loaded machines. Refused with exit 2 unless a whole number of ms from 100 to 120000.
 */
export async function parseProbeTimeout(value: string | undefined): Promise<number | undefined> {
  if (value === undefined) return undefined;
  const ms = Number(value);
  if (!Number.isInteger(ms) || ms < 100 || ms > 120_000) {
    throw await cliError(`--timeout must be a whole number of milliseconds from 100 to 120000, not "${value}"`, (await exitCodes()).USAGE);
  }
  return ms;
}

interface BridgeCallOptions {
  url?: string;
  token?: string;
  data?: string;
  config?: string;
}

/** Options every client command takes to find the bridge (host-bridge/cli-target.ts). */
export function targetOptions(cmd: Command): Command {
  return cmd
    .option('--url <url>', `bridge URL (default: $PRECHECK_BRIDGE_URL, the run file of a running \`precheck up\`, the config's listen address, ${DEFAULT_URL})`)
    .option('--token <token>', 'bridge bearer token (default $PRECHECK_BRIDGE_TOKEN, else the bridge config)')
    .option('--data <dir>', 'data dir of a running `precheck up` (default $PRECHECK_DATA or ./.precheck)');
}

/** Call a running bridge; HTTP errors become one-line CliErrors with a fitting exit code. */
export async function callBridge(o: BridgeCallOptions, method: 'GET' | 'POST', path: string, body?: unknown): Promise<any> {
  const { resolveBridge } = await import('./cli-target.ts');
  const t = resolveBridge(o);
  return callUrl(t.url, t.token, method, path, body, t.source);
}

export async function callUrl(base: string, token: string | undefined, method: 'GET' | 'POST', path: string, body?: unknown, source?: string, timeoutMs = 30_000): Promise<any> {
  const { request } = await import('undici');
  const EXIT = await exitCodes();
  const headers: Record<string, string> = {};
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (token) headers.authorization = `Bearer ${token}`;
  let res;
  try {
    res = await request(base + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), signal: AbortSignal.timeout(timeoutMs) });
  } catch (e) {
    const code = codeOf(e) ?? (e as Error).name;
    const why = code === 'TimeoutError' || code === 'UND_ERR_CONNECT_TIMEOUT' || code === 'UND_ERR_HEADERS_TIMEOUT' ? `no answer within ${Math.round(timeoutMs / 1000)} s` : code;
    throw await cliError(`cannot reach the bridge at ${base} (${why}${source && source !== 'default' ? `; from ${source}` : ''}); is \`precheck up\` or \`precheck bridge\` running?`, EXIT.UNAVAILABLE);
  }
  const text = await res.body.text();
  let json: any = null;
  try {
    json = JSON.parse(text);
  } catch {
    /* not JSON */
  }
  if (res.statusCode >= 400) {
    const err = json?.error;
    const code: string = err?.code ?? `HTTP_${res.statusCode}`;
    const msg = err?.message ?? text.slice(0, 200);
    const { exitCodeForBridgeAnswer } = await import('../errors/cli-exit.ts');
    throw await cliError(`${code}: ${msg}`, exitCodeForBridgeAnswer(res.statusCode, code));
  }
  return json;
}

function parseExpiry(exp: string): { expMonth: number; expYear: number } | null {
  const m = /^(\d{1,2})\s*\/\s*(\d{2}|\d{4})$/.exec(exp.trim());
  if (!m) return null;
  const expMonth = Number(m[1]);
  const y = Number(m[2]);
  if (expMonth < 1 || expMonth > 12) return null;
  return { expMonth, expYear: m[2].length === 2 ? 2000 + y : y };
}

export interface ServiceProbe {
  url: string;
  ok: boolean;
  datasetVersion?: number | null;
  ms?: number;
  error?: string;
}

/** GET <service>/v1/health, bounded: a hung service is "no answer within 3 s", not a connect error. */
export async function probeService(url: string, timeoutMs = 3_000): Promise<ServiceProbe> {
  const { request } = await import('undici');
  const t0 = Date.now();
  try {
    const res = await request(`${url.replace(/\/+$/, '')}/v1/health`, { method: 'GET', signal: AbortSignal.timeout(timeoutMs) });
    const text = await res.body.text();
    if (res.statusCode !== 200) return { url, ok: false, error: `HTTP ${res.statusCode}` };
    const j = JSON.parse(text) as { status?: string; datasetVersion?: number | null };
    if (j.status !== 'ok') return { url, ok: false, error: `reports ${j.status}` };
    return { url, ok: true, datasetVersion: j.datasetVersion ?? null, ms: Date.now() - t0 };
  } catch (e) {
    const name = (e as Error).name;
    const code = codeOf(e);
    if (name === 'TimeoutError' || name === 'AbortError') return { url, ok: false, error: `no answer within ${timeoutMs / 1000} s (hung or overloaded)` };
    if (code === 'ECONNREFUSED') return { url, ok: false, error: 'connection refused (not running?)' };
    return { url, ok: false, error: code ?? (e as Error).message };
  }
}

/** Everything `status` counts as degraded, one line each. */
export function healthProblems(h: any, service: ServiceProbe | null): string[] {
  const p: string[] = [];
  if (!h.network.configured) p.push('no network service configured: every escalation gets the fallback policy');
  if (h.network.breaker === 'open') p.push('the circuit breaker to the network service is open (recent failures)');
  if (service && !service.ok) p.push(`network service ${service.url}: ${service.error}`);
  for (const d of h.devices) {
    if (!d.paired) p.push(`device ${d.id} is not paired (precheck pair ${d.id})`);
    else if (!d.healthy) p.push(`device ${d.id} is unhealthy${d.lastError ? `: ${d.lastError}` : ''}`);
    else if (d.datasetState && d.datasetState !== 'fresh') p.push(`device ${d.id} dataset is ${d.datasetState} (precheck sync)`);
    if (d.rulesCurrent === false && h.rules) {
      p.push(`device ${d.id} runs decision rules ${d.rulesVersion === null ? 'from before rules versions' : `v${d.rulesVersion}`}, the service v${h.rules.version}: update its firmware`);
    }
  }
  if (h.outbox.outcomesRejected + h.outbox.reconciliationsRejected > 0) p.push(`${h.outbox.outcomesRejected + h.outbox.reconciliationsRejected} outbox row(s) rejected by the service (see the bridge log)`);
  if (h.status !== 'ok' && p.length === 0) p.push(`the bridge reports ${h.status}`);
  return p;
}

/** `devices`, `pair` and `sync` have their own rows in cli/program.ts's registrar table. */
export function registerBridgeCommands(program: Command): void {
  program
    .command('bridge')
    .description('Run the host bridge: local HTTP API, verifier devices, network client, outbox')
    .option('-c, --config <file>', 'JSON config file (PRECHECK_* environment variables override it)')
    .action(async (opts: { config?: string }) => {
      const { loadConfig } = await import('./config.ts');
      const { startBridge, createNetworkClient } = await import('./bridge.ts');
      const { createBridgeLogger } = await import('./logger.ts');
      const EXIT = await exitCodes();
      const config = loadConfig({ file: opts.config });
      // checked before anything opens it: a bad dataDir is one line and exit 2, never a hang
      const { prepareDir } = await import('../runtime/data-dir.ts');
      prepareDir(config.dataDir, 'config dataDir');
      const logger = createBridgeLogger(config.log.level);

      // HOOK (device side): host-bridge/discovery/index.ts exports createDeviceRegistry({config, logger}).
      const registry = await optionalFactory<import('./devices/types.ts').DeviceRegistry>('./discovery/index.ts', 'createDeviceRegistry', { config, logger }, logger);
      // HOOK (sync): host-bridge/sync/index.ts exports createSyncRunner({config, registry, logger}).
      // One service client for the bridge and its sync runner: one breaker, one retry policy.
      const network = createNetworkClient(config);
      const syncRunner = await optionalFactory<import('./api/server.ts').SyncRunner>('./sync/index.ts', 'createSyncRunner', { config, registry, logger, network }, logger);

      let bridge;
      try {
        bridge = await startBridge({ config, registry, logger, syncRunner, network });
      } catch (e) {
        const code = codeOf(e);
        if (code === 'EADDRINUSE' || code === 'EACCES' || code === 'EADDRNOTAVAIL') {
          throw await cliError(`cannot listen on ${config.listen.host}:${config.listen.port} (${code})`, EXIT.UNAVAILABLE);
        }
        throw e;
      }
      let cron: { stop(): void } | null = null;
      if (config.sync.schedule && bridge.sync) {
        const { startSyncScheduler, syncLoggerFrom } = await import('./sync/index.ts');
        const runSync = bridge.sync;
        cron = startSyncScheduler({ schedule: config.sync.schedule, run: () => runSync({}), logger: syncLoggerFrom(logger) });
      }
      process.stderr.write(`precheck bridge listening on ${bridge.url}\n`);
      const { bridgePlainHttpWarning } = await import('./bridge.ts');
      const plain = bridgePlainHttpWarning(config.listen.host, Number(new URL(bridge.url).port));
      if (plain) process.stderr.write(`${plain}\n`);
      await new Promise<void>((resolve) => {
        const stop = () => {
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
          resolve();
        };
        process.on('SIGINT', stop);
        process.on('SIGTERM', stop);
      });
      cron?.stop();
      await bridge.close();
    });

  const verify = program
    .command('verify')
    .description('Ask a running bridge to verify a card (prints the decision; exit 0 whatever it is). Without --card it asks for the number on the terminal, not echoed')
    .option('--card <number>', '"-" reads the number from standard input (a pipe from a secret store); a number given here lands in shell history')
    .requiredOption('--exp <MM/YY>', 'expiry, MM/YY or MM/YYYY')
    .requiredOption('--amount <decimal>', 'order amount in major units, e.g. 19.99')
    .requiredOption('--currency <ISO4217>', 'currency code, e.g. USD')
    .option('--country <XX>', 'order country (ISO 3166-1 alpha-2)')
    .option('--order <id>', 'order id (default: a generated cli-… id)')
    .option('--lang <tag>', 'language for the customer prompt')
    .option('--device <id>', 'verifier device to ask')
    .option('--json', 'print the JSON result');
  targetOptions(verify).action(async (o: { card?: string; exp: string; amount: string; currency: string; country?: string; order?: string; lang?: string; device?: string; url?: string; token?: string; data?: string; json?: boolean }) => {
      const EXIT = await exitCodes();
      const { toMinorUnits, formatMinorUnits } = await import('../contracts/currency.ts');
      const { AMOUNT_MAX_MINOR } = await import('../contracts/limits.ts');
      const currency = o.currency.toUpperCase();
      let value: number;
      try {
        value = toMinorUnits(o.amount, currency, AMOUNT_MAX_MINOR);
      } catch (e) {
        throw await cliError(`--amount/--currency: ${(e as Error).message}`, EXIT.USAGE);
      }
      const exp = parseExpiry(o.exp);
      if (!exp) throw await cliError(`--exp must be MM/YY or MM/YYYY (got "${o.exp}")`, EXIT.USAGE);
      if (o.country && !/^[A-Za-z]{2}$/.test(o.country)) throw await cliError(`--country must be two letters such as DE (got "${o.country}")`, EXIT.USAGE);
      const { resolveBridge } = await import('./cli-target.ts');
      const target = resolveBridge(o); // before the prompt: a bad --url is an error before typing a card
      const { readCardNumber } = await import('./cli-prompt.ts');
      const number = o.card === undefined || o.card === '-' ? await readCardNumber() : o.card;
      const { randomUUID } = await import('node:crypto');
      const body = {
        card: { number, ...exp },
        order: { id: o.order ?? `cli-${randomUUID()}`, amount: { value, currency }, ...(o.country ? { country: o.country.toUpperCase() } : {}) },
        ...(o.lang ? { lang: o.lang } : {}),
        ...(o.device ? { verifierId: o.device } : {}),
      };
      const r = await callUrl(target.url, target.token, 'POST', '/v1/verify', body, target.source);
      if (o.json) {
        process.stdout.write(JSON.stringify(r, null, 2) + '\n');
        return;
      }
      const lines = [
        `${String(r.decision).toUpperCase()}  (stage: ${r.stage}, reason: ${r.reason})`,
        `order    ${r.orderId}  ${formatMinorUnits(value, currency)}`,
        `card     ${r.card.brand ?? 'unknown brand'} ${r.card.bin}…${r.card.last4}`,
        `device   ${r.device ? `${r.device.id} (dataset v${r.device.datasetVersion})` : 'none'}`,
        ...(r.gateway ? [`gateway  ${r.gateway}`] : []),
        ...(r.prompt ? [`prompt   [${r.prompt.code}] ${r.prompt.message}`] : []),
        `time     ${r.timings.totalMs} ms (format ${r.timings.formatMs}, local ${r.timings.localMs}, network ${r.timings.networkMs})`,
      ];
      process.stdout.write(lines.join('\n') + '\n');
    });

  const status = program
    .command('status')
    .description(
      "Health of the running system: the bridge's devices, dataset age, breaker and outbox, and a probe of the network service. " +
        'Exit 0 all ok, 1 something degraded (each problem is printed), 3 the bridge (or the service given with --url) does not answer. ' +
        '`status --url <service>` checks a network service alone',
    )
    .option('-c, --config <file>', 'bridge JSON config file (for its listen address, token and service)')
    .option('--json', 'print the JSON health document (with the service probe under "service")')
    .option('--timeout <ms>', 'how long each probe may take (default: 5000 for the bridge, 3000 for the service)');
  targetOptions(status).action(async (o: BridgeCallOptions & { json?: boolean; timeout?: string }) => {
    const EXIT = await exitCodes();
    const timeoutMs = await parseProbeTimeout(o.timeout);
    const { resolveBridge } = await import('./cli-target.ts');
    const t = resolveBridge(o);
    const h = await callUrl(t.url, t.token, 'GET', '/v1/health', undefined, t.source, timeoutMs ?? 5_000);
    // A network service answers /v1/health too ({status, datasetVersion}): `status --url <service>`.
    if (h && typeof h === 'object' && !('outbox' in h) && 'datasetVersion' in h) {
      if (o.json) process.stdout.write(JSON.stringify({ service: { url: t.url, ...h } }, null, 2) + '\n');
      else process.stdout.write(`service  ${t.url} ${h.status}, dataset ${h.datasetVersion === null ? 'none published' : `v${h.datasetVersion}`}\n`);
      if (h.status !== 'ok') throw await cliError(`the network service reports ${h.status}`, EXIT.FAILURE);
      return;
    }
    if (!h || typeof h !== 'object' || !h.network || !h.outbox || !Array.isArray(h.devices)) {
      throw await cliError(`${t.url}/v1/health is neither a Precheck bridge nor a network service`, EXIT.FAILURE);
    }
    const serviceUrl: string | undefined = h.network.serviceUrl ?? t.serviceUrl;
    const service = serviceUrl ? await probeService(serviceUrl, timeoutMs) : null;
    const problems = healthProblems(h, service);
    if (o.json) {
      process.stdout.write(JSON.stringify({ ...h, service, problems }, null, 2) + '\n');
    } else {
      const ob = h.outbox;
      const lines = [
        `bridge   ${t.url} ${h.status}  (up ${formatAge(h.uptimeS, true)}, fallback ${h.fallback})`,
        `network  ${h.network.configured ? `breaker ${h.network.breaker}` : 'not configured (every escalation falls back)'}`,
        ...(service ? [`service  ${service.url} ${service.ok ? `ok, dataset ${service.datasetVersion === null ? 'none published' : `v${service.datasetVersion}`} (${service.ms} ms)` : `DOWN: ${service.error}`}`] : []),
        `outbox   ${ob.outcomesPending} outcome(s) and ${ob.reconciliationsPending} reconciliation(s) pending, ${ob.outcomesRejected + ob.reconciliationsRejected} rejected, ${ob.reconciliationMismatches} fallback mismatch(es)`,
        ...(h.devices.length === 0
          ? ['devices  none']
          : h.devices.map(
              (d: any) =>
                `device   ${d.id} ${d.link} ${d.paired ? 'paired' : 'unpaired'} ${d.healthy ? 'healthy' : 'unhealthy'} ${d.datasetVersion ? `dataset v${d.datasetVersion}` : 'no dataset'} ${d.datasetState} (age ${formatAge(d.datasetAgeS, true)})${d.lastError ? ` last error: ${d.lastError}` : ''}`,
            )),
        ...problems.map((p) => `PROBLEM  ${p}`),
      ];
      process.stdout.write(lines.join('\n') + '\n');
    }
    if (problems.length) throw await cliError(`degraded: ${problems.length} problem(s)`, EXIT.FAILURE);
  });

  const outcome = program
    .command('outcome')
    .description("Report a gateway's outcome for a verified order (POST /v1/outcomes on the running bridge; forwarded to the service through the outbox)")
    .requiredOption('--order <id>', 'the order id given to `verify`')
    .requiredOption('--gateway <name>', 'the gateway that processed it, e.g. stripe')
    .requiredOption('--status <success|failure>', 'what the gateway said')
    .option('--code <code>', 'gateway/issuer response code, e.g. 51 or 05')
    .option('--type <hard|soft|technical|fraud>', 'decline type, when the gateway says')
    .option('--attempt <n>', 'attempt number (part of the idempotency key)')
    .option('--json', 'print the JSON answer');
  targetOptions(outcome).action(async (o: BridgeCallOptions & { order: string; gateway: string; status: string; code?: string; type?: string; attempt?: string; json?: boolean }) => {
    const EXIT = await exitCodes();
    if (o.status !== 'success' && o.status !== 'failure') throw await cliError(`--status must be success or failure (got "${o.status}")`, EXIT.USAGE);
    if (o.type !== undefined && !(FAILURE_TYPES as readonly string[]).includes(o.type)) throw await cliError(`--type must be hard, soft, technical or fraud (got "${o.type}")`, EXIT.USAGE);
    if (o.code !== undefined && !/^[A-Za-z0-9]{1,8}$/.test(o.code)) throw await cliError(`--code must be 1-8 letters or digits (got "${o.code.slice(0, 20)}")`, EXIT.USAGE);
    if (o.attempt !== undefined && !/^[0-9]{1,7}$/.test(o.attempt)) throw await cliError('--attempt must be a whole number', EXIT.USAGE);
    if (!/^[A-Za-z0-9_.:/@#-]{1,64}$/.test(o.order)) throw await cliError('--order: 1-64 characters of A-Z a-z 0-9 _ . : / @ # -', EXIT.USAGE);
    if (!/^[A-Za-z0-9._-]{1,64}$/.test(o.gateway)) throw await cliError('--gateway: 1-64 characters of A-Z a-z 0-9 . _ -', EXIT.USAGE);
    const body = { orderId: o.order, gateway: o.gateway, status: o.status, ...(o.code ? { code: o.code } : {}), ...(o.type ? { type: o.type } : {}), ...(o.attempt ? { attempt: Number(o.attempt) } : {}) };
    const r = await callBridge(o, 'POST', '/v1/outcomes', body);
    if (o.json) process.stdout.write(JSON.stringify(r, null, 2) + '\n');
    else process.stdout.write(`${r.duplicate ? 'already reported' : 'queued'}: ${o.order} ${o.gateway} ${o.status}${o.code ? ` ${o.code}` : ''} (idempotency key ${r.idempotencyKey})\n`);
  });
}

/** Load `path` and call its `factory(arg)` if the module exists; otherwise run without it. */
async function optionalFactory<T>(path: string, factory: string, arg: unknown, logger: import('pino').Logger): Promise<T | null> {
  let mod: Record<string, unknown>;
  try {
    mod = (await import(path)) as Record<string, unknown>;
  } catch (e) {
    if (codeOf(e) === 'ERR_MODULE_NOT_FOUND' && String((e as Error).message).includes(path.slice(2))) {
      logger.warn({ module: path }, `${path} is not available; running without it`);
      return null;
    }
    throw e;
  }
  const fn = mod[factory];
  if (typeof fn !== 'function') return null;
  return (await (fn as (a: unknown) => T | Promise<T>)(arg)) ?? null;
}
