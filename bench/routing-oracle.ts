// What routing alone could still add (issue 11's attempt-success target; bench/REPORT.md). Not
// part of `npm run bench`:
//   nice -n 10 node --import tsx bench/routing-oracle.ts bench/scenarios/NAME.json
// (steady is scaled by BENCH_SIM_STEADY_DAYS as in the bench) plays the scenario exactly as
// bench/simulator.bench.ts does, with arm B's gateways chosen by an oracle that knows the market's
// own model (tools/simulator/oracle-port.ts); Precheck's decisions, prompts, screening and learning
// are its own. Compare with the normal run of the same scenario.
import { loadScenario } from '../tools/simulator/scenario.ts';
import { simulate } from '../tools/simulator/simulate.ts';
import { startSimDevice } from '../tools/simulator/simulate-device.ts';
import { attemptCauses, headline } from './attempt-causes.ts';
import { scaled } from './simulator.bench.ts';

const file = process.argv[2];
if (!file) throw new Error('usage: node --import tsx bench/routing-oracle.ts SCENARIO.json');
const scenario = scaled(loadScenario(file)).scenario;
const { report: r, market, b } = await simulate({ scenario, target: { kind: 'self-contained', verifier: 'device', startDevice: startSimDevice, syncFollow: true }, oracleRouting: true });
process.stdout.write(`${scenario.name} with the oracle's gateways: ${headline(r)}; Precheck's gateway kept ${r.oracle?.kept}, replaced ${r.oracle?.replaced}\n`);
process.stdout.write(`expected acceptance lost on new payable cards against each segment's best gateway: ${attemptCauses(market, b).expectedLoss.toFixed(1)} attempts\n`);
