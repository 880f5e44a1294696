// The executable entry of the built product (dist/cli/main.js): bin/precheck.js loads it, and
// the parts that start `precheck` children (tools/up/) run it with plain node.
import { main } from './program.ts';

await main(process.argv);
