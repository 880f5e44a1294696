// Seeded pseudo-random numbers for the market simulator. Hand-written (no library in the project
// does seeded streams) because the whole point is reproducibility: the same scenario and seed must
// give the same orders, cards and customer choices on every machine and Node version, and each
// order needs its own independent sub-stream so that a decision taken in one arm never shifts the
// random draws of the other. Math.random cannot be seeded, and node:crypto is not reproducible.
//
// Generator: sfc32 (Chris Doty-Humphrey's Small Fast Counting generator, 128-bit state, passes
// PractRand to 2^40+ bytes). Seeding: a string (scenario seed + labels) is hashed with cyrb128 into
// the four state words, then 12 outputs are discarded (the published sfc32 warm-up).

/** cyrb128: a fast 128-bit string hash (public domain, bryc), used only to derive seeds. */
export function cyrb128(str: string): [number, number, number, number] {
  let h1 = 1779033703;
  let h2 = 3144134277;
  let h3 = 1013904242;
  let h4 = 2773480762;
  for (let i = 0; i < str.length; i++) {
    const k = str.charCodeAt(i);
    h1 = h2 ^ Math.imul(h1 ^ k, 597399067);
    h2 = h3 ^ Math.imul(h2 ^ k, 2869860233);
    h3 = h4 ^ Math.imul(h3 ^ k, 951274213);
    h4 = h1 ^ Math.imul(h4 ^ k, 2716044179);
  }
  h1 = Math.imul(h3 ^ (h1 >>> 18), 597399067);
  h2 = Math.imul(h4 ^ (h2 >>> 22), 2869860233);
  h3 = Math.imul(h1 ^ (h3 >>> 17), 951274213);
  h4 = Math.imul(h2 ^ (h4 >>> 19), 2716044179);
  h1 ^= h2 ^ h3 ^ h4;
  h2 ^= h1;
  h3 ^= h1;
  h4 ^= h1;
  return [h1 >>> 0, h2 >>> 0, h3 >>> 0, h4 >>> 0];
}

/** A seeded stream of numbers in [0, 1) with the helpers the simulator needs. */
export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  /** `seed` and `labels` are joined into one string: Rng.of(7, 'order', 12) is its own stream. */
  constructor(seed: string | number, ...labels: Array<string | number>) {
    [this.a, this.b, this.c, this.d] = cyrb128([String(seed), ...labels.map(String)].join('\u001f'));
    for (let i = 0; i < 12; i++) this.nextU32();
  }

  /** One 32-bit unsigned output of sfc32. */
  nextU32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    return this.nextU32() / 4294967296;
  }

  /** Integer in [0, n). */
  int(n: number): number {
    if (!(Number.isInteger(n) && n > 0)) throw new RangeError('Rng.int needs a positive integer');
    return Math.floor(this.next() * n);
  }

  /** True with probability p. */
  chance(p: number): boolean {
    return this.next() < p;
  }

  /** A key of `weights` drawn in proportion to its weight (keys in insertion order). */
  weighted<K extends string>(weights: Readonly<Record<K, number>>): K {
    const entries = Object.entries(weights) as Array<[K, number]>;
    const total = entries.reduce((s, [, w]) => s + w, 0);
    let u = this.next() * total;
    for (const [k, w] of entries) {
      if (u < w) return k;
      u -= w;
    }
    return entries[entries.length - 1][0];
  }

  /** Standard normal (Box–Muller; the second value is dropped to keep the stream simple). */
  normal(): number {
    let u = this.next();
    while (u === 0) u = this.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.next());
  }

  /** Log-normal with the given median and log-sd sigma. */
  logNormal(median: number, sigma: number): number {
    return median * Math.exp(sigma * this.normal());
  }
}

/**
 * Per-order sub-streams: each (order, purpose, index) key is its own Rng, created on demand and
 * independent of how many draws other keys consumed. Both arms ask for the same keys where their
 * paths coincide, so they see the same customer choices there.
 */
export class DrawBook {
  constructor(
    private readonly seed: string | number,
    private readonly orderId: string,
  ) {}

  /** One uniform draw for a named decision (purpose + index), identical in both arms. */
  u(purpose: string, ...index: Array<string | number>): number {
    return new Rng(this.seed, 'order', this.orderId, purpose, ...index).next();
  }

  rng(purpose: string, ...index: Array<string | number>): Rng {
    return new Rng(this.seed, 'order', this.orderId, purpose, ...index);
  }
}
