// FlashKv when single flash calls fail while the flash stays up (I/O errors, a call that reports
// failure after it landed): the store rolls back, or recognises a landed commit, and keeps going.
// Runs under Node and inside XS.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { LichenError } from "../../src/core/errors.js";
import { storageError, type FlashDriver } from "../../src/store/flash-driver.js";
import { FlashKv, headKeyOf } from "../../src/store/flash-kv.js";
import { FlashSim } from "../../src/store/flash-sim.js";

const code = (c: string) => (e: unknown) => e instanceof LichenError && e.code === c;

function bytes(n: number, seed: number): Uint8Array {
  return new Uint8Array(n).map((_, i) => (i * 31 + seed * 7) & 255);
}

interface Fault {
  op: "set" | "delete";
  key: (k: string) => boolean;
  /** The call fails after it happened (true) or instead of it (false). */
  landed: boolean;
}

/** A FlashSim whose next matching calls fail once each, with an ordinary I/O error. */
class Flaky implements FlashDriver {
  readonly maxKeyLength: number;
  readonly maxValueBytes: number;
  faults: Fault[] = [];
  constructor(readonly sim: FlashSim) {
    this.maxKeyLength = sim.maxKeyLength;
    this.maxValueBytes = sim.maxValueBytes;
  }
  get(key: string): Uint8Array | undefined {
    return this.sim.get(key);
  }
  keys(): string[] {
    return this.sim.keys();
  }
  set(key: string, value: Uint8Array): void {
    this.call("set", key, () => this.sim.set(key, value));
  }
  delete(key: string): void {
    this.call("delete", key, () => this.sim.delete(key));
  }
  private call(op: "set" | "delete", key: string, run: () => void): void {
    const i = this.faults.findIndex((f) => f.op === op && f.key(key));
    if (i < 0) return run();
    const [f] = this.faults.splice(i, 1);
    if (f.landed) run();
    throw storageError(`injected I/O error on ${op} ${key}`);
  }
}

function setup() {
  const sim = new FlashSim();
  const flaky = new Flaky(sim);
  const kv = FlashKv.open(flaky);
  kv.put("a", bytes(10, 1));
  kv.put("b", bytes(6000, 2));
  kv.put("c", bytes(10, 3));
  return { sim, flaky, kv };
}

function state(kv: FlashKv): unknown {
  return kv.keys().map((k) => [k, Array.from(kv.get(k)!)]);
}

function clean(sim: FlashSim): void {
  const r = FlashKv.open(sim);
  assert.is(r.recovery.journal, "none");
  assert.is(r.recovery.orphans, 0);
  assert.equal(r.check().orphans, []);
}

test("a batch whose head write fails is rolled back on the spot", () => {
  const { sim, flaky, kv } = setup();
  const before = state(kv);
  flaky.faults.push({ op: "set", key: (k) => k === headKeyOf("c"), landed: false });
  assert.throws(
    () =>
      kv.batch([
        { type: "put", key: "a", value: bytes(20, 4) },
        { type: "put", key: "b", value: bytes(7000, 5) },
        { type: "put", key: "c", value: bytes(20, 6) },
      ]),
    code("STORAGE"),
  );
  assert.equal(state(kv), before);
  assert.not.ok(sim.keys().includes("j"));
  clean(sim);
});

test("when the rollback fails too, the next operation finishes it", () => {
  const { sim, flaky, kv } = setup();
  const before = state(kv);
  flaky.faults.push({ op: "set", key: (k) => k === headKeyOf("c"), landed: true });
  flaky.faults.push({ op: "delete", key: (k) => k === "j", landed: false }); // the commit
  flaky.faults.push({ op: "set", key: (k) => k === headKeyOf("b"), landed: false }); // the rollback
  assert.throws(
    () =>
      kv.batch([
        { type: "put", key: "a", value: bytes(20, 4) },
        { type: "put", key: "b", value: bytes(7000, 5) },
        { type: "put", key: "c", value: bytes(20, 6) },
      ]),
    code("STORAGE"),
  );
  assert.ok(sim.keys().includes("j"), "the journal is still there");
  assert.equal(state(kv), before, "the next call rolled the batch back first");
  assert.not.ok(sim.keys().includes("j"));
  kv.put("a", bytes(3, 9));
  assert.equal(kv.get("a"), bytes(3, 9));
  clean(sim);
});

test("a commit that reports failure after it landed counts as done", () => {
  const { sim, flaky, kv } = setup();
  flaky.faults.push({ op: "delete", key: (k) => k === "j", landed: true });
  kv.batch([
    { type: "put", key: "a", value: bytes(20, 4) },
    { type: "delete", key: "b" },
  ]);
  assert.equal(kv.keys(), ["a", "c"]);
  assert.equal(kv.get("a"), bytes(20, 4));
  flaky.faults.push({ op: "set", key: (k) => k === headKeyOf("c"), landed: true });
  kv.put("c", bytes(9000, 7));
  assert.equal(kv.get("c"), bytes(9000, 7));
  clean(sim);
});

test("a single put whose head write fails leaves the old value and takes its chunks back", () => {
  const { sim, flaky, kv } = setup();
  flaky.faults.push({ op: "set", key: (k) => k === headKeyOf("b"), landed: false });
  assert.throws(() => kv.put("b", bytes(9000, 8)), code("STORAGE"));
  assert.equal(kv.get("b"), bytes(6000, 2));
  assert.equal(kv.check().orphans, []);
  flaky.faults.push({ op: "set", key: (k) => k.startsWith("d"), landed: false });
  assert.throws(() => kv.put("b", bytes(9000, 8)), code("STORAGE"));
  assert.equal(kv.get("b"), bytes(6000, 2));
  // a failed deletion of garbage after the commit: the put stands, the next open collects
  flaky.faults.push({ op: "delete", key: (k) => k.startsWith("d"), landed: false });
  kv.put("b", bytes(10, 9));
  assert.equal(kv.get("b"), bytes(10, 9));
  assert.is(kv.check().orphans.length, 1);
  const again = FlashKv.open(sim);
  assert.is(again.recovery.orphans, 1);
  clean(sim);
});
test.run();
