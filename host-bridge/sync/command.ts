// `precheck sync`: registered by the CLI root. Only commander types at top level; the work is in
// sync-cli.ts, loaded inside the action.
import type { Command } from 'commander';

export interface SyncCommandOptions {
  device: string[];
  all?: boolean;
  firmware?: boolean;
  config?: string;
  viaBridge?: boolean;
  local?: boolean;
  url?: string;
  token?: string;
  data?: string;
  signingKey?: string;
  json?: boolean;
}

const collect = (v: string, prev: string[]): string[] => [...prev, v];

export function registerSyncCommand(program: Command): void {
  program
    .command('sync')
    .description(
      "Bring devices' datasets (and with --firmware their firmware) up to date from the network service. " +
        'Asks the running bridge when there is one (it owns the device links), else opens the devices itself. ' +
        'Exit 0 all up to date, 3 service or bridge unreachable, 4 some device failed or rolled back, 5 forged data refused.',
    )
    .option('--device <id>', 'device to sync (repeatable)', collect, [] as string[])
    .option('--all', 'every attached device (the default)')
    .option('--firmware', 'also update firmware: download, verify, send, trial boot, confirm (a device that fails rolls back)')
    .option('-c, --config <file>', 'bridge JSON config file (PRECHECK_* environment variables override it)')
    .option('--via-bridge', 'only ask the running bridge (POST /v1/sync); fail if none answers')
    .option('--local', 'open the devices in this process; fails on links a running bridge holds')
    .option('--url <url>', 'bridge URL (default $PRECHECK_BRIDGE_URL, the run file of a running `precheck up`, else the config listen address)')
    .option('--data <dir>', 'data dir of a running `precheck up` (default $PRECHECK_DATA or ./.precheck)')
    .option('--token <token>', 'bridge bearer token (default $PRECHECK_BRIDGE_TOKEN, else the config token)')
    .option('--signing-key <hex|file>', "trusted dataset signing key (the service's Ed25519 public key); default: pinned on first contact")
    .option('--json', 'print the JSON report instead of the table')
    .action(async (o: SyncCommandOptions) => {
      const { runSyncCommand } = await import('./sync-cli.ts');
      await runSyncCommand(o);
    });
}
