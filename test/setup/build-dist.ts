// vitest globalSetup: build dist/ from the sources before any test runs. Tests that start
// `precheck` (bin/precheck.js) or a dataset build child run the built code, so it must be the
// code under test: scripts/build.mjs rebuilds whenever a source differs from what dist/ was built
// from (a content hash), and fails the run if tsc does.
import { spawnSync } from 'node:child_process';
import path from 'node:path';

export default function setup(): void {
  const root = path.resolve(import.meta.dirname, '..', '..');
  const r = spawnSync(process.execPath, [path.join(root, 'scripts', 'build.mjs')], { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) throw new Error(`building dist/ failed (exit ${r.status ?? r.signal}); the tests would run stale code`);
}
