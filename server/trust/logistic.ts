// L2-regularised logistic regression, fitted by Newton's method (IRLS) on standardised features.
// Hand-written on purpose: the npm candidates are either unmaintained, lack L2 regularisation
// (ml-logistic-regression 2.0.0: plain gradient descent, no penalty) or need native/GPU backends
// (TensorFlow.js); and with ~20 features Newton's method is ~60 lines, exact and deterministic:
// the penalised log-likelihood is strictly convex, so it converges in a handful of steps to the
// one optimum, whatever the order of the rows.

export interface LogisticFit {
  weights: number[]; // per standardised feature
  bias: number;
  iterations: number;
  converged: boolean;
}

export interface LogisticOptions {
  l2: number; // penalty λ on the weights (not the bias), per row: loss = mean NLL + λ/2 |w|²
  maxIterations: number;
  tolerance: number; // stop when the largest Newton step is below this
}

export function sigmoid(z: number): number {
  if (z >= 0) return 1 / (1 + Math.exp(-z));
  const e = Math.exp(z);
  return e / (1 + e);
}

/** Fits on rows already standardised. y: 1 = good, 0 = bad. */
export function fitLogistic(x: readonly Float64Array[], y: readonly number[], opts: LogisticOptions): LogisticFit {
  const n = x.length;
  if (n === 0) throw new RangeError('no rows to fit');
  const d = x[0].length;
  const p = d + 1; // last parameter is the bias
  const beta = new Float64Array(p);
  const grad = new Float64Array(p);
  const hess = new Float64Array(p * p);
  let converged = false;
  let it = 0;
  for (; it < opts.maxIterations && !converged; it++) {
    grad.fill(0);
    hess.fill(0);
    for (let r = 0; r < n; r++) {
      const row = x[r];
      let z = beta[d];
      for (let j = 0; j < d; j++) z += beta[j] * row[j];
      const mu = sigmoid(z);
      const err = mu - y[r];
      const w = Math.max(mu * (1 - mu), 1e-12);
      for (let j = 0; j < p; j++) {
        const xj = j < d ? row[j] : 1;
        grad[j] += err * xj;
        for (let k = 0; k <= j; k++) hess[j * p + k] += w * xj * (k < d ? row[k] : 1);
      }
    }
    for (let j = 0; j < p; j++) {
      grad[j] /= n;
      for (let k = 0; k <= j; k++) {
        hess[j * p + k] /= n;
        hess[k * p + j] = hess[j * p + k];
      }
    }
    for (let j = 0; j < d; j++) {
      grad[j] += opts.l2 * beta[j];
      hess[j * p + j] += opts.l2;
    }
    hess[d * p + d] += 1e-9; // keeps the bias direction positive definite with one-class data
    const step = choleskySolve(hess, grad, p);
    let maxStep = 0;
    for (let j = 0; j < p; j++) {
      beta[j] -= step[j];
      maxStep = Math.max(maxStep, Math.abs(step[j]));
    }
    converged = maxStep < opts.tolerance;
  }
  return { weights: Array.from(beta.subarray(0, d)), bias: beta[d], iterations: it, converged };
}

/** Solves A x = b for symmetric positive-definite A (row-major p×p). */
function choleskySolve(a: Float64Array, b: Float64Array, p: number): Float64Array {
  const l = new Float64Array(p * p);
  for (let i = 0; i < p; i++) {
    for (let j = 0; j <= i; j++) {
      let s = a[i * p + j];
      for (let k = 0; k < j; k++) s -= l[i * p + k] * l[j * p + k];
      if (i === j) l[i * p + i] = Math.sqrt(Math.max(s, 1e-12));
      else l[i * p + j] = s / l[j * p + j];
    }
  }
  const z = new Float64Array(p);
  for (let i = 0; i < p; i++) {
    let s = b[i];
    for (let k = 0; k < i; k++) s -= l[i * p + k] * z[k];
    z[i] = s / l[i * p + i];
  }
  const x = new Float64Array(p);
  for (let i = p - 1; i >= 0; i--) {
    let s = z[i];
    for (let k = i + 1; k < p; k++) s -= l[k * p + i] * x[k];
    x[i] = s / l[i * p + i];
  }
  return x;
}
