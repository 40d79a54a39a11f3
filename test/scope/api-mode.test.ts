/** ADR-105's matrix: PRECOG_ENV × KALSHI_MODE decides the environment, or refuses. */
import { describe, expect, it } from 'vitest';
import { ConfigurationError, resolveTradingConfiguration } from 'precog-db';

describe('resolveTradingConfiguration', () => {
  it.each([
    ['development', 'demo', 'paper'],
    ['test', 'demo', 'paper'],
    ['staging', 'demo', 'paper'],
    ['production', 'live', 'live'],
  ])('allows PRECOG_ENV=%s with KALSHI_MODE=%s, trading %s', (PRECOG_ENV, KALSHI_MODE, environment) => {
    expect(resolveTradingConfiguration({ PRECOG_ENV, KALSHI_MODE })).toMatchObject({ environment, confirmed: false });
  });

  it.each([
    ['test', 'live', /tests never reach the live API/],
    ['production', 'demo', /production trades only through the live API/],
  ])('blocks PRECOG_ENV=%s with KALSHI_MODE=%s, even when confirmed', (PRECOG_ENV, KALSHI_MODE, reason) => {
    expect(() => resolveTradingConfiguration({ PRECOG_ENV, KALSHI_MODE, confirmLive: true })).toThrow(reason);
  });

  it.each(['development', 'staging'])('needs an explicit confirmation for live trading in %s', (PRECOG_ENV) => {
    expect(() => resolveTradingConfiguration({ PRECOG_ENV, KALSHI_MODE: 'live' })).toThrow(/explicit confirmation/);
    expect(resolveTradingConfiguration({ PRECOG_ENV, KALSHI_MODE: 'live', confirmLive: true })).toMatchObject({
      environment: 'live',
      confirmed: true,
    });
  });

  it('defaults to development with the demo API: paper trading', () => {
    expect(resolveTradingConfiguration({})).toEqual({ precogEnv: "development", confirmed: false, environment: "paper", kalshiMode: "demo" });
  });

  it('never chooses backtest: that is only ever explicit', () => {
    expect(() => resolveTradingConfiguration({ KALSHI_MODE: 'backtest' })).toThrow(/KALSHI_MODE="backtest" is not allowed; use one of demo, live/);
  });

  it('reports every unknown value at once, with the allowed values', () => {
    const error = (() => {
      try {
        resolveTradingConfiguration({ PRECOG_ENV: 'prod', KALSHI_MODE: 'Live' });
      } catch (e) {
        return e as ConfigurationError;
      }
    })();
    expect(error).toBeInstanceOf(ConfigurationError);
    expect(error!.problems).toEqual([
      'PRECOG_ENV="prod" is not allowed; use one of development, test, staging, production.',
      'KALSHI_MODE="Live" is not allowed; use one of demo, live.',
    ]);
  });
});
