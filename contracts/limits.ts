// Limits both processes enforce on the bridge ↔ service bodies. One value each: the bridge refuses
// at its door exactly what the service would refuse later (when the shop can still be told).
import { PrecheckError } from '../errors/precheck-error.ts';

/** Largest amount in minor units (10^13: a trillion dollars in cents, still exact in a double). */
export const AMOUNT_MAX_MINOR = 1e13;

/** How far ahead of the receiver's clock an outcome's `at` may be (clock skew between hosts), seconds. */
export const AT_MAX_SKEW_S = 300;

/** Largest `at` any schema accepts (u32 unix seconds, year 2106); the skew rule is the real bound. */
export const AT_MAX = 0xffff_ffff;

/** Shop-supplied identifiers (order, account, device ids): printable, no spaces, no quotes. */
export const ID_PATTERN = '^[A-Za-z0-9_.:/@#-]+$';

/** Gateway and merchant names. */
export const NAME_PATTERN = '^[A-Za-z0-9._-]+$';

/** Gateway / issuer response codes ("05", "51", "N7"). */
export const RESPONSE_CODE_PATTERN = '^[A-Za-z0-9]{1,8}$';

/** Largest attempt number of an outcome. */
export const ATTEMPT_MAX = 1_000_000;

export class ContractError extends PrecheckError<'INVALID_FIELD'> {
  constructor(
    message: string,
    readonly field: string,
  ) {
    super('INVALID_FIELD', message);
    this.name = 'ContractError';
  }
}

/**
 * The time rule on an outcome's `at` (unix seconds), relative to the checking side's clock. Throws
 * ContractError naming `at`. The bridge checks against its clock when it accepts the report; the
 * service against its own when the report arrives (later, so only skew can make it refuse).
 */
export function checkOutcomeAt(at: number | undefined, nowS: number): void {
  if (at === undefined) return;
  if (!Number.isInteger(at) || at < 0) throw new ContractError('at must be unix seconds', 'at');
  if (at > nowS + AT_MAX_SKEW_S) throw new ContractError(`at is in the future (more than ${AT_MAX_SKEW_S} s ahead of this clock)`, 'at');
}
