// A small progress bar on stderr, for long CLI work (compact, export, status over many
// entities). Drawn only when the stream is a terminal, so pipes, files and tests see nothing; at
// most ~10 redraws a second, none in the first 300 ms (quick work shows nothing); the line is
// cleared when done. No dependency (none is installed
// that does this; see package.json).

export interface ProgressStream {
  readonly isTTY?: boolean;
  readonly columns?: number;
  write(s: string): unknown;
}

export interface Progress {
  /** Advances by `n` (default 1). */
  tick(n?: number): void;
  /** Changes the label (e.g. the namespace being worked on). */
  label(text: string): void;
  /** Clears the bar. Idempotent. */
  done(): void;
}

export interface ProgressOptions {
  stream?: ProgressStream;
  /** Milliseconds between redraws (default 100). */
  intervalMs?: number;
  /** Nothing is drawn before this many milliseconds: quick work shows no bar (default 300). */
  delayMs?: number;
  now?: () => number;
  /** Draw even when the stream is not a TTY (tests). */
  force?: boolean;
}

const NONE: Progress = Object.freeze({ tick() {}, label() {}, done() {} });

/** A bar over `total` items; a no-op unless the stream is a TTY (or `force`). LICHEN_PROGRESS=0 turns it off. */
export function progress(text: string, total: number, options: ProgressOptions = {}): Progress {
  const stream = options.stream ?? process.stderr;
  const draw = options.force === true || (stream.isTTY === true && process.env.LICHEN_PROGRESS !== "0");
  if (!draw || !(total > 0)) return NONE;
  const interval = options.intervalMs ?? 100;
  const now = options.now ?? Date.now;
  const start = now();
  const delay = options.delayMs ?? 300;
  const columns = (): number => (stream.columns !== undefined && stream.columns >= 20 ? stream.columns : 80);
  let n = 0;
  let last = -Infinity;
  let label = text;
  let shown = false;
  let finished = false;
  const render = (): void => {
    const width = Math.max(10, Math.min(30, columns() - 40));
    const frac = Math.min(1, n / total);
    const filled = Math.round(frac * width);
    const pct = String(Math.floor(frac * 100)).padStart(3);
    const line = `[${"#".repeat(filled)}${"-".repeat(width - filled)}] ${pct}% ${n}/${total} ${label}`;
    const max = columns() - 1;
    stream.write(`\r\x1b[K${line.length > max ? line.slice(0, max) : line}`);
    shown = true;
  };
  return {
    tick(k = 1): void {
      if (finished) return;
      n += k;
      const t = now();
      if (t - start >= delay && (t - last >= interval || n >= total)) {
        last = t;
        render();
      }
    },
    label(t: string): void {
      label = t;
    },
    done(): void {
      if (finished) return;
      finished = true;
      if (shown) stream.write("\r\x1b[K");
    },
  };
}
