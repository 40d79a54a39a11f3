/**
 * parseNumeric (src/runtime/numeric.ts) builds Decimals from decimal.js's internals (`s`, `e`,
 * `d` in base-1e7 words) instead of calling its constructor. These tests pin that: on many
 * generated NUMERIC texts, and on what the server itself writes, every field, the prototype and
 * the arithmetic of the result equal `new Decimal(text)`'s. A decimal.js that represents
 * numbers differently fails here.
 */
import { Decimal } from 'decimal.js';
import { describe, expect, it } from 'vitest';
import { pgTypes } from '../../src/runtime/codecs.js';
import { parseNumeric } from '../../src/runtime/numeric.js';
import { withRollback } from '../support/db.js';

/** A small seeded generator (mulberry32): the same values on every run. */
function generator(seed: number) {
  let state = seed >>> 0;
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (below: number) => Math.floor(next() * below);
  const digits = (count: number) => Array.from({ length: count }, () => String(int(10))).join('');
  return { next, int, digits };
}

/** NUMERIC output texts: PostgreSQL's one form, `-?digits[.digits]`, of every shape. */
function numericTexts(count: number): string[] {
  const { next, int, digits } = generator(14);
  const texts: string[] = [];
  for (let n = 0; n < count; n++) {
    const sign = next() < 0.3 ? '-' : '';
    // Integer part: 0 (a fraction), short, around a word (7 digits), or long.
    const integerDigits = [0, 0, 1, 2, 6, 7, 8, 13, 14, 15, 21, 40][int(12)]!;
    let integer = integerDigits === 0 ? '0' : String(1 + int(9)) + digits(integerDigits - 1);
    if (next() < 0.2) integer = integer.replace(/.$/, '0'); // a trailing zero before the point
    const scale = [0, 0, 1, 2, 4, 4, 6, 7, 8, 13, 14, 20, 35][int(13)]!;
    let fraction = digits(scale);
    if (scale && next() < 0.3) fraction = '0'.repeat(int(scale)) + fraction.slice(int(scale) + 1); // leading zeros
    if (scale && next() < 0.3) fraction = fraction.slice(0, Math.max(0, scale - 1 - int(scale))).padEnd(scale, '0'); // trailing zeros
    texts.push(`${sign}${integer}${fraction ? `.${fraction}` : ''}`);
  }
  return texts;
}

const EDGES = [
  '0', '-0', '0.0000', '-0.0000', '1', '-1', '10', '100.0000', '9999999', '10000000', '10000001', '0.1', '0.0000001',
  '0.00000001', '0.0000000100', '1234567.1234567', '12345678.12345678', '0.4200', '0.0100', '-0.0500', '1.0000000000000000001',
  `1${'0'.repeat(1000)}`, `-${'9'.repeat(131_072)}`, `0.${'0'.repeat(16_382)}1`, `-0.${'0'.repeat(16_000)}${'7'.repeat(383)}`,
  `${'1234567'.repeat(30)}.${'7654321'.repeat(30)}`,
  // Not what PostgreSQL writes for a finite value: these go to decimal.js itself.
  'NaN', 'Infinity', '-Infinity', '1e5', '-2.5E-3', '+1', '.5', '1.', '00012.3400',
];

function fields(value: Decimal) {
  const x = value as unknown as { s: number; e: number; d: number[] | null; constructor: unknown };
  return { keys: Object.keys(x), prototype: Object.getPrototypeOf(x), constructor: x.constructor, s: x.s, e: x.e, d: x.d };
}

function expectSameAsDecimal(text: string) {
  const parsed = parseNumeric(text);
  const expected = new Decimal(text);
  expect(fields(parsed), text.length > 60 ? `${text.slice(0, 60)}… (${text.length} characters)` : text).toEqual(fields(expected));
  expect(Decimal.isDecimal(parsed)).toBe(true);
  expect(parsed).toBeInstanceOf(Decimal);
  return { parsed, expected };
}

