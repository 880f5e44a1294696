// `precheck simulate`: the market simulator on the command line. Only commander is imported at
// the top; the simulator, server and bridge load inside the action.
import type { Command } from 'commander';
import { codeOf } from '../../errors/precheck-error.ts';

interface SimulateFlags {
  scenario: string;
  bridge?: string;
  bridgeToken?: string;
  server?: string;
  adminKey?: string;
  selfContained?: boolean;
  verifier: string;
  json?: boolean;
  orders?: string;
  seed?: string;
  resamples?: string;
  baseline: string;
  syncSchedule?: string;
  syncFollow: boolean;
}

function positiveInt(name: string, v: string | undefined, max: number): number | undefined {
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v) || Number(v) < 1 || Number(v) > max) throw new Error(`--${name} must be an integer from 1 to ${max} (got "${v}")`);
  return Number(v);
}

export function registerSimulateCommand(program: Command): void {
  program
    .command('simulate')
    .description('Run a simulated market twice over the same orders, without and with Precheck, and compare success rate, attempts, fees, false declines and fraud')
    .requiredOption('--scenario <file>', 'scenario JSON (see bench/scenarios/README.md)')
    .option('--bridge <url>', 'drive this running bridge instead of starting one')
    .option('--bridge-token <token>', 'bearer token of that bridge (or PRECHECK_BRIDGE_TOKEN)')
    .option('--server <url>', "the bridge's network service, to register the scenario's gateways and prompts")
    .option('--admin-key <key>', 'admin key of that service (or PRECHECK_ADMIN_KEY)')
    .option('--self-contained', 'start a network service and a bridge on loopback in temp dirs (default when no --bridge)')
    .option('--verifier <mode>', 'self-contained: "device" (a real verifier device on the HID cable, datasets published and synced on the simulated clock), "token" (in-process stand-in that only computes card tokens, then escalates: network stage only, faster) or "none" (no device at all)', 'device')
    .option('--baseline <arm-a>', 'arm A: "best" (every attempt to the scenario\'s single best gateway), "random" (a random gateway per attempt) or a gateway name', 'best')
    .option('--sync-schedule <cron>', 'verifier device: the bridge\'s sync schedule in simulated time (default: the one `precheck up` sets)')
    .option('--no-sync-follow', "verifier device: no sync follower (the bridge syncs on the schedule only, each tick publishing first): the loop before the follower, for comparison")
    .option('--orders <n>', "number of orders (default: the scenario's)")
    .option('--seed <n>', "override the scenario's seed")
    .option('--resamples <n>', 'bootstrap resamples for the intervals', '2000')
    .option('--json', 'print the report as JSON')
    .action(async (flags: SimulateFlags) => {
      const { CliError, EXIT } = await import('../../errors/cli-exit.ts');
      const usage = (m: string) => new CliError(m, EXIT.USAGE);
      let orders: number | undefined;
      let seed: number | undefined;
      let resamples: number | undefined;
      try {
        orders = positiveInt('orders', flags.orders, 1_000_000);
        seed = flags.seed === undefined ? undefined : Number(flags.seed);
        if (flags.seed !== undefined && !(/^\d+$/.test(flags.seed) && seed! <= 2 ** 32 - 1)) throw new Error(`--seed must be an integer from 0 to 4294967295 (got "${flags.seed}")`);
        resamples = positiveInt('resamples', flags.resamples, 100_000);
      } catch (e) {
        throw usage((e as Error).message);
      }
      if (flags.bridge && flags.selfContained) throw usage('--self-contained and --bridge exclude each other');
      if (flags.verifier !== 'token' && flags.verifier !== 'none' && flags.verifier !== 'device') throw usage(`--verifier must be "device", "token" or "none" (got "${flags.verifier}")`);
      if (flags.syncSchedule !== undefined && flags.verifier !== 'device') throw usage('--sync-schedule is only used with --verifier device');
      if (flags.syncFollow === false && flags.verifier !== 'device') throw usage('--no-sync-follow is only used with --verifier device');
      const adminKey = flags.adminKey ?? process.env.PRECHECK_ADMIN_KEY;
      if (flags.server && !adminKey) throw usage('--server needs --admin-key (or PRECHECK_ADMIN_KEY) to register gateways and prompts');
      if (flags.server && !flags.bridge) throw usage('--server is only used with --bridge (self-contained runs start their own)');

      const { loadScenario, ScenarioError } = await import('./scenario.ts');
      const { simulate } = await import('./simulate.ts');
      const { textReport } = await import('./report.ts');
      const { SimulatorHttpError } = await import('./bridge-client.ts');
      let scenario;
      try {
        scenario = loadScenario(flags.scenario);
      } catch (e) {
        if (e instanceof ScenarioError) throw usage(e.message);
        throw e;
      }
      if (seed !== undefined) scenario = { ...scenario, seed };
      const { parseBaseline, baselineGateway } = await import('./baseline.ts');
      const baseline = parseBaseline(flags.baseline);
      try {
        baselineGateway(scenario, baseline);
      } catch (e) {
        throw usage(`--baseline: ${(e as Error).message}`);
      }
      // The device lives at the CLI root (host-bridge/ does not import device/).
      const startDevice = flags.verifier === 'device' ? (await import('./simulate-device.ts')).startSimDevice : undefined;
      const progress = !flags.json && process.stderr.isTTY;
      try {
        const run = await simulate({
          scenario,
          orders,
          resamples,
          baseline,
          target: flags.bridge
            ? { kind: 'bridge', bridgeUrl: flags.bridge, bridgeToken: flags.bridgeToken ?? process.env.PRECHECK_BRIDGE_TOKEN ?? null, serverUrl: flags.server ?? null, adminKey: adminKey ?? null }
            : { kind: 'self-contained', verifier: flags.verifier as 'token' | 'none' | 'device', startDevice, syncSchedule: flags.syncSchedule, syncFollow: flags.syncFollow },
          onProgress: progress ? (arm, done, total) => process.stderr.write(`\rarm ${arm}: ${done}/${total} orders${done === total ? '\n' : ''}`) : undefined,
        });
        process.stdout.write(flags.json ? `${JSON.stringify(run.report, null, 2)}\n` : `${textReport(run.report)}\n`);
      } catch (e) {
        if (e instanceof SimulatorHttpError) throw new CliError(e.message, e.code === 'UNAVAILABLE' ? EXIT.UNAVAILABLE : EXIT.FAILURE);
        if (codeOf(e) === 'CONFIG_INVALID') throw usage((e as Error).message);
        throw e;
      }
    });
}
