// `precheck server ...` commands. Only commander (and types) at top level: the service modules load
// inside the actions, so `precheck --help` stays fast and other parts never pay for SQLite/Fastify.
import type { Command } from 'commander';
import { registerNotifyCommands } from './notify/cli.ts';
import { DATABASE_HELP } from './cli-options.ts';
import { plainHttpWarning as warnPlainHttp } from '../runtime/loopback.ts';
import { toUnixSeconds } from '../runtime/clock.ts';

const DEFAULT_DATA = './.precheck/server';

interface DataOpts {
  data?: string;
  database?: string;
}

/** --database, else PRECHECK_DATABASE_URL, else null (SQLite in the data dir); checked. */
async function databaseOf(cmd: Command): Promise<string | null> {
  const v = (cmd.optsWithGlobals() as DataOpts).database ?? process.env.PRECHECK_DATABASE_URL ?? null;
  if (!v) return null;
  const { parseDatabaseUrl } = await import('./storage/open.ts');
  try {
    parseDatabaseUrl(v);
  } catch (e) {
    throw await cliError(`--database: ${(e as Error).message}`);
  }
  return v;
}

async function cliError(message: string, code = 2): Promise<Error> {
  const { CliError } = await import('../errors/cli-exit.ts');
  return new CliError(message, code);
}

function dataDir(cmd: Command): string {
  return (cmd.optsWithGlobals() as DataOpts).data ?? DEFAULT_DATA;
}

/** The key files that make a directory a service data dir (created by `precheck server init`). */
const SERVICE_FILES = ['card.key', 'signing.key'];

/**
 * Refuse a directory that is not a service data dir: a mistyped --data must never mint a new
 * service with fresh keys (a new card key orphans every stored token, a new signing key every
 * provisioned device).
 */
async function requireServiceDir(dir: string): Promise<void> {
  const fs = await import('node:fs');
  const path = await import('node:path');
  let st;
  try {
    st = fs.statSync(dir);
  } catch {
    throw await cliError(`--data ${dir}: no such directory; create a service data dir with \`precheck server init --data ${dir}\``);
  }
  if (!st.isDirectory()) throw await cliError(`--data ${dir}: not a directory`);
  const missing = SERVICE_FILES.filter((f) => !fs.existsSync(path.join(dir, f)));
  if (missing.length) throw await cliError(`--data ${dir} is not a service data dir (no ${missing.join(', ')}); create one with \`precheck server init --data ${dir}\``);
}

/** Opens the service on the data dir without HTTP (direct database commands). */
async function withService<T>(cmd: Command, fn: (svc: import('./service.ts').Service) => Promise<T>): Promise<T> {
  await requireServiceDir(dataDir(cmd));
  const { openService } = await import('./service.ts');
  const { createLogger } = await import('./log.ts');
  const { pino } = await import('pino');
  const svc = await openService({ dataDir: dataDir(cmd), database: await databaseOf(cmd), publishDebounceMs: -1, buildInChild: false, train: { schedule: null }, logger: createLogger({ level: 'warn', destination: pino.destination(2) }) });
  try {
    return await fn(svc);
  } finally {
    await svc.close();
  }
}

