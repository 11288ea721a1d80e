// FlashKv over the NVS simulation: KvStore behaviour, chunking, hash collisions, the exact flash
// write cost, bad bytes in flash, a full flash, power cuts at every write point, and live slots.
// Runs under Node and inside XS.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { LichenError } from "../../src/core/errors.js";
import { encodeCbor } from "../../src/core/codec.js";
import { FlashSim } from "../../src/store/flash-sim.js";
import { bucketOf, checksum32, chunkKeyOf, FLASH_FORMAT, FlashKv, headKeyOf } from "../../src/store/flash-kv.js";
import type { KvOp } from "../../src/store/kv.js";
import { ENGINE } from "../engine.js";
import { fc, property } from "../prop.js";
import { retainedSlots } from "../../sim/xs/meter.js";

const code = (c: string) => (e: unknown) => e instanceof LichenError && e.code === c;

/** Deterministic bytes: `n` of them, different for every `seed`. */
function bytes(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let x = (seed * 2654435761 + n) >>> 0;
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

/** A record as FlashKv seals it: CBOR + FNV-1a checksum, big-endian. */
function sealed(value: unknown): Uint8Array {
  const body = encodeCbor(value);
  const out = new Uint8Array(body.length + 4);
  out.set(body);
  const s = checksum32(body);
  out.set([s >>> 24, (s >>> 16) & 255, (s >>> 8) & 255, s & 255], body.length);
  return out;
}

// Keys whose buckets collide (found offline by brute force; the first test checks them).
const TRIPLE = ["k1segu6u", "k0ntzkjw", "k0jdldec"];
const PAIR = ["k0lqe4xw", "k19g7v0s"];
const LONG_PREFIX = "L/".padEnd(247, "x");
const LONG_PAIR = [`${LONG_PREFIX}00p9h9y4`, `${LONG_PREFIX}00lqypd1`];
const LONG = "sensor/".padEnd(255, "z");

const MAX = 4000;
/** Largest value that stays inline in the head of a bucket holding only the 1-character key. */
const INLINE_MAX_1CHAR = MAX - 14;

test("the colliding keys collide, and keys map to 8-character heads", () => {
  assert.is(headKeyOf(TRIPLE[0]), headKeyOf(TRIPLE[1]));
  assert.is(headKeyOf(TRIPLE[0]), headKeyOf(TRIPLE[2]));
  assert.is(headKeyOf(PAIR[0]), headKeyOf(PAIR[1]));
  assert.is(headKeyOf(LONG_PAIR[0]), headKeyOf(LONG_PAIR[1]));
  assert.is(LONG_PAIR[0].length, 255);
  assert.is.not(headKeyOf(TRIPLE[0]), headKeyOf(PAIR[0]));
  assert.is(headKeyOf(LONG).length, 8);
  assert.ok(chunkKeyOf(bucketOf(LONG), 1295, 46655).length <= 15);
});

test("FlashSim: NVS limits, capacity, counters, power cuts and reboot", () => {
  const sim = new FlashSim({ capacityBytes: 1024 });
  assert.throws(() => sim.set("0123456789abcdef", new Uint8Array(1)), code("STORAGE"));
  assert.throws(() => sim.set("", new Uint8Array(1)), code("STORAGE"));
  assert.throws(() => sim.set("k", new Uint8Array(4001)), code("STORAGE"));
  sim.set("0123456789abcde", new Uint8Array(10));
  assert.is(sim.usedBytes, 64);
  assert.throws(() => sim.set("big", new Uint8Array(1000)), (e: unknown) => code("STORAGE")(e) && /full/.test((e as Error).message));
  sim.set("a", bytes(100, 1));
  sim.set("a", bytes(50, 2));
  sim.delete("a");
  sim.delete("a");
  assert.equal(sim.statsOf("a"), { writes: 2, deletes: 1, bytesWritten: 150, bytesErased: 150 });
  assert.equal(sim.stats, { writes: 3, deletes: 1, bytesWritten: 160, bytesErased: 150 });
  assert.is(sim.writePoints, 5, "refused calls are not write points; deleting a missing key is");
  const got = sim.get("0123456789abcde")!;
  got[0] = 9;
  assert.is(sim.get("0123456789abcde")![0], 0, "get returns a copy");

  sim.cutAfter(1, { landed: false });
  sim.set("x", bytes(3, 3));
  assert.throws(() => sim.set("y", bytes(3, 4)), (e: unknown) => code("STORAGE")(e) && /power lost/.test((e as Error).message));
  assert.throws(() => sim.get("x"), code("STORAGE"));
  assert.throws(() => sim.keys(), code("STORAGE"));
  assert.not.ok(sim.poweredOn);
  sim.reboot();
  assert.equal(sim.get("x"), bytes(3, 3));
  assert.is(sim.get("y"), undefined, "the cut write did not land");

  sim.cutAfter(0, { landed: true });
  assert.throws(() => sim.delete("x"), code("STORAGE"));
  sim.reboot();
  assert.is(sim.get("x"), undefined, "the cut delete landed");
  assert.equal(sim.keys(), ["0123456789abcde"]);
});

test("FlashKv: get, put, delete, keys and batch; binary values; reopen sees everything", () => {
  const sim = new FlashSim();
  const kv = FlashKv.open(sim);
  assert.equal(kv.recovery, { journal: "none", orphans: 0 });
  const bin = new Uint8Array(256).map((_, i) => i);
  kv.put("s/a", bin);
  kv.put("s/b", new Uint8Array(0));
  kv.put("t/c", bytes(9000, 1));
  kv.put(LONG, bytes(300, 2));
  assert.equal(kv.get("s/a"), bin);
  assert.equal(kv.get("s/b"), new Uint8Array(0));
  assert.equal(kv.get("t/c"), bytes(9000, 1));
  assert.equal(kv.get(LONG), bytes(300, 2));
  assert.is(kv.get("nope"), undefined);
  assert.equal(kv.keys(), ["s/a", "s/b", LONG, "t/c"], "code-unit order");
  assert.equal(kv.keys("s/"), ["s/a", "s/b"]);
  assert.equal(kv.keys("zz"), []);
  const got = kv.get("s/a")!;
  got[0] = 99;
  assert.is(kv.get("s/a")![0], 0, "the caller owns the returned array");
  const input = bytes(10, 3);
  kv.put("s/in", input);
  input[0] ^= 1;
  assert.equal(kv.get("s/in"), bytes(10, 3), "the store keeps its own copy");

  kv.batch([
    { type: "put", key: "s/a", value: bytes(5, 4) },
    { type: "delete", key: "s/b" },
    { type: "put", key: "u/new", value: bytes(5000, 5) },
    { type: "put", key: "u/new", value: bytes(4100, 6) },
    { type: "delete", key: "never" },
  ]);
  kv.delete("s/in");
  kv.delete("s/in");
  assert.equal(kv.keys(), ["s/a", LONG, "t/c", "u/new"]);
  assert.equal(kv.get("u/new"), bytes(4100, 6), "the last put of a key in a batch wins");
  kv.batch([]);
  kv.close();
  assert.throws(() => kv.get("s/a"), code("CLOSED"));
  assert.throws(() => kv.put("s/a", bin), code("CLOSED"));
  kv.close();

  const again = FlashKv.open(sim);
  assert.equal(again.recovery, { journal: "none", orphans: 0 });
  assert.equal(again.keys(), ["s/a", LONG, "t/c", "u/new"]);
  assert.equal(again.get("s/a"), bytes(5, 4));
  assert.equal(again.get("t/c"), bytes(9000, 1));
  assert.equal(again.get("u/new"), bytes(4100, 6));
  const report = again.check();
  assert.equal(report.orphans, []);
  assert.equal(report.missing, []);
  assert.equal(report.corrupt, []);
  assert.is(report.keys, 4);
  assert.is(report.chunks, 3 + 2, "t/c in 3 chunks, u/new in 2");
});

test("FlashKv: arguments are checked before anything is written", () => {
  const sim = new FlashSim();
  const kv = FlashKv.open(sim);
  assert.throws(() => kv.put("", new Uint8Array(1)), code("INVALID_ARGUMENT"));
  assert.throws(() => kv.put("x".repeat(256), new Uint8Array(1)), code("INVALID_ARGUMENT"));
  assert.throws(() => kv.put("a\nb", new Uint8Array(1)), code("INVALID_ARGUMENT"));
  assert.throws(() => kv.put("lone\ud800", new Uint8Array(1)), code("INVALID_ARGUMENT"));
  assert.throws(() => kv.put("a", [1, 2] as unknown as Uint8Array), code("INVALID_ARGUMENT"));
  assert.throws(() => kv.batch([{ type: "put", key: "ok", value: new Uint8Array(1) }, { type: "put", key: "", value: new Uint8Array(1) }]), code("INVALID_ARGUMENT"));
  assert.throws(() => kv.batch([{ type: "nope", key: "a" } as unknown as KvOp]), code("INVALID_ARGUMENT"));
  assert.is(sim.writePoints, 0);
  kv.put("pair \ud83d\ude00", bytes(3, 1));
  assert.equal(kv.get("pair \ud83d\ude00"), bytes(3, 1));
  assert.throws(() => new FlashKv(new FlashSim({ maxValueBytes: 100 })), code("INVALID_ARGUMENT"));
});

test("FlashKv: colliding keys share a head; values move to chunks when the head would overflow", () => {
  const sim = new FlashSim();
  const kv = FlashKv.open(sim);
  for (const [i, k] of TRIPLE.entries()) kv.put(k, bytes(1500, i));
  // three 1,500-byte values do not fit one 4,000-byte head: one went to a chunk
  assert.equal(
    TRIPLE.map((k) => kv.get(k)),
    TRIPLE.map((_, i) => bytes(1500, i)),
  );
  const head = headKeyOf(TRIPLE[0]);
  assert.ok(sim.peek(head)!.length <= MAX);
  assert.is(kv.check().chunks, 1);
  kv.delete(TRIPLE[1]);
  assert.is(kv.get(TRIPLE[1]), undefined);
  assert.equal(kv.get(TRIPLE[0]), bytes(1500, 0));
  assert.equal(kv.get(TRIPLE[2]), bytes(1500, 2));
  kv.batch([
    { type: "put", key: LONG_PAIR[0], value: bytes(3900, 7) },
    { type: "put", key: LONG_PAIR[1], value: bytes(3900, 8) },
    { type: "put", key: PAIR[0], value: bytes(1, 9) },
  ]);
  assert.equal(kv.get(LONG_PAIR[0]), bytes(3900, 7));
  assert.equal(kv.get(LONG_PAIR[1]), bytes(3900, 8));
  assert.is(kv.get(PAIR[1]), undefined, "a key that only shares the head of a stored key is absent");
  assert.equal(kv.keys("k"), [TRIPLE[0], TRIPLE[2], PAIR[0]].sort());
  for (const k of [...TRIPLE, ...LONG_PAIR]) kv.delete(k);
  kv.delete(PAIR[0]);
  assert.equal(kv.keys(), []);
  assert.equal(sim.keys(), [], "nothing is left on flash");
});

test("FlashKv: values of every size around the chunk limits round-trip, and overwrites leave no garbage", () => {
  const sim = new FlashSim();
  const kv = FlashKv.open(sim);
  const sizes = [0, 1, 31, INLINE_MAX_1CHAR, INLINE_MAX_1CHAR + 1, 3999, 4000, 4001, 7999, 8000, 8001, 20000];
  for (const [i, n] of sizes.entries()) {
    kv.put("v", bytes(n, i));
    assert.equal(kv.get("v"), bytes(n, i), `size ${n}`);
    kv.put(LONG, bytes(n, i + 100));
    assert.equal(kv.get(LONG), bytes(n, i + 100), `size ${n} under a 255-character key`);
    const r = kv.check();
    assert.equal(r.orphans, [], `no orphans after size ${n}`);
    assert.is(r.keys, 2);
  }
  kv.delete("v");
  kv.delete(LONG);
  assert.equal(sim.keys(), []);
});

test("write cost: small puts 1 flash write, chunked puts n + 1, batches journal + heads", () => {
  const sim = new FlashSim();
  const kv = FlashKv.open(sim);
  assert.is(sim.writePoints, 0, "opening a clean store writes nothing");
  const cost = (fn: () => void) => {
    sim.resetStats();
    fn();
    const s = sim.stats;
    return { writes: s.writes, deletes: s.deletes };
  };
  assert.equal(cost(() => kv.put("a", bytes(10, 1))), { writes: 1, deletes: 0 }, "small put: one head write");
  assert.equal(cost(() => kv.put("a", bytes(10, 1))), { writes: 0, deletes: 0 }, "the same bytes again: nothing");
  assert.equal(cost(() => kv.put("a", bytes(10, 2))), { writes: 1, deletes: 0 }, "small overwrite");
  assert.is(sim.statsOf(headKeyOf("a")).writes, 1);
  assert.is(sim.statsOf(headKeyOf("a")).bytesErased, sim.peek(headKeyOf("a"))!.length);
  assert.equal(cost(() => kv.put("b", bytes(INLINE_MAX_1CHAR, 3))), { writes: 1, deletes: 0 }, "the largest inline value");
  assert.equal(cost(() => kv.put("c", bytes(INLINE_MAX_1CHAR + 1, 3))), { writes: 2, deletes: 0 }, "one byte more: 1 chunk + 1 head");
  assert.equal(cost(() => kv.put("big", bytes(10000, 4))), { writes: 4, deletes: 0 }, "10,000 bytes: 3 chunks + 1 head");
  assert.equal(cost(() => kv.put("big", bytes(10000, 4))), { writes: 0, deletes: 0 }, "the same chunked value again: nothing");
  assert.equal(cost(() => kv.put("big", bytes(10000, 5))), { writes: 4, deletes: 3 }, "chunked over chunked: old chunks deleted after the commit");
  assert.equal(cost(() => kv.put("big", bytes(10, 6))), { writes: 1, deletes: 3 }, "small over chunked");
  assert.equal(cost(() => kv.delete("a")), { writes: 0, deletes: 1 }, "delete: the head");
  assert.equal(cost(() => kv.delete("a")), { writes: 0, deletes: 0 }, "delete of a missing key");
  assert.equal(cost(() => kv.put(LONG, bytes(3800, 7))), { writes: 2, deletes: 0 }, "255-character key + 3,800 bytes: the value goes to a chunk");
  assert.equal(
    cost(() =>
      kv.batch([
        { type: "put", key: "x1", value: bytes(8, 1) },
        { type: "put", key: "x2", value: bytes(8, 2) },
        { type: "put", key: "x3", value: bytes(8, 3) },
      ]),
    ),
    { writes: 4, deletes: 1 },
    "batch over 3 buckets: journal + 3 heads, then the journal is deleted",
  );
  assert.equal(
    cost(() =>
      kv.batch([
        { type: "put", key: "y", value: bytes(8, 1) },
        { type: "delete", key: "y" },
        { type: "put", key: "y", value: bytes(8, 2) },
      ]),
    ),
    { writes: 1, deletes: 0 },
    "batch within one bucket: one head write, no journal",
  );
  assert.equal(cost(() => kv.batch([{ type: "put", key: "p", value: bytes(6000, 1) }, { type: "put", key: "q", value: bytes(6, 1) }])), { writes: 2 + 1 + 2, deletes: 1 });
  // a batch whose journal (the old heads) does not fit one value: parts first, then the journal
  for (let i = 0; i < 6; i++) kv.put(`L${i}`, bytes(1500, i));
  const large: KvOp[] = [];
  for (let i = 0; i < 6; i++) large.push({ type: "put", key: `L${i}`, value: bytes(1500, i + 10) });
  const c = cost(() => kv.batch(large));
  assert.equal(c, { writes: 3 + 1 + 6, deletes: 1 + 3 }, "9,000 bytes of old heads: 3 parts + journal + 6 heads; journal and parts deleted");
  for (let i = 0; i < 6; i++) assert.equal(kv.get(`L${i}`), bytes(1500, i + 10));
  kv.close();
  assert.equal(cost(() => FlashKv.open(sim)), { writes: 0, deletes: 0 }, "reopening a clean store writes nothing");
});

test("bad bytes in flash: CORRUPT for those keys only; open() survives; a write repairs", () => {
  const sim = new FlashSim();
  const kv = FlashKv.open(sim);
  kv.put("good", bytes(20, 1));
  kv.put("head", bytes(20, 2));
  kv.put("gone", bytes(9000, 3));
  kv.put("flip", bytes(9000, 4));
  kv.put("short", bytes(9000, 5));
  kv.put("cbor", bytes(20, 6));
  kv.put("alien", bytes(20, 7));
  kv.put("newer", bytes(20, 8));
  kv.close();

  sim.poke(headKeyOf("head"), bytes(40, 99)); // garbage
  sim.poke(chunkKeyOf(bucketOf("gone"), 0, 1), undefined); // a missing chunk
  const flip = sim.peek(chunkKeyOf(bucketOf("flip"), 0, 0))!;
  flip[17] ^= 4;
  sim.poke(chunkKeyOf(bucketOf("flip"), 0, 0), flip); // one flipped bit
  sim.poke(chunkKeyOf(bucketOf("short"), 0, 2), bytes(10, 1)); // a truncated chunk
  sim.poke(headKeyOf("cbor"), sealed([FLASH_FORMAT, 1, [["cbor", "not bytes", 3]]])); // checksum fine, shape wrong
  sim.poke(headKeyOf("alien"), sealed([FLASH_FORMAT, 1, [["someone else", bytes(3, 1)]]])); // a key of another bucket
  sim.poke(headKeyOf("newer"), sealed([FLASH_FORMAT + 1, 1, []]));
  sim.poke("zz-unknown", bytes(5, 1)); // not ours: ignored
  sim.poke("dgarbage", bytes(5, 1)); // not a chunk name: ignored
  sim.poke("j", bytes(30, 5)); // a journal that does not verify

  const kv2 = FlashKv.open(sim);
  assert.equal(kv2.recovery, { journal: "discarded", orphans: 0 });
  assert.equal(kv2.get("good"), bytes(20, 1));
  for (const k of ["head", "gone", "flip", "short", "cbor", "alien"]) {
    assert.throws(
      () => kv2.get(k),
      (e: unknown) => code("CORRUPT")(e) && (e as Error).message.includes(JSON.stringify(k)),
      `${k}: CORRUPT naming the key`,
    );
  }
  assert.throws(() => kv2.get("newer"), code("UNSUPPORTED_VERSION"));
  assert.throws(() => kv2.put("newer", bytes(1, 1)), code("UNSUPPORTED_VERSION"), "a newer record is never overwritten");
  assert.equal(kv2.keys(), ["flip", "gone", "good", "short"], "unreadable heads are left out; chunked keys with bad chunks are listed");
  const report = kv2.check();
  assert.equal(report.corrupt.sort(), [headKeyOf("alien"), headKeyOf("cbor"), headKeyOf("head"), headKeyOf("newer")].sort());
  assert.equal(report.missing, [chunkKeyOf(bucketOf("gone"), 0, 1)]);

  // writes repair: the bad bucket is replaced, the others are untouched
  kv2.put("head", bytes(5, 10));
  kv2.put("gone", bytes(5, 11));
  kv2.delete("cbor");
  assert.equal(kv2.get("head"), bytes(5, 10));
  assert.equal(kv2.get("gone"), bytes(5, 11));
  assert.is(kv2.get("cbor"), undefined);
  assert.equal(kv2.get("good"), bytes(20, 1));
  assert.equal(sim.peek("zz-unknown"), bytes(5, 1), "unknown keys are left alone");
  const kv3 = FlashKv.open(sim);
  assert.equal(kv3.check().orphans, []);
  assert.equal(kv3.keys(), ["flip", "gone", "good", "head", "short"]);
});

test("a full flash: STORAGE, the old value stays, the chunks written are taken back", () => {
  const sim = new FlashSim({ capacityBytes: 10_000 });
  const kv = FlashKv.open(sim);
  kv.put("a", bytes(3000, 1));
  kv.put("b", bytes(2000, 2));
  const before = sim.keys().sort();
  assert.throws(() => kv.put("b", bytes(9000, 3)), code("STORAGE"));
  assert.equal(kv.get("b"), bytes(2000, 2));
  assert.equal(sim.keys().sort(), before);
  assert.throws(
    () =>
      kv.batch([
        { type: "put", key: "c", value: bytes(2500, 4) },
        { type: "put", key: "d", value: bytes(2500, 4) },
      ]),
    code("STORAGE"),
  );
  assert.is(kv.get("c"), undefined);
  assert.equal(sim.keys().sort(), before);
  kv.delete("a");
  kv.put("c", bytes(2000, 4));
  assert.equal(kv.keys(), ["b", "c"]);
});

// ---- power cuts at every write point ----

const KEYS = ["a", "b", "s/c", LONG, ...TRIPLE, ...PAIR, ...LONG_PAIR];

type Step = { t: "put"; k: number; n: number } | { t: "del"; k: number };
type WorkOp = Step | { t: "batch"; steps: Step[] };

const arbSize = fc.oneof(
  { weight: 3, arbitrary: fc.integer({ min: 0, max: 300 }) },
  { weight: 1, arbitrary: fc.constantFrom(0, INLINE_MAX_1CHAR, 3999, 4000, 4001, 8001) },
  { weight: 2, arbitrary: fc.integer({ min: 301, max: 9000 }) },
);
const arbStep: fc.Arbitrary<Step> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ t: fc.constant("put" as const), k: fc.nat(KEYS.length - 1), n: arbSize }, { noNullPrototype: true }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant("del" as const), k: fc.nat(KEYS.length - 1) }, { noNullPrototype: true }) },
);
const arbOp: fc.Arbitrary<WorkOp> = fc.oneof(
  { weight: 3, arbitrary: arbStep },
  { weight: 2, arbitrary: fc.record({ t: fc.constant("batch" as const), steps: fc.array(arbStep, { minLength: 1, maxLength: 5 }) }, { noNullPrototype: true }) },
);
const arbWorkload = fc.array(arbOp, { minLength: 1, maxLength: 7 });

