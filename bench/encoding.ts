// Section 1, bytes: the size of one operation's delta (lichen beside the Yjs update for the same
// operation), the LWWMap per-field overhead, the anatomy of a delta, and encoded state sizes
// (lichen's toBytes beside Yjs's encodeStateAsUpdate and Automerge's save). All deterministic: the
// HLC reads a wall clock moved by hand (fixtures.ts).

import * as Automerge from "@automerge/automerge";
import * as Y from "yjs";
import {
  AWMap,
  Crdt,
  decodeCbor,
  encodeCbor,
  GCounter,
  GSet,
  type Hlc,
  LWWMap,
  LWWRegister,
  LWWSet,
  MVRegister,
  ORSet,
  PNCounter,
  TwoPSet,
  TypeTag,
} from "../src/core/index.js";
import { relativeSessionDelta, sessionDelta, standaloneDelta, standaloneRelativeDelta } from "../src/core/session-form.js";
import { MAC_ID, ManualWall, OP_INTERVAL_MS, PEER_ID, replicaIds, SHORT_ID, YJS_CLIENT_ID } from "./fixtures.js";
import { type Check, met, num, type Section, type Table, type Target } from "./report.js";

// ---- one operation, then its delta ----

interface OneOp {
  /** The delta for a peer that had synced everything before the operation, and whether it converged. */
  bytes: Uint8Array;
  converged: boolean;
  /** lichen: the same delta as a session sends it (core/session-form.ts), which expands back to `bytes`. */
  session?: Uint8Array;
}

type LichenCase = (id: string) => OneOp;
type YjsCase = { label: string; run: () => OneOp };

/** Replica `id` makes a first operation, the peer syncs it, and 1 s later the measured operation:
 * its delta is `a.delta(b.version())`, applied to the peer, which must then equal `a`. */
function lichen<C extends Crdt>(make: (id: string, clock: Hlc) => C, first: (c: C) => void, op: (c: C) => void): LichenCase {
  return (id) => {
    const wall = new ManualWall();
    const a = make(id, wall.hlc());
    const b = make(PEER_ID, wall.hlc());
    first(a);
    b.applyDelta(a.delta(b.version()));
    wall.advance(OP_INTERVAL_MS);
    op(a);
    const bytes = a.delta(b.version());
    // as a session sends it: relative to the peer's version where the type and the delta allow (frame format 3)
    const ids = [id, PEER_ID];
    const reference = b.version().get(id);
    const relative = relativeSessionDelta(bytes, a.typeTag, ids);
    b.applyDelta(bytes);
    const session = relative ?? sessionDelta(bytes, a.typeTag, ids);
    const back = relative === undefined ? standaloneDelta(session, a.typeTag, ids, 1 << 20) : standaloneRelativeDelta(session, a.typeTag, ids, 1 << 20, reference);
    const same = back.length === bytes.length && back.every((x, i) => x === bytes[i]);
    return { bytes, session, converged: same && a.equals(b) && JSON.stringify(a.value()) === JSON.stringify(b.value()) };
  };
}

function yjsState(doc: Y.Doc): string {
  return JSON.stringify([doc.getMap("m").toJSON(), doc.getArray("s").toJSON()]);
}

/** The same scenario in Yjs: the update is `encodeStateAsUpdate(a, encodeStateVector(b))`. */
function yjs(label: string, first: (doc: Y.Doc) => void, op: (doc: Y.Doc) => void): YjsCase {
  return {
    label,
    run: () => {
      const a = new Y.Doc();
      a.clientID = YJS_CLIENT_ID;
      const b = new Y.Doc();
      b.clientID = YJS_CLIENT_ID + 1;
      first(a);
      Y.applyUpdate(b, Y.encodeStateAsUpdate(a, Y.encodeStateVector(b)));
      op(a);
      const bytes = Y.encodeStateAsUpdate(a, Y.encodeStateVector(b));
      Y.applyUpdate(b, bytes);
      return { bytes, converged: yjsState(a) === yjsState(b) };
    },
  };
}

