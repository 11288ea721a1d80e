// Hostile peers against the sync engine: forgers, writers without permission, floods of
// documents and of partial frames, clocks far ahead, floods of bad frames. Each attack is a
// test; all run on simulated time (hostile-heal.test.ts: lost data, large deltas).
import { test } from "uvu";
import * as assert from "uvu/assert";
import { AWMap, encodeCbor, FORMAT_VERSION, GCounter, Hlc, physicalTimestamp, LWWMap, LWWRegister, ORSet, Text, TypeTag } from "../../src/index.js";
import { encodeFrame, splitFrame, FrameKind } from "../../src/transport/frames.js";
import { makePolicy } from "../../src/transport/policy.js";
import { fleetOf, WALL_START, type Fleet } from "../../sim/network/simulator.js";

/** A clock on the fleet's simulated wall clock, `aheadMs` ahead of it. */
const simClock = (fleet: Fleet, aheadMs = 0) => new Hlc({ wallClock: () => WALL_START + fleet.time.now() + aheadMs });

/** An LWWMap delta written by hand, as a forger would: one entry, under `replica`, with the context given. */
function lwwDelta(replica: string, base: number[][], ctx: number[], key: string, offset: number, value: string): Uint8Array {
  return encodeCbor([FORMAT_VERSION, TypeTag.LWWMap, [[replica], base, [[0, ...ctx]], [[key, 0, offset, value]]]]);
}

const delta = (doc: string, bytes: Uint8Array, type: number = TypeTag.LWWMap) => encodeFrame({ kind: FrameKind.Delta, doc, type, delta: bytes });

test("authorship: an event of another node ahead of its version, after a gap, is refused", () => {
  // the gateway lets n1 write n2's document: only the authorship check stands in the way
  const fleet = fleetOf(["n1", "n2"], makePolicy({ write: ["*/*"] }));
  const n2 = fleet.peers.get("n2")!.engine;
  const own = n2.open("readings", "n2", LWWMap);
  own.set("temp", 20);
  n2.changed("readings", "n2");
  fleet.run(2000);
  const gw = fleet.peers.get("gw")!.engine;
  const held = gw.get("readings/n2")!;
  const before = held.toBytes();
  const v = held.version().get("n2");
  // context (v + 1000, v + 1005]: above the gap, no base (as out-of-order ranges are sent)
  gw.receive("n1", delta("readings/n2", lwwDelta("n2", [[0, 0]], [v + 1000, 5], "temp", 0, "forged")));
  assert.equal([...held.toBytes()], [...before], "nothing applied");
  assert.equal(fleet.logs.map((l) => [l.event, l.peer]), [["forged", "n1"]]);
  // the owner's later write wins as it should
  own.set("temp", 21);
  n2.changed("readings", "n2");
  fleet.run(2000);
  assert.is((gw.get("readings/n2") as LWWMap).get("temp"), 21);
});

test("authorship: an event of another node below the gateway's version, on a new key, is refused", () => {
  const fleet = fleetOf(["n1", "n2"], makePolicy({ write: ["*/*"] }));
  const n2 = fleet.peers.get("n2")!.engine;
  const own = n2.open("readings", "n2", LWWMap);
  own.set("a", 1);
  n2.changed("readings", "n2");
  fleet.run(100);
  own.set("b", 2);
  n2.changed("readings", "n2");
  fleet.run(2000);
  const gw = fleet.peers.get("gw")!.engine;
  const held = gw.get("readings/n2")!;
  const before = held.toBytes();
  const v = held.version().get("n2");
  // the whole context (0, v] is seen by the gateway; the entry claims id v - 1, which n2 never used for "new"
  gw.receive("n1", delta("readings/n2", lwwDelta("n2", [], [0, v], "new", 1, "forged")));
  assert.equal([...held.toBytes()], [...before], "nothing applied");
  assert.equal(fleet.logs.map((l) => [l.event, l.peer, l.doc]), [["forged", "n1", "readings/n2"]]);
  // a copy of what the gateway holds is no forgery: it changes nothing, and is acknowledged
  gw.receive("n1", delta("readings/n2", held.delta()));
  assert.is(fleet.logs.length, 1);
});

