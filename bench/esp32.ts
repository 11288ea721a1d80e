// Section: the ESP32 firmware's memory, inside XS. The node app (targets/esp32/node-app.ts) runs in
// an xsnap-worker on the stand-ins of sim/esp32/memory-scenario.ts (the scenario the
// firmware's memory test asserts), and takes 1,000 samples while no gateway is reachable. Each step
// is one crank metered with measureXs: live slots after gc(), the exact count, deterministic.
//
// Chunks (string bodies, ArrayBuffer bytes, array and Map storage) are not slots: the stock
// xsnap-worker reports only the bytes it reserved from the OS (32 MiB at start). A build of the
// same xsnap-worker whose meter JSON also carries XS's `currentChunksSize` (one line added to
// fxWriteOkay in xsnap-worker.c; after gc() the count is the live chunks' bytes) is used for a
// second pass when LICHEN_XSNAP_CHUNKS names its binary; otherwise the chunk column says n/a.
// The host is 64-bit: chunks of slot arrays and pointer tables are about twice their ESP32 size.

import { fileURLToPath } from "node:url";
import { handleFlashOp } from "../sim/esp32/flash-host.js";
import type { ScenarioNetwork } from "../sim/esp32/memory-scenario.js";
import { moddableShimsPlugin } from "../sim/moddable/shims.js";
import { bundleForXs } from "../sim/xs/bundle.js";
import { jsonCommandHandler, measureXs, XsWorker } from "../sim/xs/worker.js";
import { FlashSim } from "../src/store/flash-sim.js";
import { met, num, type Section, type Table, type Target } from "./report.js";

const ENTRY = fileURLToPath(new URL("./xs/esp32-entry.ts", import.meta.url));
/** Moddable's default creation for an ESP32 without PSRAM. */
const SLOTS = 4928;
const CHUNK_BYTES = 78_848;
const SLOT_BUDGET = SLOTS / 2;
const CHUNK_BUDGET = CHUNK_BYTES / 2;
const ESP32_SLOT_BYTES = 16;

interface Step {
  label: string;
  /** Unacknowledged samples held after it. */
  unacked: number;
  code: string;
}

const STEPS: readonly Step[] = [
  { label: "createNodeApp (nothing started)", unacked: 0, code: "" },
  { label: "started: flash opened, MQTT up, gateway met and gone", unacked: 0, code: "esp32Bench.boot()" },
  { label: "1 sample", unacked: 1, code: "esp32Bench.samples(1)" },
  { label: "100 samples", unacked: 100, code: "esp32Bench.samples(99)" },
  { label: "1,000 samples", unacked: 1000, code: "esp32Bench.samples(900)" },
  { label: "2,000 samples", unacked: 2000, code: "esp32Bench.samples(1000)" },
];

interface Row {
  label: string;
  unacked: number;
  slots: number;
  chunks: number | undefined;
}

interface Pass {
  rows: Row[];
  status: { counted: number; pendingOps: number; stats: { connects: number; published: number } };
  flash: { writes: number; bytesWritten: number; usedBytes: number; keys: number };
}

async function pass(code: string, network: ScenarioNetwork, bin: string | undefined): Promise<Pass> {
  const flash = new FlashSim({ capacityBytes: 16_384 });
  const saved = process.env.XSNAP_WORKER;
  if (bin !== undefined) process.env.XSNAP_WORKER = bin;
  let worker: XsWorker;
  try {
    worker = await XsWorker.start({ name: `lichen-bench esp32 ${network}`, onCommand: jsonCommandHandler((m) => handleFlashOp(flash, m as { op: string })) });
  } finally {
    if (bin !== undefined) {
      if (saved === undefined) delete process.env.XSNAP_WORKER;
      else process.env.XSNAP_WORKER = saved;
    }
  }
  try {
    await worker.evaluate(code);
    const chunksNow = async (): Promise<number | undefined> => (await worker.evaluate("gc()")).meter.chunks;
    const chunks0 = await chunksNow();
    const rows: Row[] = [];
    let slots = 0;
    for (const step of STEPS) {
      const m = await measureXs(worker, step.code === "" ? `esp32Bench.create(${JSON.stringify(network)})` : step.code);
      slots += m.liveSlots;
      const c = await chunksNow();
      rows.push({ label: step.label, unacked: step.unacked, slots, chunks: c === undefined || chunks0 === undefined ? undefined : c - chunks0 });
    }
    const st = await worker.evaluate("esp32Bench.status()");
    const status = JSON.parse(new TextDecoder().decode(st.reply)) as Pass["status"];
    return { rows, status, flash: handleFlashOp(flash, { op: "flash-stats" }) as Pass["flash"] };
  } finally {
    await worker.close().catch(() => worker.kill());
  }
}

