// Sanity tests of the test pipeline itself. This file is under host-tests/core/, so it runs twice:
// under Node and inside XS (xsnap-worker). If these pass on both engines, the shims, the bundling,
// the property wrapper and lichen's CBOR codec work the same on both; and XS is made like the
// device's after preload (xs/device-realm.ts): built-in names stripped, intrinsics frozen.
import { test, suite } from "uvu";
import * as assert from "uvu/assert";
import { cborDecode, cborEncode } from "../../src/core/cbor.js";
import { toHex } from "../../src/core/hex.js";
import { ENGINE } from "../engine.js";
import { fc, property, checkProperty } from "../prop.js";
import { computeOf, retainedSlots } from "../../sim/xs/meter.js";

test("ENGINE names the engine that runs the test", () => {
  const inXs = typeof (globalThis as { issueCommand?: unknown }).issueCommand === "function";
  assert.is(ENGINE, inXs ? "xs" : "node");
  if (ENGINE === "node") assert.type(process.versions.node, "string");
  if (ENGINE === "xs") assert.type((globalThis as { gc?: unknown }).gc, "function");
});

test("assert.equal compares nested objects, arrays and Uint8Arrays", () => {
  const a = { id: "r1", clock: [1, 2, { n: 3 }], bytes: new Uint8Array([0, 255, 7]), nested: { deep: [null, true] } };
  const b = { id: "r1", clock: [1, 2, { n: 3 }], bytes: new Uint8Array([0, 255, 7]), nested: { deep: [null, true] } };
  assert.equal(a, b);
  assert.not.equal(a, { ...b, bytes: new Uint8Array([0, 255, 8]) });
  assert.not.equal([1, [2, 3]], [1, [2, 4]]);
  assert.is.not(a, b);
  assert.ok(new Uint8Array(2) instanceof Uint8Array);
  assert.instance(new Map(), Map);
  assert.match("seed=42", /seed=\d+/);
});

test("assert.throws checks the error", () => {
  assert.throws(() => {
    throw new RangeError("frame too large");
  }, /too large/);
  assert.throws(
    () => JSON.parse("{"),
    (e: unknown) => e instanceof SyntaxError,
  );
  // An assertion that fails is an Error with uvu's message.
  let message = "";
  try {
    assert.equal({ a: 1 }, { a: 2 });
  } catch (e) {
    message = (e as Error).message;
  }
  assert.is(message, "Expected values to be deeply equal:");
});

test("async tests run, in order, through promise jobs", async () => {
  const order: number[] = [];
  const p = Promise.resolve().then(() => order.push(2));
  order.push(1);
  await p;
  await null;
  order.push(3);
  assert.equal(order, [1, 2, 3]);
});

test("a fast-check property runs through prop.ts", () => {
  property("reverse twice is identity", [fc.array(fc.integer())], (xs) => {
    assert.equal([...xs].reverse().reverse(), xs);
  });
  property(
    "records without null prototypes compare equal to literals",
    [fc.record({ a: fc.nat(), b: fc.string() }, { noNullPrototype: true })],
    (r) => {
      assert.equal(r, { a: r.a, b: r.b });
    },
  );
});

test("an async property runs and a failing property reports its seed", async () => {
  await checkProperty(
    "async addition commutes",
    fc.asyncProperty(fc.integer(), fc.integer(), async (a, b) => {
      await null;
      return a + b === b + a;
    }),
  );
  let message = "";
  try {
    property("deliberately false (expected to fail)", [fc.nat()], (n) => n < 5, { seed: 7 });
  } catch (e) {
    message = (e as Error).message;
  }
  assert.match(message, "seed=7");
  assert.match(message, "Counterexample: [5]");
  assert.match(message, "LICHEN_SEED=7 npm test");
});

test("the CBOR codec gives the same bytes on both engines", () => {
  const value = { bytes: new Uint8Array([1, 2, 3]), n: 1, list: [-1, "é"] };
  const encoded = cborEncode(value);
  // Computed by hand (RFC 8949):
  const expected =
    "a3" + // map(3)
    "65" + "6279746573" + // text(5) "bytes"
    "43" + "010203" + // bytes(3) 01 02 03 (no tag 64: tagUint8Array is false)
    "61" + "6e" + // text(1) "n"
    "01" + // unsigned(1)
    "64" + "6c697374" + // text(4) "list"
    "82" + // array(2)
    "20" + // negative(-1)
    "62" + "c3a9"; // text(2) "é" in UTF-8
  assert.is(toHex(encoded), expected);
  // maps decode as Map; byte strings as Uint8Array
  const decoded = cborDecode(encoded) as Map<string, unknown>;
  assert.equal([...decoded.keys()], ["bytes", "n", "list"]);
  assert.is((decoded.get("bytes") as Uint8Array).constructor, Uint8Array);
});

test("under XS, built-in functions have no name and the intrinsics are frozen, as on the device", () => {
  if (ENGINE !== "xs") return;
  assert.is((Uint8Array as { name?: string }).name, undefined);
  assert.is((Array.prototype.push as { name?: string }).name, undefined);
  assert.ok(Object.isFrozen(Error.prototype) && Object.isFrozen(Array.prototype) && Object.isFrozen(Object));
  class Named extends Error {
    constructor() {
      super("m");
      (this as { name: string }).name = "Named"; // what preloading forbids: Error.prototype.name is frozen
    }
  }
  assert.throws(() => new Named(), (e: unknown) => e instanceof TypeError);
  // user functions keep their names
  function mine(): void {}
  assert.is(mine.name, "mine");
});

test("the XS meter is deterministic (undefined under Node)", async () => {
  const work = (): void => {
    let s = 0;
    for (let i = 0; i < 100; i++) s += i;
    if (s !== 4950) throw new Error("sum");
  };
  const c1 = computeOf(work);
  const c2 = computeOf(work);
  assert.is(c1, c2);
  const kept: object[] = [];
  const retained = await retainedSlots(() => {
    kept.push({ a: 1 });
  });
  const garbage = await retainedSlots(() => {
    const tmp = [{ a: 1 }, { b: 2 }];
    if (tmp.length !== 2) throw new Error("len");
  });
  if (ENGINE === "xs") {
    console.log(`meter: compute of the loop=${c1}, retained by push=${retained}, retained by garbage=${garbage}`);
    assert.ok(c1! > 0, `compute ${c1}`);
    assert.ok(retained! > 0, `retained ${retained}`);
    assert.is(garbage, 0);
  } else {
    assert.is(c1, undefined);
    assert.is(retained, undefined);
  }
});

// A second suite, with hooks, named in the results as "hooks › ...".
const hooks = suite("hooks", { calls: [] as string[] });
hooks.before((ctx) => void ctx.calls.push("before"));
hooks.before.each((ctx) => void ctx.calls.push(`before.each ${ctx.__test__}`));
hooks.after.each((ctx) => void ctx.calls.push(`after.each ${ctx.__test__}`));
hooks("first", (ctx) => {
  assert.equal(ctx.calls, ["before", "before.each first"]);
});
hooks("second sees the hooks in order", (ctx) => {
  assert.equal(ctx.calls, ["before", "before.each first", "after.each first", "before.each second sees the hooks in order"]);
  assert.is(ctx.__suite__, "hooks");
});
hooks.run();

test.run();
