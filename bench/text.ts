// Section: sequences. lichen's Text beside Yjs's Y.Text on the automerge-paper editing trace (259,778
// single-character edits by one author; Joseph Gentle's editing-traces, CC BY 4.0), in the same
// process: the time to apply every edit, the encoded document and the time to load it, the heap
// it holds after a full GC, the update sent for one typed character, and, inside XS, the compute
// meter and live slots for the first 20,000 edits. Targets are reported, not asserted.

import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import v8 from "node:v8";
import vm from "node:vm";
import { gunzipSync } from "node:zlib";
import * as Y from "yjs";
import { bundleForXs } from "../sim/xs/bundle.js";
import { measureXs, XsWorker } from "../sim/xs/worker.js";
import { Text } from "../src/core/index.js";
import { sessionDelta, standaloneDelta } from "../src/core/session-form.js";
import { MAC_ID, PEER_ID, SHORT_ID, YJS_CLIENT_ID } from "./fixtures.js";
import { type Check, met, num, type Section, type Table, type Target } from "./report.js";
import { median, spread, timeRun } from "./timing.js";

const TRACE = fileURLToPath(new URL("../data/traces/automerge-paper.json.gz", import.meta.url));
const XS_EDITS = 20_000;
const APPLY_SAMPLES = 5;
const LOAD_SAMPLES = 21;
const HEAP_SAMPLES = 3;
const ROOT = fileURLToPath(new URL("..", import.meta.url));

type Edit = [number, number, string];

function progress(text: string): void {
  process.stderr.write(`[bench] text: ${text}\n`);
}

function loadTrace(): { edits: Edit[]; endContent: string } {
  const t = JSON.parse(gunzipSync(readFileSync(TRACE)).toString("utf8")) as { endContent: string; txns: Array<{ patches: Edit[] }> };
  return { edits: t.txns.flatMap((x) => x.patches), endContent: t.endContent };
}

function applyLichen(edits: readonly Edit[], id = MAC_ID): Text {
  const t = new Text(id);
  for (let i = 0; i < edits.length; i++) {
    const e = edits[i];
    if (e[1] > 0) t.delete(e[0], e[1]);
    if (e[2] !== "") t.insert(e[0], e[2]);
  }
  return t;
}

function yDoc(): Y.Doc {
  const d = new Y.Doc();
  d.clientID = YJS_CLIENT_ID;
  return d;
}

function applyYjs(edits: readonly Edit[]): Y.Doc {
  const d = yDoc();
  const text = d.getText("t");
  for (let i = 0; i < edits.length; i++) {
    const e = edits[i];
    if (e[1] > 0) text.delete(e[0], e[1]);
    if (e[2] !== "") text.insert(e[0], e[2]);
  }
  return d;
}

/** A full GC from inside the process (the bench does not run with --expose-gc). */
function gcFunction(): () => void {
  v8.setFlagsFromString("--expose-gc");
  return vm.runInNewContext("gc") as () => void;
}

/** A full GC with the stack unwound first (a stale stack slot in optimized code can keep the last sample alive): heapUsed after it. */
async function settledHeap(gc: () => void): Promise<number> {
  for (let i = 0; i < 3; i++) {
    await new Promise<void>((r) => setImmediate(r));
    gc();
  }
  return process.memoryUsage().heapUsed;
}

/** Heap bytes that `build()`'s result keeps after a full GC: median of HEAP_SAMPLES, after one sample discarded. */
async function retainedHeap(gc: () => void, build: () => unknown): Promise<number> {
  const out: number[] = [];
  const hold: unknown[] = []; // the result stays reachable through this while the heap is measured
  for (let s = 0; s <= HEAP_SAMPLES; s++) {
    const before = await settledHeap(gc);
    hold.push(build());
    const after = await settledHeap(gc);
    hold.length = 0;
    if (s > 0) out.push(after - before);
  }
  return median(out);
}

// ---- one typed character ----

interface OneChar {
  bytes: number;
  converged: boolean;
  /** lichen: the delta as a session sends it (core/session-form.ts). */
  session?: number;
}

/** The delta in the session form of a session from `id` to the peer; it must expand back to the very same bytes. */
function inSession(d: Uint8Array, tag: number, id: string): { bytes: number; same: boolean } {
  const s = sessionDelta(d, tag, [id, PEER_ID]);
  const back = standaloneDelta(s, tag, [id, PEER_ID], 1 << 20);
  return { bytes: s.length, same: back.length === d.length && back.every((x, i) => x === d[i]) };
}

