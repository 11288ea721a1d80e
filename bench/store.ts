// Section 4, the store: flash writes per CRDT operation under each coalescing policy (StateStore
// over FlashKv over the NVS simulation, FlashSim), SQLite ingest of merged deltas on the gateway
// (bench/sqlite-ingest.ts), and the live slots of an open FlashKv and a StateStore inside XS.
// The flash figures are counted, not timed: deterministic (the HLC and the store's clock read a
// wall clock moved by hand). The SQLite figures are wall-clock and vary.

import { stateKey, statePrefix } from "../src/store/keys.js";
import { fileURLToPath } from "node:url";
import { bundleForXs } from "../sim/xs/bundle.js";
import { measureXs, type XsMeasurement, XsWorker } from "../sim/xs/worker.js";
import { type Crdt, GCounter, LWWMap } from "../src/core/index.js";
import type { FlashDriver } from "../src/store/flash-driver.js";
import { FlashKv } from "../src/store/flash-kv.js";
import { FlashSim } from "../src/store/flash-sim.js";
import { type CoalescePolicy, DEVICE_COALESCING, StateStore, WRITE_THROUGH } from "../src/store/state-store.js";
import { MAC_ID, ManualWall } from "./fixtures.js";
import { type Check, met, num, type Section, type Table, type Target } from "./report.js";
import { benchSqliteIngest } from "./sqlite-ingest.js";

// ---- flash writes per operation ----

const OPS = 1000;
/** Time between two operations in the main table: a sensor sampling at 10 Hz. */
const OP_MS = 100;
const MAP_KEYS = 20;
const BURST = 100;
/** Time between two operations of the burst. */
const BURST_OP_MS = 1;
const NS = "sensors";

interface Policy {
  label: string;
  policy: CoalescePolicy;
}

const POLICIES: Policy[] = [
  { label: "write-through {1, 0} (WRITE_THROUGH)", policy: WRITE_THROUGH },
  { label: "{10, 5000}", policy: { maxOps: 10, maxDelayMs: 5000 } },
  { label: "{100, 5000} (DEVICE_COALESCING, the device default)", policy: DEVICE_COALESCING },
  { label: "time only {1e9, 1000}", policy: { maxOps: 1e9, maxDelayMs: 1000 } },
];

/** What a power cut can lose under a policy: the rule of state-store.ts's comment, applied. */
function lossRule(p: CoalescePolicy): string {
  if (p.maxOps === 1) return "nothing: every save() is written before it returns";
  const count = p.maxOps >= 1e6 ? `at most ${num(p.maxOps - 1)} operations (no limit in practice)` : `at most ${num(p.maxOps - 1)} operations`;
  return `${count}, none older than ${num(p.maxDelayMs)} ms (plus the tick period)`;
}

/** NVS's accounting, as FlashSim's capacity: 32 bytes of header plus the value in 32-byte entries. */
function nvsEntryBytes(length: number): number {
  return 32 + Math.ceil(length / 32) * 32;
}

/** A FlashDriver between FlashKv and FlashSim that adds up the NVS entry bytes of every write. */
class NvsMeter implements FlashDriver {
  entryBytes = 0;
  constructor(readonly sim: FlashSim) {}
  get maxKeyLength(): number {
    return this.sim.maxKeyLength;
  }
  get maxValueBytes(): number {
    return this.sim.maxValueBytes;
  }
  get(key: string): Uint8Array | undefined {
    return this.sim.get(key);
  }
  set(key: string, value: Uint8Array): void {
    this.sim.set(key, value);
    this.entryBytes += nvsEntryBytes(value.length);
  }
  delete(key: string): void {
    this.sim.delete(key);
  }
  keys(): string[] {
    return this.sim.keys();
  }
}

type Kind = "GCounter" | "LWWMap";

interface Subject {
  crdt: Crdt;
  /** Operation i (0-based). */
  op(i: number): void;
  /** How many operations the stored bytes hold (each operation writes a larger number than the last). */
  durable(bytes: Uint8Array | undefined): number;
  /** The stored state equals the live one. */
  same(bytes: Uint8Array | undefined): boolean;
}