describe('parseNumeric builds the Decimal that new Decimal(text) builds', () => {
  it('for edge cases: zeros, signs, word boundaries, huge and tiny exponents, NaN and the infinities', () => {
    for (const text of EDGES) expectSameAsDecimal(text);
    expect(Object.is(parseNumeric('-0').toNumber(), -0)).toBe(true);
    expect(parseNumeric('NaN').isNaN()).toBe(true);
    expect(parseNumeric('-Infinity').toString()).toBe('-Infinity');
  });

  it('for 10,000 generated NUMERIC texts, with the same arithmetic, text and comparisons', () => {
    const texts = numericTexts(10_000);
    const step = new Decimal('0.0001');
    for (const [index, text] of texts.entries()) {
      const { parsed, expected } = expectSameAsDecimal(text);
      const other = parseNumeric(texts[(index + 1) % texts.length]!);
      expect(parsed.toFixed()).toBe(expected.toFixed());
      expect(parsed.toString()).toBe(expected.toString());
      expect(parsed.toFixed(4)).toBe(expected.toFixed(4));
      expect(parsed.equals(expected)).toBe(true);
      expect(parsed.cmp(other)).toBe(expected.cmp(other));
      expect(parsed.plus(step).toFixed()).toBe(expected.plus(step).toFixed());
      expect(parsed.minus(other).toFixed()).toBe(expected.minus(other).toFixed());
      expect(parsed.times(other).toFixed()).toBe(expected.times(other).toFixed());
      expect(parsed.dividedBy(3).toFixed()).toBe(expected.dividedBy(3).toFixed());
      // Money stays exact: the text comes back as PostgreSQL wrote it, trailing zeros aside.
      const scale = text.includes('.') ? text.length - text.indexOf('.') - 1 : 0;
      expect(parsed.toFixed(scale)).toBe(text === '-0' || /^-0(\.0*)?$/.test(text) ? text.slice(1) : text);
    }
  });

  it('honours Decimal.minE and maxE as the constructor does (an exponent beyond them is decimal.js’s)', () => {
    const { maxE, minE } = Decimal as unknown as { maxE: number; minE: number };
    try {
      Decimal.set({ maxE: 5, minE: -5 });
      for (const text of ['123456', '12345.6', '-1234567', '0.000001', '0.00001', '999999.5', '0.0000001234']) expectSameAsDecimal(text);
    } finally {
      Decimal.set({ maxE, minE });
    }
  });

  it('is the NUMERIC parser results use, and NUMERIC[] elements too', () => {
    expect(pgTypes.getTypeParser(1700, 'text')).toBe(parseNumeric);
    const array = pgTypes.getTypeParser(1231, 'text')('{0.4200,NULL,-12.5,NaN}') as (Decimal | null)[];
    expect(array.map((item) => item && fields(item))).toEqual([fields(new Decimal('0.4200')), null, fields(new Decimal('-12.5')), fields(new Decimal('NaN'))]);
  });
});

describe('on what the server writes', () => {
  it('every NUMERIC text PostgreSQL returns parses to new Decimal(text), NaN and ±Infinity included', async () => {
    await withRollback(async (db) => {
      const { rows } = await db.query<{ value: string | null }>({
        text: `SELECT value::text AS value FROM (
                 SELECT round((random() - 0.5)::numeric * 10::numeric ^ (g % 40 - 12), g % 30) AS value FROM generate_series(1, 4000) g
                 UNION ALL SELECT unnest(ARRAY['0', '-0', '0.0000', 'NaN', 'Infinity', '-Infinity', '1e-300', '-9.99e120', '0.00010000']::numeric[])
                 UNION ALL SELECT (2::numeric ^ 1000) UNION ALL SELECT 1 / (2::numeric ^ 200)
               ) v`,
      });
      expect(rows.length).toBeGreaterThan(4000);
      for (const { value } of rows) expectSameAsDecimal(value!);
    });
  });
});