test("authorship: a context claiming another node's events the gateway has not seen is refused", () => {
  const fleet = fleetOf(["n1", "n2"], makePolicy({ write: ["*/*"] }));
  const n2 = fleet.peers.get("n2")!.engine;
  const own = n2.open("readings", "n2", LWWMap);
  own.set("temp", 20);
  n2.changed("readings", "n2");
  fleet.run(2000);
  const gw = fleet.peers.get("gw")!.engine;
  const v = gw.get("readings/n2")!.version().get("n2");
  // no entry: only "n2's events in (v, v + 2^20] were seen", which would hide n2's next writes from the gateway's version
  const ctxOnly = encodeCbor([FORMAT_VERSION, TypeTag.LWWMap, [["n2"], [], [[0, v, 2 ** 20]], []]]);
  gw.receive("n1", delta("readings/n2", ctxOnly));
  assert.is(gw.get("readings/n2")!.version().get("n2"), v, "the gateway's version of n2 did not move");
  assert.equal(fleet.logs.map((l) => l.event), ["forged"]);
});

test("authorship: an ORSet add and a Text insert under another node's id are refused; relayed copies pass", () => {
  const fleet = fleetOf(["n1", "n2"], makePolicy({ write: ["*/*"] }));
  const gw = fleet.peers.get("gw")!.engine;
  const n2 = fleet.peers.get("n2")!.engine;
  const tags = n2.open("tags", "n2", ORSet);
  const note = n2.open("notes", "n2", Text);
  tags.add("a");
  note.insert(0, "hi");
  n2.changed("tags", "n2");
  n2.changed("notes", "n2");
  fleet.run(2000);
  const clock = simClock(fleet);
  const gwLogs = () => fleet.logs.filter((l) => l.peer === "n1"); // (n1 logs the ERROR frames it gets as from gw)
  // n1 builds on what n2 wrote, then adds events in n2's name
  const forgedTags = new ORSet("n2", { clock });
  forgedTags.merge(tags);
  forgedTags.add("evil");
  const forgedNote = new Text("n2", { clock });
  forgedNote.merge(note);
  forgedNote.insert(2, "!");
  gw.receive("n1", delta("tags/n2", forgedTags.delta(), TypeTag.ORSet));
  gw.receive("n1", delta("notes/n2", forgedNote.delta(), TypeTag.Text));
  assert.equal((gw.get("tags/n2") as ORSet).value(), ["a"]);
  assert.is((gw.get("notes/n2") as Text).value(), "hi");
  // one line per peer and interval: the second refusal is counted in the next line
  assert.equal(gwLogs().map((l) => [l.event, l.doc, l.count]), [["forged", "tags/n2", 1]]);
  fleet.run(11_000);
  gw.receive("n1", delta("notes/n2", forgedNote.delta(), TypeTag.Text));
  assert.equal(gwLogs().map((l) => [l.event, l.doc, l.count]), [["forged", "tags/n2", 1], ["forged", "notes/n2", 2]]);
  // a copy of what the gateway holds changes nothing: no forgery
  gw.receive("n1", delta("tags/n2", tags.delta(), TypeTag.ORSet));
  gw.receive("n1", delta("notes/n2", note.delta(), TypeTag.Text));
  fleet.run(11_000);
  gw.receive("n1", new Uint8Array(3)); // a line of another kind, to flush nothing: no "forged" is pending
  assert.equal(gwLogs().filter((l) => l.event === "forged").length, 2);
  assert.is((gw.get("notes/n2") as Text).value(), "hi");
});