const ID_RE = /^[A-Za-z0-9_.:/@#-]{1,64}$/;

/**
 * The service speaks plain HTTP: beyond loopback, bridge keys, the admin key and order data cross
 * the network readable by anyone on the path. Said loudly at every start; the fix is a TLS reverse
 * proxy in front and the service on 127.0.0.1 (docs/operations.md, "Remote service behind TLS").
 */
export function plainHttpWarning(host: string, port: number): string | null {
  return warnPlainHttp(
    'the network service',
    host,
    port,
    'API keys, the admin key and order data',
    'Put a TLS reverse proxy in front (deploy/nginx) and listen on 127.0.0.1 (--host 127.0.0.1); see docs/operations.md "Remote service behind TLS"',
  );
}

async function parseUint(v: string, what: string, max = 1e12): Promise<number> {
  if (!/^[0-9]{1,13}$/.test(v) || Number(v) > max) throw await cliError(`${what} must be an integer 0..${max}`);
  return Number(v);
}

export function registerServerCommands(program: Command): void {
  const server = program
    .command('server')
    .description('Run the network service, or manage its data directly (subcommands)')
    .option('--data <dir>', 'data directory (key files; the SQLite database unless --database)', DEFAULT_DATA)
    .option('--database <url>', DATABASE_HELP)
    .option('--port <n>', 'TCP port', '8700')
    .option('--host <h>', 'listen address', '127.0.0.1')
    .option('--log-level <level>', 'pino log level', 'info')
    .option('--rate-limit <n>', 'requests per minute per API key (per instance)', '60000')
    .option('--train-schedule <cron>', "train.schedule: when to retrain the trust model (croner syntax; 'off' disables)", '17 3 * * *')
    .option('--publish-max-delay <ms>', 'publish.maxDelay: a data change is in a published dataset within this many ms, however steady the traffic', '10000')
    .option('--floor-limits <on|off>', "floor limits: let devices approve unknown cards below a learned per-segment floor ('off': every unknown card goes to the network)", 'on')
    .option('--webhook-hosts <list>', 'notify.webhookHosts: comma-separated hosts payer webhooks may name (host, *.domain, IP); default any public https host')
    .action(async (o: { data: string; port: string; host: string; logLevel: string; rateLimit: string; trainSchedule: string; publishMaxDelay: string; floorLimits: string; webhookHosts?: string }, cmd: Command) => {
      const database = await databaseOf(cmd);
      if (!/^[0-9]{1,5}$/.test(o.port) || Number(o.port) > 65535) throw await cliError('--port must be 0..65535');
      if (!/^[1-9][0-9]{0,8}$/.test(o.rateLimit)) throw await cliError('--rate-limit must be a positive integer');
      if (!['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].includes(o.logLevel)) throw await cliError('--log-level: fatal|error|warn|info|debug|trace|silent');
      if (!/^[0-9]{1,9}$/.test(o.publishMaxDelay)) throw await cliError('--publish-max-delay must be a number of milliseconds');
      if (o.floorLimits !== 'on' && o.floorLimits !== 'off') throw await cliError('--floor-limits: on|off');
      const webhookHosts = o.webhookHosts === undefined ? null : o.webhookHosts.split(',').map((h) => h.trim()).filter(Boolean);
      try {
        const { checkWebhookHosts } = await import('./notify/notify-service.ts');
        checkWebhookHosts(webhookHosts);
      } catch (e) {
        throw await cliError(`--webhook-hosts: ${(e as Error).message.replace(/^notify\.webhookHosts: /, '')}`);
      }
      await requireServiceDir(o.data);
      const path = await import('node:path');
      const { startServer } = await import('./start.ts');
      const train = { schedule: o.trainSchedule === 'off' ? null : o.trainSchedule };
      const s = await startServer({ dataDir: o.data, database, port: Number(o.port), host: o.host, logLevel: o.logLevel, rateLimitMax: Number(o.rateLimit), rateLimitWindowMs: 60_000, train, publishMaxDelayMs: Number(o.publishMaxDelay), floorLimits: o.floorLimits === 'on', notify: { webhookHosts } });
      const { redactUrl } = await import('./storage/open.ts');
      process.stdout.write(`precheck server listening on ${s.url} (data ${o.data}${database ? `, database ${redactUrl(database)}` : ''})\n`);
      // The key itself never goes to stdout (a service's stdout lands in the journal): the file only.
      if (s.adminKeyCreated) process.stdout.write(`admin key written to ${path.resolve(o.data, 'admin.key')} (mode 0600)\n`);
      const plain = plainHttpWarning(s.host, s.port);
      if (plain) {
        process.stderr.write(`${plain}\n`);
        s.service.log.warn({ host: s.host, port: s.port }, plain);
      }
      await new Promise<void>((resolve) => {
        const stop = () => {
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
          void s.close().then(resolve, resolve);
        };
        process.on('SIGINT', stop);
        process.on('SIGTERM', stop);
      });
    });

  server
    .command('init')
    .description('Create a service data dir: card key, signing key, admin key and database (mode 0700/0600). Every other server command refuses a directory that is not one')
    .option('--data <dir>', 'data directory')
    .option('--database <url>', DATABASE_HELP)
    .option('--json', 'print {dataDir, signingPublicKey, adminKey} as JSON')
    .action(async (o: { json?: boolean }, cmd: Command) => {
      const dir = dataDir(cmd);
      const fs = await import('node:fs');
      const path = await import('node:path');
      const { prepareDir } = await import('../runtime/data-dir.ts');
      const abs = prepareDir(dir, '--data');
      const existed = SERVICE_FILES.every((f) => fs.existsSync(path.join(abs, f)));
      if (!existed && fs.readdirSync(abs).some((f) => !f.startsWith('.'))) {
        throw await cliError(`--data ${dir} is not empty and not a service data dir; give an empty or new directory`);
      }
      const { openService } = await import('./service.ts');
      const { createLogger } = await import('./log.ts');
      const { pino } = await import('pino');
      const svc = await openService({ dataDir: abs, database: await databaseOf(cmd), publishDebounceMs: -1, buildInChild: false, train: { schedule: null }, logger: createLogger({ level: 'warn', destination: pino.destination(2) }) });
      // the admin key stays in its 0600 file: printed output ends up in terminals' scrollback and journals
      const adminKeyFile = path.join(abs, 'admin.key');
      const info = { dataDir: abs, created: !existed, signingPublicKey: Buffer.from(svc.keys.signingPublicKey).toString('hex'), adminKeyFile, adminKeyCreated: svc.adminKeyCreated };
      await svc.close();
      if (o.json) {
        process.stdout.write(`${JSON.stringify(info)}\n`);
        return;
      }
      process.stdout.write(existed ? `${abs} is already a service data dir (kept as it is)\n` : `created service data dir ${abs}\n`);
      process.stdout.write(`dataset signing key (provision devices with it): ${info.signingPublicKey}\n`);
      if (info.adminKeyCreated) process.stdout.write(`admin key written to ${adminKeyFile} (mode 0600; read it from there)\n`);
    });

  server
    .command('import-restricted <file>')
    .description('Import restricted cards from FILE (one PAN per line, or CSV number,reason); tokenised as read, numbers never stored')
    .option('--data <dir>', 'data directory')
    .option('--database <url>', DATABASE_HELP)
    .option('--reason <reason>', 'reason for lines without one', 'imported')
    .option('--no-progress', 'no progress bar')
    .action(async (file: string, o: { reason: string; progress: boolean }, cmd: Command) => {
      const fs = await import('node:fs');
      let size: number;
      try {
        size = fs.statSync(file).size;
      } catch {
        throw await cliError(`cannot read ${file}`, 1);
      }
      if (!/^[A-Za-z0-9_.:-]{1,64}$/.test(o.reason)) throw await cliError('--reason: 1-64 characters of A-Z a-z 0-9 _ . : -');
      const { importRestricted } = await import('./admin/restricted-import.ts');
      const { SingleBar, Presets } = await import('cli-progress');
      const bar = o.progress && process.stderr.isTTY ? new SingleBar({ format: 'import [{bar}] {percentage}% | {imported} cards', stream: process.stderr }, Presets.shades_classic) : null;
      const report = await withService(cmd, async (svc) => {
        let read = 0;
        let lastLine = 0;
        bar?.start(size, 0, { imported: 0 });
        async function* counted() {
          for await (const chunk of fs.createReadStream(file)) {
            read += (chunk as Buffer).length;
            yield chunk as Buffer;
          }
        }
        const r = await importRestricted(counted(), {
          cardKey: svc.keys.cardKey,
          storage: svc.storage,
          now: toUnixSeconds(svc.opts.now()),
          defaultReason: o.reason,
          maxLineBytes: svc.opts.importMaxLineBytes,
          onProgress: (p) => {
            bar?.update(read, { imported: p.imported });
            if (!bar && p.lines - lastLine >= 100_000) {
              lastLine = p.lines;
              process.stderr.write(`  ${p.imported} cards imported (${Math.round((read / Math.max(1, size)) * 100)}%)\n`);
            }
          },
        });
        bar?.update(size, { imported: r.imported });
        bar?.stop();
        return r;
      });
      process.stdout.write(`imported ${report.imported} restricted cards (${report.added} new) from ${report.lines} lines\n`);
      if (report.invalidCount > 0) {
        const shown = report.invalidLines.slice(0, 20).join(', ');
        process.stdout.write(`${report.invalidCount} invalid lines (not Luhn-valid 12-19 digit numbers or bad reason): ${shown}${report.invalidCount > 20 ? ', ...' : ''}\n`);
      }
      process.stdout.write('run `precheck server publish` (or POST /v1/admin/publish) to put them in a dataset\n');
    });

  server
    .command('add-gateway <name>')
    .description('Add or update a gateway and its fees')
    .option('--data <dir>', 'data directory')
    .option('--database <url>', DATABASE_HELP)
    .option('--fee <minor>', 'fee per attempt in minor units', '0')
    .option('--bps <bps>', 'fee in basis points of the amount', '0')
    .action(async (name: string, o: { fee: string; bps: string }, cmd: Command) => {
      if (!ID_RE.test(name)) throw await cliError('gateway name: 1-64 characters of A-Z a-z 0-9 _ . : / @ # -');
      const g = { name, feePerAttempt: await parseUint(o.fee, '--fee', 1e9), feeBps: await parseUint(o.bps, '--bps', 10000) };
      await withService(cmd, (svc) => svc.storage.upsertGateway(g));
      process.stdout.write(`gateway ${name}: ${g.feePerAttempt} per attempt + ${g.feeBps} bps\n`);
    });

  server
    .command('routing')
    .description("Show or set the routing objective: success (default: the probability the order gets paid) or value (success × the merchant's margin − fee)")
    .option('--data <dir>', 'data directory')
    .option('--database <url>', DATABASE_HELP)
    .option('--merchant <id>', 'the merchant (default: the setting for every merchant without its own)')
    .option('--objective <kind>', 'success | value')
    .option('--margin-bps <n>', "value objective: the merchant's margin on a paid order, basis points of the amount")
    .action(async (o: { merchant?: string; objective?: string; marginBps?: string }, cmd: Command) => {
      if (o.merchant !== undefined && !/^[A-Za-z0-9_.:@-]{1,64}$/.test(o.merchant)) throw await cliError('--merchant: 1-64 characters of A-Z a-z 0-9 _ . : @ -');
      if (o.objective === undefined && o.marginBps !== undefined) throw await cliError('--margin-bps needs --objective value');
      const { DEFAULT_MERCHANT, MerchantObjectives, parseObjectiveSetting } = await import('./routing/objectives.ts');
      let setting: import('./routing/objectives.ts').ObjectiveSetting | null = null;
      if (o.objective !== undefined) {
        try {
          setting = parseObjectiveSetting({ objective: o.objective, marginBps: o.marginBps === undefined ? undefined : /^[0-9]{1,7}$/.test(o.marginBps) ? Number(o.marginBps) : Number.NaN });
        } catch (e) {
          throw await cliError((e as Error).message.replace('marginBps', '--margin-bps').replace('objective must', '--objective must'));
        }
      }
      const merchant = o.merchant ?? DEFAULT_MERCHANT;
      const e = await withService(cmd, async (svc) => {
        const objectives = new MerchantObjectives(svc.storage);
        if (setting) await objectives.set(merchant, setting);
        return objectives.effective(merchant);
      });
      const who = merchant === DEFAULT_MERCHANT ? 'default' : `merchant ${merchant}`;
      const what = e.objective === 'value' ? `value, margin ${e.marginBps} bps` : 'success';
      process.stdout.write(`${who}: routing objective ${what}${e.source === 'merchant' || (merchant === DEFAULT_MERCHANT && e.source === 'default') ? '' : ` (${e.source})`}\n`);
    });

  server
    .command('add-prompt <code> <lang> <message>')
    .description('Add or replace the prompt text for a code in a language')
    .option('--data <dir>', 'data directory')
    .option('--database <url>', DATABASE_HELP)
    .action(async (code: string, lang: string, message: string, _o: unknown, cmd: Command) => {
      if (!/^[a-z0-9_]{1,64}$/.test(code)) throw await cliError('prompt code: 1-64 characters of a-z 0-9 _');
      if (!/^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$/.test(lang) || lang.length > 16) throw await cliError('lang: a BCP 47 tag such as en or zh-CN');
      if (message.length === 0 || message.length > 1024) throw await cliError('message: 1-1024 characters');
      const { containsPan } = await import('../contracts/pan-guard.ts');
      if (containsPan(message)) throw await cliError('message must not contain a card number');
      await withService(cmd, (svc) => svc.storage.upsertPrompt({ code, lang, message }));
      process.stdout.write(`prompt ${code} [${lang}] saved\n`);
    });

  server
    .command('add-bin-rule <prefix> <action> <reason>')
    .description('Add or replace a BIN rule (action: decline | review)')
    .option('--data <dir>', 'data directory')
    .option('--database <url>', DATABASE_HELP)
    .action(async (prefix: string, action: string, reason: string, _o: unknown, cmd: Command) => {
      if (!/^[0-9]{1,8}$/.test(prefix)) throw await cliError('prefix: 1-8 digits');
      if (action !== 'decline' && action !== 'review') throw await cliError('action: decline or review');
      if (!/^[A-Za-z0-9_.:-]{1,64}$/.test(reason)) throw await cliError('reason: 1-64 characters of A-Z a-z 0-9 _ . : -');
      await withService(cmd, (svc) => svc.storage.upsertBinRule({ prefix, action, reason }));
      process.stdout.write(`BIN rule ${prefix}* -> ${action} (${reason})\n`);
    });

  server
    .command('issue-key <merchant>')
    .description('Issue a bridge API key for a merchant (printed once; stored hashed)')
    .option('--data <dir>', 'data directory')
    .option('--database <url>', DATABASE_HELP)
    .option('--label <label>', 'a note for the key')
    .action(async (merchant: string, o: { label?: string }, cmd: Command) => {
      if (!ID_RE.test(merchant)) throw await cliError('merchant: 1-64 characters of A-Z a-z 0-9 _ . : / @ # -');
      const k = await withService(cmd, (svc) => svc.issueKey(merchant, o.label ?? null));
      process.stdout.write(`${k.key}\n`);
      process.stderr.write(`key ${k.id} for merchant ${merchant} (shown once; only its hash is stored)\n`);
    });

  server
    .command('train')
    .description('Train the new-card trust model on stored outcomes; stores it with its version and held-out metrics')
    .option('--data <dir>', 'data directory')
    .option('--database <url>', DATABASE_HELP)
    .option('--json', 'print the result as JSON')
    .action(async (o: { json?: boolean }, cmd: Command) => {
      const { r, falseDeclines } = await withService(cmd, async (svc) => ({ r: await svc.trust.train(), falseDeclines: await svc.trust.falseDeclines(toUnixSeconds(svc.opts.now()) - 180 * 86_400) }));
      if (o.json) process.stdout.write(`${JSON.stringify(r.trained ? { trained: true, rows: r.rows, version: r.model.version, metrics: r.model.metrics, falseDeclines } : { ...r, falseDeclines })}\n`);
      if (!r.trained) throw await cliError(`not trained: ${r.reason}`, 1);
      const m = r.model.metrics;
      const f = (x: number | null) => (x === null ? 'n/a' : x.toFixed(3));
      if (!o.json) {
        process.stdout.write(`trust model ${r.model.version}: ${r.rows} labelled outcomes (${m.nTrain} train, ${m.n} held out)\n`);
        process.stdout.write(`held-out AUC ${f(m.auc)}, precision ${f(m.precision)}, recall ${f(m.recall)} at threshold ${r.model.threshold.toFixed(3)}\n`);
        // Trust declines whose card or account later paid without a fraud report (180 days).
        for (const d of falseDeclines) process.stdout.write(`false declines ${d.reason}: ${d.falseDeclines} of ${d.declines} (${(d.rate * 100).toFixed(1)} %)\n`);
      }
    });

  server
    .command('publish')
    .description('Build and sign a dataset version now')
    .option('--data <dir>', 'data directory')
    .option('--database <url>', DATABASE_HELP)
    .option('--force', 'publish even if nothing changed')
    .action(async (o: { force?: boolean }, cmd: Command) => {
      const r = await withService(cmd, (svc) => svc.publisher.publish('cli', !!o.force));
      process.stdout.write(
        r.created
          ? `dataset version ${r.info.version}: ${r.info.bytes} bytes in ${r.info.chunkCount} chunks (${Math.round(r.buildMs)} ms)\n`
          : `unchanged: dataset version ${r.info.version} is current\n`,
      );
    });

  registerNotifyCommands(server, withService, cliError);
}
