// `precheck simulate`: argument errors are one line with the usage exit code; a small
// self-contained run goes through a real network service and bridge over HTTP.
import path from 'node:path';
import { Command } from 'commander';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { registerSimulateCommand } from '../../tools/simulator/command.ts';
import { CliError, EXIT } from '../../errors/cli-exit.ts';
import { loadScenario } from '../../tools/simulator/scenario.ts';
import { buildMarket } from '../../tools/simulator/market.ts';

const calm = path.resolve(import.meta.dirname, '../../bench/scenarios/calm.json');

async function run(args: string[]): Promise<{ out: string; err: unknown }> {
  const program = new Command('precheck').exitOverride();
  registerSimulateCommand(program);
  let out = '';
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    out += String(chunk);
    return true;
  });
  try {
    await program.parseAsync(['node', 'precheck', 'simulate', ...args]);
    return { out, err: null };
  } catch (e) {
    return { out, err: e };
  } finally {
    spy.mockRestore();
  }
}

afterEach(() => vi.restoreAllMocks());

describe('precheck simulate', () => {
  it.each([
    [['--scenario', calm, '--orders', '0'], '--orders must be an integer from 1 to 1000000 (got "0")', EXIT.USAGE],
    [['--scenario', calm, '--seed', '-3'], '--seed must be an integer from 0 to 4294967295 (got "-3")', EXIT.USAGE],
    [['--scenario', calm, '--bridge', 'http://127.0.0.1:9', '--self-contained'], '--self-contained and --bridge exclude each other', EXIT.USAGE],
    [['--scenario', calm, '--verifier', 'hsm'], '--verifier must be "device", "token" or "none" (got "hsm")', EXIT.USAGE],
    [['--scenario', '/nonexistent/x.json'], 'x.json: cannot read scenario file (ENOENT)', EXIT.USAGE],
  ])('refuses %j with one line', async (args, message, code) => {
    const { err } = await run(args);
    expect(err).toBeInstanceOf(CliError);
    expect((err as CliError).message).toBe(message);
    expect((err as CliError).exitCode).toBe(code);
  });

  it('says when the bridge is not there (exit code "unavailable")', async () => {
    const { err } = await run(['--scenario', calm, '--bridge', 'http://127.0.0.1:9', '--orders', '3']);
    expect(err).toBeInstanceOf(CliError);
    expect((err as CliError).message).toMatch(/^bridge GET \/v1\/health failed: ECONNREFUSED$/);
    expect((err as CliError).exitCode).toBe(EXIT.UNAVAILABLE);
  });

  it('runs a small self-contained market through a real service and bridge and prints JSON', async () => {
    const { out, err } = await run(['--scenario', calm, '--orders', '25', '--resamples', '50', '--verifier', 'token', '--json']);
    expect(err).toBeNull();
    const report = JSON.parse(out);
    expect(report.scenario).toBe('calm');
    expect(report.orders).toBe(25);
    expect(report.arms.A.orders).toBe(25);
    expect(report.arms.B.orders).toBe(25);
    // every verification went to the bridge and came back with a stage
    const stages = Object.values(report.precheck.stages as Record<string, number>).reduce((s, n) => s + n, 0);
    expect(stages).toBe(report.arms.B.verifies);
    expect(report.arms.B.verifies).toBeGreaterThanOrEqual(25);
    expect(report.precheck.reports).toBe(report.arms.B.attempts);
    // the report carries none of the run's card numbers (same seed → same synthetic cards)
    const market = buildMarket(loadScenario(calm), { orders: 25 });
    for (const c of market.cards) expect(out.includes(c.pan)).toBe(false);
  });
});
