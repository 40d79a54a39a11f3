/** Errors the runtime raises, each naming the input that caused it and what to do. */

/** A value refused before it reached the database. */
export class InvalidValueError extends Error {
  override readonly name = 'InvalidValueError';
  constructor(
    readonly field: string,
    readonly value: unknown,
    readonly reason: string,
  ) {
    super(`${field} ${reason}.`);
  }
}

/** Configuration that would trade through the wrong API, or that names an unknown value. */
export class ConfigurationError extends Error {
  override readonly name = 'ConfigurationError';
  constructor(readonly problems: string[]) {
    super(problems.length === 1 ? problems[0] : `${problems.length} configuration problems:\n- ${problems.join('\n- ')}`);
  }
}
