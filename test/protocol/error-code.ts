// The code of the ProtocolError `f` throws (undefined when it returns); any other exception fails
// the test, since decoders must never let one escape.
import { expect } from 'vitest';
import { ProtocolError } from '../../protocol/errors.ts';

export function codeOf(f: () => unknown): string | undefined {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(ProtocolError);
    return (e as ProtocolError).code;
  }
  return undefined;
}
