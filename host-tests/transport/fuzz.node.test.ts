// A small slice of `npm run fuzz` (scripts/fuzz.ts) in every `npm test`: the hostile behaviours and
// checks the engine holds today. Left out until the engine refuses them: forgeries with a gap or
// below the version, writes to documents the writer does not own, wiped peers (self-healing), and
// the frame mutants' no-forged and no-unauthorized checks (mutants of another node's deltas).
// The seed is printed; LICHEN_SEED=N replays it.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { Findings } from "../../scripts/fuzz/findings.js";
import { runHostileSchedule, type HostileKind } from "../../scripts/fuzz/fleet.js";
import { fuzzFlood, fuzzReassembly } from "../../scripts/fuzz/floods.js";
import { fuzzFrames } from "../../scripts/fuzz/frames.js";

const seed = process.env.LICHEN_SEED ? Number(process.env.LICHEN_SEED) >>> 0 : Math.floor(Math.random() * 0x7fffffff);
console.log(`fuzz slice: seed=${seed} (replay: LICHEN_SEED=${seed} npm test -- fuzz.node)`);

function failures(f: Findings, ignore: readonly string[] = []): string[] {
  return f.failedChecks().filter((c) => !ignore.includes(c)).map((c) => `${c} (seed ${f.checks.get(c)!.firstSeed}): ${f.checks.get(c)!.firstMessage}`);
}

const KINDS: HostileKind[] = ["none", "forge-contiguous", "forge-new-replica", "replay", "power-cut"];

test("hostile peers: contiguous forgers, forgers of unknown replicas, replayers, power cuts mid-write", () => {
  const f = new Findings();
  for (const kind of KINDS) for (let i = 0; i < 6; i++) runHostileSchedule((seed + i) >>> 0, { kind, coalesce: i % 2 === 1 }, f);
  assert.equal(failures(f), []);
  assert.ok(f.passed >= KINDS.length * 6 * 7, `every check ran (${f.passed} passes)`);
});

const NOT_YET = ["frames/no-forged", "frames/no-unauthorized"];

test("frame mutants reach the decoders, are refused with typed errors, change nothing when refused", () => {
  const f = new Findings((line, check) => console.log(NOT_YET.includes(check) ? `not asserted here (fails until the engine checks authorship and permissions): ${line}` : line));
  fuzzFrames(3000, seed, f);
  assert.equal(failures(f, NOT_YET), []);
  for (const c of ["frames/no-crash", "frames/typed-errors", "frames/unchanged-on-reject", "frames/rate-limit-spared", "frames/recovers"]) assert.is(f.checks.get(c)?.passes, 1, c);
});

test("a flood is cut to the rate limiter's burst; a frame in parts over the reassembly limit is dropped", () => {
  const f = new Findings();
  fuzzFlood(seed, f);
  fuzzReassembly(seed, f);
  assert.equal(failures(f), []);
  assert.equal([...f.checks.keys()].sort(), ["flood/rate-limit", "reassembly/capped", "reassembly/under-cap"]);
});

test.run();