/** A types "a", B syncs, A types "b" after it: A's delta for B's version. */
function lichenOneChar(id: string): OneChar {
  const a = new Text(id);
  const b = new Text(PEER_ID);
  a.insert(0, "a");
  b.applyDelta(a.delta(b.version()));
  a.insert(1, "b");
  const d = a.delta(b.version());
  b.applyDelta(d);
  const s = inSession(d, a.typeTag, id);
  return { bytes: d.length, session: s.bytes, converged: s.same && a.equals(b) && b.toString() === "ab" };
}

/** The same in Yjs: the state-vector update (as lichen's delta), and the transaction's update event (what y-websocket sends). */
function yjsOneChar(): { sv: OneChar; event: OneChar } {
  const a = yDoc();
  const b = new Y.Doc();
  b.clientID = YJS_CLIENT_ID + 1;
  a.getText("t").insert(0, "a");
  Y.applyUpdate(b, Y.encodeStateAsUpdate(a, Y.encodeStateVector(b)));
  let event: Uint8Array = new Uint8Array(0);
  a.on("update", (u: Uint8Array) => (event = u));
  a.getText("t").insert(1, "b");
  const sv = Y.encodeStateAsUpdate(a, Y.encodeStateVector(b));
  const c = new Y.Doc();
  Y.applyUpdate(c, Y.encodeStateAsUpdate(b));
  Y.applyUpdate(b, sv);
  Y.applyUpdate(c, event);
  const ok = (d: Y.Doc): boolean => d.getText("t").toString() === "ab";
  return { sv: { bytes: sv.length, converged: ok(b) }, event: { bytes: event.length, converged: ok(c) } };
}

/** After the whole paper: B holds A's document, A types one character in the middle. */
function lichenOneCharInPaper(doc: Text): OneChar {
  const a = Text.fromBytes(doc.toBytes());
  const b = new Text(PEER_ID);
  b.applyDelta(a.delta());
  a.insert(50_000, "x");
  const d = a.delta(b.version());
  b.applyDelta(d);
  const s = inSession(d, a.typeTag, a.replica);
  return { bytes: d.length, session: s.bytes, converged: s.same && a.equals(b) };
}

function yjsOneCharInPaper(update: Uint8Array): { sv: OneChar; event: OneChar } {
  // A resumes as the author of the paper: its client id is set after loading (set before, Yjs would
  // see its own id in the update and draw a new one)
  const a = new Y.Doc();
  Y.applyUpdate(a, update);
  a.clientID = YJS_CLIENT_ID;
  const b = new Y.Doc();
  b.clientID = YJS_CLIENT_ID + 1;
  Y.applyUpdate(b, update);
  let event: Uint8Array = new Uint8Array(0);
  a.on("update", (u: Uint8Array) => (event = u));
  a.getText("t").insert(50_000, "x");
  const sv = Y.encodeStateAsUpdate(a, Y.encodeStateVector(b));
  const c = new Y.Doc();
  Y.applyUpdate(c, update);
  Y.applyUpdate(b, sv);
  Y.applyUpdate(c, event);
  const want = a.getText("t").toString();
  return { sv: { bytes: sv.length, converged: b.getText("t").toString() === want }, event: { bytes: event.length, converged: c.getText("t").toString() === want } };
}

// ---- inside XS ----

/** The XS side: both libraries, and `textBench.run(name)` replaying the edits into a document kept on the global. */
function xsEntry(): string {
  return `
import ${JSON.stringify(`${ROOT}bench/xs/crypto-shim.ts`)};
import * as Y from "yjs";
import { Text } from ${JSON.stringify(`${ROOT}src/core/index.ts`)};
const keep = [];
globalThis.textBench = {
  run(name) {
    const edits = globalThis.textEdits;
    if (name === "lichen") {
      const t = new Text(${JSON.stringify(MAC_ID)});
      for (let i = 0; i < edits.length; i++) {
        const e = edits[i];
        if (e[1] > 0) t.delete(e[0], e[1]);
        if (e[2] !== "") t.insert(e[0], e[2]);
      }
      keep.push(() => t.toString());
    } else {
      const d = new Y.Doc();
      d.clientID = ${YJS_CLIENT_ID};
      const text = d.getText("t");
      for (let i = 0; i < edits.length; i++) {
        const e = edits[i];
        if (e[1] > 0) text.delete(e[0], e[1]);
        if (e[2] !== "") text.insert(e[0], e[2]);
      }
      keep.push(() => text.toString());
    }
  },
  empty() {},
  text() {
    const s = keep[keep.length - 1]();
    const b = new TextEncoder().encode(s);
    return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength);
  },
};
`;
}

