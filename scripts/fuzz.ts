// `npm run fuzz`: the long runs that `npm test` samples.
// - sync schedules (loss, duplicates, reordering, partitions, crashes; half of them with nodes that
//   coalesce their flash writes) on the simulated network;
// - malformed frames: random, truncated, bit-flipped and oversized, fed to a gateway mid-session.
// Prints the seed of any failure; replay one schedule with `npm run fuzz -- --seed N`.
// Options: --schedules N (default 10000), --frames N (default 100000), --seed N.
import { parseArgs } from "node:util";
import { decodeFrame, encodeFrame } from "../src/transport/frames.js";
import { checkConverged, runSchedule } from "../host-tests/transport/schedules.js";
import { Fleet, openDocs, rng } from "../host-tests/transport/simulator.js";

const { values } = parseArgs({
  options: {
    schedules: { type: "string", default: "10000" },
    frames: { type: "string", default: "100000" },
    seed: { type: "string" },
  },
});

let failed = 0;
let passed = 0;

function schedules(count: number, first: number): void {
  const started = Date.now();
  for (let i = 0; i < count; i++) {
    const seed = (first + i) >>> 0;
    // every other schedule with nodes that coalesce their flash writes (a crash loses their last writes)
    const coalescing = seed % 2 === 1;
    try {
      if (coalescing) checkConverged(runSchedule(seed, 60, { maxOps: 4, maxDelayMs: 2000 }), seed, false);
      else checkConverged(runSchedule(seed), seed);
      passed++;
    } catch (e) {
      failed++;
      console.log(`FAIL schedule seed=${seed}: ${(e as Error).message.split("\n")[0]}`);
      console.log(`  replay: npm run fuzz -- --seed ${seed} --frames 0`);
    }
    if ((i + 1) % 1000 === 0) console.log(`schedules: ${i + 1}/${count} (${((Date.now() - started) / 1000).toFixed(0)} s)`);
  }
}

function frames(count: number, seed: number): void {
  const random = rng(seed);
  const fleet = new Fleet(random, { loss: 0, duplicate: 0, maxDelayMs: 5 });
  fleet.add("gw", "gateway");
  fleet.add("n1", "node");
  fleet.link("n1", "gw");
  const n1 = fleet.peers.get("n1")!.engine;
  const gw = fleet.peers.get("gw")!.engine;
  const docs = openDocs(n1, "n1");
  const valid: Uint8Array[] = [];
  for (let i = 0; i < 30; i++) {
    docs.readings.set(`k${i % 7}`, i);
    docs.events.increment();
    valid.push(encodeFrame({ kind: 3, doc: "readings/n1", type: docs.readings.typeTag, delta: docs.readings.delta() }));
    valid.push(encodeFrame({ kind: 4, doc: "readings/n1", version: docs.readings.version() }));
    valid.push(encodeFrame({ kind: 2, reply: true, docs: [["events/n1", docs.events.typeTag, docs.events.version()]] }));
  }
  n1.changed("readings", "n1");
  n1.changed("events", "n1");
  fleet.run(2000);
  const before = gw.get("readings/n1")!.toBytes();
  let accepted = 0;
  for (let i = 0; i < count; i++) {
    const kind = i % 4;
    let bytes: Uint8Array;
    if (kind === 0) {
      bytes = new Uint8Array(1 + Math.floor(random() * 120));
      for (let j = 0; j < bytes.length; j++) bytes[j] = Math.floor(random() * 256);
    } else {
      const v = valid[Math.floor(random() * valid.length)];
      if (kind === 1) bytes = v.subarray(0, Math.floor(random() * v.length));
      else if (kind === 2) {
        bytes = v.slice();
        const at = Math.floor(random() * bytes.length);
        bytes[at] ^= 1 << Math.floor(random() * 8);
      } else bytes = new Uint8Array(4001 + Math.floor(random() * 4000));
    }
    try {
      decodeFrame(bytes);
      accepted++;
    } catch {
      // expected: the engine must drop it the same way
    }
    try {
      gw.receive("n1", bytes);
    } catch (e) {
      failed++;
      console.log(`FAIL frame ${i} (seed ${seed}): receive threw ${(e as Error).message}`);
      return;
    }
    if (i % 500 === 0) fleet.run(1000); // refill the rate limiter, let the session go on
  }
  const after = gw.get("readings/n1")!.toBytes();
  if (accepted > count / 4 || after.length !== before.length || !after.every((b, i) => b === before[i])) {
    failed++;
    console.log(`FAIL frames (seed ${seed}): ${accepted} malformed frames accepted, or the state changed`);
    return;
  }
  // the session still works
  docs.readings.set("after", 1);
  n1.changed("readings", "n1");
  fleet.run(30_000);
  if (!gw.get("readings/n1")!.equals(docs.readings)) {
    failed++;
    console.log(`FAIL frames (seed ${seed}): the session did not recover`);
    return;
  }
  passed++;
  console.log(`frames: ${count} malformed frames dropped (${fleet.logs.length} log lines), state unchanged, session recovered`);
}

const seed = values.seed !== undefined ? Number(values.seed) : Math.floor(Math.random() * 0x7fffffff);
console.log(`fuzz seed=${seed}`);
schedules(values.seed !== undefined && values.schedules === "10000" ? 1 : Number(values.schedules), seed);
if (Number(values.frames) > 0) frames(Number(values.frames), seed);
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed > 0 ? 1 : 0);