function subject(kind: Kind, wall: ManualWall): Subject {
  if (kind === "GCounter") {
    const c = new GCounter(MAC_ID, { clock: wall.hlc() });
    return {
      crdt: c,
      op: () => c.increment(),
      durable: (b) => (b === undefined ? 0 : GCounter.fromBytes(b, MAC_ID).value()),
      same: (b) => b !== undefined && GCounter.fromBytes(b, MAC_ID).equals(c),
    };
  }
  const m = new LWWMap<number>(MAC_ID, { clock: wall.hlc() });
  return {
    crdt: m,
    // key i mod 20 gets the value i: the largest value stored tells how many operations are durable
    op: (i) => m.set(`k${i % MAP_KEYS}`, i),
    durable: (b) => (b === undefined ? 0 : Math.max(-1, ...Object.values(LWWMap.fromBytes<number>(b, MAC_ID).value())) + 1),
    same: (b) => b !== undefined && LWWMap.fromBytes(b, MAC_ID).equals(m),
  };
}

interface FlashRun {
  kind: Kind;
  policy: Policy;
  ops: number;
  writes: number;
  deletes: number;
  bytesWritten: number;
  bytesErased: number;
  nvsBytes: number;
  /** Size of the stored state (the CRDT's bytes) at the end. */
  stateBytes: number;
  /** After any operation, the most operations not yet on flash (what a cut at that moment loses). */
  worstLost: number;
  /** After any operation, the age of the oldest operation not yet on flash, ms. */
  worstAgeMs: number;
  /** The flash, reopened after the final tick, holds the live state. */
  restored: boolean;
}

/**
 * `ops` operations on one entity, `opMs` apart, each followed by save(); after each one the flash is
 * read (reads are not counted) to see how many operations it holds. Then the app's timer ticks once,
 * maxDelayMs later, so that everything is on flash, and the flash is reopened by a fresh FlashKv.
 */
function flashRun(kind: Kind, policy: Policy, ops: number, opMs: number): FlashRun {
  const wall = new ManualWall();
  const sim = new FlashSim();
  const meter = new NvsMeter(sim);
  const kv = FlashKv.open(meter);
  const states = new StateStore(kv, { coalesce: policy.policy, now: wall.read });
  const s = subject(kind, wall);
  const key = stateKey(NS, MAC_ID);
  sim.resetStats();
  let worstLost = 0;
  let worstAgeMs = 0;
  for (let i = 0; i < ops; i++) {
    if (i > 0) wall.advance(opMs);
    s.op(i);
    states.save(NS, MAC_ID, s.crdt);
    const durable = s.durable(kv.get(key));
    const lost = i + 1 - durable;
    worstLost = Math.max(worstLost, lost);
    if (lost > 0) worstAgeMs = Math.max(worstAgeMs, (i - durable) * opMs);
  }
  wall.advance(policy.policy.maxDelayMs);
  states.tick();
  const st = sim.stats;
  const stored = kv.get(key);
  const reopened = FlashKv.open(sim.clone()).get(key);
  return {
    kind,
    policy,
    ops,
    writes: st.writes,
    deletes: st.deletes,
    bytesWritten: st.bytesWritten,
    bytesErased: st.bytesErased,
    nvsBytes: meter.entryBytes,
    stateBytes: s.crdt.toBytes().length,
    worstLost,
    worstAgeMs,
    restored: s.same(stored) && s.same(reopened) && states.pendingOps === 0,
  };
}

function lossOk(r: FlashRun): boolean {
  const p = r.policy.policy;
  if (p.maxOps === 1) return r.worstLost === 0;
  return r.worstLost <= p.maxOps - 1 && r.worstAgeMs < p.maxDelayMs;
}

