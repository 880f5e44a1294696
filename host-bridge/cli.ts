// `precheck bridge`, `precheck verify`, `precheck status`. Only commander types at top level:
// everything heavy is imported inside the actions so `precheck --help` stays fast.
import type { Command } from 'commander';

/** Other parts add bridge-side commands (devices, pair, sync) through registrars like this. */
export type BridgeCommandRegistrar = (program: Command) => void;

const DEFAULT_URL = 'http://127.0.0.1:8787';

async function cliError(message: string, exitCode?: number): Promise<Error> {
  const { CliError } = await import('../bin/cli.ts');
  return new CliError(message, exitCode);
}

async function exitCodes() {
  return (await import('../bin/cli.ts')).EXIT;
}

interface BridgeCallOptions {
  url?: string;
  token?: string;
}

/** Call a running bridge; HTTP errors become one-line CliErrors with a fitting exit code. */
export async function callBridge(o: BridgeCallOptions, method: 'GET' | 'POST', path: string, body?: unknown): Promise<any> {
  const { request } = await import('undici');
  const EXIT = await exitCodes();
  const base = (o.url ?? process.env.PRECHECK_BRIDGE_URL ?? DEFAULT_URL).replace(/\/+$/, '');
  const token = o.token ?? process.env.PRECHECK_BRIDGE_TOKEN;
  const headers: Record<string, string> = {};
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (token) headers.authorization = `Bearer ${token}`;
  let res;
  try {
    res = await request(base + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), signal: AbortSignal.timeout(30_000) });
  } catch (e) {
    const code = (e as { code?: string }).code ?? (e as Error).name;
    throw await cliError(`cannot reach the bridge at ${base} (${code}); is \`precheck bridge\` running?`, EXIT.UNAVAILABLE);
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
    const exit =
      res.statusCode === 400 || res.statusCode === 422 || res.statusCode === 401
        ? EXIT.USAGE
        : res.statusCode === 503 || res.statusCode === 504
          ? EXIT.UNAVAILABLE
          : code === 'PAIRING_REJECTED' || code === 'IDENTITY_MISMATCH'
            ? EXIT.REFUSED
            : EXIT.FAILURE;
    throw await cliError(`${code}: ${msg}`, exit);
  }
  return json;
}

async function readCardFromStdin(): Promise<string> {
  if (process.stdin.isTTY) throw await cliError('give --card, or pipe the card number on standard input (--card - )', (await exitCodes()).USAGE);
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) {
    chunks.push(c as Buffer);
    if (Buffer.concat(chunks).length > 256) break;
  }
  return Buffer.concat(chunks).toString('utf8').split(/\r?\n/)[0].trim();
}

function parseExpiry(exp: string): { expMonth: number; expYear: number } | null {
  const m = /^(\d{1,2})\s*\/\s*(\d{2}|\d{4})$/.exec(exp.trim());
  if (!m) return null;
  const expMonth = Number(m[1]);
  const y = Number(m[2]);
  if (expMonth < 1 || expMonth > 12) return null;
  return { expMonth, expYear: m[2].length === 2 ? 2000 + y : y };
}

function age(seconds: number | null): string {
  if (seconds === null) return 'no dataset';
  if (seconds < 120) return `${seconds}s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)}m`;
  if (seconds < 172800) return `${Math.round(seconds / 3600)}h`;
  return `${Math.round(seconds / 86400)}d`;
}

