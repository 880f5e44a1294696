// CLI root: each part of the product registers its own commands; their heavy modules load lazily
// inside the actions, so `precheck --help` is fast and one part's dependencies never break another.
import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';

/** A failure the CLI reports as one line and a stable exit code. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = 1,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

// Exit codes (documented in docs/operations.md). The one place errors become exit codes.
export const EXIT = {
  OK: 0,
  FAILURE: 1, // generic failure
  USAGE: 2, // bad arguments or config
  UNAVAILABLE: 3, // a service, port or device could not be reached
  PARTIAL: 4, // some devices failed (sync)
  REFUSED: 5, // security refusal: identity mismatch, bad signature, pairing rejected
} as const;

const REFUSAL_CODES = new Set([
  'IDENTITY_MISMATCH',
  'SIGNATURE_INVALID',
  'PAIRING_REJECTED',
  'NOT_PAIRED',
  'HANDSHAKE_FAILED',
  'FIRMWARE_INVALID',
]);
const UNAVAILABLE_CODES = new Set(['TIMEOUT', 'DISCONNECTED', 'BUSY', 'EADDRINUSE', 'ECONNREFUSED', 'ENOENT', 'BLUETOOTH_UNAVAILABLE', 'HID_UNAVAILABLE', 'SERIAL_UNAVAILABLE', 'SOCKET_UNAVAILABLE', 'NETWORK_UNAVAILABLE']);

export function exitCodeFor(err: unknown): number {
  if (err instanceof CliError) return err.exitCode;
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string') {
    if (REFUSAL_CODES.has(code)) return EXIT.REFUSED;
    if (UNAVAILABLE_CODES.has(code)) return EXIT.UNAVAILABLE;
    if (code === 'INVALID_FIELD' || code === 'BAD_REQUEST' || code === 'CONFIG_INVALID') return EXIT.USAGE;
  }
  return EXIT.FAILURE;
}

export function errorLine(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return typeof code === 'string' && !(err instanceof CliError) ? `${code}: ${err.message}` : err.message;
  }
  return String(err);
}

/** package.json's version (read once; the CLI has no build step to stamp it in). */
export function productVersion(): string {
  return (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
}

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
  const parts: Array<[string, string]> = [
    ['../server/cli.ts', 'registerServerCommands'],
    ['../device/cli.ts', 'registerDeviceCommands'],
    ['../host-bridge/cli.ts', 'registerBridgeCommands'],
    ['../host-bridge/session/commands.ts', 'registerSessionCommands'],
    ['../host-bridge/sync/command.ts', 'registerSyncCommand'],
    ['../host-bridge/simulator/command.ts', 'registerSimulateCommand'],
    ['../host-bridge/up/command.ts', 'registerUpCommand'],
    ['../host-bridge/doctor/command.ts', 'registerDoctorCommands'],
  ];
  for (const [path, fn] of parts) {
    const register = ((await import(path)) as Record<string, unknown>)[fn];
    if (typeof register !== 'function') throw new Error(`${path} does not export ${fn}()`);
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
