// The fuzz's proof: `npm run fuzz -- --mutants [--seed N]`. The sources are copied to a temporary
// directory, each mutant is applied to the copy, and the fuzz's default run is run against it
// with the same seed as an unmutated copy (the baseline). A mutant is killed if a check that
// passes on the baseline fails on it; it survives otherwise. A mutant whose anchor is not found in
// the sources stops the proof with an error: it never passes silently.
//
// The anchors are small snippets matched by regular expressions, chosen to survive rewrites of
// the code around them; each mutant lists the checks expected to catch it.
import { spawnSync } from "node:child_process";
import { closeSync, cpSync, existsSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
/** Where a mutant is applied unless it says otherwise: the transport's device-side sources. */
const TARGET_DIR = "src/transport";

interface Anchor {
  readonly find: RegExp;
  readonly replace: (source: string, match: RegExpExecArray) => string;
}

interface Mutant {
  readonly name: string;
  readonly what: string;
  /** Tried in order; the first that matches somewhere is applied. */
  readonly anchors: readonly Anchor[];
  readonly expected: readonly string[];
  /** The sources it is applied to, if not TARGET_DIR's. */
  readonly dir?: string;
}

/** Replaces every match of a global regexp. */
function everywhere(find: RegExp, by: string): Anchor {
  return { find, replace: (source) => source.replace(find, by) };
}

const MUTANTS: readonly Mutant[] = [
  {
    name: "ack-before-store",
    what: "a received delta's APPLIED sent at once, before its store write, instead of held with its group until the batch returns",
    anchors: [
      {
        // the delta's store write (states.stage) and, below it, the APPLIED held with the group
        find: /^([ \t]*)this\.states\.stage\(([^\n]*)\);\n([\s\S]*?)^[ \t]*this\.holdApplied\([^\n]*\);\n/m,
        replace: (source, m) =>
          source.slice(0, m.index) +
          `${m[1]}this.sendFrames(peerId, [{ kind: FrameKind.Applied, doc: key, hash: versionHash(doc.crdt.version()) }]);\n${m[1]}this.states.stage(${m[2]});\n${m[3]}` +
          source.slice(m.index + m[0].length),
      },
    ],
    expected: ["hostile/*/ack-durable"],
  },
  {
    name: "ack-before-commit",
    what: "a group's held frames (its ACKs) sent before its batch is written",
    anchors: [
      {
        // in commit(): the store write, and the loop that sends the held frames after it
        find: /^([ \t]*)this\.states\.flush\(records\);\n([\s\S]*?)^[ \t]*(for \(const \[peerId, bytes\] of g\.held\) this\.opts\.send\([^\n]*\);)\n/m,
        replace: (source, m) => source.slice(0, m.index) + `${m[1]}${m[3]}\n${m[1]}this.states.flush(records);\n${m[2]}` + source.slice(m.index + m[0].length),
      },
    ],
    expected: ["hostile/*/ack-durable"],
  },
  {
    name: "rate-limiter-off",
    what: "every incoming frame admitted",
    anchors: [
      { find: /(\bprivate\s+admit\s*\([^)]*\)\s*:\s*boolean\s*\{)/, replace: (s, m) => s.replace(m[0], `${m[1]} return true;`) },
      { find: /if\s*\(\s*!this\.admit\([^)]*\)\s*\)\s*return;?/, replace: (s, m) => s.replace(m[0], "") },
    ],
    expected: ["flood/rate-limit"],
  },
  {
    name: "unbounded-reassembly",
    what: "every reassembly limit (per peer and in total) compared against Infinity",
    anchors: [
      // the limits read once in reassembly.ts (the Reassembler): each limit taken as Infinity
      {
        find: /const \{([^}]*\bmaxBytes\b[^}]*)\} = this\.limits;/,
        replace: (s, m) => s.replace(m[0], `const { ${m[1].trim()} } = { maxBytes: Infinity, maxFrames: Infinity, maxTotalBytes: Infinity, maxTotalFrames: Infinity };`),
      },
      everywhere(/([<>]=?)\s*this\.opts\.maxReassembly\w*/g, "$1 Infinity"),
    ],
    expected: ["reassembly/capped"],
  },
  {
    name: "origin-rule-off",
    what: "no delta found forged: the authorship check answers 'none'",
    anchors: [
      { find: /const forged = [^;]+;/, replace: (s, m) => s.replace(m[0], "const forged = undefined;") },
      { find: /(\bprivate\s+foreignEvents\s*\([^)]*\)\s*:[^{]+\{)/, replace: (s, m) => s.replace(m[0], `${m[1]} return undefined;`) },
    ],
    expected: ["hostile/forge-contiguous/no-forged", "hostile/forge-new-replica/no-forged"],
  },
  {
    name: "relative-check-off",
    what: "a format-3 DELTA read against the receiver's prefix whatever prefix it was made for (its check ignored)",
    dir: "src/core",
    anchors: [{ find: /\|\|\s*check\s*!==\s*referenceCheck\(reference\)/, replace: (s, m) => s.replace(m[0], "") }],
    expected: ["frames/relative-replay"],
  },
];

function copySources(): string {
  const dir = mkdtempSync(join(tmpdir(), "lichen-mutant-"));
  for (const entry of ["src", "targets", "sim", "scripts", "host-tests", "package.json", "tsconfig.json"]) cpSync(join(ROOT, entry), join(dir, entry), { recursive: true });
  symlinkSync(join(ROOT, "node_modules"), join(dir, "node_modules"));
  return dir;
}

