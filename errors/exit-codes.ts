// CLI exit codes (documented in docs/operations.md "Exit codes"). Each catalogue entry
// (errors/catalogue.ts) names one of these.
export const EXIT = {
  OK: 0,
  FAILURE: 1, // generic failure
  USAGE: 2, // bad arguments or config
  UNAVAILABLE: 3, // a service, port or device could not be reached
  PARTIAL: 4, // some devices failed (sync)
  REFUSED: 5, // security refusal: identity mismatch, bad signature, pairing rejected
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];
