// The sync protocol on a deterministic network: loss up to 50%, duplicates,
// reordering, partitions, crashes and restarts. Zero divergence after healing.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { GCounter, LWWMap, ORSet, PNCounter, VersionVector } from "../../src/index.js";
import { encodeCbor } from "../../src/core/codec.js";
import { fnv1aBytes } from "../../src/core/hash.js";
import { crc32, decodeFrame, encodeFrame, FrameKind, versionHash, type Frame } from "../../src/transport/frames.js";
import { fc, property } from "../prop.js";
import { checkConverged, runSchedule } from "../../sim/network/schedules.js";
import { Fleet, openDocs, rng, SHARED_NAMESPACE } from "../../sim/network/simulator.js";
import { openFleetConfig } from "../../targets/esp32/documents.js";

test("random schedules with loss, duplicates, reordering, partitions and crashes converge", () => {
  property("sync schedules", [fc.integer({ min: 0, max: 0x7fffffff })], (seed) => {
    checkConverged(runSchedule(seed, 60, undefined), seed);
  }, { numRuns: 200, xsRuns: 6 });
});

test("nodes that coalesce their flash writes lose only unsent writes in a crash, and still converge", () => {
  // a node sends a change only once it is stored: after a power cut, no peer holds an event it lost
  property("sync schedules, coalescing nodes", [fc.integer({ min: 0, max: 0x7fffffff })], (seed) => {
    checkConverged(runSchedule(seed, 60, { maxOps: 4, maxDelayMs: 2000 }), seed, false);
  }, { numRuns: 100, xsRuns: 4 });
});

test("without anti-entropy, resends with backoff alone get a change through a 50% lossy link", () => {
  const fleet = new Fleet(rng(11), { loss: 0.5, duplicate: 0, maxDelayMs: 100 }, undefined, 24 * 3600_000);
  fleet.add("gw", "gateway");
  fleet.add("n1", "node");
  fleet.link("n1", "gw");
  const n1 = fleet.peers.get("n1")!.engine;
  const docs = openDocs(n1, "n1");
  for (let i = 0; i < 20; i++) {
    docs.readings.set(`k${i}`, i);
    n1.changed("readings", "n1");
    fleet.run(200);
  }
  fleet.run(120_000);
  assert.ok(fleet.peers.get("gw")!.engine.get("readings/n1")?.equals(docs.readings), "the gateway has every write");
  assert.ok(n1.inSync("gw"), "and acknowledged it");
});

test("a node offline for a simulated day catches up, both ways", () => {
  const fleet = new Fleet(rng(12), { loss: 0, duplicate: 0, maxDelayMs: 50 });
  fleet.add("gw", "gateway");
  fleet.add("n1", "node");
  fleet.link("n1", "gw");
  const n1 = fleet.peers.get("n1")!.engine;
  const gw = fleet.peers.get("gw")!.engine;
  const docs = openDocs(n1, "n1");
  const cfg = openDocs(gw, "gw");
  fleet.run(1000);
  fleet.partition("n1", "gw", true);
  for (let hour = 0; hour < 24; hour++) {
    docs.events.increment();
    n1.changed("events", "n1");
    // the gateway changes the fleet's config every hour (the firmware's fleet/config)
    cfg.config.set("interval", 60_000 + hour);
    gw.changed("fleet", "config");
    fleet.run(3600_000);
  }
  assert.is((gw.get("events/n1") as PNCounter | undefined)?.value() ?? 0, 0, "nothing crossed the partition");
  fleet.partition("n1", "gw", false);
  fleet.run(60_000);
  assert.is((gw.get("events/n1") as PNCounter).value(), 24);
  assert.is(docs.config.get("interval"), 60_023);
});

