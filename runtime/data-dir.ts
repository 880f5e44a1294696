// Data directories checked before anything uses them, so a bad --data is one line and exit 2
// instead of a raw EEXIST/EACCES, and never a hang: Node's recursive mkdir loops forever on some
// pseudo file systems (`mkdir -p /proc/x`), so missing levels are created one at a time.
import fs from 'node:fs';
import path from 'node:path';
import { CliError, EXIT } from '../errors/cli-exit.ts';

const WHY: Record<string, string> = {
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EROFS: 'read-only file system',
  ENOSPC: 'no space left on the device',
  ENOENT: 'the file system does not allow creating it',
  ENOTDIR: 'a parent is not a directory',
  ELOOP: 'too many symbolic links',
  ENAMETOOLONG: 'name too long',
};

function why(e: unknown): string {
  const code = (e as NodeJS.ErrnoException).code ?? '';
  return WHY[code] ? `${WHY[code]} (${code})` : code || (e as Error).message;
}

/**
 * Make sure `dir` is a writable directory (creating missing levels, mode 0700, when `create`);
 * returns its absolute path. Every problem is a CliError with exit code 2 naming the option.
 */
export function prepareDir(dir: string, option: string, create = true): string {
  if (typeof dir !== 'string' || dir.trim() === '' || dir.includes('\0')) throw new CliError(`${option}: give a directory`, EXIT.USAGE);
  const abs = path.resolve(dir);
  const missing: string[] = [];
  let cur = abs;
  for (;;) {
    let st: fs.Stats;
    try {
      st = fs.statSync(cur);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') {
        const up = path.dirname(cur);
        if (up === cur) throw new CliError(`${option} ${dir}: cannot create it (no existing parent)`, EXIT.USAGE);
        missing.unshift(cur);
        cur = up;
        continue;
      }
      throw new CliError(`${option} ${dir}: ${cur} is not usable: ${why(e)}`, EXIT.USAGE);
    }
    if (!st.isDirectory()) throw new CliError(`${option} ${dir}: ${cur} exists and is not a directory`, EXIT.USAGE);
    break;
  }
  if (missing.length > 0 && !create) throw new CliError(`${option} ${dir}: no such directory`, EXIT.USAGE);
  try {
    fs.accessSync(cur, fs.constants.W_OK | fs.constants.X_OK);
  } catch (e) {
    throw new CliError(`${option} ${dir}: ${cur} is not writable: ${why(e)}`, EXIT.USAGE);
  }
  for (const m of missing) {
    try {
      fs.mkdirSync(m, { mode: 0o700 });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST' && fs.statSync(m).isDirectory()) continue;
      throw new CliError(`${option} ${dir}: cannot create ${m}: ${why(e)}`, EXIT.USAGE);
    }
  }
  return abs;
}