interface XsFigure {
  compute: number;
  slots: number;
  ok: boolean;
}

async function xsCase(code: string, edits: string, name: "lichen" | "yjs", expected: string): Promise<XsFigure> {
  const worker = await XsWorker.start({ name: `lichen-bench text ${name}` });
  try {
    await worker.evaluate(code);
    await worker.evaluate(`globalThis.textEdits = ${edits};`);
    const empty = await measureXs(worker, "textBench.empty()");
    const m = await measureXs(worker, `textBench.run(${JSON.stringify(name)})`, 600_000);
    const text = new TextDecoder().decode((await worker.evaluate("textBench.text()")).reply);
    return { compute: m.compute - empty.compute, slots: m.liveSlots, ok: text === expected };
  } finally {
    await worker.close().catch(() => worker.kill());
  }
}

// ---- the section ----

export async function textSection(): Promise<{ section: Section; checks: Check[] }> {
  const checks: Check[] = [];
  const { edits, endContent } = loadTrace();
  const n = edits.length.toLocaleString("en-US");

  progress("harness checks");
  const lDoc = applyLichen(edits);
  const yD = applyYjs(edits);
  checks.push({ what: `Text: the ${n} automerge-paper edits give its endContent`, ok: lDoc.toString() === endContent });
  checks.push({ what: `Y.Text: the ${n} automerge-paper edits give its endContent`, ok: yD.getText("t").toString() === endContent });
  const lBytes = lDoc.toBytes();
  const yUpdate = Y.encodeStateAsUpdate(yD);
  const yUpdateV2 = Y.encodeStateAsUpdateV2(yD);
  const lBack = Text.fromBytes(lBytes);
  checks.push({ what: "Text.fromBytes(toBytes()) equals the document and reads its endContent", ok: lBack.equals(lDoc) && lBack.toString() === endContent });
  const yBack = new Y.Doc();
  Y.applyUpdate(yBack, yUpdate);
  checks.push({ what: "Y.applyUpdate(encodeStateAsUpdate()) reads the endContent", ok: yBack.getText("t").toString() === endContent });

  progress(`applying the trace (${APPLY_SAMPLES} timed runs each, Yjs takes seconds per run)`);
  const lApply = timeRun(() => edits, (e) => applyLichen(e), { samples: APPLY_SAMPLES, warmupMs: 0 }).map((us) => us / 1000);
  const yApply = timeRun(() => edits, (e) => applyYjs(e), { samples: APPLY_SAMPLES, warmupMs: 0 }).map((us) => us / 1000);
  progress("loading the encoded documents");
  const lLoad = timeRun(() => lBytes, (b) => Text.fromBytes(b), { samples: LOAD_SAMPLES, warmupMs: 200 }).map((us) => us / 1000);
  const yLoad = timeRun(
    () => yUpdate,
    (u) => {
      const d = new Y.Doc();
      Y.applyUpdate(d, u);
      return d;
    },
    { samples: LOAD_SAMPLES, warmupMs: 200 },
  ).map((us) => us / 1000);
  progress("heap after a full GC");
  const gc = gcFunction();
  const lHeap = await retainedHeap(gc, () => applyLichen(edits));
  const yHeap = await retainedHeap(gc, () => applyYjs(edits));
  const lHeapLoaded = await retainedHeap(gc, () => Text.fromBytes(lBytes));
  const yHeapLoaded = await retainedHeap(gc, () => {
    const d = new Y.Doc();
    Y.applyUpdate(d, yUpdate);
    return d;
  });

  progress("one typed character");
  const oneShort = lichenOneChar(SHORT_ID);
  const oneMac = lichenOneChar(MAC_ID);
  const yOne = yjsOneChar();
  const inPaper = lichenOneCharInPaper(lDoc);
  const yInPaper = yjsOneCharInPaper(yUpdate);
  for (const [what, r] of [
    [`Text one-character delta (id "${SHORT_ID}") applies and converges`, oneShort],
    [`Text one-character delta (id "${MAC_ID}") applies and converges`, oneMac],
    ["Y.Text one-character updates (state vector, update event) apply and converge", { bytes: 0, converged: yOne.sv.converged && yOne.event.converged }],
    ["Text one character typed into the whole paper: the delta applies and converges", inPaper],
    ["Y.Text one character typed into the whole paper: both updates apply and converge", { bytes: 0, converged: yInPaper.sv.converged && yInPaper.event.converged }],
  ] as Array<[string, OneChar]>) {
    checks.push({ what, ok: r.converged });
  }

  progress(`inside XS: the first ${XS_EDITS.toLocaleString("en-US")} edits`);
  const xsEdits = edits.slice(0, XS_EDITS);
  let xsText = "";
  for (const [pos, del, ins] of xsEdits) xsText = xsText.slice(0, pos) + ins + xsText.slice(pos + del);
  const bundle = await bundleForXs(xsEntry());
  const editsJson = JSON.stringify(xsEdits);
  const xl = await xsCase(bundle.code, editsJson, "lichen", xsText);
  const xy = await xsCase(bundle.code, editsJson, "yjs", xsText);
  checks.push({ what: `XS: Text after the first ${XS_EDITS.toLocaleString("en-US")} edits reads the expected text`, ok: xl.ok });
  checks.push({ what: `XS: Y.Text after the first ${XS_EDITS.toLocaleString("en-US")} edits reads the expected text`, ok: xy.ok });

  // ---- tables and targets ----
  const ms = (x: number): string => `${num(x, 1)} ms`;
  const kb = (b: number): string => `${(b / 1024).toLocaleString("en-US", { maximumFractionDigits: 1 })} KiB`;
  const lA = median(lApply);
  const yA = median(yApply);
  const lL = median(lLoad);
  const yL = median(yLoad);
  const speedup = yA / lA;
  const charTarget = 8 + 1;
  const targets: Target[] = [
    { figure: "automerge-paper: time to apply every edit", target: "≥ 5× faster than Yjs", actual: `${ms(lA)} vs ${ms(yA)} (${num(speedup, 1)}×)`, ok: speedup >= 5 },
    { figure: "automerge-paper: encoded document", target: `≤ Yjs (${yUpdate.length.toLocaleString("en-US")} bytes)`, actual: `${lBytes.length.toLocaleString("en-US")} bytes`, ok: lBytes.length <= yUpdate.length },
    { figure: "automerge-paper: loading the encoded document", target: `faster than Yjs (${ms(yL)})`, actual: ms(lL), ok: lL < yL },
    { figure: "automerge-paper: heap after a full GC", target: `≤ Yjs (${kb(yHeap)})`, actual: kb(lHeap), ok: lHeap <= yHeap },
    {
      figure: `one typed character: the update sent in a session (id "${SHORT_ID}")`,
      target: "≤ 8 bytes + the character",
      actual: `${oneShort.session! - 1} bytes + the character`,
      ok: oneShort.session! <= charTarget,
    },
    {
      figure: `one typed character: the update sent in a session (id "${MAC_ID}")`,
      target: "≤ 8 bytes + the character",
      actual: `${oneMac.session! - 1} bytes + the character`,
      ok: oneMac.session! <= charTarget,
    },
    { figure: `XS: live slots after the first ${XS_EDITS.toLocaleString("en-US")} edits`, target: `fewer than Yjs (${xy.slots.toLocaleString("en-US")})`, actual: xl.slots.toLocaleString("en-US"), ok: xl.slots < xy.slots },
  ];

  const main: Table = {
    title: `automerge-paper (${n} edits, ${endContent.length.toLocaleString("en-US")} characters at the end): Text beside Y.Text`,
    how: `Node ${process.version}, one process. Apply: every edit ([pos, delete count, text]) as delete() then insert() on a fresh document (lichen: replica "${MAC_ID}"; Yjs: getText("t"), clientID 0x${YJS_CLIENT_ID.toString(16)}); median of ${APPLY_SAMPLES} runs after 3 warm-up runs (spread = interquartile range ÷ median). Encoded: lichen toBytes() (a saved state with its replica id), Yjs Y.encodeStateAsUpdate (V1; V2 for information). Load: Text.fromBytes vs Y.applyUpdate into a new Y.Doc, median of ${LOAD_SAMPLES}. Heap: process.memoryUsage().heapUsed after full GCs (gc() exposed through v8.setFlagsFromString + vm; the stack unwound by setImmediate before each) with the document kept, minus the same before it was built; median of ${HEAP_SAMPLES} after one discarded.`,
    columns: ["figure", "lichen Text", "Yjs Y.Text", "lichen ÷ Yjs", "target", "met?"],
    rows: [
      ["apply every edit", `${ms(lA)} (spread ${num(spread(lApply) * 100, 0)}%)`, `${ms(yA)} (spread ${num(spread(yApply) * 100, 0)}%)`, num(lA / yA, 3), "≤ 0.2 (5× faster)", met(speedup >= 5)],
      ["per edit", `${num((lA * 1000) / edits.length, 2)} µs`, `${num((yA * 1000) / edits.length, 2)} µs`, "—", "—", "—"],
      ["encoded document", `${lBytes.length.toLocaleString("en-US")} bytes`, `${yUpdate.length.toLocaleString("en-US")} bytes (V2: ${yUpdateV2.length.toLocaleString("en-US")})`, num(lBytes.length / yUpdate.length, 3), "≤ 1", met(lBytes.length <= yUpdate.length)],
      ["load the encoded document", ms(lL), ms(yL), num(lL / yL, 3), "< 1", met(lL < yL)],
      ["heap after GC, built by the edits", kb(lHeap), kb(yHeap), num(lHeap / yHeap, 3), "≤ 1", met(lHeap <= yHeap)],
      ["heap after GC, loaded from bytes", kb(lHeapLoaded), kb(yHeapLoaded), num(lHeapLoaded / yHeapLoaded, 3), "—", "—"],
    ],
  };
  const oneChar: Table = {
    title: "The update sent for one typed character",
    how: `"fresh": replica A types "a", peer B ("${PEER_ID}") applies A's delta, A types "b" after it; lichen's figure is A.delta(B.version()).length. Yjs: Y.encodeStateAsUpdate(A, encodeStateVector(B)) (the same exchange) and the transaction's 'update' event (what a Yjs provider broadcasts). "In the paper": A holds the whole automerge-paper document (loaded from its bytes), B a copy, A types "x" at position 50,000 (ids near 260,000, an origin right far away). The character is 1 byte; target: ≤ 8 bytes + the character, for the delta a session sends (core/session-form.ts: in a DELTA frame, without the payload header, the sender's and receiver's ids as one-byte references; expanded back, it must give the standalone delta's very bytes). A standalone delta names the replica ids it involves, so there the id's length counts.`,
    columns: ["case", "lichen Text, standalone", "lichen Text, in a session", "Yjs (state vector)", "Yjs (update event)", "target", "met?"],
    rows: [
      [`fresh, id "${SHORT_ID}"`, `${oneShort.bytes} bytes`, `${oneShort.session} bytes`, `${yOne.sv.bytes} bytes`, `${yOne.event.bytes} bytes`, `≤ ${charTarget} bytes`, met(oneShort.session! <= charTarget)],
      [`fresh, id "${MAC_ID}"`, `${oneMac.bytes} bytes`, `${oneMac.session} bytes`, `${yOne.sv.bytes} bytes`, `${yOne.event.bytes} bytes`, `≤ ${charTarget} bytes`, met(oneMac.session! <= charTarget)],
      [`in the paper, id "${MAC_ID}"`, `${inPaper.bytes} bytes`, `${inPaper.session} bytes`, `${yInPaper.sv.bytes} bytes`, `${yInPaper.event.bytes} bytes`, "—", "—"],
    ],
  };
  const xs: Table = {
    title: `Inside XS: the first ${XS_EDITS.toLocaleString("en-US")} edits of automerge-paper`,
    how: `each library in a fresh xsnap-worker that evaluated one bundle of both (bundleForXs; Yjs with bench/xs/crypto-shim.ts) and the edits as a JSON literal; measureXs of one crank that replays the edits into a new document kept on the global: compute = the meter's executed bytecodes (minus an empty call), live slots = slots it left reachable after gc() (32 bytes on the 64-bit host, 16 on an ESP32). The text each produced is checked under Node. Deterministic.`,
    columns: ["figure", "lichen Text", "Yjs Y.Text", "lichen ÷ Yjs", "target", "met?"],
    rows: [
      ["compute", xl.compute.toLocaleString("en-US"), xy.compute.toLocaleString("en-US"), num(xl.compute / xy.compute, 3), "—", "—"],
      ["live slots after gc()", xl.slots.toLocaleString("en-US"), xy.slots.toLocaleString("en-US"), num(xl.slots / xy.slots, 4), "fewer", met(xl.slots < xy.slots)],
      ["… on an ESP32 (16 bytes a slot)", kb(xl.slots * 16), kb(xy.slots * 16), "—", "—", "—"],
    ],
  };
  return {
    section: {
      title: "Sequences: Text beside Y.Text (automerge-paper trace)",
      tables: [main, oneChar, xs],
      targets,
      notes:
        "Timings vary with the machine and its load; byte counts and the XS meter do not. " +
        `lichen's document: ${lDoc.length.toLocaleString("en-US")} visible characters, version ${lDoc.version().get(MAC_ID).toLocaleString("en-US")} (one counter per inserted and per deleted character).`,
    },
    checks,
  };
}
