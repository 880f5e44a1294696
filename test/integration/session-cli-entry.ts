// The real CLI root with the session commands added if the bridge CLI does not register them
// yet (the lead wires registerSessionCommands into host-bridge/cli.ts). Same error handling and
// exit codes as bin/precheck.js.
import { CommanderError } from 'commander';
import { EXIT, buildProgram, errorLine, exitCodeFor } from '../../bin/cli.ts';
import { registerSessionCommands } from '../../host-bridge/session/commands.ts';

try {
  const program = await buildProgram();
  if (!program.commands.some((c) => c.name() === 'devices')) registerSessionCommands(program);
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) process.exitCode = err.exitCode === 0 ? 0 : EXIT.USAGE;
  else {
    process.stderr.write(`precheck: ${errorLine(err)}\n`);
    process.exitCode = exitCodeFor(err);
  }
}
