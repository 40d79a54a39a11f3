/** Errors of the environment layer: each names what was expected, what was found, and where. */

/** A row came back through a scope (or a cross-environment query) from an environment it must not see. */
export class EnvironmentMismatchError extends Error {
  override readonly name = 'EnvironmentMismatchError';
  constructor(
    readonly query: string,
    readonly expected: string,
    readonly actual: unknown,
  ) {
    super(
      `${query} returned a row of environment ${JSON.stringify(actual)} where only ${expected} is allowed; ` +
        'the row was not handed out. A query that reads trades or positions must filter on :execution_environment!.',
    );
  }
}