/** The first anchor of a mutant that matches a source under `root`: the file and its mutated text. */
function mutate(root: string, mutant: Mutant): { file: string; mutated: string; anchor: Anchor } | undefined {
  const target = mutant.dir ?? TARGET_DIR;
  const files = readdirSync(join(root, target)).filter((f) => f.endsWith(".ts")).map((f) => join(root, target, f));
  for (const anchor of mutant.anchors) {
    for (const file of files) {
      const source = readFileSync(file, "utf8");
      const m = new RegExp(anchor.find.source, anchor.find.flags.replace("g", "")).exec(source);
      if (m === null) continue;
      const mutated = anchor.replace(source, m);
      if (mutated === source) throw new Error(`mutant ${mutant.name}: its anchor matched ${file} but changed nothing`);
      return { file, mutated, anchor };
    }
  }
  return undefined;
}

/** The mutants whose anchors no longer match the sources under `root` (the tests check there are none). */
export function unanchoredMutants(root = ROOT): string[] {
  return MUTANTS.filter((m) => mutate(root, m) === undefined).map((m) => m.name);
}

/** Applies a mutant to the copy in `dir`; throws if no anchor matches. */
function applyMutant(dir: string, mutant: Mutant): string {
  const found = mutate(dir, mutant);
  if (found === undefined) throw new Error(`mutant ${mutant.name}: no anchor found in ${mutant.dir ?? TARGET_DIR}: update its anchors to the current code`);
  writeFileSync(found.file, found.mutated);
  return `${found.file.slice(dir.length + 1)} (anchor ${found.anchor.find.source.slice(0, 50)}…)`;
}

type Checks = Record<string, { failures: number; passes: number; firstSeed?: number; firstMessage?: string }>;

/** A run that takes longer than this has failed too: the default run is meant to take minutes. */
const RUN_TIMEOUT_MS = 15 * 60_000;

/** The fuzz's default run in `dir`; its output goes to `log` (printed as it is written, with `tail -f`). */
function runFuzz(dir: string, seed: number, label: string, log: string): Checks | "timeout" {
  const json = join(dir, "findings.json");
  const started = Date.now();
  const out = openSync(log, "w");
  const r = spawnSync(join(ROOT, "node_modules/.bin/tsx"), [join(dir, "scripts/fuzz.ts"), "--seed", String(seed), "--json", json], { cwd: dir, stdio: ["ignore", out, out], timeout: RUN_TIMEOUT_MS, killSignal: "SIGKILL" });
  closeSync(out);
  const output = readFileSync(log, "utf8");
  if (r.error !== undefined && !existsSync(json)) {
    console.log(`${label}: no result after ${RUN_TIMEOUT_MS / 60_000} min (${r.error.message})`);
    return "timeout";
  }
  if (!existsSync(json)) throw new Error(`${label}: the fuzz did not finish (exit ${r.status}): ${output.slice(-2000)}`);
  console.log(`${label}: ${output.trim().split("\n").pop()} (${((Date.now() - started) / 1000).toFixed(0)} s; output in ${log})`);
  return JSON.parse(readFileSync(json, "utf8")) as Checks;
}

/** Runs the proof; true if every mutant was killed. */
export function runMutants(seed: number): boolean {
  console.log(`fuzz mutants seed=${seed}`);
  // every anchor is checked before anything runs
  for (const mutant of MUTANTS) {
    const dir = copySources();
    try {
      applyMutant(dir, mutant);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  const logs = mkdtempSync(join(tmpdir(), "lichen-mutant-logs-"));
  const baseDir = copySources();
  let baseline: Checks | "timeout";
  try {
    baseline = runFuzz(baseDir, seed, "baseline", join(logs, "baseline.log"));
  } finally {
    rmSync(baseDir, { recursive: true, force: true });
  }
  if (baseline === "timeout") throw new Error("the unmutated fuzz did not finish: no mutant can be judged");
  const failingAlready = Object.entries(baseline).filter(([, c]) => c.failures > 0).map(([k]) => k);
  if (failingAlready.length > 0) console.log(`baseline fails ${failingAlready.length} checks (not counted for the mutants): ${failingAlready.join(", ")}`);
  let survived = 0;
  for (const mutant of MUTANTS) {
    const dir = copySources();
    try {
      const where = applyMutant(dir, mutant);
      const got = runFuzz(dir, seed, `mutant ${mutant.name}`, join(logs, `${mutant.name}.log`));
      if (got === "timeout") {
        console.log(`  KILLED ${mutant.name} (${mutant.what}; ${where}): the fuzz did not finish its default run`);
        continue;
      }
      const kills = Object.entries(got).filter(([k, c]) => c.failures > 0 && (baseline[k]?.failures ?? 0) === 0);
      if (kills.length > 0) {
        console.log(`  KILLED ${mutant.name} (${mutant.what}; ${where}) by ${kills.map(([k, c]) => `${k} (seed ${c.firstSeed}: ${c.firstMessage})`).join("; ")}`);
      } else {
        survived++;
        console.log(`  SURVIVED ${mutant.name} (${mutant.what}; ${where}); expected to be caught by ${mutant.expected.join(", ")}`);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  console.log(`mutants: ${MUTANTS.length - survived} killed, ${survived} survived`);
  return survived === 0;
}
