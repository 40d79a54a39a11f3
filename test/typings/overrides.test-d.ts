/** An override's declared type must be its codec's: generated code wraps each codec in overrideCodec<Type>. */
import { describe, it } from 'vitest';
import { overrideCodec } from '../../src/runtime/codecs.js';
import { numericText, StrategyConfig, strategyConfig } from '../codegen/fixtures/override-codecs.js';

describe('overrideCodec', () => {
  it('compiles when the declared type is the codec\'s, and not otherwise (either way)', () => {
    overrideCodec<string>(numericText);
    overrideCodec<StrategyConfig>(strategyConfig);
    // @ts-expect-error - the codec decodes to string, not number
    overrideCodec<number>(numericText);
    // @ts-expect-error - a wider declared type than the codec's (string | null) is refused too
    overrideCodec<string | null>(numericText);
  });
});
