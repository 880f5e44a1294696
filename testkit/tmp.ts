// Temporary directories and unix-socket paths for tests and benchmarks, removed on cleanup.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface TempDir {
  dir: string;
  /** A path inside the dir; unix socket paths must stay under 108 bytes, so names stay short. */
  file(name: string): string;
  cleanup(): void;
}

export function makeTempDir(prefix = 'precheck-'): TempDir {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  return {
    dir,
    file: (name) => path.join(dir, name),
    cleanup: () => fs.rmSync(dir, { recursive: true, force: true }),
  };
}

/** Every file below `dir`, recursively (the places a "no card number at rest" test reads). */
export function filesUnder(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? filesUnder(p) : e.isFile() ? [p] : [];
  });
}