function flashSection(): { tables: Table[]; targets: Target[]; checks: Check[]; note: string } {
  const runs: FlashRun[] = [];
  for (const kind of ["GCounter", "LWWMap"] as const) for (const p of POLICIES) runs.push(flashRun(kind, p, OPS, OP_MS));
  const bursts = POLICIES.map((p) => flashRun("GCounter", p, BURST, BURST_OP_MS));

  const perOp: Table = {
    title: `Flash cost per CRDT operation, by coalescing policy (${num(OPS)} operations, ${OP_MS} ms apart)`,
    how: `one entity (key "${stateKey(NS, MAC_ID)}") in a StateStore over FlashKv over FlashSim (1 MiB, NVS limits). GCounter: ${num(OPS)} × increment(); LWWMap: ${num(OPS)} × set("k<i mod ${MAP_KEYS}>", i) (${MAP_KEYS} keys, overwritten). Each operation is followed by save(); the store's clock and the HLC read a wall clock advanced by hand, ${OP_MS} ms per operation; after the last one the app's tick() runs once, maxDelayMs later, so that every operation is on flash (its write is counted). Writes, bytes written and bytes erased (the old value an overwrite replaces) are FlashSim's counters (value bytes); "NVS entry bytes" rounds every write up as NVS stores it (a 32-byte header plus 32-byte entries). The state's head fits one flash value, so a flush of one entity is one write. "Worst loss seen": after every operation the flash was read to count the operations it holds; the largest shortfall (and the age of the oldest missing operation) is what a power cut at the worst moment would have lost. The clock reservation a SyncEngine adds (c/clock, one small write per span of wall time, clock-store.ts) is not included. Deterministic.`,
    columns: [
      "CRDT",
      "policy {maxOps, maxDelayMs}",
      "flash writes per op",
      "bytes written per op",
      "bytes erased per op",
      "NVS entry bytes per op",
      "flash writes in all",
      "state bytes",
      "worst loss seen (ops, age)",
      "what a power cut can lose (state-store.ts)",
    ],
    rows: runs.map((r) => [
      r.kind === "GCounter" ? "GCounter" : `LWWMap (${MAP_KEYS} keys)`,
      r.policy.label,
      num(r.writes / r.ops, 3),
      num(r.bytesWritten / r.ops, 1),
      num(r.bytesErased / r.ops, 1),
      num(r.nvsBytes / r.ops, 1),
      num(r.writes),
      num(r.stateBytes),
      r.worstLost === 0 ? "0" : `${num(r.worstLost)} ops, ${num(r.worstAgeMs)} ms`,
      lossRule(r.policy.policy),
    ]),
  };

  const deviceBurst = bursts.find((b) => b.policy.policy === DEVICE_COALESCING)!;
  const burst: Table = {
    title: `A burst of ${BURST} counter increments`,
    how: `the issue's requirement: "A burst of 100 counter increments must not cost 100 flash writes". ${BURST} × GCounter.increment() + save(), ${BURST_OP_MS} ms apart, through the same stack as above; then tick() maxDelayMs later. Flash writes counted by FlashSim, from the first increment until all ${BURST} are on flash.`,
    columns: ["policy {maxOps, maxDelayMs}", "flash writes", "bytes written", "worst loss seen (ops)", "target", "met?"],
    rows: bursts.map((b) => {
      const device = b === deviceBurst;
      return [b.policy.label, num(b.writes), num(b.bytesWritten), num(b.worstLost), device ? `fewer than ${BURST}` : "—", device ? met(b.writes < BURST) : "—"];
    }),
  };

  const targets: Target[] = [
    {
      figure: `Store: flash writes for a burst of ${BURST} counter increments (device default {100, 5000})`,
      target: `fewer than ${BURST}`,
      actual: num(deviceBurst.writes),
      ok: deviceBurst.writes < BURST,
    },
  ];
  const checks: Check[] = [...runs, ...bursts].map((r) => ({
    what: `Store ${r.kind} × ${r.ops}, ${r.policy.label}: after the final tick the flash (and a fresh FlashKv on a copy of it) holds the live state; the worst loss seen keeps the policy's rule`,
    ok: r.restored && lossOk(r),
  }));
  const device = runs.find((r) => r.kind === "GCounter" && r.policy.policy === DEVICE_COALESCING)!;
  const note = `At ${OP_MS} ms per operation (10 Hz) the device default's ${num(DEVICE_COALESCING.maxDelayMs)} ms limit fires before its ${DEVICE_COALESCING.maxOps}-operation limit: ${num(device.writes)} writes for ${num(device.ops)} operations (one per ${num(device.ops / device.writes, 0)}), and a power cut at the worst moment loses ${num(device.worstLost)} operations, the oldest ${num(device.worstAgeMs)} ms old. The burst table shows the ${DEVICE_COALESCING.maxOps}-operation limit: ${BURST} increments ${BURST_OP_MS} ms apart cost ${num(deviceBurst.writes)} write(s).`;
  return { tables: [perOp, burst], targets, checks, note };
}

