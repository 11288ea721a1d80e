// A small slice of `npm run fuzz` (scripts/fuzz.ts) in every `npm test`: every hostile behaviour
// (forgers of every kind, replayers, writers of documents they do not own, wiped peers, power cuts)
// and every check of the frame mutants (format-3 DELTAs mutated and replayed among them), on fewer seeds.
// The seed is printed; LICHEN_SEED=N replays it.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { Findings } from "../../scripts/fuzz/findings.js";
import { HOSTILE_KINDS, runHostileSchedule } from "../../scripts/fuzz/fleet.js";
import { fuzzFlood, fuzzReassembly } from "../../scripts/fuzz/floods.js";
import { fuzzFrames } from "../../scripts/fuzz/frames.js";
import { unanchoredMutants } from "../../scripts/fuzz/mutants.js";

const seed = process.env.LICHEN_SEED ? Number(process.env.LICHEN_SEED) >>> 0 : Math.floor(Math.random() * 0x7fffffff);
console.log(`fuzz slice: seed=${seed} (replay: LICHEN_SEED=${seed} npm test -- fuzz.node)`);

function failures(f: Findings): string[] {
  return f.failedChecks().map((c) => `${c} (seed ${f.checks.get(c)!.firstSeed}): ${f.checks.get(c)!.firstMessage}`);
}

const PER_KIND = 6;

test("hostile peers: forgers (contiguous, unknown replicas, gaps, below the version), replayers, unowned writers, wipers, power cuts", () => {
  const f = new Findings();
  for (const kind of HOSTILE_KINDS) for (let i = 0; i < PER_KIND; i++) runHostileSchedule((seed + i) >>> 0, { kind, coalesce: i % 2 === 1 }, f);
  assert.equal(failures(f), []);
  assert.ok(f.passed >= HOSTILE_KINDS.length * PER_KIND * 8, `every check ran (${f.passed} passes)`);
});

test("frame mutants reach the decoders, are refused with typed errors, change nothing when refused, forge nothing; format-3 replays are answered stale", () => {
  const f = new Findings();
  fuzzFrames(3000, seed, f);
  assert.equal(failures(f), []);
  for (const c of ["frames/no-crash", "frames/typed-errors", "frames/unchanged-on-reject", "frames/relative-replay", "frames/rate-limit-spared", "frames/recovers", "frames/no-forged", "frames/no-unauthorized"]) {
    assert.is(f.checks.get(c)?.passes, 1, c);
  }
});

test("a flood is cut to the rate limiter's burst; a frame in parts over the reassembly limit is dropped", () => {
  const f = new Findings();
  fuzzFlood(seed, f);
  fuzzReassembly(seed, f);
  assert.equal(failures(f), []);
  assert.equal([...f.checks.keys()].sort(), ["flood/rate-limit", "reassembly/capped", "reassembly/under-cap"]);
});

test("every mutant of the fuzz's proof (npm run fuzz -- --mutants) still finds its anchor in the sources", () => {
  assert.equal(unanchoredMutants(), []);
});

test.run();