const map = (d: Y.Doc): Y.Map<unknown> => d.getMap("m");
const arr = (d: Y.Doc): Y.Array<unknown> => d.getArray("s");
const yPush = yjs("Y.Array.push", (d) => arr(d).push(["a"]), (d) => arr(d).push(["b"]));
const yDelete = yjs("Y.Array.delete(0, 1)", (d) => arr(d).push(["a"]), (d) => arr(d).delete(0, 1));

interface DeltaRow {
  op: string;
  first: string;
  lichen: LichenCase;
  yjs?: YjsCase;
}

const DELTA_ROWS: DeltaRow[] = [
  { op: "GCounter.increment()", first: "increment()", lichen: lichen((id, clock) => new GCounter(id, { clock }), (c) => c.increment(), (c) => c.increment()) },
  { op: "PNCounter.decrement()", first: "increment()", lichen: lichen((id, clock) => new PNCounter(id, { clock }), (c) => c.increment(), (c) => c.decrement()) },
  {
    op: "LWWRegister.set(42)",
    first: "set(1)",
    lichen: lichen((id, clock) => new LWWRegister<number>(id, { clock }), (c) => c.set(1), (c) => c.set(42)),
    yjs: yjs("Y.Map.set('v', 42), one-key map", (d) => map(d).set("v", 1), (d) => map(d).set("v", 42)),
  },
  { op: "MVRegister.set(42)", first: "set(1)", lichen: lichen((id, clock) => new MVRegister<number>(id, { clock }), (c) => c.set(1), (c) => c.set(42)) },
  { op: "GSet.add('b')", first: "add('a')", lichen: lichen((id, clock) => new GSet<string>(id, { clock }), (c) => c.add("a"), (c) => c.add("b")), yjs: yPush },
  { op: "TwoPSet.add('b')", first: "add('a')", lichen: lichen((id, clock) => new TwoPSet<string>(id, { clock }), (c) => c.add("a"), (c) => c.add("b")), yjs: yPush },
  {
    op: "TwoPSet.remove('a')",
    first: "add('a')",
    lichen: lichen((id, clock) => new TwoPSet<string>(id, { clock }), (c) => c.add("a"), (c) => void c.remove("a")),
    yjs: yDelete,
  },
  { op: "ORSet.add('b')", first: "add('a')", lichen: lichen((id, clock) => new ORSet<string>(id, { clock }), (c) => c.add("a"), (c) => c.add("b")), yjs: yPush },
  {
    op: "ORSet.remove('a')",
    first: "add('a')",
    lichen: lichen((id, clock) => new ORSet<string>(id, { clock }), (c) => c.add("a"), (c) => void c.remove("a")),
    yjs: yDelete,
  },
  { op: "LWWSet.add('b')", first: "add('a')", lichen: lichen((id, clock) => new LWWSet<string>(id, { clock }), (c) => c.add("a"), (c) => c.add("b")), yjs: yPush },
  { op: "LWWSet.remove('a')", first: "add('a')", lichen: lichen((id, clock) => new LWWSet<string>(id, { clock }), (c) => c.add("a"), (c) => c.remove("a")), yjs: yDelete },
  {
    op: "LWWMap.set('temp', 21.5), new key",
    first: "set('x', 1)",
    lichen: lichen((id, clock) => new LWWMap<number>(id, { clock }), (c) => c.set("x", 1), (c) => c.set("temp", 21.5)),
    yjs: yjs("Y.Map.set('temp', 21.5)", (d) => map(d).set("x", 1), (d) => map(d).set("temp", 21.5)),
  },
  {
    op: "LWWMap.set('temp', 21.5), overwrite",
    first: "set('temp', 20.5)",
    lichen: lichen((id, clock) => new LWWMap<number>(id, { clock }), (c) => c.set("temp", 20.5), (c) => c.set("temp", 21.5)),
    yjs: yjs("Y.Map.set('temp', 21.5)", (d) => map(d).set("temp", 20.5), (d) => map(d).set("temp", 21.5)),
  },
  {
    op: "LWWMap.delete('temp')",
    first: "set('temp', 21.5)",
    lichen: lichen((id, clock) => new LWWMap<number>(id, { clock }), (c) => c.set("temp", 21.5), (c) => void c.delete("temp")),
    yjs: yjs("Y.Map.delete('temp')", (d) => map(d).set("temp", 21.5), (d) => map(d).delete("temp")),
  },
  {
    op: "AWMap.update('c', GCounter, +1)",
    first: "the same",
    lichen: lichen(
      (id, clock) => new AWMap(id, { clock }),
      (c) => c.update("c", GCounter, (g) => g.increment()),
      (c) => c.update("c", GCounter, (g) => g.increment()),
    ),
  },
];

