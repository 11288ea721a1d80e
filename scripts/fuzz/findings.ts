// What a fuzz run found: failures by check ("section/invariant"), each with its first seed and
// message, and the passes. The mutation proof compares two runs' checks.

export interface Finding {
  failures: number;
  passes: number;
  firstSeed?: number;
  firstMessage?: string;
}

export class Findings {
  readonly checks = new Map<string, Finding>();

  /** `say` prints the first failure of each check as it happens. */
  constructor(private readonly say: (line: string, check: string) => void = (line) => console.log(line)) {}

  private entry(check: string): Finding {
    let f = this.checks.get(check);
    if (f === undefined) {
      f = { failures: 0, passes: 0 };
      this.checks.set(check, f);
    }
    return f;
  }

  pass(check: string): void {
    this.entry(check).passes++;
  }

  fail(check: string, seed: number, message: string): void {
    const f = this.entry(check);
    f.failures++;
    if (f.firstSeed === undefined) {
      f.firstSeed = seed;
      f.firstMessage = message.split("\n")[0].slice(0, 300);
      this.say(`FAIL ${check} seed=${seed}: ${f.firstMessage}`, check);
    }
  }

  /** Checks a condition: a pass, or a failure with its message. */
  check(check: string, seed: number, ok: boolean, message: () => string): boolean {
    if (ok) this.pass(check);
    else this.fail(check, seed, message());
    return ok;
  }

  get failed(): number {
    let n = 0;
    for (const f of this.checks.values()) n += f.failures;
    return n;
  }

  get passed(): number {
    let n = 0;
    for (const f of this.checks.values()) n += f.passes;
    return n;
  }

  /** The checks that failed at least once, sorted. */
  failedChecks(): string[] {
    return [...this.checks].filter(([, f]) => f.failures > 0).map(([c]) => c).sort();
  }

  print(replay: (seed: number, check: string) => string): void {
    const rows = [...this.checks].sort((a, b) => (a[0] < b[0] ? -1 : 1));
    const width = Math.max(...rows.map(([c]) => c.length), 10);
    console.log(`\n${"check".padEnd(width)}  passed  failed  first failing seed`);
    for (const [c, f] of rows) {
      console.log(`${c.padEnd(width)}  ${String(f.passes).padStart(6)}  ${String(f.failures).padStart(6)}  ${f.firstSeed === undefined ? "" : `${f.firstSeed} (${replay(f.firstSeed, c)})`}`);
    }
  }
}