// ---- SQLite ingest ----

async function sqliteTable(): Promise<Table> {
  const results = await benchSqliteIngest();
  const r0 = results[0];
  return {
    title: "Gateway: SQLite ingest of merged deltas",
    how: `bench/sqlite-ingest.ts: ${num(r0?.rows ?? 0)} LWWMap entities (one per node), ${num(r0?.deltas ?? 0)} small deltas (one field set each) made beforehand. Timed: the gateway applies each delta to its copy of the entity, and after every "batch size" deltas writes every entity they touched in ONE SqliteKv.batch (the state's bytes, plus its JSON row in lichen_entities and a lichen_changes row: one transaction). Each configuration starts from a fresh database file in os.tmpdir() (this machine's disk, not a Pi's SD card) after an untimed warm-up. Wall-clock: varies from run to run.`,
    columns: ["synchronous", "entity rows", "batch size (deltas per transaction)", "deltas", "seconds", "deltas/s"],
    rows: results.map((r) => [r.synchronous, num(r.rows), num(r.batchSize), num(r.deltas), num(r.seconds, 2), num(r.deltasPerSecond)]),
  };
}

// ---- inside XS ----

const XS_ENTRY = fileURLToPath(new URL("./xs/store-entry.ts", import.meta.url));
const XS_ENTITIES = 200;
const XS_LOADED = 10;
const ESP32_SLOT_BYTES = 16;

interface XsStoreFigures {
  fill: XsMeasurement;
  open: XsMeasurement;
  get: XsMeasurement;
  states: XsMeasurement;
  load: XsMeasurement;
  save: XsMeasurement;
  flush: XsMeasurement;
  check: Check;
}

async function xsStore(): Promise<XsStoreFigures> {
  const bundle = await bundleForXs(`import ${JSON.stringify(XS_ENTRY)};`);
  const worker = await XsWorker.start({ name: "lichen-bench store" });
  try {
    await worker.evaluate(bundle.code);
    await worker.evaluate(`storeBench.ids(${XS_ENTITIES})`);
    // a first fill and open initialise what a first use does (the codec's encoder, ...): not counted
    await worker.evaluate(`storeBench.fill(${XS_ENTITIES})`);
    await worker.evaluate("storeBench.warm()");
    await worker.evaluate("storeBench.drop()");
    const fill = await measureXs(worker, `storeBench.fill(${XS_ENTITIES})`);
    await worker.evaluate("storeBench.warm()");
    const open = await measureXs(worker, "storeBench.open()");
    await worker.evaluate(`storeBench.get(${XS_ENTITIES - 1})`);
    const get = await measureXs(worker, `storeBench.get(${XS_ENTITIES - 1})`);
    const states = await measureXs(worker, "storeBench.states()");
    const load = await measureXs(worker, `storeBench.load(${XS_LOADED})`);
    const save = await measureXs(worker, "storeBench.save()");
    const flush = await measureXs(worker, "storeBench.flush()");
    const reply = await worker.evaluate(`storeBench.check(${XS_ENTITIES})`);
    const got = JSON.parse(new TextDecoder().decode(reply.reply)) as {
      keys: number;
      listed: number;
      evenValue: number;
      oddTemp: number;
      pending: number;
      flashCheck: { keys: number; corrupt: string[]; orphans: string[]; missing: string[]; journal: boolean };
    };
    const fc = got.flashCheck;
    const ok =
      got.keys === XS_ENTITIES &&
      got.listed === XS_ENTITIES &&
      got.evenValue === XS_ENTITIES - 1 &&
      got.oddTemp === 20 + (XS_ENTITIES - 1) / 10 &&
      got.pending === 0 &&
      fc.keys === XS_ENTITIES &&
      fc.corrupt.length + fc.orphans.length + fc.missing.length === 0 &&
      !fc.journal;
    return {
      fill,
      open,
      get,
      states,
      load,
      save,
      flush,
      check: {
        what: `XS store: the open FlashKv lists ${XS_ENTITIES} keys, the StateStore loads entity e${XS_ENTITIES - 2} (GCounter ${XS_ENTITIES - 1}) and e${XS_ENTITIES - 1} (LWWMap), nothing is pending after flush(), FlashKv.check() finds no damage${ok ? "" : ` (got ${JSON.stringify(got)})`}`,
        ok,
      },
    };
  } finally {
    await worker.close().catch(() => worker.kill());
  }
}

