/** The start-up helper: PRECOG_ENV / KALSHI_MODE from the process environment, every problem at once. */
import { describe, expect, it } from 'vitest';
import { ConfigurationError, tradingConfigurationFromEnv } from 'precog-db';

function problems(env: Record<string, string | undefined>): string[] {
  try {
    tradingConfigurationFromEnv(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigurationError);
    return (error as ConfigurationError).problems;
  }
  throw new Error('expected a ConfigurationError');
}

describe('tradingConfigurationFromEnv', () => {
  it('defaults to development on the demo API: paper trading', () => {
    expect(tradingConfigurationFromEnv({ PATH: '/bin' })).toEqual({
      precogEnv: 'development',
      confirmed: false,
      environment: 'paper',
      kalshiMode: 'demo',
    });
  });

  it('reads production + live as live trading', () => {
    expect(tradingConfigurationFromEnv({ PRECOG_ENV: 'production', KALSHI_MODE: 'live' })).toMatchObject({ environment: 'live' });
  });

  it('needs PRECOG_CONFIRM_LIVE=yes for live outside production', () => {
    expect(problems({ PRECOG_ENV: 'staging', KALSHI_MODE: 'live' })).toEqual([expect.stringMatching(/PRECOG_CONFIRM_LIVE=yes/)]);
    expect(tradingConfigurationFromEnv({ PRECOG_ENV: 'staging', KALSHI_MODE: 'live', PRECOG_CONFIRM_LIVE: 'yes' })).toMatchObject({
      environment: 'live',
      confirmed: true,
    });
  });

  it('reads process.env when given nothing', () => {
    const saved = { ...process.env };
    try {
      process.env.PRECOG_ENV = 'production';
      process.env.KALSHI_MODE = 'demo';
      expect(() => tradingConfigurationFromEnv()).toThrow(/blocked/);
    } finally {
      process.env = saved;
    }
  });

  it('lists every problem at once, typos of the variable names included', () => {
    const found = problems({
      PRECOG_EVN: 'production',
      KALSHI_MOD: 'live',
      KALSHI_MODE: 'Live',
      PRECOG_ENV: 'prod',
      PRECOG_CONFIRM_LIVE: 'true',
      PRECOG_SOMETHING_ELSE: '1',
      PRECOG_DATA_DIR: '/tmp/x', // precog-db's own tool variable: not a typo
    });
    expect(found).toEqual([
      'KALSHI_MOD is set but precog-db reads no such variable; did you mean KALSHI_MODE?',
      'PRECOG_EVN is set but precog-db reads no such variable; did you mean PRECOG_ENV?',
      expect.stringMatching(/^PRECOG_SOMETHING_ELSE is set but precog-db reads no such variable; the trading variables are/),
      'PRECOG_CONFIRM_LIVE="true" is not allowed; use yes or no.',
      expect.stringMatching(/^PRECOG_ENV="prod" is not allowed/),
      expect.stringMatching(/^KALSHI_MODE="Live" is not allowed/),
    ]);
  });

  it('flags an empty value, and accepts the application\'s own PRECOG_* variables when named', () => {
    expect(problems({ PRECOG_ENV: '' })).toEqual(['PRECOG_ENV is set but empty; set a value or unset it.']);
    expect(tradingConfigurationFromEnv({ PRECOG_STRATEGY: 'elo' }, { knownVariables: ['PRECOG_STRATEGY'] })).toMatchObject({
      environment: 'paper',
    });
  });
});
