// Mutated frames against a gateway mid-session: valid frames are taken from a running fleet
// (every frame any peer sent, plus the attacker's forgeries), mutated (mutate.ts) and sent to the
// gateway by the attacker, spaced in virtual time so that the rate limiter lets each one through.
// Each mutant is also run through the decoders on their own, to count how far it gets:
//   crc → cbor → frame → crdt (delta frames) → applied.
// Checks (frames/...): no-crash (receive never throws), rate-limit-spared (no mutant is eaten by
// the rate limiter), typed-errors (every decoder refuses with a LichenError), unchanged-on-reject
// (a mutant refused by the decoders changes no document), no-forged and no-unauthorized (ledger),
// recovers (an honest write after the storm still arrives).
import { ORSet } from "../../src/index.js";
import { decodeCbor, typeName } from "../../src/core/codec.js";
import type { Crdt } from "../../src/core/crdt.js";
import { LichenError } from "../../src/core/errors.js";
import { Hlc } from "../../src/core/hlc.js";
import { crdtClassForTag, loadCrdt } from "../../src/core/registry.js";
import { expandIds } from "../../src/core/session-form.js";
import { crc32, decodeFrame, encodeFrame, FRAME_FORMAT, type FrameSession } from "../../src/transport/frames.js";
import { openDocs, rng, SHARED_NAMESPACE, WALL_START } from "../../sim/network/simulator.js";
import type { Findings } from "./findings.js";
import { ATTACKER, checkHeld, FUZZ_OPTIONS, fuzzFleet, GATEWAY, Ledger, setConfig } from "./fleet.js";
import { mutateFrame, type Strategy } from "./mutate.js";
import { deltaFrame, frameBody, lwwDelta, tryDecodeFrame } from "./wire.js";

const NODES = ["n1", "n2"];

type Layer = "crc" | "cbor" | "frame" | "other" | "crdt" | "applied";

/** How the gateway reads the attacker's session frames (as the engine does: its reassembly limit bounds an expansion). */
const ATTACKER_SESSION: FrameSession = { ids: [ATTACKER, GATEWAY], maxExpandedBytes: Math.max(FUZZ_OPTIONS.maxReassemblyBytes, FUZZ_OPTIONS.maxFrameBytes) };

/** The standalone CBOR of a frame (a session frame expanded against the attacker's session). */
function frameCbor(bytes: Uint8Array): Uint8Array {
  const body = frameBody(bytes);
  return body[1] === FRAME_FORMAT ? expandIds(body, ATTACKER_SESSION.ids, ATTACKER_SESSION.maxExpandedBytes) : body;
}

/** How far a frame gets through the decoders, tried on a copy of what the gateway holds. */
function reach(bytes: Uint8Array, gw: { get(doc: string): Crdt | undefined }, wall: () => number): { layer: Layer; refusedBy?: string; typed: boolean; detail: string } {
  // the size limit and the CRC, checked here by the fuzz's own reading of the frame
  const end = bytes.length - 4;
  if (bytes.length > FUZZ_OPTIONS.maxFrameBytes || bytes.length < 5) return { layer: "crc", typed: true, detail: `${bytes.length} bytes` };
  if (crc32(bytes, end) !== ((bytes[end] << 24) | (bytes[end + 1] << 16) | (bytes[end + 2] << 8) | bytes[end + 3]) >>> 0) return { layer: "crc", typed: true, detail: "stale CRC" };
  try {
    decodeCbor(frameCbor(bytes), ATTACKER_SESSION.maxExpandedBytes);
  } catch (e) {
    return { layer: "cbor", typed: e instanceof LichenError, detail: (e as Error).message };
  }
  try {
    decodeFrame(bytes, FUZZ_OPTIONS.maxFrameBytes, ATTACKER_SESSION);
  } catch (e) {
    return { layer: "frame", typed: e instanceof LichenError, detail: `decodeFrame: ${(e as Error).name}: ${(e as Error).message}` };
  }
  const f = decodeFrame(bytes, FUZZ_OPTIONS.maxFrameBytes, ATTACKER_SESSION);
  if (f.kind !== 3) return { layer: "other", typed: true, detail: `kind ${f.kind}` };
  const held = gw.get(f.doc);
  const clock = new Hlc({ wallClock: wall });
  let probe: Crdt;
  if (held !== undefined) probe = loadCrdt(held.toBytes(), "probe", { clock });
  else {
    const ctor = crdtClassForTag(f.type);
    if (ctor === undefined) return { layer: "crdt", refusedBy: "unknown type", typed: true, detail: `type ${f.type}` };
    probe = new ctor("probe", { clock });
  }
  try {
    probe.applyDelta(f.delta);
    return { layer: "applied", typed: true, detail: typeName(f.type) };
  } catch (e) {
    if (!(e instanceof LichenError)) return { layer: "crdt", typed: false, detail: `${typeName(f.type)} applyDelta threw ${(e as Error).name}: ${(e as Error).message}` };
    return { layer: "crdt", refusedBy: e.code, typed: true, detail: e.message };
  }
}

