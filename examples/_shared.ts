// Helpers shared by the examples: a simulated wall clock, delta exchange, and "run if invoked directly".
import { pathToFileURL } from "node:url";
import type { Crdt } from "../src/index.js";

/** A wall clock the example advances by hand: runs are identical every time. */
export class SimClock {
  constructor(public ms = Date.UTC(2025, 5, 1, 8, 0, 0)) {}
  readonly now = (): number => this.ms;
  advance(seconds: number): void {
    this.ms += seconds * 1000;
  }
}

/** Each side sends what the other lacks (`delta(peer.version())`), then both apply. Returns bytes sent. */
export function exchange(a: Crdt, b: Crdt): number {
  const toB = a.delta(b.version());
  const toA = b.delta(a.version());
  b.applyDelta(toB);
  a.applyDelta(toA);
  return toA.length + toB.length;
}

export type Log = (line: string) => void;

/** Runs `main` when the file is the script tsx was given; exits non-zero if its final check fails. */
export function runIfMain(url: string, main: (log: Log) => { ok: boolean }): void {
  const entry = process.argv[1];
  if (entry === undefined || pathToFileURL(entry).href !== url) return;
  const result = main((line) => console.log(line));
  console.log(result.ok ? "ok" : "FAILED");
  process.exitCode = result.ok ? 0 : 1;
}