test("several gateways converge with each other; each node talks only to its own", () => {
  property("gateway mesh", [fc.integer({ min: 0, max: 0x7fffffff })], (seed) => {
    const random = rng(seed);
    const fleet = new Fleet(random, { loss: 0.3, duplicate: 0.1, maxDelayMs: 300 });
    const gateways = ["gw1", "gw2", "gw3"];
    for (const g of gateways) fleet.add(g, "gateway");
    fleet.link("gw1", "gw2");
    fleet.link("gw2", "gw3"); // gw1 and gw3 only through gw2
    const home: Record<string, string> = { a: "gw1", b: "gw2", c: "gw3" };
    for (const [n, g] of Object.entries(home)) {
      fleet.add(n, "node");
      fleet.link(n, g);
    }
    // gw1's operator sets the fleet's config: it reaches c through gw2 and gw3
    const gw1 = fleet.peers.get("gw1")!.engine;
    openFleetConfig(gw1, "config").set("interval", 30_000);
    gw1.changed("fleet", "config");
    for (let i = 0; i < 30; i++) {
      const n = Object.keys(home)[Math.floor(random() * 3)];
      const e = fleet.peers.get(n)!.engine;
      const docs = openDocs(e, n);
      docs.readings.set(`k${i % 4}`, i);
      e.changed("readings", n);
      docs.awmap.update("alarms", ORSet, (s) => s.add(`${n}${i % 3}`));
      e.changed(SHARED_NAMESPACE, "awmap");
      fleet.run(Math.floor(random() * 2000));
    }
    fleet.net = { loss: 0, duplicate: 0, maxDelayMs: 20 };
    fleet.run(60_000);
    const reference = fleet.peers.get("gw1")!.engine;
    for (const g of gateways) {
      const e = fleet.peers.get(g)!.engine;
      assert.equal(e.documents(), reference.documents(), `${g} holds every document`);
      for (const d of reference.documents()) assert.ok(e.get(d)!.equals(reference.get(d)!), `${g} agrees on ${d}`);
    }
    for (const n of Object.keys(home)) {
      const e = fleet.peers.get(n)!.engine;
      assert.ok(e.get(`${SHARED_NAMESPACE}/awmap`)!.equals(reference.get(`${SHARED_NAMESPACE}/awmap`)!), `${n} has the whole fleet's shared AWMap`);
      assert.is((e.get("fleet/config") as LWWMap<number>).get("interval"), 30_000, `${n} has the fleet's config`);
      assert.equal(e.documents().filter((d) => d.startsWith("readings/")), [`readings/${n}`], `${n} holds only its own readings`);
    }
  }, { numRuns: 30, xsRuns: 3 });
});

test("two peers that agree exchange only digests", () => {
  const fleet = new Fleet(rng(1), { loss: 0, duplicate: 0, maxDelayMs: 10 });
  fleet.add("gw", "gateway");
  fleet.add("n1", "node");
  const n1 = fleet.peers.get("n1")!.engine;
  const docs = openDocs(n1, "n1");
  docs.readings.set("t", 1);
  n1.changed("readings", "n1");
  fleet.link("n1", "gw");
  fleet.run(1000);
  const sent = fleet.sent;
  const bytes = fleet.bytes;
  fleet.run(5000 * 3); // three anti-entropy rounds
  assert.is(fleet.sent - sent, 6, "one digest each way per round");
  assert.ok((fleet.bytes - bytes) / 6 < 200, `digests are small (${(fleet.bytes - bytes) / 6} bytes)`);
});

test("a delta larger than a frame is split and reassembled", () => {
  const fleet = new Fleet(rng(2), { loss: 0, duplicate: 0.5, maxDelayMs: 300 });
  fleet.add("gw", "gateway");
  fleet.add("n1", "node");
  fleet.link("n1", "gw");
  const n1 = fleet.peers.get("n1")!.engine;
  const big = n1.open("readings", "n1", LWWMap);
  for (let i = 0; i < 400; i++) big.set(`sensor-${i}`, "x".repeat(40));
  n1.changed("readings", "n1");
  fleet.run(10_000);
  assert.ok(big.delta().length > 12_000);
  assert.ok(fleet.peers.get("gw")!.engine.get("readings/n1")!.equals(big));
});

test("a node's forged delta is refused, logged, and applies nothing", () => {
  const fleet = new Fleet(rng(3), { loss: 0, duplicate: 0, maxDelayMs: 10 });
  fleet.add("gw", "gateway");
  fleet.add("n1", "node");
  fleet.link("n1", "gw");
  fleet.run(100);
  // n1 writes under n2's replica id, into its own document
  const forged = new GCounter("n2");
  forged.incrementBy(1000);
  const frame = encodeFrame({ kind: FrameKind.Delta, doc: "events/n1", type: forged.typeTag, delta: forged.delta() } as never);
  fleet.peers.get("gw")!.engine.receive("n1", frame);
  assert.is(fleet.peers.get("gw")!.engine.get("events/n1"), undefined);
  assert.equal(fleet.logs.map((l) => [l.event, l.peer]), [["forged", "n1"]]);
  // its own events it may send
  const own = new GCounter("n1");
  own.increment();
  fleet.peers.get("gw")!.engine.receive("n1", encodeFrame({ kind: FrameKind.Delta, doc: "events/n1", type: own.typeTag, delta: own.delta() }));
  assert.is((fleet.peers.get("gw")!.engine.get("events/n1") as GCounter).value(), 1);
});

