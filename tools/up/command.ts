// `precheck up` (what `npm start` runs). Only commander types at top level; the orchestrator
// loads inside the action.
import type { Command } from 'commander';

interface UpCliOptions {
  data: string;
  port: string;
  serverPort: string;
  host: string;
  emulate: boolean;
  seed: boolean;
  rateLimit?: string;
}

export function registerUpCommand(program: Command): void {
  program
    .command('up')
    .description(
      'Everything on this machine: the network service, an emulated verifier on an RS485 pty pair (socat) and one on the USB HID cable, ' +
        'and the bridge configured for both. First run provisions, pairs (auto-confirmed in emulation only) and seeds demo data; later runs reuse DIR. ' +
        'Ctrl-C stops everything.',
    )
    .option('--data <dir>', 'data directory (service, devices, bridge config, logs)', './.precheck')
    .option('--port <n>', 'bridge HTTP port (0 = any free port)', '8787')
    .option('--server-port <n>', 'network service port (0 = any free port)', '8700')
    .option('--host <addr>', 'listen address of the bridge and the service', '127.0.0.1')
    .option('--no-emulate', "no emulated devices: only the device sections of DIR/bridge/config.json (real hardware)")
    .option('--no-seed', 'do not seed the demo data on first run')
    .option('--rate-limit <n>', "the network service's requests per minute per API key (its --rate-limit; default the service's)")
    .action(async (o: UpCliOptions) => {
      const { CliError, EXIT } = await import('../../errors/cli-exit.ts');
      const port = (v: string, name: string): number => {
        if (!/^[0-9]{1,5}$/.test(v) || Number(v) > 65535) throw new CliError(`${name} must be a port number 0..65535 (got "${v}")`, EXIT.USAGE);
        return Number(v);
      };
      if (o.rateLimit !== undefined && !/^[1-9][0-9]{0,8}$/.test(o.rateLimit)) throw new CliError(`--rate-limit must be a positive integer (got "${o.rateLimit}")`, EXIT.USAGE);
      const opts = { dataDir: o.data, port: port(o.port, '--port'), serverPort: port(o.serverPort, '--server-port'), host: o.host, emulate: o.emulate, seed: o.seed, rateLimit: o.rateLimit === undefined ? undefined : Number(o.rateLimit) };
      const { UpOrchestrator } = await import('./orchestrator.ts');
      const up = new UpOrchestrator(opts);

      let signalled: NodeJS.Signals | null = null;
      let onStop!: () => void;
      const stopped = new Promise<void>((r) => (onStop = r));
      const onSignal = (sig: NodeJS.Signals): void => {
        if (signalled) return;
        signalled = sig;
        process.stdout.write(`precheck up: stopping (${sig})\n`);
        void up.close().then(onStop, onStop);
      };
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
      // If anything kills this process the hard way after all, take the children with it.
      const onExit = (): void => up.killNow();
      process.on('exit', onExit);
      const done = (): void => {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
        process.off('exit', onExit);
      };

      try {
        await up.start();
      } catch (e) {
        await up.close();
        done();
        if (signalled) {
          process.stdout.write('precheck up: stopped\n');
          return;
        }
        throw e; // an UpError is a CliError: one line and its exit code
      }
      for (const l of up.summary()) process.stdout.write(`${l}\n`);

      const failure = await Promise.race([stopped.then(() => null), up.failed.catch((e: Error) => e)]);
      if (failure) {
        process.stdout.write(`precheck up: ${failure.message}; stopping everything\n`);
        await up.close();
        done();
        throw new CliError(`${failure.message} (see ${up.paths.logDir})`, EXIT.FAILURE);
      }
      done();
      process.stdout.write('precheck up: stopped\n');
    });
}
