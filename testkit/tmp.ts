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