function xsTable(f: XsStoreFigures): Table {
  const row = (what: string, m: XsMeasurement, per = 1, note = ""): (string | number)[] => [
    what,
    num(m.liveSlots / per, per === 1 ? 0 : 1),
    num((m.liveSlots / per) * ESP32_SLOT_BYTES, 0),
    num(m.compute / per, 0),
    note,
  ];
  return {
    title: `Inside XS: an open FlashKv holding ${XS_ENTITIES} entities, and a StateStore over it`,
    how: `bench/xs/store-entry.ts bundled (sim/xs/bundle.ts) and run in one xsnap-worker; each step is one crank measured with measureXs: live slots retained after gc() (minus the measurement's own drift) and compute (executed bytecodes). The ${XS_ENTITIES} entities are small CRDT states (even ids: a GCounter, odd ids: an LWWMap {temp, hum}), put under "${statePrefix("sensors")}e<i>" through a FlashKv that is then dropped. A first fill and a first open run untimed before the measured ones, so that one-time initialisation is not counted. The simulated flash's own slots (a JavaScript Map of the values: flash, not RAM, on a device) are shown apart; the store's figures are what the open store adds on top. ESP32 bytes at ${ESP32_SLOT_BYTES} per slot (chunks such as string bodies and ArrayBuffer bytes are not slots). Deterministic: measured once.`,
    columns: ["step", "live slots retained", `≈ bytes on an ESP32 (${ESP32_SLOT_BYTES}/slot)`, "compute", "note"],
    rows: [
      row(`FlashSim holding ${XS_ENTITIES} entities (the simulated flash itself)`, f.fill, 1, "not RAM on a device (NVS); compute includes building the 200 states and the FlashKv puts"),
      row(`FlashKv.open(flash) with ${XS_ENTITIES} entities: the open store`, f.open, 1, "compute: the recovery scan reads every head"),
      row("FlashKv.get(one key), result dropped", f.get, 1, "reads one head"),
      row("new StateStore(kv, DEVICE_COALESCING), idle", f.states, 1, ""),
      row(`StateStore.load() of ${XS_LOADED} entities, kept: per entity`, f.load, XS_LOADED, "the loaded CRDT objects themselves"),
      row(`StateStore.save() of those ${XS_LOADED}, pending: per entity`, f.save, XS_LOADED, "the dirty map's entries"),
      row(`StateStore.flush() of the ${XS_LOADED} pending`, f.flush, 1, "one batch over several buckets (journal + heads); frees the dirty entries"),
    ],
  };
}

export async function storeSection(progress: (text: string) => void = () => {}): Promise<{ section: Section; checks: Check[] }> {
  progress("store: flash writes per operation");
  const flash = flashSection();
  progress("store: SQLite ingest (about ten seconds)");
  const sqlite = await sqliteTable();
  progress("store: inside XS");
  const xs = await xsStore();
  const targets: Target[] = [
    ...flash.targets,
    {
      figure: `XS: live slots of an open FlashKv holding ${XS_ENTITIES} entities`,
      target: "a handful, whatever it holds (flash-kv.ts: nothing cached)",
      actual: num(xs.open.liveSlots),
      ok: xs.open.liveSlots < 50,
    },
  ];
  return {
    section: {
      title: "4. Store: flash writes, SQLite ingest, the store inside XS",
      tables: [...flash.tables, sqlite, xsTable(xs)],
      targets,
      notes: [
        flash.note,
        "Bytes written per write are more than the state's bytes: each write is the entity's FlashKv head record (the logical key, the CBOR record header and a 4-byte checksum around the state), and an overwrite erases the previous head (bytes erased).",
        'A "handful" of slots (flash-kv.ts: "An open FlashKv keeps a handful of slots however many keys it holds") is read as fewer than 50 for the target above. The flash tables and the XS table are deterministic; the SQLite table is wall-clock.',
      ].join("\n\n"),
    },
    checks: [...flash.checks, xs.check],
  };
}
