// The CLI's own errors (cli.ts and fleet-cli.ts): printed in one line, with their exit code.

/** A user error the CLI reports in one line (exit 1): a missing entity, an unwritable --out. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
    this.name = "CliError";
  }
}

/** The exit code of a command that did its work but skipped damaged rows. */
export const DAMAGED_EXIT = 3;

/** The end of a command that skipped damaged rows: one line naming the first few, exit 3. */
export function damagedError(what: string, items: readonly string[]): CliError {
  const shown = items.slice(0, 3).join("; ");
  return new CliError(`${what}: ${items.length} damaged, skipped (${shown}${items.length > 3 ? `; and ${items.length - 3} more` : ""})`, DAMAGED_EXIT);
}
