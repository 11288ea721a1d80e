// Session deltas relative to the receiver's version (frame format 3, core/session-form.ts): an
// LWWMap delta leaves out its range start, which the receiver puts back from its own prefix of
// the sender. When that prefix is not the one the delta was made for (an acknowledgement lost, a
// replay, a receiver behind), the delta is refused as stale, never read at other timestamps, and
// the sender sends it again in full.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { Hlc, LichenError, LWWMap } from "../../src/index.js";
import { decodeFrame, encodeFrame, encodeFrameInFull, FrameKind, readFrame, sealFrame, type Frame, type FrameSession } from "../../src/transport/frames.js";
import { toHex } from "../../src/core/hex.js";
import { fc, property } from "../prop.js";
import { makePolicy } from "../../src/transport/policy.js";
import { fleetOf } from "../../sim/network/simulator.js";

/** [format, kind] of a session frame: the two bytes after its array head. */
const formatAndKind = (frame: Uint8Array): [number, number] => [frame[1], frame[2]];

/** A gateway and node n1, whose readings (temp 20) the gateway holds and has acknowledged. */
function syncedNode() {
  const fleet = fleetOf(["n1"], makePolicy());
  const n1 = fleet.peers.get("n1")!.engine;
  const gw = fleet.peers.get("gw")!.engine;
  const readings = n1.open("readings", "n1", LWWMap<number>);
  readings.set("temp", 20);
  n1.changed("readings", "n1");
  fleet.run(2000);
  return { fleet, n1, gw, readings };
}

test("a field set in a session goes relative to the gateway's version, and both ends agree", () => {
  const fleet = fleetOf(["n1"], makePolicy());
  const n1 = fleet.peers.get("n1")!.engine;
  const readings = n1.open("readings", "n1", LWWMap<number>);
  readings.set("temp", 20);
  n1.changed("readings", "n1");
  fleet.run(2000);
  const sent: Uint8Array[] = [];
  fleet.onSend = (from, to, frame) => {
    if (from === "n1" && to === "gw" && frame[2] === 3) sent.push(frame);
  };
  fleet.run(1000);
  readings.set("temp", 21.5);
  n1.changed("readings", "n1");
  fleet.run(2000);
  fleet.onSend = undefined;
  assert.equal(sent.map(formatAndKind), [[3, 3]], "one delta, in format 3");
  const gw = fleet.peers.get("gw")!.engine;
  assert.ok(gw.get("readings/n1")!.equals(readings), "the gateway holds what n1 holds");
  assert.equal(fleet.logs, [], "nothing refused, nothing stale");
});

test("a lost acknowledgement: the resend is stale at the gateway, refused, and sent again in full", () => {
  const { fleet, n1, gw, readings } = syncedNode();
  const sent: Array<[number, number]> = [];
  const deltas: Uint8Array[] = [];
  fleet.onSend = (from, to, frame) => {
    if (from === "n1" && to === "gw") sent.push(formatAndKind(frame));
    if (from === "n1" && to === "gw" && frame[2] === 3) deltas.push(frame.slice());
  };
  // the link goes down as n1 sends: the gateway gets the delta by hand, its APPLIED is lost
  fleet.partition("n1", "gw", true);
  fleet.run(1000);
  readings.set("temp", 21.5);
  n1.changed("readings", "n1");
  fleet.run(1);
  assert.equal(deltas.length, 1);
  gw.receive("n1", deltas[0]);
  assert.ok(gw.get("readings/n1")!.equals(readings), "applied once");
  const held = gw.get("readings/n1")!.toBytes();
  fleet.partition("n1", "gw", false);
  // n1 resends from the version it last knew: relative to a start the gateway has passed
  fleet.run(3000);
  fleet.onSend = undefined;
  const resent = sent.filter(([, kind]) => kind === 3);
  assert.ok(resent.length >= 3, `the delta, its resend, and the resend in full: ${JSON.stringify(sent)}`);
  assert.equal(resent[0], [3, 3]);
  assert.equal(resent[resent.length - 1], [2, 3], "the last resend is in full (format 2)");
  assert.ok(fleet.logs.some((l) => l.event === "stale-reference" && l.peer === "n1"), "the gateway logged the stale delta");
  assert.not.ok(fleet.logs.some((l) => l.event === "forged" || l.event === "refused"));
  assert.equal([...gw.get("readings/n1")!.toBytes()], [...held], "nothing read at another timestamp");
  // and the session goes on: the next write is relative again, and converges
  const after: Array<[number, number]> = [];
  fleet.onSend = (from, to, frame) => {
    if (from === "n1" && to === "gw" && frame[2] === 3) after.push(formatAndKind(frame));
  };
  readings.set("temp", 22);
  n1.changed("readings", "n1");
  fleet.run(3000);
  fleet.onSend = undefined;
  assert.equal(after, [[3, 3]]);
  assert.ok(gw.get("readings/n1")!.equals(readings));
});

