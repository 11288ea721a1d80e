// The checked-in test vectors: the same state gives the same bytes on every engine, and those bytes decode to it.
import { test } from "uvu";
import * as assert from "uvu/assert";
import vectors from "../vectors/core.json";
import originalLwwMap from "../vectors/lwwmap-original.json";
import { SCENARIOS, fixedClock } from "../vectors/scenarios.js";
import { fromHex, toHex } from "../../src/core/hex.js";


test("there is a vector for every scenario", () => {
  assert.equal(
    vectors.map((v) => v.type),
    SCENARIOS.map((s) => s.name),
  );
});

for (const s of SCENARIOS) {
  const v = vectors.find((x) => x.type === s.name)!;
  test(`${s.name}: the scenario encodes to the checked-in bytes`, () => {
    const { n1, n2 } = s.build(fixedClock());
    assert.equal(n1.version().toJSON(), v.version);
    assert.equal(n2.version().toJSON(), v.deltaSince);
    assert.is(toHex(n1.toBytes()), v.state);
    assert.is(toHex(n1.delta(n2.version())), v.delta);
  });

  test(`${s.name}: the checked-in bytes decode to the scenario's value and re-encode unchanged`, () => {
    const decoded = s.fromBytes(fromHex(v.state));
    assert.is(decoded.replica, "n1");
    assert.equal(JSON.parse(JSON.stringify(decoded.value())), v.value);
    assert.is(toHex(decoded.toBytes()), v.state);
    // the delta brings a replica at deltaSince to the same state
    const { n2 } = s.build(fixedClock());
    n2.applyDelta(fromHex(v.delta));
    assert.ok(n2.equals(decoded));
  });
}

// LWWMap's bodies were first written in the original form (a replica table first); they stay readable
for (const v of originalLwwMap) {
  const s = SCENARIOS.find((x) => x.name === v.type)!;
  const today = vectors.find((x) => x.type === v.type)!;
  test(`${v.type}, original body form: the checked-in bytes decode to the scenario's value and re-encode in today's form`, () => {
    const decoded = s.fromBytes(fromHex(v.state));
    assert.is(decoded.replica, "n1");
    assert.equal(JSON.parse(JSON.stringify(decoded.value())), v.value);
    assert.equal(decoded.version().toJSON(), v.version);
    assert.is.not(v.state, today.state);
    assert.is(toHex(decoded.toBytes()), today.state);
    const { n2 } = s.build(fixedClock());
    assert.equal(n2.version().toJSON(), v.deltaSince);
    n2.applyDelta(fromHex(v.delta));
    assert.ok(n2.equals(decoded));
  });
}

test.run();
