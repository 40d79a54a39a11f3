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