test("a replayed relative delta is stale: it cannot make an old write look new", () => {
  const { fleet, n1, gw, readings } = syncedNode();
  const captured: Uint8Array[] = [];
  fleet.onSend = (from, to, frame) => {
    if (from === "n1" && to === "gw" && frame[1] === 3 && frame[2] === 3) captured.push(frame.slice());
  };
  fleet.run(1000);
  readings.set("temp", 21);
  n1.changed("readings", "n1");
  fleet.run(2000);
  fleet.onSend = undefined;
  assert.equal(captured.length, 1, "n1 sent one relative delta");
  readings.set("temp", 22);
  n1.changed("readings", "n1");
  fleet.run(2000);
  const held = gw.get("readings/n1") as LWWMap<number>;
  const before = held.toBytes();
  assert.is(held.get("temp"), 22);
  // read relative to the gateway's version now, "temp = 21" would be an event after 22; it is refused
  gw.receive("n1", captured[0]);
  fleet.run(2000);
  assert.equal([...held.toBytes()], [...before], "the replay changed nothing");
  assert.is(held.get("temp"), 22);
  assert.ok(fleet.logs.some((l) => l.event === "stale-reference" && l.doc === "readings/n1"));
  assert.ok(held.equals(readings), "still equal to the writer");
});

// decodeFrame reads a plain session DELTA straight from its bytes (plainSessionDelta) and any other
// frame through readFrame: on every frame, valid or damaged, both must give the same frame or the
// same error.
function outcome(f: () => Frame): string {
  try {
    const x = f();
    return x.kind === FrameKind.Delta ? `delta ${x.doc} ${x.type} ${toHex(x.delta)} ${JSON.stringify(x.schema)}` : `kind ${x.kind}`;
  } catch (e) {
    return e instanceof LichenError ? `error ${e.code} ${e.message}` : `not a LichenError: ${String(e)}`;
  }
}

/** The frame's CBOR bytes with their CRC-32 made anew (after a byte of them was changed). */
function resealed(bytes: Uint8Array): Uint8Array {
  return sealFrame(bytes.subarray(0, bytes.length - 4));
}

test("property: a session DELTA read straight is what the generic reading gives, damaged or not", () => {
  const arbNs = fc.constantFrom("readings", "r", "fleet", "a-very-long-namespace-name-x", "x/y", "not a name");
  const arbId = fc.constantFrom("a4cf12b30001", "n1", "gw", "nœud", "a4cf12b30001-with-a-longer-tail-for-24");
  property("plainSessionDelta equals readFrame", [arbNs, arbId, arbId, fc.integer({ min: 0, max: 30 }), fc.integer({ min: 0, max: 300 }), fc.boolean(), fc.array(fc.tuple(fc.nat(), fc.nat(255)), { maxLength: 3 }), fc.nat(3)], (ns, sender, receiver, type, keys, own, flips, cut) => {
    if (sender === receiver) return;
    let ms = Date.UTC(2026, 0, 1);
    const m = new LWWMap<number>(sender, { clock: new Hlc({ wallClock: () => ms }) });
    m.set("k", 1);
    const since = m.version();
    for (let i = 0; i < keys % 40; i++) {
      ms += 1000;
      m.set(`key${i}`, i / 3);
    }
    const doc = `${ns}/${own ? sender : "other"}`;
    const delta = m.delta(since);
    const ids = [sender, receiver];
    const session: FrameSession = { ids, maxExpandedBytes: cut === 0 ? 64 : 65536, prefixOf: () => since.get(sender) };
    const read: FrameSession = { ...session, ids: [sender, receiver] };
    // a relative DELTA (format 3) and one in full (format 2)
    const frames = [encodeFrame({ kind: FrameKind.Delta, doc, type: 9, delta }, ids), encodeFrameInFull({ kind: FrameKind.Delta, doc, type: 9, delta }, ids)];
    for (const f of frames) {
      const variants: Uint8Array[] = [f.slice()];
      // another type byte (a small one where the type is: after the document key, before the delta's head)
      const t = f.slice();
      const at = t.indexOf(9, 3);
      if (at > 0 && type < 24) {
        t[at] = type;
        variants.push(resealed(t));
      }
      const d = f.slice();
      for (const [at, x] of flips) d[at % (d.length - 4)] ^= x;
      variants.push(resealed(d));
      for (const v of variants) {
        const end = v.length - 4;
        const inSession = v[1] === 2 || v[1] === 3;
        assert.is(outcome(() => decodeFrame(v, 65536, read)), outcome(() => readFrame(v, end, inSession, 65536, read)));
      }
    }
  }, { numRuns: 300, xsRuns: 40 });
});

test.run();