function sizeCell(r: OneOp): number | string {
  return r.converged ? r.bytes.length : `${r.bytes.length} (did not converge!)`;
}

function sessionCell(r: OneOp): number | string {
  return r.converged ? r.session!.length : `${r.session!.length} (did not converge!)`;
}

const cborSize = (x: unknown): number => encodeCbor(x).length;

/** Names of the parts of a delta body, by type family. */
function bodyPartNames(tag: number, parts: number): string[] {
  const lww: number[] = [TypeTag.GSet, TypeTag.TwoPSet, TypeTag.LWWSet];
  // LWWMap writes the compact body (core/lww-store.ts)
  if (tag === TypeTag.LWWMap) return ["id-offset unit code", "replica id (a table when several)", "causal context (ranges above the base)", "entries, flat: key, id offset code, value", "base (left out when the context's start says it)"];
  const dots: number[] = [TypeTag.ORSet, TypeTag.MVRegister, TypeTag.AWMap];
  if (lww.includes(tag)) return ["replica table", "base (how far the peer must have seen)", "causal context (ranges above the base)", "entries [key, replica index, id offset, value]"];
  if (dots.includes(tag)) return ["replica table", "base", "causal context", "entries", "summaries", "removal watermarks"];
  if (tag === TypeTag.GCounter) return Array.from({ length: parts }, (_, i) => `row ${i} [replica, total]`);
  return Array.from({ length: parts }, (_, i) => `part ${i}`);
}

function show(x: unknown): string {
  return JSON.stringify(x, (_k, v: unknown) => (v instanceof Map ? Object.fromEntries(v) : v instanceof Uint8Array ? `h'${Buffer.from(v).toString("hex")}'` : v));
}

/** A table of where the bytes of a delta go. */
function anatomy(title: string, bytes: Uint8Array): Table {
  const top = decodeCbor(bytes) as [number, number, unknown];
  const body = top[2];
  const rows: Array<[string, string, number]> = [];
  rows.push(["envelope [format version, type tag, …]", `[${top[0]}, ${top[1]}, …]`, bytes.length - cborSize(body)]);
  if (Array.isArray(body)) {
    rows.push(["body array header", "", cborSize(body) - body.reduce((n: number, p: unknown) => n + cborSize(p), 0)]);
    const names = bodyPartNames(top[1], body.length);
    body.forEach((p: unknown, i: number) => rows.push([names[i], show(p), cborSize(p)]));
  }
  return {
    title,
    how: `the delta decoded with lichen's cbor-x configuration (decodeCbor); each part re-encoded alone to count its bytes. Whole delta: \`${Buffer.from(bytes).toString("hex")}\` = ${show(top)}.`,
    columns: ["part", "decoded", "bytes"],
    rows: [...rows, ["total", "", bytes.length]],
  };
}

// ---- state sizes ----

function lwwMapState(id: string): Uint8Array {
  const wall = new ManualWall();
  const m = new LWWMap<number>(id, { clock: wall.hlc() });
  for (let i = 0; i < 1000; i++) {
    m.set(`k${i}`, i);
    wall.advance(OP_INTERVAL_MS);
  }
  return m.toBytes();
}

function orSetState(id: string): Uint8Array {
  const wall = new ManualWall();
  const s = new ORSet<number>(id, { clock: wall.hlc() });
  for (let i = 0; i < 1000; i++) {
    s.add(i);
    wall.advance(OP_INTERVAL_MS);
  }
  return s.toBytes();
}

