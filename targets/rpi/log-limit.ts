// At most one log line per key (an event and a peer) and interval: a peer that sends a hundred
// malformed frames a second gets one line every interval, with the count of those held back,
// instead of a hundred lines a second in the gateway's log.

export interface HeldBack {
  readonly key: string;
  /** Lines not written since the last one of this key. */
  readonly count: number;
}

export class LogLimiter {
  /** key → when its last line was written, and how many were held back since. */
  private readonly keys = new Map<string, { at: number; held: number }>();

  constructor(
    private readonly intervalMs: number,
    private readonly now: () => number,
  ) {}

  /**
   * Whether a line of `key` may be written now: undefined if not (it is counted), else the number
   * of lines of `key` held back before it (to write with it).
   */
  admit(key: string): number | undefined {
    const now = this.now();
    const k = this.keys.get(key);
    if (k !== undefined && now - k.at < this.intervalMs) {
      k.held++;
      return undefined;
    }
    const held = k?.held ?? 0;
    this.keys.set(key, { at: now, held: 0 });
    return held;
  }

  /**
   * The keys whose interval is over with lines held back (each is reset, to be written as one
   * line now); keys quiet for a whole interval are forgotten, so the map stays as small as the
   * set of peers that misbehave.
   */
  flush(): HeldBack[] {
    const now = this.now();
    const out: HeldBack[] = [];
    for (const [key, k] of this.keys) {
      if (now - k.at < this.intervalMs) continue;
      if (k.held === 0) this.keys.delete(key);
      else {
        out.push({ key, count: k.held });
        this.keys.set(key, { at: now, held: 0 });
      }
    }
    return out;
  }

  /** Keys tracked (for tests: it stays bounded). */
  get size(): number {
    return this.keys.size;
  }
}
