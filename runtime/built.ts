// Where the built product lives. `npm run build` compiles the sources to dist/ (same tree, .js),
// and the product runs from there with plain node: no TypeScript loader, no repository. Code that
// starts another node process (the dataset build child, `precheck up`'s children) names the built
// file through here. From dist/ that is a sibling of the running code, so a copy of dist/ with
// node_modules works anywhere; from the TypeScript sources (vitest) it is the checkout's dist/,
// which the test setup rebuilds before any test runs (test/setup/build-dist.ts).
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = fileURLToPath(import.meta.url);

/** True when this process runs the built JavaScript (dist/), false under a TypeScript runner. */
export const RUNNING_BUILT = HERE.endsWith('.js');

/** The root of the built tree: the folder holding runtime/, cli/, server/ ... as .js. */
export const BUILT_ROOT = RUNNING_BUILT ? path.resolve(path.dirname(HERE), '..') : path.resolve(path.dirname(HERE), '..', 'dist');

/** Absolute path of a built module, `rel` relative to the tree's root: 'cli/main.js'. */
export function builtFile(rel: string): string {
  return path.join(BUILT_ROOT, rel);
}

/** The built CLI entry: `node <this> server ...` is `precheck server ...`. */
export const CLI_ENTRY = builtFile('cli/main.js');
