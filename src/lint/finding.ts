/** One lint finding, the same shape for squawk and the environment-safety rules. */
export interface Finding {
  /** Path relative to the project root. */
  file: string;
  line: number;
  /** `env/...` for environment safety, `squawk/<rule>` for migration lint. */
  rule: string;
  message: string;
  /** A blocking finding fails `npm run review` and `npm run check`. */
  blocking: boolean;
  /** The sql/ query the finding is about, when there is one. */
  query?: string;
}
