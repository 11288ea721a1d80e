// The stand-ins for Moddable's "timer" (Timer.set/repeat/clear) and "time" (Time.ticks) modules.
// xsnap-worker has no timers: the environment runs what is due (runDueTimers), on the clock it
// chose (useClock): the simulated ESP32's clock that only its host moves (esp32.ts), or Date.now
// for the tests that pump (pump.ts). Due timers run in order of due time, then of creation.

interface TimerEntry {
  at: number;
  repeat: number;
  fn: (id: number) => void;
}

const state: { now: () => number; nextTimer: number; timers: Map<number, TimerEntry> } = { now: () => Date.now(), nextTimer: 1, timers: new Map() };

/** The clock the timers run on. */
export function useClock(now: () => number): void {
  state.now = now;
}

/** Moddable's Timer: set(callback, delay, repeat), repeat(callback, interval), clear(id). */
export const Timer = Object.freeze({
  set(callback: (id: number) => void, ms = 0, repeat = 0): number {
    const id = state.nextTimer++;
    state.timers.set(id, { at: state.now() + Math.max(0, ms), repeat: Math.max(0, repeat), fn: callback });
    return id;
  },
  repeat(callback: (id: number) => void, interval: number): number {
    return Timer.set(callback, interval, interval);
  },
  clear(id: unknown): void {
    if (typeof id === "number") state.timers.delete(id);
  },
});

/** Moddable's Time: ticks (ms, monotonic). */
export const Time = Object.freeze({
  get ticks(): number {
    return state.now();
  },
});

/** Runs every timer that is due now, in order; `onError` gets what a callback throws (default: rethrow). */
export function runDueTimers(onError?: (e: unknown) => void): void {
  for (let guard = 0; guard < 100_000; guard++) {
    const now = state.now();
    let id = 0;
    let entry: TimerEntry | undefined;
    for (const [k, t] of state.timers) if (t.at <= now && (entry === undefined || t.at < entry.at || (t.at === entry.at && k < id))) {
      id = k;
      entry = t;
    }
    if (entry === undefined) return;
    if (entry.repeat > 0) entry.at = now + entry.repeat;
    else state.timers.delete(id);
    if (onError === undefined) entry.fn(id);
    else {
      try {
        entry.fn(id);
      } catch (e) {
        onError(e);
      }
    }
  }
  throw new Error("timers keep firing without time passing");
}

/** When the next timer is due (null: none). */
export function nextDue(): number | null {
  let at = Infinity;
  for (const t of state.timers.values()) at = Math.min(at, t.at);
  return at === Infinity ? null : at;
}