test("malformed frames are dropped and logged; the session goes on", () => {
  property("malformed frames", [fc.array(fc.uint8Array({ maxLength: 80 }), { minLength: 1, maxLength: 20 }), fc.nat()], (junk, flip) => {
    const fleet = new Fleet(rng(4), { loss: 0, duplicate: 0, maxDelayMs: 10 });
    fleet.add("gw", "gateway");
    fleet.add("n1", "node");
    fleet.link("n1", "gw");
    const n1 = fleet.peers.get("n1")!.engine;
    const docs = openDocs(n1, "n1");
    docs.readings.set("a", 1);
    n1.changed("readings", "n1");
    fleet.run(1000);
    const gw = fleet.peers.get("gw")!.engine;
    const before = gw.get("readings/n1")!.toBytes();
    const valid = encodeFrame({ kind: FrameKind.Delta, doc: "readings/n1", type: docs.readings.typeTag, delta: docs.readings.delta() });
    const flipped = valid.slice();
    flipped[flip % flipped.length] ^= 0x40;
    for (const j of [...junk, flipped, valid.subarray(0, flip % valid.length), new Uint8Array(5000)]) gw.receive("n1", j);
    // nothing crashed; the state is whole; a new write still syncs
    assert.ok(gw.get("readings/n1")!.toBytes().length >= before.length - 64);
    docs.readings.set("b", 2);
    n1.changed("readings", "n1");
    fleet.run(30_000);
    assert.ok(gw.get("readings/n1")!.equals(docs.readings));
  }, { numRuns: 100, xsRuns: 5 });
});

test("frames: every kind round-trips; unknown kinds and newer formats are refused", () => {
  const vv = new VersionVector({ n1: 5, gw: 9 });
  const frames: Frame[] = [
    { kind: FrameKind.Digest, docs: [["readings/n1", 9, 123456]] },
    { kind: FrameKind.Versions, reply: true, docs: [["readings/n1", 9, vv]] },
    { kind: FrameKind.Delta, doc: "readings/n1", type: 9, delta: new Uint8Array([1, 2, 3]) },
    { kind: FrameKind.Ack, doc: "readings/n1", version: vv },
    { kind: FrameKind.Part, id: 7, index: 1, count: 3, bytes: new Uint8Array([9]) },
    { kind: FrameKind.Error, doc: "readings/n1", code: "forged", message: "no" },
  ];
  for (const f of frames) {
    const back = decodeFrame(encodeFrame(f));
    assert.equal(JSON.parse(JSON.stringify(back)), JSON.parse(JSON.stringify(f)));
  }
  const code = (c: string) => (e: unknown) => (e as { code?: string }).code === c;
  const raw = (...b: number[]) => {
    const body = new Uint8Array(b);
    const out = new Uint8Array(b.length + 4);
    out.set(body);
    new DataView(out.buffer).setUint32(b.length, crc32(body));
    return out;
  };
  assert.throws(() => decodeFrame(raw(0x82, 0x04, 0x01)), code("UNSUPPORTED_VERSION"));
  // a session frame (format 2, or 3: a delta relative to the receiver's version) means nothing outside its session
  assert.throws(() => decodeFrame(raw(0x82, 0x02, 0x01)), code("MALFORMED"));
  assert.throws(() => decodeFrame(raw(0x82, 0x03, 0x01)), code("MALFORMED"));
  assert.throws(() => decodeFrame(raw(0x82, 0x01, 0x09)), code("MALFORMED"));
  const good = encodeFrame(frames[2]);
  good[3] ^= 1;
  assert.throws(() => decodeFrame(good), (e: unknown) => (e as Error).message.includes("checksum"));
  assert.throws(() => decodeFrame(new Uint8Array(4001)), code("TOO_LARGE"));
  assert.throws(() => decodeFrame(encodeFrame({ kind: FrameKind.Delta, doc: "no-slash", type: 1, delta: new Uint8Array(0) })), code("MALFORMED"));
});