test("authorship: foreign counts, and foreign values nested in an own write, are refused", () => {
  const fleet = fleetOf(["n1"], makePolicy({ write: ["*/*"] }));
  const gw = fleet.peers.get("gw")!.engine;
  const c = new GCounter("n1", { clock: simClock(fleet) });
  c.increment();
  const foreign = new GCounter("n9", { clock: simClock(fleet) });
  foreign.incrementBy(5);
  c.merge(foreign);
  gw.receive("n1", delta("events/n1", c.delta(), TypeTag.GCounter));
  assert.is(gw.get("events/n1"), undefined, "a count of n9 from n1: refused, and no document created");
  // a register write of n1's own that claims to have seen a write of n9 the gateway never got
  const reg = new LWWRegister("n1", { clock: simClock(fleet) });
  const n9reg = new LWWRegister("n9", { clock: simClock(fleet) });
  n9reg.set("n9's");
  reg.merge(n9reg);
  reg.set("n1's");
  gw.receive("n1", delta("mode/n1", reg.delta(), TypeTag.LWWRegister));
  assert.is(gw.get("mode/n1"), undefined, "n9's write claimed as seen by n1: refused");
  // an AWMap write of n1's own whose nested map holds an entry of n9
  const nested = new AWMap("n1", { clock: simClock(fleet) });
  const n9 = new LWWMap("n9", { clock: simClock(fleet) });
  n9.set("interval", 1);
  nested.update("cfg", LWWMap, (m) => m.merge(n9));
  gw.receive("n1", delta("config/n1", nested.delta(), TypeTag.AWMap));
  assert.is(gw.get("config/n1"), undefined, "n9's entry inside n1's value: refused");
  const [first] = fleet.logs.filter((l) => l.peer === "n1");
  assert.equal([first.event, first.message.includes("n9")], ["forged", true]);
  fleet.run(11_000);
  // its own nested values pass
  const honest = new AWMap("n1", { clock: simClock(fleet) });
  honest.update("cfg", LWWMap, (m) => m.set("interval", 2));
  gw.receive("n1", delta("config/n1", honest.delta(), TypeTag.AWMap));
  assert.ok(gw.get("config/n1")?.equals(honest));
  // (the AWMap refusal came within the interval: it waits, counted, for the next line)
  assert.equal(fleet.logs.filter((l) => l.peer === "n1").map((l) => [l.event, l.count]), [["forged", 1]]);
});

test("permissions: by default a node writes only its own documents; fleet/config is for gateways and operators", () => {
  const fleet = fleetOf(["n1"], makePolicy({ operators: ["console"] }));
  const gw = fleet.peers.get("gw")!.engine;
  for (const who of ["intruder", "n1"]) {
    gw.connect(who, "node");
    const m = new LWWMap(who, { clock: simClock(fleet) });
    m.set("interval", 3600);
    gw.receive(who, delta("fleet/config", m.delta()));
    gw.receive(who, delta("readings/n7", m.delta()));
  }
  assert.is(gw.get("fleet/config"), undefined, "nobody wrote fleet/config");
  assert.is(gw.get("readings/n7"), undefined);
  assert.equal([...new Set(fleet.logs.map((l) => l.event))], ["forbidden"]);
  // an operator may, and the node reads it
  gw.connect("console", "node");
  const op = new LWWMap("console", { clock: simClock(fleet) });
  op.set("interval", 60);
  gw.receive("console", delta("fleet/config", op.delta()));
  assert.is((gw.get("fleet/config") as LWWMap).get("interval"), 60);
  const n1 = fleet.peers.get("n1")!.engine;
  const mine = n1.open("fleet", "config", LWWMap);
  fleet.run(5000);
  assert.is(mine.get("interval"), 60, "shared with the node");
});

test("bounded reassembly: partial frames are capped in bytes and count, per peer and in total", () => {
  const fleet = fleetOf([]);
  const gw = fleet.peers.get("gw")!.engine;
  const chunk = new Uint8Array(3000).fill(7);
  for (let p = 0; p < 40; p++) {
    const id = `flood${p}`;
    gw.connect(id, "node");
    // frames of 2 parts whose second part never comes, and claims of 1,024 parts
    for (let k = 0; k < 50; k++) {
      gw.receive(id, encodeFrame({ kind: FrameKind.Part, id: k, index: 0, count: 2, bytes: chunk }));
      gw.receive(id, encodeFrame({ kind: FrameKind.Part, id: 1000 + k, index: 0, count: 1024, bytes: chunk.subarray(0, 1) }));
    }
  }
  assert.ok(gw.reassemblyBytes <= 4 * 65536, `held: ${gw.reassemblyBytes} bytes`);
  assert.is(gw.reassemblyBytes, 64 * 3000, "64 frames in all");

  // a peer's own whole frame still goes through once the flood has expired
  fleet.run(61_000);
  gw.connect("n1", "node");
  const m = new LWWMap("n1", { clock: simClock(fleet) });
  for (let i = 0; i < 200; i++) m.set(`k${i}`, "y".repeat(30));
  const whole = delta("readings/n1", m.delta());
  for (const part of splitFrame(whole, 1, 4000)) gw.receive("n1", part);
  assert.ok(gw.get("readings/n1")?.equals(m));
  assert.is(gw.reassemblyBytes, 0);
  // one frame of 20 full parts (78 KB): over a peer's 64 KiB, dropped as it grows
  gw.connect("big", "node");
  const full = new Uint8Array(3900).fill(1);
  let most = 0;
  for (let i = 0; i < 20; i++) {
    gw.receive("big", encodeFrame({ kind: FrameKind.Part, id: 1, index: i, count: 20, bytes: full }));
    most = Math.max(most, gw.reassemblyBytes);
  }
  assert.ok(most <= 65536, `one peer holds at most 64 KiB: ${most}`);
});