function gCounterState(ids: "short" | "mac"): Uint8Array {
  const all = replicaIds(ids, 100);
  const merged = new GCounter(all[0]);
  for (const id of all) {
    const c = new GCounter(id);
    c.incrementBy(100);
    merged.merge(c);
  }
  return merged.toBytes();
}

function yjsMapState(): number {
  const d = new Y.Doc();
  d.clientID = YJS_CLIENT_ID;
  for (let i = 0; i < 1000; i++) map(d).set(`k${i}`, i);
  return Y.encodeStateAsUpdate(d).length;
}

function yjsArrayState(): number {
  const d = new Y.Doc();
  d.clientID = YJS_CLIENT_ID;
  for (let i = 0; i < 1000; i++) arr(d).push([i]);
  return Y.encodeStateAsUpdate(d).length;
}

type AmMap = { [k: string]: number };
type AmList = { s: number[] };
type AmCounter = { c: Automerge.Counter };
const AM_ACTOR = "a4cf12b3c4d5";

function automergeMapState(changes: "one" | "each"): number {
  let d = Automerge.init<AmMap>({ actor: AM_ACTOR });
  if (changes === "one") {
    d = Automerge.change(d, (x) => {
      for (let i = 0; i < 1000; i++) x[`k${i}`] = i;
    });
  } else for (let i = 0; i < 1000; i++) d = Automerge.change(d, (x) => void (x[`k${i}`] = i));
  return Automerge.save(d).length;
}

function automergeListState(changes: "one" | "each"): number {
  let d = Automerge.change(Automerge.init<AmList>({ actor: AM_ACTOR }), (x) => void (x.s = []));
  if (changes === "one") {
    d = Automerge.change(d, (x) => {
      for (let i = 0; i < 1000; i++) x.s.push(i);
    });
  } else for (let i = 0; i < 1000; i++) d = Automerge.change(d, (x) => void x.s.push(i));
  return Automerge.save(d).length;
}

/** An Automerge.Counter incremented by 100 actors (MAC-like 6-byte actor ids), merged into one document. */
function automergeCounterState(): number {
  const actors = replicaIds("mac", 100);
  let merged = Automerge.change(Automerge.init<AmCounter>({ actor: actors[0] }), (x) => void (x.c = new Automerge.Counter()));
  const base = Automerge.clone(merged);
  for (const actor of actors) {
    const mine = Automerge.change(Automerge.clone(base, { actor }), (x) => x.c.increment(100));
    merged = Automerge.merge(merged, mine);
  }
  const total = merged.c.value;
  if (total !== 10000) throw new Error(`automerge counter sanity: expected 10000, got ${total}`);
  return Automerge.save(merged).length;
}

