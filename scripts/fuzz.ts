// `npm run fuzz`: the long runs that `npm test` samples, and the attacks it does not.
//   schedules   honest fleets (loss, duplicates, reordering, partitions, crashes), write-through
//               and coalescing nodes (schedules.ts);
//   hostile     fleets with one hostile behaviour each: forgers, replayers, writers of documents
//               they do not own, wipers, power cuts mid-write (fuzz/fleet.ts);
//   frames      structure-aware mutants of valid frames against a gateway mid-session, and the
//               session's format-3 DELTAs replayed once their receivers moved on (fuzz/frames.ts);
//   flood, reassembly  one attacker against the rate limiter and the reassembly limits (fuzz/floods.ts).
// Every failing check prints its seed and the command that replays it; the table at the end
// lists every check. `npm run fuzz -- --mutants` is the fuzz's own proof (fuzz/mutants.ts).
// Options: --seed N, --schedules N (default 1000), --hostile N (schedules per hostile kind,
// default 100), --frames N (default 100000), --only SECTION (a prefix of the checks to run),
// --json FILE (the findings, for the mutation proof), --mutants. LICHEN_FUZZ_STACK=1 prints the
// stack of a crash in a hostile schedule.
import { writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { checkConverged, runSchedule } from "../sim/network/schedules.js";
import { Findings } from "./fuzz/findings.js";
import { HOSTILE_KINDS, runHostileSchedule } from "./fuzz/fleet.js";
import { fuzzFlood, fuzzPartials, fuzzReassembly } from "./fuzz/floods.js";
import { fuzzFrames } from "./fuzz/frames.js";
import { runMutants } from "./fuzz/mutants.js";

const { values } = parseArgs({
  options: {
    schedules: { type: "string", default: "1000" },
    hostile: { type: "string", default: "100" },
    frames: { type: "string", default: "100000" },
    seed: { type: "string" },
    only: { type: "string" },
    json: { type: "string" },
    mutants: { type: "boolean", default: false },
  },
});

const seed = values.seed !== undefined ? Number(values.seed) >>> 0 : Math.floor(Math.random() * 0x7fffffff);
if (values.mutants) {
  process.exit(runMutants(seed) ? 0 : 1);
}

const findings = new Findings();
const wanted = (section: string): boolean => values.only === undefined || section.startsWith(values.only) || values.only.startsWith(section);
const started = Date.now();
const elapsed = (): string => `${((Date.now() - started) / 1000).toFixed(0)} s`;
console.log(`fuzz seed=${seed}`);

function crashed(check: string, s: number, e: unknown): void {
  findings.fail(check, s, `threw ${(e as Error).name}: ${(e as Error).message}`);
}

if (wanted("schedules")) {
  const count = Number(values.schedules);
  for (let i = 0; i < count; i++) {
    const s = (seed + i) >>> 0;
    // every other schedule with nodes that coalesce their flash writes (a crash loses their last writes)
    const check = s % 2 === 1 ? "schedules/coalescing" : "schedules/write-through";
    try {
      if (s % 2 === 1) checkConverged(runSchedule(s, 60, { maxOps: 4, maxDelayMs: 2000 }), s, false);
      else checkConverged(runSchedule(s), s);
      findings.pass(check);
    } catch (e) {
      crashed(check, s, e);
    }
  }
  console.log(`schedules: ${count} (${elapsed()})`);
}

for (const kind of HOSTILE_KINDS) {
  if (!wanted(`hostile/${kind}`)) continue;
  const count = Number(values.hostile);
  for (let i = 0; i < count; i++) {
    const s = (seed + i) >>> 0;
    runHostileSchedule(s, { kind, coalesce: s % 2 === 1 }, findings);
  }
  console.log(`hostile/${kind}: ${count} schedules (${elapsed()})`);
}

if (wanted("flood")) fuzzFlood(seed, findings);
if (wanted("reassembly")) {
  fuzzReassembly(seed, findings);
  fuzzPartials(seed, findings);
}
if (wanted("frames") && Number(values.frames) > 0) {
  fuzzFrames(Number(values.frames), seed, findings);
  console.log(`frames: done (${elapsed()})`);
}

findings.print((s, check) => {
  const section = check.split("/").slice(0, check.startsWith("hostile/") ? 2 : 1).join("/");
  const one = section === "schedules" ? " --schedules 1" : section.startsWith("hostile/") ? " --hostile 1" : "";
  return `npm run fuzz -- --seed ${s} --only ${section}${one}`;
});
if (values.json !== undefined) writeFileSync(values.json, JSON.stringify(Object.fromEntries(findings.checks), null, 1));
console.log(`fuzz seed=${seed}, ${elapsed()}`);
console.log(`${findings.passed} passed, ${findings.failed} failed`);
process.exit(findings.failed > 0 ? 1 : 0);