type Model = Map<string, Uint8Array>;

function stepsOf(op: WorkOp): Step[] {
  return op.t === "batch" ? op.steps : [op];
}

/** The KvOps of op number `i` (values depend on i, so every put writes distinct bytes). */
function kvOps(op: WorkOp, i: number): KvOp[] {
  return stepsOf(op).map((s, j) => (s.t === "put" ? { type: "put", key: KEYS[s.k], value: bytes(s.n, i * 16 + j + 1) } : { type: "delete", key: KEYS[s.k] }));
}

function applyModel(model: Model, ops: readonly KvOp[]): Model {
  const next = new Map(model);
  for (const o of ops) {
    if (o.type === "put") next.set(o.key, o.value);
    else next.delete(o.key);
  }
  return next;
}

function run(kv: FlashKv, op: WorkOp, ops: KvOp[]): void {
  if (op.t === "put") kv.put(ops[0].key, (ops[0] as { value: Uint8Array }).value);
  else if (op.t === "del") kv.delete(ops[0].key);
  else kv.batch(ops);
}

/** Everything the store holds, checking that keys() and get() agree on every key of the pool. */
function readAll(kv: FlashKv): Model {
  const listed = kv.keys();
  const out: Model = new Map();
  for (const k of KEYS) {
    const v = kv.get(k);
    assert.is(v !== undefined, listed.includes(k), `keys() and get() disagree on ${JSON.stringify(k.slice(0, 20))}`);
    if (v !== undefined) out.set(k, v);
  }
  assert.is(listed.length, out.size, "keys() lists only keys that exist");
  return out;
}