export function encodingSection(): { section: Section; checks: Check[] } {
  const checks: Check[] = [];
  const deltaTable: Table = {
    title: "Bytes per delta: one operation",
    how: `replica A (id shown) makes a first operation, peer B ("${PEER_ID}") applies A's delta, A makes the measured operation ${OP_INTERVAL_MS / 1000} s later (the HLC reads a wall clock moved by hand, so the bytes are deterministic), and the figure is \`A.delta(B.version()).length\`. That delta is applied to B, which must then equal A (else "did not converge!"). "In a session": the same delta as a session from A to B sends it in its DELTA frame (core/session-form.ts: the payload header left out, since the frame says the type and format; A's and B's ids as one-byte references; an LWWMap delta's context relative to B's version of A, frame format 3), which must expand back to the very same bytes at B (else "did not converge!"). Yjs: the same two steps, the figure is \`Y.encodeStateAsUpdate(docA, Y.encodeStateVector(docB)).length\`, clientID fixed to 0x${YJS_CLIENT_ID.toString(16)} (Yjs draws a random 32-bit id). n/a: Yjs has no counterpart (no counters, no multi-value register; Y.Array is a list: a push is not a set insert, but it is the closest).`,
    columns: ["operation", "after", `lichen, id "${SHORT_ID}"`, `lichen, id "${MAC_ID}"`, `in a session, id "${SHORT_ID}"`, `in a session, id "${MAC_ID}"`, "Yjs operation", "Yjs update"],
    rows: [],
  };
  const results = new Map<string, { short: OneOp; mac: OneOp }>();
  for (const r of DELTA_ROWS) {
    const short = r.lichen(SHORT_ID);
    const mac = r.lichen(MAC_ID);
    results.set(r.op, { short, mac });
    const y = r.yjs?.run();
    checks.push({ what: `${r.op}: the delta applied to the peer makes it equal (ids "${SHORT_ID}" and "${MAC_ID}")`, ok: short.converged && mac.converged });
    if (r.yjs && y) checks.push({ what: `${r.yjs.label} after ${r.first}: the update applied to the peer doc makes it equal`, ok: y.converged });
    deltaTable.rows.push([r.op, r.first, sizeCell(short), sizeCell(mac), sessionCell(short), sessionCell(mac), r.yjs?.label ?? "n/a", y ? sizeCell(y) : "n/a"]);
  }

  const gc = results.get("GCounter.increment()")!;
  const goals: Target[] = [];
  const keyBytes = cborSize("temp");
  const valueBytes = cborSize(21.5);
  const targets: Table = {
    title: "Delta targets",
    how: `from the table above. Overhead = delta bytes − CBOR size of the key ("temp": ${keyBytes} bytes) − CBOR size of the value (21.5: ${valueBytes} bytes, a float64: lichen's encoder never writes float32). For Yjs the same subtraction is applied to its update, for comparison only (Yjs writes the key as a varstring and the value in its own encoding).`,
    columns: ["figure", "replica id", "target", "actual", "met?"],
    rows: [],
  };
  for (const [label, r] of [
    [SHORT_ID, gc.short],
    [MAC_ID, gc.mac],
  ] as const) {
    targets.rows.push(["GCounter.increment() delta", label, "≤ 12 bytes", `${r.bytes.length} bytes`, met(r.bytes.length <= 12)]);
    goals.push({ figure: `GCounter.increment() delta, id "${label}"`, target: "≤ 12 bytes", actual: `${r.bytes.length} bytes`, ok: r.bytes.length <= 12 });
    targets.rows.push(["GCounter.increment() delta in a session", label, "≤ 6 bytes", `${r.session!.length} bytes`, met(r.session!.length <= 6)]);
    goals.push({ figure: `GCounter.increment() delta in a session, id "${label}"`, target: "≤ 6 bytes", actual: `${r.session!.length} bytes`, ok: r.session!.length <= 6 });
  }
  for (const op of ["LWWMap.set('temp', 21.5), new key", "LWWMap.set('temp', 21.5), overwrite"]) {
    const r = results.get(op)!;
    for (const [label, x] of [
      [SHORT_ID, r.short],
      [MAC_ID, r.mac],
    ] as const) {
      const overhead = x.session!.length - keyBytes - valueBytes;
      goals.push({
        figure: `LWWMap field set overhead in a session (${op.endsWith("new key") ? "new key" : "overwrite"}), id "${label}"`,
        target: "≤ 10 bytes + key + value",
        actual: `${overhead} bytes + key + value`,
        ok: overhead <= 10,
      });
      targets.rows.push([`LWWMap field set overhead in a session (${op.endsWith("new key") ? "new key" : "overwrite"})`, label, "≤ 10 bytes + key + value", `${overhead} bytes + key + value (${x.session!.length} in all; standalone ${x.bytes.length})`, met(overhead <= 10)]);
    }
    const y = DELTA_ROWS.find((d) => d.op === op)!.yjs!.run();
    targets.rows.push([`Yjs Y.Map.set overhead (${op.endsWith("new key") ? "new key" : "overwrite"})`, `clientID 0x${YJS_CLIENT_ID.toString(16)}`, "—", `${y.bytes.length - keyBytes - valueBytes} bytes + key + value (${y.bytes.length} in all)`, "—"]);
  }

  const sizes: Table = {
    title: "Encoded state size",
    how: `lichen: \`toBytes().length\` (the whole state with its owner id). LWWMap: keys "k0".."k999" with the values 0..999, set ${OP_INTERVAL_MS / 1000} s apart by one replica ("${SHORT_ID}" or "${MAC_ID}"); ORSet: the numbers 0..999 added the same way; GCounter: 100 replicas ("n0".."n99" or "a4cf12b3c400".."a4cf12b3c463") each incremented by 100, merged into one. Yjs: \`Y.encodeStateAsUpdate(doc).length\` after the same writes, one transaction each (ORSet → a Y.Array of the 1000 numbers, pushed one by one). Automerge: \`save(doc).length\` (compressed columnar format) with the writes in one change, and with one change per write; the counter is an Automerge.Counter incremented by 100 actors with 6-byte MAC-like actor ids, merged.`,
    columns: ["state", "lichen, short ids", "lichen, MAC-like ids", "Yjs", "Automerge, 1 change", "Automerge, 1 change per write"],
    rows: [
      ["LWWMap, 1,000 keys", lwwMapState(SHORT_ID).length, lwwMapState(MAC_ID).length, yjsMapState(), automergeMapState("one"), automergeMapState("each")],
      ["ORSet, 1,000 elements", orSetState(SHORT_ID).length, orSetState(MAC_ID).length, `${num(yjsArrayState())} (Y.Array)`, automergeListState("one"), automergeListState("each")],
      ["GCounter, 100 replicas", gCounterState("short").length, gCounterState("mac").length, "n/a", "n/a", automergeCounterState()],
    ],
  };

  const lwwShort = results.get("LWWMap.set('temp', 21.5), new key")!.short.bytes;
  const parts = ((decodeCbor(lwwShort) as unknown[])[2] as unknown[]).map(cborSize);
  const sessionShort = results.get("LWWMap.set('temp', 21.5), new key")!.short.session!;
  const notes = [
    `**Where the ${lwwShort.length} bytes of the LWWMap.set delta (id "${SHORT_ID}") go:** key ${keyBytes} + value ${valueBytes}; `,
    `the causal context, [peer's version (an absolute HLC timestamp, 9 bytes), range length (the 1-s gap, a 5-byte integer)], ${parts[2]}; `,
    `the replica id ${parts[1]}; `,
    `the id-offset unit code ${parts[0]}; `,
    `the entry's framing (array header, id offset code) ${parts[3] - keyBytes - valueBytes}; `,
    `the envelope and body headers ${lwwShort.length - parts.reduce((n, x) => n + x, 0)}. `,
    `With the MAC-like id the replica id grows by 10 bytes. The GCounter delta is the envelope plus [[id, total]]: with a 12-character id the id alone is 13 bytes, over the 12-byte target by itself. `,
    `**In a session** the envelope (3 bytes) goes, and the id becomes a one-byte reference whatever its length; an LWWMap delta made from the receiver's version also leaves out its range start (the receiver's own prefix of the sender, checked by 20 bits carried with the range's length in ms): ${sessionShort.length} bytes for the LWWMap.set delta with either id (\`${Buffer.from(sessionShort).toString("hex")}\`): [unit code, tag 6 (length and check), entries]. A receiver whose prefix differs (it got more since, lost some, or the frame is a replay) refuses it as stale and gets it again in full (core/session-form.ts, transport/frames.ts).`,
  ].join("");
  const section: Section = {
    title: "1b. Node: bytes on the wire and at rest (deterministic)",
    tables: [
      deltaTable,
      targets,
      anatomy(`Anatomy of the LWWMap.set('temp', 21.5) delta, id "${SHORT_ID}"`, results.get("LWWMap.set('temp', 21.5), new key")!.short.bytes),
      anatomy(`Anatomy of the LWWMap.set('temp', 21.5) delta, id "${MAC_ID}"`, results.get("LWWMap.set('temp', 21.5), new key")!.mac.bytes),
      anatomy(`Anatomy of the GCounter.increment() delta, id "${MAC_ID}"`, gc.mac.bytes),
      sizes,
    ],
    targets: goals,
    notes,
  };
  return { section, checks };
}
