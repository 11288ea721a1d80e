// Mutated frames against a gateway mid-session: valid frames are taken from a running fleet
// (every frame any peer sent, plus the attacker's forgeries), mutated (mutate.ts) and sent to the
// gateway by the attacker, spaced in virtual time so that the rate limiter lets each one through.
// Each mutant is also run through the decoders on their own, to count how far it gets:
//   crc → cbor → frame → crdt (delta frames) → applied.
// DELTAs relative to the receiver's version (format 3) are read as their receiver reads them, with
// its prefix of the sender; their bytes as sent are kept too: the attacker's own are mutated byte
// by byte, and every one is replayed on its link once the session moved on.
// Checks (frames/...): no-crash (receive never throws), rate-limit-spared (no mutant is eaten by
// the rate limiter), typed-errors (every decoder refuses with a LichenError), unchanged-on-reject
// (a mutant refused by the decoders changes no document), relative-replay (a format-3 DELTA sent
// again later changes its document only as it did when first sent: a receiver whose prefix moved
// on answers "stale", never reads it against the prefix it has now), no-forged and no-unauthorized
// (ledger), recovers (an honest write after the storm still arrives).
import { ORSet } from "../../src/index.js";
import { decodeCbor, typeName } from "../../src/core/codec.js";
import type { Crdt } from "../../src/core/crdt.js";
import { LichenError } from "../../src/core/errors.js";
import { Hlc } from "../../src/core/hlc.js";
import { crdtClassForTag, loadCrdt } from "../../src/core/registry.js";
import { expandIds } from "../../src/core/session-form.js";
import { crc32, decodeFrame, encodeFrame, FRAME_FORMAT, FrameKind, RELATIVE_FRAME_FORMAT, StaleReference, type FrameSession } from "../../src/transport/frames.js";
import { openDocs, rng, SHARED_NAMESPACE, WALL_START, type Fleet } from "../../sim/network/simulator.js";
import type { Findings } from "./findings.js";
import { ATTACKER, checkHeld, FUZZ_OPTIONS, fuzzFleet, GATEWAY, Ledger, setConfig } from "./fleet.js";
import { mutateFrame, type Strategy } from "./mutate.js";
import { deltaFrame, frameBody, lwwDelta, receiverPrefix, tryDecodeFrame } from "./wire.js";

const NODES = ["n1", "n2"];

type Layer = "crc" | "cbor" | "frame" | "other" | "crdt" | "applied";

/** The attacker's session ids, and how far its frames may expand at the gateway (the engine's reassembly limit bounds an expansion). */
const ATTACKER_SESSION = { ids: [ATTACKER, GATEWAY], maxExpandedBytes: Math.max(FUZZ_OPTIONS.maxReassemblyBytes, FUZZ_OPTIONS.maxFrameBytes) } as const;

/** How the gateway reads the attacker's session frames: format 3 against its prefix of the attacker, as the engine does. */
function attackerSession(gw: { get(doc: string): Crdt | undefined }): FrameSession {
  return { ...ATTACKER_SESSION, prefixOf: receiverPrefix(gw, ATTACKER) };
}

/** The standalone CBOR of a frame (a session frame expanded against the attacker's session). */
function frameCbor(bytes: Uint8Array): Uint8Array {
  const body = frameBody(bytes);
  return body[1] === FRAME_FORMAT || body[1] === RELATIVE_FRAME_FORMAT ? expandIds(body, ATTACKER_SESSION.ids, ATTACKER_SESSION.maxExpandedBytes) : body;
}

/** A DELTA relative to its receiver's version (format 3), as sent, and what it meant to the receiver then. */
interface RelativeFrame {
  readonly from: string;
  readonly to: string;
  readonly bytes: Uint8Array;
  /** Its standalone delta, read with the receiver's prefix when it was sent (that prefix too); undefined if stale already. */
  readonly meant: { readonly doc: string; readonly delta: Uint8Array; readonly prefix: number } | undefined;
}