function sameModel(a: Model, b: Model): boolean {
  if (a.size !== b.size) return false;
  for (const [k, v] of a) {
    const w = b.get(k);
    if (w === undefined || w.length !== v.length) return false;
    for (let i = 0; i < v.length; i++) if (v[i] !== w[i]) return false;
  }
  return true;
}

function describe(m: Model): string {
  return JSON.stringify([...m].map(([k, v]) => [k.slice(0, 12), v.length, checksum32(v)]));
}

function checkClean(kv: FlashKv, where: string): void {
  const r = kv.check();
  assert.equal(r.orphans, [], `${where}: orphans left`);
  assert.equal(r.missing, [], `${where}: chunks missing`);
  assert.equal(r.corrupt, [], `${where}: corrupt heads`);
  assert.not.ok(r.journal, `${where}: a journal left`);
}

/** Runs the workload on `sim` until it ends or the power is lost. */
function runWorkload(sim: FlashSim, work: WorkOp[]): { acked: Model; inflight: Model | undefined; lost: boolean } {
  let acked: Model = new Map();
  let inflight: Model | undefined;
  try {
    const kv = FlashKv.open(sim);
    for (const [i, op] of work.entries()) {
      const ops = kvOps(op, i);
      inflight = applyModel(acked, ops);
      run(kv, op, ops);
      acked = inflight;
      inflight = undefined;
    }
  } catch (e) {
    if (!code("STORAGE")(e)) throw e;
    return { acked, inflight, lost: true };
  }
  return { acked, inflight: undefined, lost: false };
}

