/**
 * NUMERIC text from PostgreSQL → Decimal, without decimal.js's general string path.
 *
 * `new Decimal(text)` tests the text with a regular expression, strips the point with
 * `String.replace`, and slices the digits into base-1e7 words one substring at a time: about
 * 0.4 µs per value, most of the cost of reading a row of prices. PostgreSQL writes NUMERIC in
 * one plain form only (`-?digits[.digits]`, never an exponent; `NaN`, `Infinity`, `-Infinity`
 * since 14), so this builds the same Decimal in one pass over the characters.
 *
 * It relies on decimal.js 10.x's representation (the package pins 10.6.0): an instance has own
 * fields `constructor` (the Decimal constructor), `s` (sign, 1 or -1), `e` (base-10 exponent of
 * the first significant digit) and `d` (digits in base 1e7 words, most significant first, the
 * first word carrying (e + 1) mod 7 digits, or 7, and no trailing zero word). Zero is
 * `{ e: 0, d: [0] }` with its sign. test/runtime/numeric.test.ts compares every field against
 * `new Decimal(text)` on generated values, so an upgrade that changes the representation fails
 * there, not in someone's ledger. Anything else (NaN, the infinities, text that is not plain
 * NUMERIC, an exponent outside Decimal.minE/maxE) goes to `new Decimal(text)` itself.
 */
import { Decimal } from 'decimal.js';

/** Digits per word of decimal.js's `d` (its LOG_BASE). */
const WORD = 7;
const POWERS = [1, 10, 100, 1_000, 10_000, 100_000, 1_000_000, 10_000_000];

const PROTOTYPE = Decimal.prototype;

/**
 * A Decimal with these fields, as decimal.js's constructor builds one: the same own properties
 * in the same order (`constructor`, `s`, `e`, `d`) on Decimal.prototype.
 */
function decimal(s: number, e: number, d: number[]): Decimal {
  const x = Object.create(PROTOTYPE) as { constructor: unknown; s: number; e: number; d: number[] };
  x.constructor = Decimal;
  x.s = s;
  x.e = e;
  x.d = d;
  return x as unknown as Decimal;
}

/** The Decimal that `new Decimal(text)` gives, for NUMERIC output text. */
export function parseNumeric(text: string): Decimal {
  const length = text.length;
  const negative = text.charCodeAt(0) === 45; // '-'
  const start = negative ? 1 : 0;
  // One pass: where the point is, the first and last significant digit, and that it is plain NUMERIC.
  let point = -1;
  let first = -1;
  let last = -1;
  for (let i = start; i < length; i++) {
    const code = text.charCodeAt(i);
    if (code === 46) {
      // '.': one only, with digits on both sides (PostgreSQL never writes '1.' or '.5').
      if (point >= 0 || i === start || i === length - 1) return new Decimal(text);
      point = i;
    } else if (code >= 48 && code <= 57) {
      if (code !== 48) {
        if (first < 0) first = i;
        last = i;
      }
    } else {
      return new Decimal(text); // NaN, Infinity, -Infinity, or not NUMERIC output: decimal.js decides
    }
  }
  if (length === start) return new Decimal(text);
  const sign = negative ? -1 : 1;
  if (first < 0) return decimal(sign, 0, [0]); // zero, signed as written, like decimal.js
  // Base-10 exponent of the first significant digit: digits between it and the point.
  const integerEnd = point < 0 ? length : point;
  const e = first < integerEnd ? integerEnd - first - 1 : integerEnd - first;
  if (e > Decimal.maxE || e < Decimal.minE) return new Decimal(text);
  // Significant digits, and the words they fill: the first `width` digits, then 7 per word.
  let width = (e + 1) % WORD;
  if (width <= 0) width += WORD;
  const significant = last - first + 1 - (point > first && point < last ? 1 : 0);
  if (significant <= width) return decimal(sign, e, [digitsAt(text, first, last) * POWERS[width - significant]!]);
  const words: number[] = [];
  let word = 0;
  let filled = 0;
  for (let i = first; i <= last; i++) {
    const code = text.charCodeAt(i);
    if (code === 46) continue;
    word = word * 10 + (code - 48);
    if (++filled === width) {
      words.push(word);
      word = 0;
      filled = 0;
      width = WORD;
    }
  }
  if (filled) words.push(word * POWERS[width - filled]!);
  return decimal(sign, e, words);
}

/** The digits of text[from..to] as a number (a '.' among them skipped): at most 7 of them. */
function digitsAt(text: string, from: number, to: number): number {
  let value = 0;
  for (let i = from; i <= to; i++) {
    const code = text.charCodeAt(i);
    if (code !== 46) value = value * 10 + (code - 48);
  }
  return value;
}
