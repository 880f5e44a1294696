// CLI root: each part of the product registers its own commands; their heavy modules load lazily
// inside the actions, so `precheck --help` is fast and one part's dependencies never break another.
import { Command, CommanderError } from 'commander';
import { EXIT, errorLine, exitCodeFor } from '../errors/cli-exit.ts';
import { productVersion } from '../runtime/version.ts';

export async function buildProgram(): Promise<Command> {
  const program = new Command('precheck')
    .description('Card pre-verification: verifier devices, host bridge and network service')
    .version(`precheck ${productVersion()} (node ${process.version})`, '-V, --version', 'print the version')
    // A missing or unknown option is one line naming the command's help, not the whole help text.
    // Subcommands inherit this (commander copies output settings to commands created later).
    .configureOutput({
      outputError: (str, write) => {
        const cmd = /^error: /.test(str) ? str.replace(/^error: /, '').trim() : str.trim();
        write(`precheck: ${cmd} (see --help)\n`);
      },
    })
    .exitOverride();
  // The registrar table: literal import() so the architecture test sees every edge from cli/.
  const parts: Array<[string, () => Promise<Record<string, unknown>>, string]> = [
    ['server', () => import('../server/cli.ts'), 'registerServerCommands'],
    ['device', () => import('../device/cli.ts'), 'registerDeviceCommands'],
    ['bridge', () => import('../host-bridge/cli.ts'), 'registerBridgeCommands'],
    ['session', () => import('../host-bridge/session/commands.ts'), 'registerSessionCommands'],
    ['sync', () => import('../host-bridge/sync/command.ts'), 'registerSyncCommand'],
    ['simulate', () => import('../tools/simulator/command.ts'), 'registerSimulateCommand'],
    ['up', () => import('../tools/up/command.ts'), 'registerUpCommand'],
    ['doctor', () => import('../host-bridge/doctor/command.ts'), 'registerDoctorCommands'],
  ];
  for (const [part, load, fn] of parts) {
    const register = (await load())[fn];
    if (typeof register !== 'function') throw new Error(`${part} does not export ${fn}()`);
    (register as (p: Command) => void)(program);
  }
  return program;
}

export async function main(argv: string[]): Promise<void> {
  let program: Command;
  try {
    program = await buildProgram();
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      process.exitCode = err.exitCode === 0 ? 0 : EXIT.USAGE;
      return;
    }
    process.stderr.write(`precheck: ${errorLine(err)}\n`);
    process.exitCode = exitCodeFor(err);
  }
}