export async function esp32Section(): Promise<Section> {
  const bundle = await bundleForXs(`import ${JSON.stringify(ENTRY)};`, { plugins: [moddableShimsPlugin] });
  const chunksBin = process.env.LICHEN_XSNAP_CHUNKS || undefined;
  const networks: ScenarioNetwork[] = ["gateway-gone", "no-broker"];
  const results = new Map<ScenarioNetwork, Pass>();
  const chunkRows = new Map<ScenarioNetwork, Row[]>();
  for (const n of networks) {
    results.set(n, await pass(bundle.code, n, undefined));
    if (chunksBin !== undefined) chunkRows.set(n, (await pass(bundle.code, n, chunksBin)).rows);
  }

  const describe: Record<ScenarioNetwork, string> = {
    "gateway-gone": "broker up, gateway gone",
    "no-broker": "no broker (reconnecting)",
  };
  const rows: Array<Array<string | number>> = [];
  for (const n of networks) {
    const p = results.get(n)!;
    const chunks = chunkRows.get(n);
    p.rows.forEach((r, i) => {
      const c = chunks?.[i]?.chunks;
      rows.push([
        describe[n],
        r.label,
        num(r.slots),
        num(r.slots * ESP32_SLOT_BYTES),
        `${num((100 * r.slots) / SLOTS, 1)} %`,
        c === undefined ? "n/a" : num(c),
      ]);
    });
  }
  const at1000 = (n: ScenarioNetwork): Row => results.get(n)!.rows.find((r) => r.unacked === 1000)!;
  const worstSlots = Math.max(...networks.map((n) => at1000(n).slots));
  const chunkFigures = networks.map((n) => chunkRows.get(n)?.find((r) => r.unacked === 1000)?.chunks).filter((c): c is number => c !== undefined);
  const worstChunks = chunkFigures.length > 0 ? Math.max(...chunkFigures) : undefined;

  const memory: Table = {
    title: "ESP32 node inside XS: live memory while holding unacknowledged changes",
    how: `bench/xs/esp32-entry.ts bundled with sim/esp32/memory-scenario.ts and the firmware's node app (targets/esp32/node-app.ts) and the library under it, evaluated in one xsnap-worker per scenario; each step is a crank metered with measureXs (live slots after gc() minus before, minus the measurement's drift), cumulated from before createNodeApp: the app and everything it keeps, the scenario's stand-ins included (a manual Timer, a fake MQTT Client, a flash proxy: the flash itself is a FlashSim on the host, since on the device it is NVS, not RAM). Interval 10 s, 2 readings per sample (SimulatedSensor, seed 1), threshold temperature:30, DEVICE_COALESCING. "gateway gone": the gateway's presence came and went; each sample is then a counter increment, the readings that changed and the alarm changes, none acknowledged. "no broker": every connection fails after 3 s and the node reconnects with backoff (up to 60 s). ESP32 bytes at ${ESP32_SLOT_BYTES} per slot; % of the ${num(SLOTS)} slots of Moddable's default ESP32 creation. Chunk bytes: ${chunksBin === undefined ? "n/a: the stock xsnap-worker does not report them (set LICHEN_XSNAP_CHUNKS to an xsnap-worker built to report currentChunksSize, see bench/esp32.ts)" : `live chunk bytes after gc() minus before createNodeApp, from a second pass on the xsnap-worker named by LICHEN_XSNAP_CHUNKS (the same XS, built to report its currentChunksSize); 64-bit host sizes: slot arrays and pointer tables are about twice their ESP32 size, byte buffers the same`}. Deterministic: measured once.`,
    columns: ["scenario", "after", "live slots", "bytes on an ESP32", "of the slot heap", "chunk bytes (host)"],
    rows,
  };

  const flashRows: Array<Array<string | number>> = [];
  for (const n of networks) {
    const p = results.get(n)!;
    flashRows.push([
      describe[n],
      num(p.status.counted),
      num(p.flash.writes),
      num(p.flash.writes / p.status.counted, 2),
      num(p.flash.bytesWritten),
      num(p.flash.usedBytes),
      num(p.status.stats.connects),
      num(p.status.stats.published),
    ]);
  }
  const flash: Table = {
    title: "ESP32 node: flash and network over the same 2,001 samples",
    how: "the FlashSim behind the scenario's flash (NVS's limits; an entry costs 32 bytes plus its value rounded up to 32): writes and deletes (NVS operations), value bytes written, bytes in use at the end. With a sample every 10 s, DEVICE_COALESCING (100 operations or 5 s) writes one batch per sample, online or not (the sync engine sends a document once it is stored): a batch over several documents is a journal write, the heads, and the journal's deletion. Connects: MQTT clients created; published: messages the node sent into the void (presence, digests).",
    columns: ["scenario", "samples", "flash writes", "writes per sample", "bytes written", "flash in use (bytes)", "connects", "published"],
    rows: flashRows,
  };

  const g = results.get("gateway-gone")!;
  const nb = results.get("no-broker")!;
  const checks = [
    { what: "gateway gone: every sample counted (2,001)", ok: g.status.counted === 2001 },
    { what: "no broker: every sample counted (2,001)", ok: nb.status.counted === 2001 },
  ];
  const targets: Target[] = [
    { figure: "ESP32 node: live slots holding 1,000 unacknowledged changes", target: `≤ ${num(SLOT_BUDGET)} (half of ${num(SLOTS)})`, actual: num(worstSlots), ok: worstSlots <= SLOT_BUDGET },
  ];
  if (worstChunks !== undefined) {
    targets.push({ figure: "ESP32 node: chunk bytes holding 1,000 unacknowledged changes (64-bit host)", target: `≤ ${num(CHUNK_BUDGET)} (half of ${num(CHUNK_BYTES)})`, actual: num(worstChunks), ok: worstChunks <= CHUNK_BUDGET });
  }
  const perChange = (n: ScenarioNetwork): number => {
    const rs = results.get(n)!.rows;
    return (rs.find((r) => r.unacked === 2000)!.slots - rs.find((r) => r.unacked === 100)!.slots) / 1900;
  };
  return {
    title: "6. ESP32 firmware inside XS: the node app's memory (deterministic)",
    tables: [memory, flash],
    targets,
    notes: [
      `Live slots per further unacknowledged sample (from 100 to 2,000): ${num(perChange("gateway-gone"), 3)} (gateway gone), ${num(perChange("no-broker"), 3)} (no broker): the state is a counter, two readings and a few alarms, whatever the number of changes not yet acknowledged; what is unacknowledged is told by versions, not kept as a queue.`,
      ...checks.map((c) => `- ${c.ok ? "ok" : "**FAILED**"}: ${c.what}`),
      "",
      `Budget: ${met(worstSlots <= SLOT_BUDGET)} for slots (${num(worstSlots)} ≤ ${num(SLOT_BUDGET)}).${worstChunks === undefined ? "" : ` Chunks: ${met(worstChunks <= CHUNK_BUDGET)} (${num(worstChunks)} ≤ ${num(CHUNK_BUDGET)} host bytes).`}`,
    ].join("\n"),
  };
}