export function fuzzFrames(count: number, seed: number, findings: Findings): void {
  const random = rng(seed);
  const fleet = fuzzFleet(random, { loss: 0, duplicate: 0, maxDelayMs: 5 });
  const ledger = new Ledger();
  const honest = [GATEWAY, ...NODES];
  const pool: Uint8Array[] = [];
  // frames as sent, in their session's form, kept standalone: the tree strategies mutate decoded frames
  fleet.onSend = (from, to, bytes) => {
    const f = tryDecodeFrame(bytes, [from, to]);
    if (pool.length < 400 && f !== undefined) pool.push(encodeFrame(f));
  };
  fleet.add(GATEWAY, "gateway");
  for (const n of [...NODES, ATTACKER]) {
    fleet.add(n, "node");
    openDocs(fleet.peers.get(n)!.engine, n);
    fleet.link(n, GATEWAY);
  }
  const gwPeer = fleet.peers.get(GATEWAY)!;
  const gwDocs = openDocs(gwPeer.engine, GATEWAY);
  // a session with every kind of frame: deltas of four types, versions, digests, acks
  for (let i = 0; i < 40; i++) {
    const n = [...NODES, ATTACKER][i % 3];
    const e = fleet.peers.get(n)!.engine;
    const docs = openDocs(e, n);
    docs.readings.set(`k${i % 7}`, i);
    if (n !== ATTACKER) {
      ledger.record(`readings/${n}`, n, docs.readings);
      ledger.recordWrite(`readings/${n}`, n, `k${i % 7}`, docs.readings.timestamp(`k${i % 7}`), i);
    }
    e.changed("readings", n);
    docs.events.increment();
    if (n !== ATTACKER) ledger.record(`events/${n}`, n, docs.events);
    e.changed("events", n);
    if (i % 5 === 0) {
      gwDocs.mode.set(`m${i}`);
      ledger.record(`${SHARED_NAMESPACE}/mode`, GATEWAY, gwDocs.mode);
      gwPeer.engine.changed(SHARED_NAMESPACE, "mode");
      gwDocs.awmap.update("alarms", ORSet, (set) => set.add(`a${i}`));
      ledger.record(`${SHARED_NAMESPACE}/awmap`, GATEWAY, gwDocs.awmap);
      gwPeer.engine.changed(SHARED_NAMESPACE, "awmap");
      setConfig(ledger, gwPeer.engine, gwDocs.config, i);
    }
    fleet.run(700);
  }
  fleet.run(20_000);
  // and the forgeries of the hostile schedules, as seeds for more
  const x = fleet.peers.get(ATTACKER)!.engine;
  for (const v of NODES) {
    const t = x.clock.now();
    pool.push(deltaFrame(`readings/${v}`, 9, lwwDelta([{ key: "k1", r: v, t, value: 1 }], new Map([[v, [t - 5000, t]]]), new Map([[v, 0]]))));
  }
  fleet.onSend = undefined;

  const gw = gwPeer.engine;
  const wall = (): number => WALL_START + fleet.time.now();
  // mutants take three quarters of the rate limit: the rest is for the attacker's own engine, which
  // acknowledges the shared documents that mutated versions and digests make the gateway send again
  const spacing = Math.ceil(1000 / (FUZZ_OPTIONS.ratePerSecond * 0.75));
  const layers: Record<Layer, number> = { crc: 0, cbor: 0, frame: 0, other: 0, crdt: 0, applied: 0 };
  const refusedBy = new Map<string, number>();
  const strategies: Record<Strategy, number> = { tree: 0, nested: 0, "cbor-bytes": 0, raw: 0 };
  let made = 0;
  let crashed = false;
  let untyped: string | undefined;
  let changed: string | undefined;
  const started = Date.now();
  for (let i = 0; i < count; i++) {
    const r = random();
    const strategy: Strategy = r < 0.35 ? "tree" : r < 0.7 ? "nested" : r < 0.9 ? "cbor-bytes" : "raw";
    // byte-level strategies also mutate frames in the attacker's session form (format 2) half the time
    let source = pool[Math.floor(random() * pool.length)];
    if ((strategy === "cbor-bytes" || strategy === "raw") && random() < 0.5) source = encodeFrame(tryDecodeFrame(source)!, ATTACKER_SESSION.ids);
    const bytes = mutateFrame(source, strategy, random) ?? mutateFrame(pool[0], "cbor-bytes", random)!;
    strategies[strategy]++;
    made++;
    const got = reach(bytes, gw, wall);
    layers[got.layer]++;
    if (got.refusedBy !== undefined) refusedBy.set(got.refusedBy, (refusedBy.get(got.refusedBy) ?? 0) + 1);
    if (!got.typed) untyped ??= got.detail;
    const target = got.layer === "crdt" ? decodeFrame(bytes, FUZZ_OPTIONS.maxFrameBytes, ATTACKER_SESSION) : undefined;
    const before = target?.kind === 3 ? gw.get(target.doc)?.delta() : undefined;
    const docsBefore = gw.documents().length;
    try {
      gw.receive(ATTACKER, bytes);
    } catch (e) {
      if (!crashed) findings.fail("frames/no-crash", seed, `mutant ${i} (${strategy}): receive threw ${(e as Error).name}: ${(e as Error).message}`);
      crashed = true;
    }
    if (got.layer !== "applied" && got.layer !== "other") {
      const after = target?.kind === 3 ? gw.get(target.doc)?.delta() : undefined;
      const same = (before === undefined) === (after === undefined) && (before === undefined || (before.length === after!.length && before.every((b, j) => b === after![j])));
      if (!same || gw.documents().length !== docsBefore) changed ??= `mutant ${i} (${strategy}) was refused by the ${got.layer} decoder (${got.detail}) yet changed the gateway`;
    }
    fleet.run(spacing);
    if ((i + 1) % 25000 === 0) console.log(`frames: ${i + 1}/${count} (${((Date.now() - started) / 1000).toFixed(0)} s)`);
  }
  if (!crashed) findings.pass("frames/no-crash");
  const limited = fleet.logs.filter((l) => l.event === "rate-limited").length;
  findings.check("frames/rate-limit-spared", seed, limited === 0, () => `the rate limiter dropped frames (${limited} log lines)`);
  findings.check("frames/typed-errors", seed, untyped === undefined, () => untyped!);
  findings.check("frames/unchanged-on-reject", seed, changed === undefined, () => changed!);
  const passedCrc = made - layers.crc;
  const passedCbor = passedCrc - layers.cbor;
  const passedFrame = passedCbor - layers.frame;
  console.log(
    `frames: ${made} mutants (${Object.entries(strategies).map(([k, v]) => `${k} ${v}`).join(", ")}); rate-limited: ${limited === 0 ? 0 : "some"}; ` +
      `past the size limit and the CRC: ${passedCrc}; past the CBOR decoder: ${passedCbor}; valid frames: ${passedFrame} (${layers.other} not deltas); ` +
      `into the CRDT decoders: ${layers.crdt + layers.applied}; through them: ${layers.applied}; refused there: ${[...refusedBy].map(([k, v]) => `${k} ${v}`).join(", ")}`,
  );

  // the session still works, and nothing forged or unauthorized stuck
  const n1 = fleet.peers.get("n1")!.engine;
  const docs = openDocs(n1, "n1");
  docs.readings.set("after", 1);
  ledger.record("readings/n1", "n1", docs.readings);
  ledger.recordWrite("readings/n1", "n1", "after", docs.readings.timestamp("after"), 1);
  n1.changed("readings", "n1");
  fleet.run(60_000);
  findings.check("frames/recovers", seed, (gw.get("readings/n1") as typeof docs.readings | undefined)?.get("after") === 1, () => "an honest write after the mutants did not arrive");
  checkHeld(fleet, ledger, honest, findings, "frames", seed);
}
