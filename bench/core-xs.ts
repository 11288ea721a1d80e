// Section 2: inside XS. bench/xs/entry.ts (lichen's core and Yjs) is bundled with the tests' own
// bundler and evaluated in xsnap-worker; each case then runs in a fresh worker and is measured with
// the XS meter (measureXs): compute (executed bytecodes, deterministic) and live slots after gc().
// The figures do not change from run to run, so each is measured once.

import { fileURLToPath } from "node:url";
import { bundleForXs } from "../sim/xs/bundle.js";
import { measureXs, XsWorker } from "../sim/xs/worker.js";
import * as Y from "yjs";
import { GCounter, LWWMap, LWWRegister, ORSet } from "../src/core/index.js";
import { type Check, met, num, type Section, type Table, type Target } from "./report.js";

const ENTRY = fileURLToPath(new URL("./xs/entry.ts", import.meta.url));
const WARMUP_OPS = 10;
const COMPUTE_OPS = 1000;
const SLOT_OPS = 200;
/** Bytes of one slot on an ESP32 (32 on the 64-bit host). */
const ESP32_SLOT_BYTES = 16;

interface XsFigures {
  /** Compute per operation, net of the same loop with an empty body. */
  compute: number;
  /** Live slots retained per operation. */
  slots: number;
  /** The case's final state, checked under Node. */
  check: Check;
}

/** Operations each case made in all: warm-up and the two measured cranks. */
const TOTAL_OPS = WARMUP_OPS + COMPUTE_OPS + SLOT_OPS;

/** What each case's final state (encoded inside XS) must read as under Node. */
const EXPECT: Record<string, { what: string; read: (bytes: Uint8Array) => unknown; value: unknown }> = {
  "GCounter.increment()": { what: "value()", value: 1 + TOTAL_OPS, read: (b) => applied(new GCounter("host"), b).value() },
  "LWWRegister.set(42)": { what: "value()", value: 42, read: (b) => applied(new LWWRegister("host"), b).value() },
  "LWWMap.set(new key, number)": { what: "size", value: TOTAL_OPS, read: (b) => applied(new LWWMap("host"), b).size },
  "LWWMap.set(existing key, number)": { what: "size", value: 200, read: (b) => applied(new LWWMap("host"), b).size },
  "ORSet.add(new element)": { what: "size", value: TOTAL_OPS, read: (b) => applied(new ORSet("host"), b).size },
  "Y.Map.set(new key, number)": { what: "Y.Map size", value: TOTAL_OPS, read: (b) => yMapSize(b) },
  "Y.Map.set(existing key, number)": { what: "Y.Map size", value: 200, read: (b) => yMapSize(b) },
};

function applied<C extends { applyDelta(b: Uint8Array): void }>(c: C, bytes: Uint8Array): C {
  c.applyDelta(bytes);
  return c;
}

function yMapSize(bytes: Uint8Array): number {
  const d = new Y.Doc();
  Y.applyUpdate(d, bytes);
  return d.getMap("m").size;
}

function checkState(name: string, bytes: Uint8Array): Check {
  const e = EXPECT[name];
  const what = `XS ${name}: the state made inside XS, applied under Node, has ${e.what} ${JSON.stringify(e.value)}`;
  try {
    const got = e.read(bytes);
    return { what: got === e.value ? what : `${what} (got ${JSON.stringify(got)})`, ok: got === e.value };
  } catch (err) {
    return { what: `${what} (threw ${(err as Error).message})`, ok: false };
  }
}

async function measureCase(code: string, name: string): Promise<XsFigures> {
  const worker = await XsWorker.start({ name: `lichen-bench ${name}` });
  try {
    await worker.evaluate(code);
    const call = (fn: string, ...args: unknown[]): string => `bench.${fn}(${[name, ...args].map((a) => JSON.stringify(a)).join(", ")})`;
    await worker.evaluate(call("prepare"));
    await worker.evaluate(call("run", WARMUP_OPS));
    const loop = await measureXs(worker, `bench.run("empty", ${COMPUTE_OPS})`);
    const compute = await measureXs(worker, call("run", COMPUTE_OPS));
    const slots = await measureXs(worker, call("run", SLOT_OPS));
    const state = await worker.evaluate(call("bytes"));
    return { compute: (compute.compute - loop.compute) / COMPUTE_OPS, slots: slots.liveSlots / SLOT_OPS, check: checkState(name, state.reply) };
  } finally {
    await worker.close().catch(() => worker.kill());
  }
}

