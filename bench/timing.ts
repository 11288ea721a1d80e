// Wall-clock timing under Node: medians of repeated samples, after a warm-up.

/** Results go here so that no call can be optimized away. */
export let sink: unknown;

const ORIGIN = process.hrtime.bigint();

/** Nanoseconds since this module loaded (small enough to stay exact as a number). */
function nowNs(): number {
  return Number(process.hrtime.bigint() - ORIGIN);
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export interface TimingOptions {
  /** Samples taken after the warm-up; the median is reported. */
  samples?: number;
  /** Warm-up time before the first sample, in ms. */
  warmupMs?: number;
  /** Target length of one sample, in ms (timePerCall only). */
  sampleMs?: number;
}

/** The spread of samples: the interquartile range as a fraction of the median. */
export function spread(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const q = (p: number): number => s[Math.min(s.length - 1, Math.floor(p * s.length))];
  return (q(0.75) - q(0.25)) / median(s);
}

/**
 * µs per call of `op` (a whole operation, setup included): warm up for `warmupMs`, then take
 * `samples` samples, each timing a batch of calls lasting about `sampleMs`. Returns the per-call
 * time of each sample.
 */
export function timePerCall(op: () => unknown, opts: TimingOptions = {}): number[] {
  const { samples = 21, warmupMs = 100, sampleMs = 4 } = opts;
  let calls = 0;
  const start = nowNs();
  const warmEnd = start + warmupMs * 1e6;
  let t = start;
  while (t < warmEnd || calls < 3) {
    sink = op();
    calls++;
    t = nowNs();
  }
  const perCallNs = (t - start) / calls;
  const batch = Math.max(1, Math.ceil((sampleMs * 1e6) / perCallNs));
  const per: number[] = [];
  for (let s = 0; s < samples; s++) {
    const t0 = nowNs();
    for (let i = 0; i < batch; i++) sink = op();
    per.push((nowNs() - t0) / batch / 1000);
  }
  return per;
}

/**
 * µs per `run(setup())`, where `setup` is not timed (a fresh state for each sample): warm up for
 * `warmupMs` (at least 3 runs), then time `samples` runs. Returns the time of each run.
 */
export function timeRun<S>(setup: () => S, run: (s: S) => unknown, opts: TimingOptions = {}): number[] {
  const { samples = 15, warmupMs = 100 } = opts;
  const warmEnd = nowNs() + warmupMs * 1e6;
  for (let i = 0; i < 3 || nowNs() < warmEnd; i++) sink = run(setup());
  const per: number[] = [];
  for (let s = 0; s < samples; s++) {
    const state = setup();
    const t0 = nowNs();
    sink = run(state);
    per.push((nowNs() - t0) / 1000);
  }
  return per;
}
