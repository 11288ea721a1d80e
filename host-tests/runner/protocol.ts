// What a test file's runner (Node child or XS bundle) reports to run.ts.

/** Prefix of an event line on a Node child's stdout; run.ts looks for it anywhere in a line. */
export const MARK = "\u001eLICHEN-EVENT\u001f";

export type RunnerEvent =
  | { kind: "start"; name: string }
  | { kind: "result"; name: string; ok: boolean; error?: string; ms: number; file?: string; skipped?: string; stackDepth?: number }
  | { kind: "log"; level: string; text: string }
  | { kind: "slots" }
  | { kind: "service"; op: string; [key: string]: unknown }
  | { kind: "done"; passed: number; failed: number; error?: string };
