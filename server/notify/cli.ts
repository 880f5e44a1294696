// `precheck server ...` commands of the payer-notification channel: terminal locations, the offers
// catalogue, the rule set, and the delivery queue (list, replay, purge). They work on the data
// directory directly; a running server's delivery worker picks replayed messages up on its next poll.
import type { Command } from 'commander';
import type { Service } from '../service.ts';
import { DATABASE_HELP } from '../cli-options.ts';
import { codeOf } from '../../errors/precheck-error.ts';

type WithService = <T>(cmd: Command, fn: (svc: Service) => Promise<T>) => Promise<T>;
type CliError = (message: string, code?: number) => Promise<Error>;

export function registerNotifyCommands(server: Command, withService: WithService, cliError: CliError): void {
  server
    .command('set-location <device>')
    .description("Set a verifier device's terminal location and merchant category (ISO 18245 code)")
    .option('--data <dir>', 'data directory')
    .option('--database <url>', DATABASE_HELP)
    .requiredOption('--lat <deg>', 'latitude, -90..90')
    .requiredOption('--lon <deg>', 'longitude, -180..180')
    .requiredOption('--category <mcc>', 'merchant category code, 4 digits')
    .option('--name <name>', 'merchant name shown to payers')
    .action(async (device: string, o: { lat: string; lon: string; category: string; name?: string }, cmd: Command) => {
      const num = /^-?[0-9]{1,3}(\.[0-9]{1,9})?$/;
      if (!num.test(o.lat) || !num.test(o.lon)) throw await cliError('--lat and --lon must be decimal degrees');
      const t = await withService(cmd, async (svc) => {
        try {
          return svc.notify.setTerminal(device, { lat: Number(o.lat), lon: Number(o.lon), category: o.category, merchantName: o.name ?? null });
        } catch (e) {
          throw await cliError((e as Error).message, codeOf(e) === 'NOT_FOUND' ? 1 : 2);
        }
      });
      process.stdout.write(`device ${device}: ${t.lat},${t.lon} category ${t.category}${t.merchantName ? ` (${t.merchantName})` : ''}\n`);
    });

  server
    .command('devices')
    .description('List registered devices with their paired hosts and terminal locations')
    .option('--data <dir>', 'data directory')
    .option('--database <url>', DATABASE_HELP)
    .option('--json', 'print JSON')
    .action(async (o: { json?: boolean }, cmd: Command) => {
      const devices = await withService(cmd, async (svc) => svc.notify.withLocations(await svc.storage.listDevices()));
      if (o.json) {
        process.stdout.write(`${JSON.stringify({ devices })}\n`);
        return;
      }
      for (const d of devices) {
        const loc = d.location ? `${d.location.lat},${d.location.lon} mcc ${d.location.category}` : 'no location';
        process.stdout.write(`${d.id}\t${d.merchant}\t${d.kind}\t${d.hosts.length} host(s)\t${loc}\n`);
      }
    });

  server
    .command('import-offers <file>')
    .description('Import the merchant-offers catalogue from CSV (merchant,name,category,lat,lon,item,price,currency)')
    .option('--data <dir>', 'data directory')
    .option('--database <url>', DATABASE_HELP)
    .action(async (file: string, _o: unknown, cmd: Command) => {
      const fs = await import('node:fs');
      if (!fs.existsSync(file)) throw await cliError(`cannot read ${file}`, 1);
      const r = await withService(cmd, (svc) => svc.notify.importCsv(fs.createReadStream(file)));
      process.stdout.write(`imported ${r.offers} offers of ${r.merchants} merchants from ${r.lines} lines\n`);
      if (r.invalidCount) process.stdout.write(`${r.invalidCount} invalid lines: ${r.invalidLines.slice(0, 20).join(', ')}${r.invalidCount > 20 ? ', ...' : ''}\n`);
    });

  server
    .command('notice-rules [file]')
    .description('Show the notice rule set, or store FILE (JSON) as its next version')
    .option('--data <dir>', 'data directory')
    .option('--database <url>', DATABASE_HELP)
    .action(async (file: string | undefined, _o: unknown, cmd: Command) => {
      const fs = await import('node:fs');
      let doc: unknown;
      if (file) {
        try {
          doc = JSON.parse(fs.readFileSync(file, 'utf8'));
        } catch (e) {
          throw await cliError(`${file}: ${(e as Error).message}`, 1);
        }
      }
      const r = await withService(cmd, async (svc) => {
        try {
          return doc === undefined ? svc.notify.ruleSet() : svc.notify.putRuleSet(doc);
        } catch (e) {
          throw await cliError((e as Error).message);
        }
      });
      process.stdout.write(`${JSON.stringify({ version: r.version, ...r.set }, null, 2)}\n`);
    });

  const notify = server.command('notify').description('Operate the payer-notice delivery queue');
  notify
    .command('list')
    .description('List messages (metadata only) and counts per state')
    .option('--data <dir>', 'data directory')
    .option('--database <url>', DATABASE_HELP)
    .option('--state <state>', 'pending | sending | delivered | dead')
    .option('--limit <n>', 'at most N messages', '100')
    .option('--json', 'print JSON')
    .action(async (o: { state?: string; limit: string; json?: boolean }, cmd: Command) => {
      if (o.state && !['pending', 'sending', 'delivered', 'dead'].includes(o.state)) throw await cliError('--state: pending | sending | delivered | dead');
      if (!/^[0-9]{1,5}$/.test(o.limit)) throw await cliError('--limit must be an integer');
      const r = await withService(cmd, async (svc) => ({
        counts: svc.notify.store.counts(),
        messages: svc.notify.messages({ state: o.state as 'dead' | undefined, limit: Number(o.limit) }).map(({ payload: _p, account: _a, ...m }) => m),
      }));
      if (o.json) {
        process.stdout.write(`${JSON.stringify(r)}\n`);
        return;
      }
      process.stdout.write(`pending ${r.counts.pending}, sending ${r.counts.sending}, delivered ${r.counts.delivered}, dead ${r.counts.dead}\n`);
      for (const m of r.messages) process.stdout.write(`${m.id}\t${m.state}\t${m.attempts} attempt(s)\t${m.endpointId}\t${m.orderId}${m.lastError ? `\t${m.lastError}` : ''}\n`);
    });

  notify
    .command('replay [id]')
    .description('Queue a dead (or delivered) message again with the same webhook-id; --dead for all dead ones')
    .option('--data <dir>', 'data directory')
    .option('--database <url>', DATABASE_HELP)
    .option('--dead', 'every dead-lettered message')
    .action(async (id: string | undefined, o: { dead?: boolean }, cmd: Command) => {
      if (!id && !o.dead) throw await cliError('give a message id or --dead');
      const n = await withService(cmd, async (svc) => (o.dead ? svc.notify.replayDead() : svc.notify.replay(id!) ? 1 : 0));
      if (n === 0 && id) throw await cliError(`no dead or delivered message ${id}`, 1);
      process.stdout.write(`${n} message(s) queued again\n`);
    });

  notify
    .command('purge [id]')
    .description('Delete one message, or all delivered / dead messages older than --older-than seconds')
    .option('--data <dir>', 'data directory')
    .option('--database <url>', DATABASE_HELP)
    .option('--state <state>', 'delivered | dead')
    .option('--older-than <seconds>', 'only messages created before now minus this', '0')
    .action(async (id: string | undefined, o: { state?: string; olderThan: string }, cmd: Command) => {
      if (!id && o.state !== 'delivered' && o.state !== 'dead') throw await cliError('give a message id or --state delivered|dead');
      if (!/^[0-9]{1,10}$/.test(o.olderThan)) throw await cliError('--older-than must be whole seconds');
      const n = await withService(cmd, async (svc) => (id ? (svc.notify.purgeOne(id) ? 1 : 0) : svc.notify.purge(o.state as 'dead', Number(o.olderThan) * 1000)));
      process.stdout.write(`${n} message(s) purged\n`);
    });
}
