import { expect } from 'vitest';
import { ProtocolError, type ErrorCode } from '../../../protocol/errors.ts';

export function expectProtocolError(fn: () => unknown, code: ErrorCode): ProtocolError {
  let caught: unknown = null;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  expect(caught, `expected ProtocolError ${code}`).toBeInstanceOf(ProtocolError);
  expect((caught as ProtocolError).code).toBe(code);
  return caught as ProtocolError;
}

export const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);
export const text = (b: Uint8Array): string => new TextDecoder().decode(b);