test("clock: a node cannot push the gateway's clock far ahead; its event applies once time catches up", () => {
  const fleet = fleetOf(["n1"]);
  const gw = fleet.peers.get("gw")!.engine;
  const n1 = fleet.peers.get("n1")!.engine;
  fleet.run(1000);
  const ahead = 30 * 60_000;
  const m = n1.open("readings", "n1", LWWMap);
  // a delta stamped 30 minutes ahead of everyone's clock
  const forged = new LWWMap("n1", { clock: simClock(fleet, ahead) });
  forged.set("t", 1);
  const wall = physicalTimestamp(WALL_START + fleet.time.now());
  gw.receive("n1", delta("readings/n1", forged.delta()));
  assert.ok(gw.clock.latest < wall + 11 * 60_000 * 1024, "the gateway's clock stayed within 10 minutes");
  assert.is(gw.get("readings/n1"), undefined, "refused for now");
  assert.equal(fleet.logs.map((l) => l.event), ["refused"]);
  m.merge(forged);
  n1.changed("readings", "n1");
  fleet.run(40 * 60_000);
  assert.is((gw.get("readings/n1") as LWWMap).get("t"), 1, "applied once the gateway's wall clock is within reach");
});

test("logs: a flood of malformed frames from one id writes one line per interval, with a count", () => {
  const fleet = fleetOf(["n1"]);
  const gw = fleet.peers.get("gw")!.engine;
  fleet.logs.length = 0;
  for (let s = 0; s < 10; s++) {
    for (let i = 0; i < 100; i++) gw.receive("n1", new Uint8Array([1, 2, 3, 4, 5, i]));
    fleet.run(1000);
  }
  const lines = fleet.logs.filter((l) => l.peer === "n1");
  assert.ok(lines.length <= 2, `${lines.length} lines for 1,000 bad frames`);
  assert.is(lines[0].count, 1, "the first one at once");
  assert.is(lines.reduce((n, l) => n + (l.count ?? 0), 0) <= 1000, true);
});

test("session frames: references stand for the sender the transport names, so a replay or a reference to another id forges nothing", () => {
  const fleet = fleetOf(["n1", "n2"], makePolicy({ write: ["*/*"] }));
  const n2 = fleet.peers.get("n2")!.engine;
  const own = n2.open("readings", "n2", LWWMap);
  own.set("temp", 20);
  n2.changed("readings", "n2");
  fleet.run(2000);
  const gw = fleet.peers.get("gw")!.engine;
  const held = gw.get("readings/n2")!;
  const before = held.toBytes();
  // n2's next delta, as n2 sends it in its session with the gateway (format 2: "n2" is reference 0; format 3: its
  // context relative to the gateway's version of n2, which n1's session cannot match)
  const sent: Uint8Array[] = [];
  fleet.onSend = (from, to, bytes) => {
    if (from === "n2" && to === "gw" && (bytes[1] === 2 || bytes[1] === 3) && bytes[2] === 3) sent.push(bytes);
  };
  own.set("temp", 21);
  fleet.partition("n2", "gw", true);
  n2.changed("readings", "n2");
  fleet.run(10);
  fleet.onSend = undefined;
  assert.ok(sent.length > 0, "n2 sent a session delta");
  // replayed by n1, the same bytes speak of n1 (its id, its document): nothing of n2's changes
  gw.receive("n1", sent[0]);
  assert.equal([...held.toBytes()], [...before], "n2's document unchanged by the replay");
  assert.not.ok(fleet.logs.some((l) => l.event === "forged"));
  // a session delta of n1's naming the gateway's id by reference 1: events of "gw", refused as forged
  const v = held.version().get("n2");
  gw.receive("n1", encodeFrame({ kind: 3, doc: "readings/n2", type: TypeTag.LWWMap, delta: lwwDelta("gw", [[0, 0]], [v + 1000, 5], "temp", 0, "forged") }, ["n1", "gw"]));
  assert.equal([...held.toBytes()], [...before], "nothing applied");
  assert.equal(fleet.logs.filter((l) => l.event === "forged").map((l) => [l.event, l.peer, l.message]), [["forged", "n1", "n1 sent events of gw: nothing applied"]]);
});

test.run();