export function registerBridgeCommands(program: Command, extra: BridgeCommandRegistrar[] = []): void {
  program
    .command('bridge')
    .description('Run the host bridge: local HTTP API, verifier devices, network client, outbox')
    .option('-c, --config <file>', 'JSON config file (PRECHECK_* environment variables override it)')
    .action(async (opts: { config?: string }) => {
      const { loadConfig } = await import('./config.ts');
      const { startBridge } = await import('./bridge.ts');
      const { createBridgeLogger } = await import('./logger.ts');
      const EXIT = await exitCodes();
      const config = loadConfig({ file: opts.config });
      const logger = createBridgeLogger(config.log.level);

      // HOOK (device side): host-bridge/discovery/index.ts exports createDeviceRegistry({config, logger}).
      const registry = await optionalFactory<import('./devices/types.ts').DeviceRegistry>('./discovery/index.ts', 'createDeviceRegistry', { config, logger }, logger);
      // HOOK (sync): host-bridge/sync/index.ts exports createSyncRunner({config, registry, logger}).
      const syncRunner = await optionalFactory<import('./api/server.ts').SyncRunner>('./sync/index.ts', 'createSyncRunner', { config, registry, logger }, logger);

      let bridge;
      try {
        bridge = await startBridge({ config, registry, logger, syncRunner });
      } catch (e) {
        const code = (e as { code?: string }).code;
        if (code === 'EADDRINUSE' || code === 'EACCES' || code === 'EADDRNOTAVAIL') {
          throw await cliError(`cannot listen on ${config.listen.host}:${config.listen.port} (${code})`, EXIT.UNAVAILABLE);
        }
        throw e;
      }
      let cron: { stop(): void } | null = null;
      if (config.sync.schedule && syncRunner) {
        const { Cron } = await import('croner');
        cron = new Cron(config.sync.schedule, { protect: true }, async () => {
          try {
            await syncRunner({});
          } catch (e) {
            logger.error({ err: (e as Error).message }, 'scheduled sync failed');
          }
        });
      }
      process.stderr.write(`precheck bridge listening on ${bridge.url}\n`);
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

  program
    .command('verify')
    .description('Ask a running bridge to verify a card (prints the decision; exit 0 whatever it is)')
    .option('--card <number>', 'card number, or "-" to read it from standard input (keeps it out of shell history)')
    .requiredOption('--exp <MM/YY>', 'expiry, MM/YY or MM/YYYY')
    .requiredOption('--amount <decimal>', 'order amount in major units, e.g. 19.99')
    .requiredOption('--currency <ISO4217>', 'currency code, e.g. USD')
    .option('--country <XX>', 'order country (ISO 3166-1 alpha-2)')
    .option('--order <id>', 'order id (default: a generated cli-… id)')
    .option('--lang <tag>', 'language for the customer prompt')
    .option('--device <id>', 'verifier device to ask')
    .option('--url <url>', `bridge URL (default $PRECHECK_BRIDGE_URL or ${DEFAULT_URL})`)
    .option('--token <token>', 'bridge bearer token (default $PRECHECK_BRIDGE_TOKEN)')
    .option('--json', 'print the JSON result')
    .action(async (o: { card?: string; exp: string; amount: string; currency: string; country?: string; order?: string; lang?: string; device?: string; url?: string; token?: string; json?: boolean }) => {
      const EXIT = await exitCodes();
      const { toMinorUnits, formatMinorUnits } = await import('./money.ts');
      const currency = o.currency.toUpperCase();
      let value: number;
      try {
        value = toMinorUnits(o.amount, currency);
      } catch (e) {
        throw await cliError(`--amount/--currency: ${(e as Error).message}`, EXIT.USAGE);
      }
      const exp = parseExpiry(o.exp);
      if (!exp) throw await cliError(`--exp must be MM/YY or MM/YYYY (got "${o.exp}")`, EXIT.USAGE);
      if (o.country && !/^[A-Za-z]{2}$/.test(o.country)) throw await cliError(`--country must be two letters such as DE (got "${o.country}")`, EXIT.USAGE);
      const number = o.card === undefined || o.card === '-' ? await readCardFromStdin() : o.card;
      const { randomUUID } = await import('node:crypto');
      const body = {
        card: { number, ...exp },
        order: { id: o.order ?? `cli-${randomUUID()}`, amount: { value, currency }, ...(o.country ? { country: o.country.toUpperCase() } : {}) },
        ...(o.lang ? { lang: o.lang } : {}),
        ...(o.device ? { verifierId: o.device } : {}),
      };
      const r = await callBridge(o, 'POST', '/v1/verify', body);
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

  program
    .command('status')
    .description("Show a running bridge's health: devices, dataset age, network breaker, outbox")
    .option('--url <url>', `bridge URL (default $PRECHECK_BRIDGE_URL or ${DEFAULT_URL})`)
    .option('--token <token>', 'bridge bearer token (default $PRECHECK_BRIDGE_TOKEN)')
    .option('--json', 'print the JSON health document')
    .action(async (o: { url?: string; token?: string; json?: boolean }) => {
      const h = await callBridge(o, 'GET', '/v1/health');
      if (o.json) {
        process.stdout.write(JSON.stringify(h, null, 2) + '\n');
        return;
      }
      const ob = h.outbox;
      const lines = [
        `bridge   ${h.status}  (up ${age(h.uptimeS)}, fallback ${h.fallback})`,
        `network  ${h.network.configured ? `configured, breaker ${h.network.breaker}` : 'not configured (every escalation falls back)'}`,
        `outbox   ${ob.outcomesPending} outcome(s) and ${ob.reconciliationsPending} reconciliation(s) pending, ${ob.outcomesRejected + ob.reconciliationsRejected} rejected, ${ob.reconciliationMismatches} fallback mismatch(es)`,
        ...(h.devices.length === 0
          ? ['devices  none']
          : h.devices.map(
              (d: any) =>
                `device   ${d.id} ${d.link} ${d.paired ? 'paired' : 'unpaired'} ${d.healthy ? 'healthy' : 'unhealthy'} dataset v${d.datasetVersion} ${d.datasetState} (age ${age(d.datasetAgeS)})${d.lastError ? ` last error: ${d.lastError}` : ''}`,
            )),
      ];
      process.stdout.write(lines.join('\n') + '\n');
    });

  // HOOK: `devices`, `pair` and `sync` are registered by the device-side and sync engineers,
  // either by passing registrars here or by adding their register call below this line.
  for (const register of extra) register(program);
}

/** Load `path` and call its `factory(arg)` if the module exists; otherwise run without it. */
async function optionalFactory<T>(path: string, factory: string, arg: unknown, logger: import('pino').Logger): Promise<T | null> {
  let mod: Record<string, unknown>;
  try {
    mod = (await import(path)) as Record<string, unknown>;
  } catch (e) {
    if ((e as { code?: string }).code === 'ERR_MODULE_NOT_FOUND' && String((e as Error).message).includes(path.slice(2))) {
      logger.warn({ module: path }, `${path} is not available; running without it`);
      return null;
    }
    throw e;
  }
  const fn = mod[factory];
  if (typeof fn !== 'function') return null;
  return (await (fn as (a: unknown) => T | Promise<T>)(arg)) ?? null;
}
