import type { Scheduler } from "../../src/transport/sync-engine.js";

/**
 * Time moved by hand (`t`), for driving engines step by step: 0 ms timers run when `turn()` is
 * called (the event loop's turn, when a group commit closes), longer ones never.
 */
export class LoopTime implements Scheduler {
  private due: Array<() => void> = [];

  constructor(public t = Date.UTC(2025, 0, 1)) {}

  now(): number {
    return this.t;
  }

  setTimer(ms: number, fn: () => void): () => void {
    if (ms > 0) return () => {};
    let live = true;
    this.due.push(() => live && fn());
    return () => {
      live = false;
    };
  }

  /** Runs the 0 ms timers set so far; false if there were none. */
  turn(): boolean {
    if (this.due.length === 0) return false;
    const due = this.due;
    this.due = [];
    for (const fn of due) fn();
    return true;
  }
}