test("frame vectors: a standalone frame (format 1, as lichen wrote before sessions) still decodes; a session frame (format 2) is pinned", () => {
  const hex = (h: string) => new Uint8Array(h.match(/../g)!.map((x) => parseInt(x, 16)));
  const toHex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  const delta = "83010181826c61346366313262336334643502"; // GCounter "a4cf12b3c4d5" at 2: [1, 1, [["a4cf12b3c4d5", 2]]]
  const old = decodeFrame(hex("850103736576656e74732f613463663132623363346435015383010181826c61346366313262336334643502f214e4fb"));
  assert.equal(old.kind === 3 && [old.doc, old.type, toHex(old.delta)], ["events/a4cf12b3c4d5", 1, delta]);
  const oldAck = decodeFrame(hex("840104736576656e74732f61346366313262336334643581826c61346366313262336334643502a6d58455"));
  assert.equal(oldAck.kind === 4 && [oldAck.doc, oldAck.version.toArray()], ["events/a4cf12b3c4d5", [["a4cf12b3c4d5", 2]]]);
  // the same DELTA in the session a4cf12b3c4d5 → gw: 20 bytes instead of 48
  const session = { ids: ["a4cf12b3c4d5", "gw"], maxExpandedBytes: 65536 };
  const f = { kind: 3 as const, doc: "events/a4cf12b3c4d5", type: 1, delta: hex(delta) };
  assert.is(toHex(encodeFrame(f, session.ids)), "850203f820666576656e747301448182e002a5c615ff");
  const back = decodeFrame(hex("850203f820666576656e747301448182e002a5c615ff"), 4000, session);
  assert.equal(back.kind === 3 && [back.doc, back.type, toHex(back.delta)], ["events/a4cf12b3c4d5", 1, delta]);
  // read in another session, the same bytes speak of that session's sender
  const replayed = decodeFrame(hex("850203f820666576656e747301448182e002a5c615ff"), 4000, { ids: ["x1", "gw"], maxExpandedBytes: 65536 });
  assert.equal(replayed.kind === 3 && [replayed.doc, toHex(replayed.delta)], ["events/x1", "8301018182627831" + "02"]);
  // every kind round-trips in a session too
  const vv = new VersionVector({ n1: 5, gw: 9 });
  const frames: Frame[] = [
    { kind: 1, docs: [["readings/n1", 9, 123456]] },
    { kind: 2, reply: true, docs: [["readings/n1", 9, vv]] },
    { kind: 4, doc: "readings/n1", version: vv },
    { kind: 5, id: 7, index: 1, count: 3, bytes: new Uint8Array([9]) },
    { kind: 6, doc: "readings/n1", code: "forged", message: "no" },
    { kind: 7, doc: "readings/n1", hash: 0xdeadbeef },
  ];
  for (const fr of frames) {
    const bytes = encodeFrame(fr, ["n1", "gw"]);
    assert.equal(JSON.parse(JSON.stringify(decodeFrame(bytes, 4000, { ids: ["n1", "gw"], maxExpandedBytes: 65536 }))), JSON.parse(JSON.stringify(fr)));
  }
});

test("versionHash is FNV-1a of the version's canonical CBOR: pinned values, and a property against the definition", () => {
  // APPLIED frames carry it: its value is wire-visible
  assert.is(versionHash(new VersionVector()), 2232128415);
  assert.is(versionHash(new VersionVector({ n1: 5, gw: 9 })), 4113676990);
  assert.is(versionHash(new VersionVector({ a4cf12b3c4d5: 193934204964871, gw: 70000, "é-node": 2 ** 32 })), 314462979);
  const arbId = fc.oneof(fc.stringMatching(/^[a-z0-9-]{1,12}$/), fc.constantFrom("é-node", "gw", "n1", "Z"));
  const arbCount = fc.oneof(fc.integer({ min: 0, max: 2 ** 53 - 1 }), fc.constantFrom(0, 1, 23, 24, 255, 256, 65535, 65536, 2 ** 32 - 1, 2 ** 32));
  property("versionHash equals fnv1a(encodeCbor(toArray()))", [fc.array(fc.tuple(arbId, arbCount), { maxLength: 12 })], (rows) => {
    const v = new VersionVector(rows);
    assert.is(versionHash(v), fnv1aBytes(encodeCbor(v.toArray())));
  });
});

test.run();