export async function xsSection(): Promise<{ section: Section; checks: Check[] }> {
  const bundle = await bundleForXs(`import ${JSON.stringify(ENTRY)};`);
  const names = [
    "GCounter.increment()",
    "LWWRegister.set(42)",
    "LWWMap.set(new key, number)",
    "LWWMap.set(existing key, number)",
    "ORSet.add(new element)",
    "Y.Map.set(new key, number)",
    "Y.Map.set(existing key, number)",
  ];
  const fig = new Map<string, XsFigures>();
  for (const n of names) fig.set(n, await measureCase(bundle.code, n));
  const f = (n: string): XsFigures => fig.get(n)!;

  const targets: Record<string, { text: string; ok: boolean } | undefined> = {
    "GCounter.increment()": { text: "0 (steady state)", ok: f("GCounter.increment()").slots === 0 },
    "LWWRegister.set(42)": { text: "0 (steady state)", ok: f("LWWRegister.set(42)").slots === 0 },
    "LWWMap.set(new key, number)": {
      text: `fewer than Y.Map (${num(f("Y.Map.set(new key, number)").slots)})`,
      ok: f("LWWMap.set(new key, number)").slots < f("Y.Map.set(new key, number)").slots,
    },
    "LWWMap.set(existing key, number)": {
      text: `fewer than Y.Map (${num(f("Y.Map.set(existing key, number)").slots)})`,
      ok: f("LWWMap.set(existing key, number)").slots < f("Y.Map.set(existing key, number)").slots,
    },
  };

  const perOp: Table = {
    title: "XS meter: compute and live slots per operation",
    how: `each case runs in a fresh xsnap-worker that evaluated the bundle of bench/xs/entry.ts (lichen's core and Yjs, bundled by sim/xs/bundle.ts; Yjs gets a crypto.getRandomValues shim). The case's state is built (replica "a4cf12b3c4d5", an HLC on a fixed wall time), ${WARMUP_OPS} operations warm it up, then two cranks are measured with measureXs: ${COMPUTE_OPS} operations for compute (the meter's count of executed bytecodes, minus the same loop with an empty body, ÷ ${COMPUTE_OPS}), and ${SLOT_OPS} more for live slots (live slots after gc() minus before, ÷ ${SLOT_OPS}). "New key" cases insert fresh keys "k0".."k1209" (strings built beforehand); "existing key" cases overwrite the 200 keys the state already holds. Deterministic: measured once.`,
    columns: ["operation", "compute per op", "live slots retained per op", `bytes on an ESP32 (${ESP32_SLOT_BYTES} per slot)`, "target (slots)", "met?"],
    rows: names.map((n) => {
      const t = targets[n];
      return [n, num(f(n).compute, 1), num(f(n).slots, 2), num(f(n).slots * ESP32_SLOT_BYTES, 0), t?.text ?? "—", t ? met(t.ok) : "—"];
    }),
  };

  const entry = f("LWWMap.set(new key, number)").slots;
  const yEntry = f("Y.Map.set(new key, number)").slots;
  const over = f("LWWMap.set(existing key, number)").slots;
  const yOver = f("Y.Map.set(existing key, number)").slots;
  const vs: Table = {
    title: "XS: an LWWMap entry beside a Y.Map entry",
    how: "from the table above. The device's whole VM has 4,928 slots by default (Moddable's creation for an ESP32 without PSRAM).",
    columns: ["figure", "LWWMap", "Y.Map", "target", "met?"],
    rows: [
      ["live slots per entry (new key)", num(entry, 2), num(yEntry, 2), "fewer", met(entry < yEntry)],
      ["live slots left per overwrite", num(over, 2), num(yOver, 2), "fewer", met(over < yOver)],
      ["compute per set, new key", num(f("LWWMap.set(new key, number)").compute, 1), num(f("Y.Map.set(new key, number)").compute, 1), "—", "—"],
      ["compute per set, existing key", num(f("LWWMap.set(existing key, number)").compute, 1), num(f("Y.Map.set(existing key, number)").compute, 1), "—", "—"],
      ["entries in 1,000 slots", Math.floor(1000 / entry), Math.floor(1000 / yEntry), "—", "—"],
    ],
  };
  return {
    section: {
      title: "2. Inside XS (xsnap-worker, the XS meter; deterministic)",
      tables: [perOp, vs],
      targets: Object.entries(targets).map(
        ([n, t]): Target => ({ figure: `XS: live slots retained per ${n}`, target: t!.text, actual: num(f(n).slots, 2), ok: t!.ok }),
      ),
    },
    checks: names.map((n) => f(n).check),
  };
}
