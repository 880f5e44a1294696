// Synthetic card numbers for benchmarks: Luhn-valid, Visa range, generated in memory from an
// index and never written anywhere (only their tokens reach a dataset).

/** `body` plus its Luhn check digit. */
export function luhnComplete(body: string): string {
  let sum = 0;
  for (let i = 0; i < body.length; i++) {
    let d = body.charCodeAt(body.length - 1 - i) - 48;
    if (i % 2 === 0) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return body + ((10 - (sum % 10)) % 10);
}

/** Synthetic Visa-range test number #i (16 digits, Luhn-valid). */
export const panFor = (i: number): string => luhnComplete('4' + String(i).padStart(14, '0'));
