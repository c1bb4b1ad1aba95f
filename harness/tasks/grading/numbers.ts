// Numbers, exactly. A written number of any size (1e999999, -5e400, 0.1, 1,000) becomes a big
// decimal (sign, BigInt mantissa, decimal exponent), so numbers beyond double range compare
// exactly, never as ±Infinity or as 0 by underflow. Exact rationals (BigInt numerator and
// denominator) carry fractions and the exact evaluation of integer arithmetic in expressions.
// Every BigInt here is bounded in size (MAX_BITS) so no input can make arithmetic slow.

/** Largest BigInt (in bits) any exact computation may produce; beyond it, exactness is given up. */
export const MAX_BITS = 20000;
/** Largest decimal exponent accepted by `decimalToRational` (10^4000 is about 13,300 bits). */
const MAX_RATIONAL_EXP = 4000;

/** value = sign × mant × 10^exp; mant has no trailing zeros (0 is { sign: 0, mant: 0n, exp: 0 }). */
export interface Decimal {
  sign: -1 | 0 | 1;
  mant: bigint;
  exp: number;
  /** Written with a decimal point (an approximation may be meant), e.g. "0.33", "2.0". */
  point: boolean;
}

const DECIMAL = /^([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d{1,9}))?$/;

/** Parses a plain decimal number ("-12", ".5", "1.50", "1e999999", "2.5E-3"); null otherwise. */
export function parseDecimal(s: string): Decimal | null {
  if (s.length > 2000) return null;
  const m = DECIMAL.exec(s);
  if (!m) return null;
  const int = m[2]!, frac = m[3] ?? '';
  if (!int.length && !frac.length) return null;
  let digits = (int + frac).replace(/^0+/, '');
  let exp = (m[4] ? Number(m[4]) : 0) - frac.length;
  if (!digits.length) return { sign: 0, mant: 0n, exp: 0, point: m[3] !== undefined };
  const trimmed = digits.replace(/0+$/, '');
  exp += digits.length - trimmed.length;
  digits = trimmed;
  return { sign: m[1] === '-' ? -1 : 1, mant: BigInt(digits), exp, point: m[3] !== undefined };
}

/** Order of magnitude: the exponent of the leading digit (12.3 → 1). */
function magnitude(d: Decimal): number {
  return d.exp + d.mant.toString().length - 1;
}

export function decimalIsInteger(d: Decimal): boolean {
  return d.exp >= 0;
}

/** The nearest double, which may be ±Infinity or 0 for numbers beyond double range. */
export function decimalToNumber(d: Decimal): number {
  if (d.sign === 0) return 0;
  return Number(`${d.sign < 0 ? '-' : ''}${d.mant}e${d.exp}`);
}

/** Whether the double nearest `d` is finite and, for a nonzero `d`, a normal nonzero number. */
export function inDoubleRange(d: Decimal): boolean {
  if (d.sign === 0) return true;
  const mag = magnitude(d);
  return mag < 308 && mag > -307;
}

/** Exact equality (1.50 = 1.5 = 15e-1; 1e999999 ≠ 2e999999). */
export function decimalsEqual(a: Decimal, b: Decimal): boolean {
  return a.sign === b.sign && a.mant === b.mant && a.exp === b.exp;
}

/** |a − b| ≤ relTol · max(|a|, |b|), computed exactly at any magnitude (relTol < 0.1). */
export function decimalsClose(a: Decimal, b: Decimal, relTol: number): boolean {
  if (decimalsEqual(a, b)) return true;
  if (a.sign !== b.sign || a.sign === 0) return false;
  if (Math.abs(magnitude(a) - magnitude(b)) > 1) return false;
  const e = Math.min(a.exp, b.exp);
  // Aligning costs at most the mantissas' own length plus one digit: both are bounded by input size.
  const ma = a.mant * 10n ** BigInt(a.exp - e), mb = b.mant * 10n ** BigInt(b.exp - e);
  const diff = ma > mb ? ma - mb : mb - ma;
  const max = ma > mb ? ma : mb;
  return diff * BigInt(Math.round(1 / relTol)) <= max;
}

/** `d` / 100 (a percentage as a fraction). */
export function percentOf(d: Decimal): Decimal {
  return d.sign === 0 ? d : { ...d, exp: d.exp - 2 };
}

// ---------------------------------------------------------------------------------------------
// Exact rationals

/** n / d with d > 0 and gcd(n, d) = 1. */
export interface Rational {
  n: bigint;
  d: bigint;
}

function bits(x: bigint): number {
  return (x < 0n ? -x : x).toString(16).length * 4;
}

function gcd(a: bigint, b: bigint): bigint {
  if (a < 0n) a = -a;
  if (b < 0n) b = -b;
  while (b) [a, b] = [b, a % b];
  return a;
}

