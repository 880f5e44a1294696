// Checks `precheck up` makes before starting anything, so the usual problems are one clear line
// instead of a child's stack trace: a port already taken, socat missing.
import { CliError } from '../../errors/cli-exit.ts';
import { findExecutable } from '../../runtime/executables.ts';
import net from 'node:net';

/** A failure of `precheck up`: one line and its exit code (EXIT: 2 usage, 3 unavailable, 1 failure). */
export class UpError extends CliError {
  override name = 'UpError';
}

/** Resolves when `port` on `host` can be bound right now; UpError (exit 3) when it is taken. */
export async function checkPortFree(host: string, port: number, what: string): Promise<void> {
  if (port === 0) return;
  await new Promise<void>((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'EADDRINUSE') reject(new UpError(`port ${port} on ${host} is already in use (${what}); stop what holds it or choose another port`, 3));
      else if (e.code === 'EACCES') reject(new UpError(`no permission to listen on port ${port} on ${host} (${what}); choose a port above 1023`, 3));
      else reject(new UpError(`cannot listen on ${host}:${port} (${what}): ${e.code ?? e.message}`, 3));
    });
    srv.listen({ host, port, exclusive: true }, () => srv.close(() => resolve()));
  });
}

/** Absolute path of an executable on PATH, or null. */
export function requireSocat(envPath?: string): string {
  const p = findExecutable('socat', envPath);
  if (!p) {
    throw new UpError('socat is not installed (needed for the emulated RS485 bus): apt-get install socat, or run with --no-emulate', 3);
  }
  return p;
}
