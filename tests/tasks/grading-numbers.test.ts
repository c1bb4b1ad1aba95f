// Exact numbers: big decimals beyond double range, exact rationals, and the size bounds that
// keep BigInt arithmetic cheap on any input.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  parseDecimal, decimalsEqual, decimalsClose, decimalToNumber, inDoubleRange, decimalIsInteger, percentOf,
  rational, decimalToRational, ratAdd, ratMul, ratDiv, ratPow, ratFactorial, ratBinomial, ratEqual, ratClose, ratToNumber, MAX_BITS,
} from '../../harness/tasks/grading/numbers.ts';

const d = (s: string) => parseDecimal(s)!;

test('decimals: parsing and canonical form', () => {
  assert.deepEqual(d('1.50'), { sign: 1, mant: 15n, exp: -1, point: true });
  assert.deepEqual(d('-0012e3'), { sign: -1, mant: 12n, exp: 3, point: false });
  assert.deepEqual(d('.5'), { sign: 1, mant: 5n, exp: -1, point: true });
  assert.deepEqual(d('-0.000'), { sign: 0, mant: 0n, exp: 0, point: true });
  for (const bad of ['', '.', '1..2', '1e', '1e1234567890', '0x10', '1,000', 'abc']) assert.equal(parseDecimal(bad), null, bad);
  assert.ok(decimalIsInteger(d('1.2e1')) && !decimalIsInteger(d('1.25e1')));
});

test('decimals beyond double range compare exactly, never as ±Infinity or 0', () => {
  assert.equal(decimalToNumber(d('1e999999')), Infinity);
  assert.equal(decimalToNumber(d('1e-999999')), 0);
  assert.equal(inDoubleRange(d('1e999999')), false);
  assert.equal(inDoubleRange(d('1.5e300')), true);
  assert.equal(decimalsEqual(d('1e999999'), d('2e999999')), false);
  assert.equal(decimalsEqual(d('1e999999'), d('10e999998')), true);
  assert.equal(decimalsEqual(d('-1e999999'), d('-5e400')), false);
  assert.equal(decimalsEqual(d('1e-999999'), d('0')), false);
  assert.equal(decimalsClose(d('1.00001e999999'), d('1e999999'), 1e-4), true);
  assert.equal(decimalsClose(d('1.001e999999'), d('1e999999'), 1e-4), false);
  assert.equal(decimalsClose(d('-1e999999'), d('1e999999'), 1e-4), false);
  assert.equal(decimalsClose(d('9.99999e5'), d('1e6'), 1e-4), true);
  assert.ok(decimalsEqual(percentOf(d('28')), d('0.28')));
});

test('rationals: exact arithmetic, normalised', () => {
  const half = rational(1n, 2n)!, third = rational(1n, 3n)!;
  assert.deepEqual(ratAdd(half, third), { n: 5n, d: 6n });
  assert.deepEqual(rational(6n, -4n), { n: -3n, d: 2n });
  assert.equal(rational(1n, 0n), null);
  assert.deepEqual(ratDiv(half, third), { n: 3n, d: 2n });
  assert.deepEqual(ratPow(rational(2n)!, rational(64n)!), { n: 18446744073709551616n, d: 1n });
  assert.deepEqual(ratPow(half, rational(-3n)!), { n: 8n, d: 1n });
  assert.equal(ratPow(half, half), null);
  assert.deepEqual(ratFactorial(rational(20n)!), { n: 2432902008176640000n, d: 1n });
  assert.deepEqual(ratBinomial(rational(10n)!, rational(3n)!), { n: 120n, d: 1n });
  assert.deepEqual(decimalToRational(d('0.125')), { n: 1n, d: 8n });
  assert.equal(ratToNumber(third), 1 / 3);
  assert.equal(ratEqual(ratMul(third, rational(3n)!)!, rational(1n)!), true);
  assert.equal(ratClose(third, decimalToRational(d('0.3333'))!, 1e-4), true);
  assert.equal(ratClose(third, decimalToRational(d('0.333'))!, 1e-4), false);
});

test('rationals refuse sizes beyond MAX_BITS instead of computing them', () => {
  assert.equal(ratPow(rational(2n)!, rational(BigInt(10 * MAX_BITS))!), null);
  assert.deepEqual(ratPow(rational(-1n)!, rational(10n ** 12n + 1n)!), { n: -1n, d: 1n });
  assert.equal(ratFactorial(rational(100000n)!), null);
  assert.equal(ratBinomial(rational(10n ** 8n)!, rational(5n * 10n ** 7n)!), null);
  assert.equal(decimalToRational(d('1e999999')), null);
  // 1000! is about 8,530 bits: exact.
  assert.ok(ratFactorial(rational(1000n)!));
});