let crashCases = 0;

function crashProperty(work: WorkOp[]): void {
  const clean = new FlashSim();
  const full = runWorkload(clean, work);
  assert.not.ok(full.lost);
  const points = clean.writePoints;
  for (let k = 0; k <= points; k++) {
    for (const landed of [false, true]) {
      if (k === points && landed) continue; // no write is cut: one run is enough
      crashCases++;
      const where = `cut after ${k} of ${points} writes (${landed ? "landed" : "not landed"})`;
      const sim = new FlashSim();
      sim.cutAfter(k, { landed });
      const r = runWorkload(sim, work);
      // a cut during the deletion of garbage after a commit is not reported: the operation is durable
      if (k === points) assert.not.ok(r.lost, `${where}: power lost`);
      sim.reboot();
      const crashed = sim.clone();

      const kv = FlashKv.open(sim);
      const state = readAll(kv);
      const ok = sameModel(state, r.acked) || (r.inflight !== undefined && sameModel(state, r.inflight));
      assert.ok(ok, `${where}: state ${describe(state)} is neither the acknowledged ${describe(r.acked)} nor with the operation in flight ${r.inflight ? describe(r.inflight) : "(none)"}`);
      checkClean(kv, where);

      // power lost again during recovery, at each of its writes
      const probe = crashed.clone();
      FlashKv.open(probe);
      const recoveryWrites = probe.writePoints;
      for (let j = 0; j < recoveryWrites; j++) {
        const again = crashed.clone();
        again.cutAfter(j, { landed: j % 2 === 1 });
        assert.throws(() => FlashKv.open(again), code("STORAGE"));
        again.reboot();
        const kv2 = FlashKv.open(again);
        assert.ok(sameModel(readAll(kv2), state), `${where}, then cut after ${j} recovery writes: not the same state`);
        checkClean(kv2, `${where}, recovery cut at ${j}`);
      }

      // and the store goes on working
      kv.put(KEYS[k % KEYS.length], bytes(k * 37, 7));
      assert.equal(kv.get(KEYS[k % KEYS.length]), bytes(k * 37, 7));
      checkClean(kv, `${where}, then a put`);
    }
  }
}

