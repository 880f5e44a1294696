import { readFileSync } from 'node:fs';

/** package.json's version: the repository's from the sources, dist/package.json (written by the build) from dist/. */
export function productVersion(): string {
  return (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
}
