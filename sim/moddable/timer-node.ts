// Moddable's Timer (set, repeat, clear) on Node's timers, for device code hosted in a Node process
// (sim/esp32/app-node.ts). Each instance keeps its own timers, so that a simulated power cut
// stops them all at once (clearAll). The timers never keep the process alive (unref), as the
// engine's own don't.
export interface NodeTimer {
  set(callback: (id: number) => void, ms?: number, repeat?: number): number;
  repeat(callback: (id: number) => void, interval: number): number;
  clear(id: unknown): void;
  /** Clears every timer of this instance. */
  clearAll(): void;
}

export function nodeTimer(onError: (e: unknown) => void): NodeTimer {
  const live = new Map<number, NodeJS.Timeout>();
  let next = 1;
  const run = (id: number, callback: (id: number) => void): void => {
    try {
      callback(id);
    } catch (e) {
      onError(e);
    }
  };
  const timer: NodeTimer = {
    set(callback, ms = 0, repeat = 0) {
      const id = next++;
      const first = setTimeout(() => {
        if (repeat > 0) {
          const every = setInterval(() => run(id, callback), repeat);
          every.unref();
          live.set(id, every);
        } else live.delete(id);
        run(id, callback);
      }, Math.max(0, ms));
      first.unref();
      live.set(id, first);
      return id;
    },
    repeat(callback, interval) {
      return timer.set(callback, interval, interval);
    },
    clear(id) {
      const t = typeof id === "number" ? live.get(id) : undefined;
      if (t === undefined) return;
      clearTimeout(t);
      clearInterval(t);
      live.delete(id as number);
    },
    clearAll() {
      for (const t of live.values()) {
        clearTimeout(t);
        clearInterval(t);
      }
      live.clear();
    },
  };
  return timer;
}
