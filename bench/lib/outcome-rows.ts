// Synthetic gateway outcomes for the benchmarks that seed the service's history table: one
// shape for all, so a change to OutcomeRow is made once.
import type { OutcomeRow } from '../../server/storage/storage.ts';

/** Outcome `j` for card `token` at `at` (seconds): a failure with soft decline `code` when one is given, else a success. */
export function benchOutcomeRow(token: Uint8Array, j: number, at: number, currency: string, code: string | null): OutcomeRow {
  return {
    idempotencyKey: '',
    merchant: 'bench',
    token,
    bin: '411111',
    last4: '0000',
    brand: 'visa',
    orderId: `o${j}`,
    amount: 1000 + (j % 5000),
    currency,
    gateway: j % 2 ? 'gw-a' : 'gw-b',
    status: code ? 'failure' : 'success',
    code,
    type: code ? 'soft' : null,
    at,
    hard: false,
  };
}
