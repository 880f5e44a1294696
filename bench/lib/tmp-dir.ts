// Temporary directories for benchmarks (same API as test/helpers/tmp.ts, which benchmarks must
// not import), removed on cleanup. Unix socket paths must stay under 108 bytes: keep names short.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface TempDir {
  dir: string;
  file(name: string): string;
  cleanup(): void;
}

export function makeTempDir(prefix = 'precheck-bench-'): TempDir {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  return {
    dir,
    file: (name) => path.join(dir, name),
    cleanup: () => fs.rmSync(dir, { recursive: true, force: true }),
  };
}