/** A normalised rational, or null when zero denominator or beyond MAX_BITS. */
export function rational(n: bigint, d: bigint = 1n): Rational | null {
  if (d === 0n) return null;
  if (d < 0n) {
    n = -n;
    d = -d;
  }
  const g = gcd(n, d);
  if (g > 1n) {
    n /= g;
    d /= g;
  }
  if (bits(n) > MAX_BITS || bits(d) > MAX_BITS) return null;
  return { n, d };
}

export function decimalToRational(x: Decimal): Rational | null {
  if (Math.abs(x.exp) > MAX_RATIONAL_EXP) return null;
  const m = x.sign < 0 ? -x.mant : x.mant;
  return x.exp >= 0 ? rational(m * 10n ** BigInt(x.exp)) : rational(m, 10n ** BigInt(-x.exp));
}

export const ratAdd = (a: Rational, b: Rational): Rational | null => rational(a.n * b.d + b.n * a.d, a.d * b.d);
export const ratSub = (a: Rational, b: Rational): Rational | null => rational(a.n * b.d - b.n * a.d, a.d * b.d);
export const ratMul = (a: Rational, b: Rational): Rational | null => rational(a.n * b.n, a.d * b.d);
export const ratDiv = (a: Rational, b: Rational): Rational | null => rational(a.n * b.d, a.d * b.n);
export const ratNeg = (a: Rational): Rational => ({ n: -a.n, d: a.d });
export const ratEqual = (a: Rational, b: Rational): boolean => a.n === b.n && a.d === b.d;
export const ratIsInteger = (a: Rational): boolean => a.d === 1n;

/** a^k for an integer k, refused (null) when the result would exceed MAX_BITS. */
export function ratPow(a: Rational, k: Rational): Rational | null {
  if (k.d !== 1n) return null;
  const e = k.n < 0n ? -k.n : k.n;
  if (a.n === 0n) return k.n < 0n ? null : k.n === 0n ? rational(1n) : a;
  if (e > BigInt(MAX_BITS)) {
    // Only ±1 survive huge exponents.
    if (a.d === 1n && (a.n === 1n || a.n === -1n)) return rational(a.n === -1n && e % 2n ? -1n : 1n);
    return null;
  }
  if ((bits(a.n) + bits(a.d)) * Number(e) > 2 * MAX_BITS) return null;
  const r = rational(a.n ** e, a.d ** e);
  return r && k.n < 0n ? rational(r.d, r.n) : r;
}

/** n! for 0 ≤ n ≤ 2000 (about 19,000 bits). */
export function ratFactorial(a: Rational): Rational | null {
  if (a.d !== 1n || a.n < 0n || a.n > 2000n) return null;
  let r = 1n;
  for (let i = 2n; i <= a.n; i++) r *= i;
  return rational(r);
}

/** C(n, k) exactly, bounded by MAX_BITS. */
export function ratBinomial(n: Rational, k: Rational): Rational | null {
  if (n.d !== 1n || k.d !== 1n || n.n < 0n || k.n < 0n) return null;
  if (k.n > n.n) return rational(0n);
  let kk = k.n < n.n - k.n ? k.n : n.n - k.n;
  if (kk > 5000n) return null;
  let r = 1n;
  for (let i = 1n; i <= kk; i++) {
    r = (r * (n.n - kk + i)) / i;
    if (bits(r) > MAX_BITS) return null;
  }
  return rational(r);
}

/** The double nearest a rational (may be ±Infinity or 0 beyond double range). */
export function ratToNumber(a: Rational): number {
  if (bits(a.n) < 1000 && bits(a.d) < 1000) return Number(a.n) / Number(a.d);
  // Scale to keep about 60 significant bits before dividing.
  const shift = bits(a.n) - bits(a.d) - 60;
  const q = shift >= 0 ? a.n / (a.d << BigInt(shift)) : (a.n << BigInt(-shift)) / a.d;
  return Number(q) * 2 ** shift;
}

/** |a − b| ≤ relTol · max(|a|, |b|), exactly. */
export function ratClose(a: Rational, b: Rational, relTol: number): boolean {
  if (ratEqual(a, b)) return true;
  const diff = ratSub(a, b);
  if (!diff) return false;
  const abs = (x: Rational) => (x.n < 0n ? ratNeg(x) : x);
  const ma = abs(a), mb = abs(b);
  const max = ma.n * mb.d >= mb.n * ma.d ? ma : mb;
  const d = abs(diff);
  // d ≤ relTol·max  ⇔  d.n · max.d · K ≤ max.n · d.d  with K = 1/relTol.
  return d.n * max.d * BigInt(Math.round(1 / relTol)) <= max.n * d.d;
}
