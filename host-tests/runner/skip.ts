// A test that cannot run here (a tool it needs is not installed) says so with skipTest(reason):
// the runner reports it as skipped, with the reason, never as passed (host-tests/runner/uvu-shim.ts).

/** Thrown by skipTest; the runner recognizes it by its `skipped` reason. */
export class TestSkipped extends Error {
  readonly skipped: string;
  constructor(reason: string) {
    super(`skipped: ${reason}`);
    this.skipped = reason;
  }
}

export function skipTest(reason: string): never {
  throw new TestSkipped(reason);
}

/** The reason of a skip, or undefined for any other error. */
export function skipReason(e: unknown): string | undefined {
  const r = (e as { skipped?: unknown } | null)?.skipped;
  return typeof r === "string" && e instanceof Error ? r : undefined;
}