/** How far a frame gets through the decoders, tried on a copy of what the gateway holds. */
function reach(bytes: Uint8Array, gw: { get(doc: string): Crdt | undefined }, wall: () => number): { layer: Layer; refusedBy?: string; typed: boolean; detail: string } {
  const session = attackerSession(gw);
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
    decodeFrame(bytes, FUZZ_OPTIONS.maxFrameBytes, session);
  } catch (e) {
    const refusedBy = e instanceof StaleReference ? "stale reference" : undefined;
    return { layer: "frame", refusedBy, typed: e instanceof LichenError, detail: `decodeFrame: ${(e as Error).name}: ${(e as Error).message}` };
  }
  const f = decodeFrame(bytes, FUZZ_OPTIONS.maxFrameBytes, session);
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
  const relative: RelativeFrame[] = [];
  // frames as sent, in their session's form, kept standalone: the tree strategies mutate decoded
  // frames. A format-3 DELTA is read with its receiver's prefix of the sender, as the receiver reads it.
  fleet.onSend = (from, to, bytes) => {
    const prefixOf = receiverPrefix(fleet.peers.get(to)!.engine, from);
    const f = tryDecodeFrame(bytes, [from, to], prefixOf);
    if (pool.length < 400 && f !== undefined) pool.push(encodeFrame(f));
    if (bytes[1] === RELATIVE_FRAME_FORMAT && relative.length < 300) {
      relative.push({ from, to, bytes, meant: f?.kind === FrameKind.Delta ? { doc: f.doc, delta: f.delta, prefix: prefixOf(f.doc) } : undefined });
    }
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
  // the attacker's own format-3 DELTAs, in its session with the gateway: the byte strategies mutate them too
  const attackerRelative = relative.filter((r) => r.from === ATTACKER && r.to === GATEWAY).map((r) => r.bytes);
  // mutants take three quarters of the rate limit: the rest is for the attacker's own engine, which
  // acknowledges the shared documents that mutated versions and digests make the gateway send again
  const spacing = Math.ceil(1000 / (FUZZ_OPTIONS.ratePerSecond * 0.75));
  const layers: Record<Layer, number> = { crc: 0, cbor: 0, frame: 0, other: 0, crdt: 0, applied: 0 };
  const refusedBy = new Map<string, number>();
  const strategies: Record<Strategy, number> = { tree: 0, nested: 0, "cbor-bytes": 0, raw: 0 };
  let made = 0;
  let stale = 0;
  let crashed = false;
  let untyped: string | undefined;
  let changed: string | undefined;
  const started = Date.now();
  for (let i = 0; i < count; i++) {
    const r = random();
    const strategy: Strategy = r < 0.35 ? "tree" : r < 0.7 ? "nested" : r < 0.9 ? "cbor-bytes" : "raw";
    // byte-level strategies also mutate frames in the attacker's session form half the time
    let source = pool[Math.floor(random() * pool.length)];
    if ((strategy === "cbor-bytes" || strategy === "raw") && random() < 0.5) {
      // in the attacker's session form: format 2, or format 3 (relative to the gateway's prefix) a third of the time
      source = attackerRelative.length > 0 && random() < 1 / 3 ? attackerRelative[Math.floor(random() * attackerRelative.length)] : encodeFrame(tryDecodeFrame(source)!, ATTACKER_SESSION.ids);
    }
    const bytes = mutateFrame(source, strategy, random) ?? mutateFrame(pool[0], "cbor-bytes", random)!;
    strategies[strategy]++;
    made++;
    const got = reach(bytes, gw, wall);
    layers[got.layer]++;
    if (got.layer === "frame" && got.refusedBy === "stale reference") stale++;
    else if (got.refusedBy !== undefined) refusedBy.set(got.refusedBy, (refusedBy.get(got.refusedBy) ?? 0) + 1);
    if (!got.typed) untyped ??= got.detail;
    const target = got.layer === "crdt" ? decodeFrame(bytes, FUZZ_OPTIONS.maxFrameBytes, attackerSession(gw)) : undefined;
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
      `past the size limit and the CRC: ${passedCrc}; past the CBOR decoder: ${passedCbor}; valid frames: ${passedFrame} (${layers.other} not deltas; ${stale} of format 3 read stale against the gateway's prefix); ` +
      `into the CRDT decoders: ${layers.crdt + layers.applied}; through them: ${layers.applied}; refused there: ${[...refusedBy].map(([k, v]) => `${k} ${v}`).join(", ")}`,
  );

  replayRelative(fleet, relative, spacing, random, seed, findings);

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

/**
 * Every format-3 DELTA captured, sent again on its own link (a late duplicate, or a replay by whoever
 * can write there) in a random order, once the session moved on: its receiver's prefix of the sender
 * has mostly grown since. Read against a prefix it was not made for, it must be answered "stale"
 * and change nothing; if the receiver reads it at all, the document may only change as the delta
 * meant when it was sent.
 */
function replayRelative(fleet: Fleet, relative: readonly RelativeFrame[], spacing: number, random: () => number, seed: number, findings: Findings): void {
  const order = relative.slice();
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [order[i], order[j]] = [order[j], order[i]];
  }
  let stale = 0;
  let unchanged = 0;
  let asMeant = 0;
  let wrong: string | undefined;
  let crashed: string | undefined;
  let staleAnswers = 0;
  const watch = fleet.onSend;
  fleet.onSend = (from, to, bytes) => {
    watch?.(from, to, bytes);
    const f = tryDecodeFrame(bytes, [from, to]);
    if (f?.kind === FrameKind.Error && f.code === "stale") staleAnswers++;
  };
  for (const [i, r] of order.entries()) {
    const receiver = fleet.peers.get(r.to)!.engine;
    const doc = r.meant?.doc;
    const before = doc === undefined ? undefined : receiver.get(doc);
    const beforeBytes = before?.toBytes();
    const beforeDelta = before?.delta();
    const answered = staleAnswers;
    try {
      receiver.receive(r.from, r.bytes);
    } catch (e) {
      crashed ??= `replay ${i} (${r.from} → ${r.to}): receive threw ${(e as Error).name}: ${(e as Error).message}`;
    }
    fleet.run(spacing);
    if (staleAnswers > answered) stale++;
    if (doc === undefined) continue;
    // made for a prefix the receiver has left: it must say so (the sender then sends the delta in full)
    const prefix = receiver.get(doc)?.version().get(r.from) ?? 0;
    if (prefix !== r.meant!.prefix && staleAnswers === answered) {
      wrong ??= `replay ${i} of a format-3 DELTA of ${doc} (${r.from} → ${r.to}) made for ${r.from}'s prefix ${r.meant!.prefix}, read at ${prefix}: not answered "stale"`;
    }
    const after = receiver.get(doc)?.delta();
    if (sameBytes(beforeDelta, after)) {
      unchanged++;
      continue;
    }
    // changed: only as the delta meant when it was sent
    let meant: Uint8Array | undefined;
    if (beforeBytes !== undefined) {
      const probe = loadCrdt(beforeBytes, "probe", { clock: new Hlc({ wallClock: () => WALL_START + fleet.time.now() }) });
      try {
        probe.applyDelta(r.meant!.delta);
        meant = probe.delta();
      } catch {
        meant = undefined;
      }
    }
    if (meant !== undefined && sameBytes(meant, after)) asMeant++;
    else wrong ??= `replay ${i} of a format-3 DELTA of ${doc} (${r.from} → ${r.to}, ${r.bytes.length} bytes) changed it otherwise than it meant when sent (the receiver's prefix of ${r.from} is ${receiver.get(doc)?.version().get(r.from) ?? 0} now)`;
  }
  fleet.onSend = watch;
  findings.check("frames/relative-replay", seed, relative.length > 0 && crashed === undefined && wrong === undefined, () => crashed ?? wrong ?? "no format-3 DELTA was sent: nothing to replay");
  console.log(
    `frames: ${relative.length} format-3 DELTAs captured (${relative.filter((r) => r.from === ATTACKER).length} the attacker's, mutated byte by byte), replayed on their links: ` +
      `${stale} answered stale, ${unchanged} left their document as it was, ${asMeant} applied as meant`,
  );
}

function sameBytes(a: Uint8Array | undefined, b: Uint8Array | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return a.length === b.length && a.every((x, j) => x === b[j]);
}