test("power cut at every write of a random workload: acknowledged operations stay, the one in flight is all or nothing", () => {
  crashCases = 0;
  property("FlashKv crash safety", [arbWorkload], (work) => crashProperty(work), { numRuns: 40, xsRuns: 3 });
  console.log(`${crashCases} crash points checked (${ENGINE})`);
});

test("power cuts in fixed worst cases: a multi-part journal, chunked overwrites, colliding keys", () => {
  crashCases = 0;
  const big: Step[] = [];
  for (let k = 0; k < KEYS.length; k++) big.push({ t: "put", k, n: 1200 + k });
  crashProperty([
    { t: "put", k: 4, n: 9000 },
    { t: "batch", steps: big },
    { t: "put", k: 4, n: 8001 },
    { t: "batch", steps: [{ t: "del", k: 5 }, { t: "put", k: 6, n: 4001 }, { t: "del", k: 3 }, { t: "put", k: 0, n: 0 }] },
    { t: "del", k: 4 },
  ]);
  console.log(`${crashCases} crash points checked (${ENGINE})`);
});

// ---- memory ----

test("an open FlashKv keeps a handful of live slots, however many entities it holds", async () => {
  const sim = new FlashSim();
  const setup = FlashKv.open(sim);
  for (let i = 0; i < 200; i++) setup.put(`s/readings/node-${i}`, bytes(64 + (i % 7) * 30, i));
  setup.put("s/big", bytes(9000, 1));
  let kv: FlashKv | undefined;
  FlashKv.open(sim).get("s/readings/node-1"); // warm-up: shapes, the codec
  const openSlots = await retainedSlots(() => {
    kv = FlashKv.open(sim);
  });
  if (kv === undefined) kv = FlashKv.open(sim);
  const store = kv;
  const readSlots = await retainedSlots(() => {
    for (let i = 0; i < 200; i++) store.get(`s/readings/node-${i}`);
    store.keys("s/");
    store.put("s/readings/node-0", bytes(70, 1));
  });
  assert.is(store.keys("s/readings/").length, 200);
  assert.equal(store.get("s/big"), bytes(9000, 1));
  console.log(`FlashKv with 201 entities: open keeps ${openSlots} live slots, 200 gets + keys + a put keep ${readSlots} (${ENGINE})`);
  if (ENGINE === "xs") {
    assert.ok(openSlots! <= 8, `an open FlashKv keeps ${openSlots} slots (measured: 8)`);
    assert.is(readSlots, 0);
  }
});

test.run();
