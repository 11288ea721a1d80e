// The gateway's write path, measured: DELTA frames from 1,000 simulated nodes into SQLite with
// synchronous=FULL, through the gateway's own path (targets/rpi/gateway-ingest.ts: SyncEngine with
// group commit, the event log, the change rows and the history rows in the same batch), and
// a one-key delta on a 10,000-key map, beside SQLite alone writing the same rows (the floor).
//
// No network: the nodes are SyncEngines whose frames are handed to the gateway's receive(); the
// gateway's frames (its ACKs) are collected and handed back to the nodes. The 1,000 nodes of the
// ingest run live in a worker thread (bench/ingest-fleet.ts), so the gateway's thread holds the
// gateway alone; the one node of the 10,000-key map shares the gateway's. The gateway's 0 ms
// timers (the group's commit) run when the frames of a round are handled, as Node runs them once
// the frames that arrived together are handled.
//
//   npx tsx bench/gateway-ingest.ts        prints the tables (bench/sync.ts includes them, measured
//                                          in a process of their own: writePathFiguresApart)

import Database from "better-sqlite3";
import { parseLogName } from "../src/store/keys.js";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { spawn } from "node:child_process";
import { fileURLToPath, pathToFileURL } from "node:url";
import { Hlc, LWWMap } from "../src/core/index.js";
import { type EntityView, type KvOp, type KvStore } from "../src/store/kv.js";
import { FOLD_PATCH_BYTES, toJsonText } from "../src/store/sqlite.js";
import { decodeFrame, FrameKind } from "../src/transport/frames.js";
import { SyncEngine, type SyncLogEntry } from "../src/transport/sync-engine.js";
import { LoopTime } from "../sim/network/loop-time.js";
import { type Frames, NodeFleet, nodeId, simNode } from "./ingest-fleet.js";
import { openGatewayDb, type GatewayDb } from "../targets/rpi/gateway-db.js";
import { HistoryRecorder } from "../targets/rpi/gateway-history.js";
import { gatewayWritePath, GATEWAY_GROUP_COMMIT } from "../targets/rpi/gateway-ingest.js";
import { GATEWAY_TAILS } from "../src/store/state-store.js";
import { type Check, num, type Table, type Target } from "./report.js";

const GATEWAY = "gw";

/** A gateway on a fresh database file, with its write path as the daemon wires it. */
interface Rig {
  readonly dir: string;
  readonly db: GatewayDb;
  readonly history: HistoryRecorder;
  readonly time: LoopTime;
  readonly gateway: SyncEngine;
  /** Frames the gateway sent, not yet delivered: [to, bytes]. */
  readonly out: Array<[string, Uint8Array]>;
  readonly logs: SyncLogEntry[];
  close(): void;
}

function rig(groupCommit?: number, wrapKv?: (kv: KvStore) => KvStore): Rig {
  const dir = mkdtempSync(join(tmpdir(), "lichen-bench-gw-"));
  const db = openGatewayDb(join(dir, "gateway.db"), { create: true }); // synchronous FULL, the default
  const history = new HistoryRecorder(db.kv);
  const time = new LoopTime();
  const clock = new Hlc({ wallClock: () => time.t });
  const out: Array<[string, Uint8Array]> = [];
  const logs: SyncLogEntry[] = [];
  let engine: SyncEngine | undefined;
  const path = gatewayWritePath({ db, engine: () => engine, history, stamp: () => clock.now(), now: () => time.t });
  engine = new SyncEngine({
    replica: GATEWAY,
    role: "gateway",
    kv: wrapKv === undefined ? db.kv : wrapKv(db.kv),
    scheduler: time,
    clock,
    send: (to, frame) => out.push([to, frame]),
    antiEntropyMs: 7 * 24 * 3600_000,
    log: (e) => logs.push(e),
    ...path,
    ...(groupCommit === undefined ? {} : { groupCommit }),
  });
  const gateway = engine;
  return {
    dir,
    db,
    history,
    time,
    gateway,
    out,
    logs,
    close: () => {
      gateway.close();
      db.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Delivers everything both ways between the gateway and one node in its thread, until quiet (untimed). */
function settleOne(r: Rig, node: SyncEngine, toGateway: Frames): void {
  for (;;) {
    let moved = false;
    while (toGateway.length > 0) {
      const batch = toGateway.splice(0);
      for (const [from, f] of batch) r.gateway.receive(from, f);
      moved = true;
    }
    if (r.time.turn()) moved = true;
    while (r.out.length > 0) {
      const batch = r.out.splice(0);
      for (const [, f] of batch) node.receive(GATEWAY, f);
      moved = true;
    }
    if (!moved) return;
  }
}

export interface IngestResult {
  readonly label: string;
  readonly nodes: number;
  readonly deltas: number;
  readonly acks: number;
  readonly seconds: number;
  /** CPU time of this process over the same span (user + system). */
  readonly cpuSeconds: number;
  /** Each timed round's wall-clock and CPU seconds, in order (a round is one DELTA frame per node). */
  readonly rounds: ReadonlyArray<{ seconds: number; cpuSeconds: number; commits: number }>;
  readonly commits: number;
  readonly converged: boolean;
  readonly problem: string | undefined;
}

/** The figures of rounds [from, to) of a run: deltas, deltas/s, deltas per CPU second. */
export function roundsSpan(r: IngestResult, from: number, to: number): { deltas: number; commits: number; perSecond: number; perCpuSecond: number; seconds: number } {
  const span = r.rounds.slice(from, to);
  const commits = span.reduce((a, x) => a + x.commits, 0);
  const seconds = span.reduce((a, x) => a + x.seconds, 0);
  const cpu = span.reduce((a, x) => a + x.cpuSeconds, 0);
  const deltas = span.length * r.nodes;
  return { deltas, commits, seconds, perSecond: Math.round(deltas / seconds), perCpuSecond: Math.round(deltas / cpu) };
}

/**
 * `rounds` rounds of one reading per node. Timed: the gateway's receive() of every DELTA frame of
 * a round and its group commits, until the last ACK is sent; the nodes' work (making the frames,
 * reading the ACKs) is not.
 */
export async function ingestRun(label: string, nodesCount: number, rounds: number, groupCommit?: number): Promise<IngestResult> {
  let commits = 0;
  const r = rig(groupCommit, (kv) => countingBatches(kv, () => commits++));
  const ids = Array.from({ length: nodesCount }, (_, i) => nodeId(i));
  for (const id of ids) r.gateway.connect(id, "node");
  const fleet = new NodeFleet(nodesCount, GATEWAY, r.time.t);
  try {
    /** Delivers everything both ways until quiet (untimed: handshakes and ACKs to the nodes). */
    const settle = async (frames: Frames): Promise<void> => {
      for (;;) {
        for (const [from, f] of frames) r.gateway.receive(from, f);
        const turned = r.time.turn();
        if (r.out.length > 0) frames = await fleet.deliver(r.time.t, r.out.splice(0));
        else if (!turned) return;
        else frames = [];
      }
    };
    await settle(await fleet.started());
    const round = (k: number): Promise<Frames> => {
      r.time.t += 1000;
      return fleet.round(r.time.t, k);
    };
    await settle(await round(0)); // warm-up, untimed
    commits = 0;
    let deltas = 0;
    let acks = 0;
    const timed: Array<{ seconds: number; cpuSeconds: number; commits: number }> = [];
    for (let k = 1; k <= rounds; k++) {
      const frames = await round(k);
      deltas += frames.length;
      const commits0 = commits;
      const t0 = performance.now();
      const c0 = process.cpuUsage();
      for (const [from, f] of frames) r.gateway.receive(from, f);
      while (r.time.turn());
      const ms = performance.now() - t0;
      const c = process.cpuUsage(c0);
      timed.push({ seconds: ms / 1000, cpuSeconds: (c.user + c.system) / 1e6, commits: commits - commits0 });
      // a session acknowledges a delta with APPLIED (its version's hash)
      for (const [to, f] of r.out) if (decodeFrame(f, 1 << 20, { ids: [r.gateway.replica, to], maxExpandedBytes: 1 << 20 }).kind === FrameKind.Applied) acks++;
      await settle([]);
    }
    let problem: string | undefined = r.logs.length > 0 ? `log: ${r.logs[0]!.event} ${r.logs[0]!.message}` : undefined;
    for (const [id, bytes, inSync] of await fleet.states()) {
      if (problem !== undefined) break;
      if (!(r.gateway.get(`readings/${id}`)?.equals(LWWMap.fromBytes<number>(bytes)) === true)) problem = `the gateway's copy of ${id} differs`;
      else if (!inSync) problem = `${id} is not in sync`;
    }
    const logged = r.db.events("readings").lastSeq;
    if (problem === undefined && logged !== nodesCount * (rounds + 1)) problem = `the event log holds ${logged} deltas, not ${nodesCount * (rounds + 1)}`;
    const seconds = timed.reduce((a, x) => a + x.seconds, 0);
    const cpuSeconds = timed.reduce((a, x) => a + x.cpuSeconds, 0);
    return { label, nodes: nodesCount, deltas, acks, seconds, cpuSeconds, rounds: timed, commits, converged: problem === undefined && acks === deltas, problem };
  } finally {
    await fleet.close();
    r.close();
  }
}

/** A KvStore that counts the batches reaching `kv` (and forwards everything, views included). */
function countingBatches(kv: KvStore, onBatch: () => void): KvStore {
  return {
    keepsViews: kv.keepsViews,
    get: (k) => kv.get(k),
    put: (k, v) => kv.put(k, v),
    delete: (k) => kv.delete(k),
    keys: (p) => kv.keys(p),
    batch: (ops, views) => {
      onBatch();
      kv.batch(ops, views);
    },
    close: () => kv.close(),
  };
}

/** What one batch hands to SQLite, in bytes: stored values, the change rows' JSON, the entity rows' JSON. */
interface Written {
  stateBytes: number;
  logBytes: number;
  changeRowBytes: number;
  entityBytes: number;
}

function countingWrites(kv: KvStore, w: Written): KvStore {
  return {
    ...countingBatches(kv, () => {}),
    batch: (ops: readonly KvOp[], views?: readonly EntityView[]) => {
      for (const op of ops) if (op.type === "put") (parseLogName(op.key) !== undefined ? (w.logBytes += op.value.length) : (w.stateBytes += op.value.length));
      for (const v of views ?? []) {
        if (v.fields === undefined) {
          const n = toJsonText(v.value)?.length ?? 0;
          w.changeRowBytes += n;
          w.entityBytes += n;
        } else for (const [k, x] of v.fields) {
          const n = JSON.stringify(k).length + 1 + (toJsonText(x)?.length ?? 0);
          w.changeRowBytes += n;
          w.entityBytes += n;
        }
      }
      kv.batch(ops, views);
    },
  };
}

/** Runs `fn`: its wall-clock ms, and this process's CPU ms over the same span (user + system). */
function timeSpan(fn: () => void): [ms: number, cpuMs: number] {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  fn();
  const ms = performance.now() - t0;
  const c = process.cpuUsage(c0);
  return [ms, (c.user + c.system) / 1000];
}

/** The median of `xs` (sorted in place). */
function median(xs: number[]): number {
  return xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
}

export interface BigMapResult {
  readonly keys: number;
  readonly samples: number;
  readonly medianMs: number;
  /** The median of the same samples' CPU time (this process, user + system: the kernel's share of the commit included). */
  readonly medianCpuMs: number;
  readonly written: Written;
  readonly converged: boolean;
}

/**
 * One node's LWWMap of `keys` keys on the gateway; then one key changed, `samples` times: the time
 * from the frame's receive() to its ACK, and what was written. With `countAll`, the bytes of every
 * sample's commit are counted (amortized figures, the tail's compactions included), not only the last's.
 */
export function bigMapRun(keys: number, samples: number, countAll = false): BigMapResult {
  const written: Written = { stateBytes: 0, logBytes: 0, changeRowBytes: 0, entityBytes: 0 };
  let counting = false;
  const r = rig(undefined, (kv) => {
    const c = countingWrites(kv, written);
    return { ...c, batch: (ops, views) => (counting ? c.batch(ops, views) : kv.batch(ops, views)) };
  });
  const toGateway: Frames = [];
  const n = simNode("n1", r.time, toGateway);
  try {
    const map = n.open("config", "n1", LWWMap<number>);
    for (let i = 0; i < keys; i++) map.set(`k${i}`, i);
    n.changed("config", "n1");
    r.gateway.connect("n1", "node");
    n.connect(GATEWAY, "gateway");
    settleOne(r, n, toGateway);
    const times: number[] = [];
    const cpus: number[] = [];
    for (let s = 0; s <= samples; s++) {
      r.time.t += 1000;
      map.set(`k${s % keys}`, -s);
      n.changed("config", "n1");
      const frames = toGateway.splice(0);
      const measured = s > 0 && s < samples; // the first warms up, the last counts bytes
      counting = countAll ? s > 0 : s === samples;
      const [ms, cpuMs] = timeSpan(() => {
        for (const [from, f] of frames) r.gateway.receive(from, f);
        while (r.time.turn());
      });
      if (measured) {
        times.push(ms);
        cpus.push(cpuMs);
      }
      settleOne(r, n, toGateway);
    }
    counting = false;
    const converged = r.logs.length === 0 && r.gateway.get("config/n1")?.equals(map) === true && n.inSync(GATEWAY);
    return { keys, samples: times.length, medianMs: median(times), medianCpuMs: median(cpus), written, converged };
  } finally {
    n.close();
    r.close();
  }
}

/**
 * The floor under bigMapRun's figure: SQLite alone, on a file of its own (WAL, synchronous FULL),
 * writing by hand the rows of a one-key delta's commit in one transaction: two key-value rows (the
 * tail's delta, the event-log entry), the version counter, the entity's patch row (json_set), a
 * change row (with its version index) and a history row: 7 pages, as the gateway's commit mostly
 * writes (counted with strace). Between samples, untimed, a node changes a key of its map of `keys`
 * keys and stores it, as bigMapRun's node does, so the caches are as cold (it sends nothing). No
 * lichen code runs in the timed span.
 */
export function bareCommitRun(keys: number, samples: number): { medianMs: number; medianCpuMs: number } {
  const dir = mkdtempSync(join(tmpdir(), "lichen-bench-bare-"));
  const db = new Database(join(dir, "bare.db"));
  const time = new LoopTime();
  const n = simNode("n1", time, []);
  try {
    db.pragma("journal_mode = WAL");
    db.pragma("synchronous = FULL");
    db.exec(`CREATE TABLE meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE kv (key BLOB PRIMARY KEY NOT NULL, value BLOB NOT NULL) WITHOUT ROWID;
CREATE TABLE patches (doc TEXT PRIMARY KEY, patch TEXT NOT NULL);
CREATE TABLE changes (seq INTEGER PRIMARY KEY, version INTEGER NOT NULL, doc TEXT NOT NULL, value TEXT NOT NULL);
CREATE INDEX changes_by_version ON changes (version);
CREATE TABLE history (t INTEGER NOT NULL, doc TEXT NOT NULL, field TEXT NOT NULL, value TEXT);
INSERT INTO meta VALUES ('version', 0);
INSERT INTO patches VALUES ('config/n1', '{}');`);
    const put = db.prepare("INSERT INTO kv (key, value) VALUES (?, ?), (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value");
    const bump = db.prepare("UPDATE meta SET value = value + 1 WHERE name = 'version' RETURNING value").pluck();
    const patch = db.prepare("UPDATE patches SET patch = json_set(patch, ?, json(?)) WHERE doc = ? RETURNING length(patch)").pluck();
    const unpatch = db.prepare("UPDATE patches SET patch = '{}' WHERE doc = ?");
    const change = db.prepare("INSERT INTO changes (version, doc, value) VALUES (?, ?, ?)");
    const history = db.prepare("INSERT INTO history VALUES (?, ?, ?, ?)");
    const tail = new Uint8Array(33);
    const event = new Uint8Array(52);
    const commit = db.transaction((s: number) => {
      const key = `k${s % keys}`;
      put.run(Buffer.from(`tail/${s}`), tail, Buffer.from(`event/${s}`), event);
      const version = bump.get() as number;
      if ((patch.get(`$."${key}"`, String(-s), "config/n1") as number) > FOLD_PATCH_BYTES) unpatch.run("config/n1");
      change.run(version, "config/n1", `{"${key}":${-s}}`);
      history.run(time.t, "config/n1", key, String(-s));
    });
    const map = n.open("config", "n1", LWWMap<number>);
    for (let i = 0; i < keys; i++) map.set(`k${i}`, i);
    n.changed("config", "n1");
    const times: number[] = [];
    const cpus: number[] = [];
    for (let s = 0; s <= samples; s++) {
      time.t += 1000;
      map.set(`k${s % keys}`, -s);
      n.changed("config", "n1");
      const [ms, cpuMs] = timeSpan(() => commit.immediate(s));
      if (s > 0) {
        times.push(ms);
        cpus.push(cpuMs);
      }
    }
    return { medianMs: median(times), medianCpuMs: median(cpus) };
  } finally {
    n.close();
    db.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

export const INGEST_NODES = 1000;
/**
 * Rounds timed in the ingest run (a round is a simulated second); the first INGEST_COLD_ROUNDS of
 * them are the cold start. The steady state spans two of the history's moves (HISTORY_MERGE_MS).
 */
export const INGEST_ROUNDS = 130;
/**
 * The rounds right after the gateway starts, while V8 still compiles the write path (they run
 * 1.5 to 2.5 times slower than later ones): reported on their own; the target is judged on the
 * rounds after them, the rate a gateway that has run for a minute sustains.
 */
export const INGEST_COLD_ROUNDS = 10;
export const INGEST_TARGET = 25_000;
export const BIG_KEYS = 10_000;
export const BIG_SAMPLES = 200;
export const BIG_TARGET_MS = 1;
export const BIG_TARGET_BYTES = 1024;
/** One-key deltas counted for the amortized bytes: past GATEWAY_TAILS.maxDeltas, so a compaction is among them. */
export const BIG_AMORTIZED = 1100;

function total(w: Written): number {
  return w.stateBytes + w.logBytes + w.changeRowBytes + w.entityBytes;
}

/** The tables and targets of the write path (bench/sync.ts puts them in section 5). */
export async function writePathFigures(progress: (text: string) => void = () => {}): Promise<{ tables: Table[]; targets: Target[]; checks: Check[] }> {
  progress(`sync: the gateway's write path, ${num(INGEST_NODES)} nodes into SQLite (FULL), group commit`);
  const group = await ingestRun(`group commit (at most ${num(GATEWAY_GROUP_COMMIT)} deltas per transaction), the daemon's path`, INGEST_NODES, INGEST_ROUNDS);
  progress("sync: the same path, one transaction per delta");
  const single = await ingestRun("one transaction per delta (groupCommit 1, the engine's default)", INGEST_NODES, 1, 1);
  progress(`sync: a one-key delta on a ${num(BIG_KEYS)}-key map`);
  const big = bigMapRun(BIG_KEYS, BIG_SAMPLES);
  progress(`sync: ${num(BIG_AMORTIZED)} one-key deltas on a ${num(BIG_KEYS)}-key map, every byte counted`);
  const amortized = bigMapRun(BIG_KEYS, BIG_AMORTIZED, true);
  progress("sync: the floor: SQLite alone writing such a commit's rows");
  const bare = bareCommitRun(BIG_KEYS, BIG_SAMPLES);
  const cold = roundsSpan(group, 0, INGEST_COLD_ROUNDS);
  const steady = roundsSpan(group, INGEST_COLD_ROUNDS, INGEST_ROUNDS);
  const am = amortized.written;
  const ingest: Table = {
    title: `Gateway write path: DELTA frames from ${num(INGEST_NODES)} simulated nodes into SQLite (synchronous FULL)`,
    how: `bench/gateway-ingest.ts, in a process of its own (as a gateway runs; not in the bench's, whose heap holds the sections before): one gateway SyncEngine on a GatewayDb file in os.tmpdir() (SqliteKv, synchronous FULL, the default) with the daemon's write path (targets/rpi/gateway-ingest.ts: group commit, each delta's event-log entry in the same batch as its state, change rows of the keys it changed, lichen_history rows of the fields that changed, all in the group's one transaction). ${num(INGEST_NODES)} node SyncEngines (MemoryKv) in a worker thread (bench/ingest-fleet.ts: in the gateway's thread, their garbage would fill the young generation the gateway's scavenges run in), each with an LWWMap "readings/<id>" of 4 readings, connected and in sync (untimed). Each round, every node sets one reading and calls changed(): ${num(INGEST_NODES)} DELTA frames, made by the nodes before the clock starts. Timed: the gateway's receive() of each frame in turn (decode, policy, authorship check on the decoded delta, apply, stage, event-log record) and its commits (full groups at once; the rest when the queue is empty, as Node runs the 0 ms timer once the frames that arrived together are handled) until the round's last ACK is sent. Untimed: the nodes' work and the ACKs handed to them. ${INGEST_ROUNDS} timed rounds after one untimed warm-up round: the first ${INGEST_COLD_ROUNDS} (the cold start: V8 still compiling the write path, each round 1.5 to 2.5 times slower) on their own row, the target judged on the ${INGEST_ROUNDS - INGEST_COLD_ROUNDS} after them (a gateway runs for days; they include its periodic costs: WAL checkpoints, major GCs, and the history's staged rows moved into lichen_history once a simulated minute). One round for the one-per-transaction row. "CPU" is this process's user + system time over the same spans (V8's compiler and GC threads included): on a loaded machine wall-clock time is CPU time plus waiting for a core. Wall-clock: varies from run to run.`,
    columns: ["write path", "rounds", "deltas", "transactions", "seconds", "deltas/s", "deltas per CPU second"],
    rows: [
      [`${group.label}: steady state`, `${INGEST_COLD_ROUNDS + 1}–${INGEST_ROUNDS}`, num(steady.deltas), num(steady.commits), num(steady.seconds, 2), num(steady.perSecond), num(steady.perCpuSecond)],
      [`${group.label}: cold start`, `1–${INGEST_COLD_ROUNDS}`, num(cold.deltas), num(cold.commits), num(cold.seconds, 2), num(cold.perSecond), num(cold.perCpuSecond)],
      [single.label, "1", num(single.deltas), num(single.commits), num(single.seconds, 2), num(Math.round(single.deltas / single.seconds)), num(Math.round(single.deltas / single.cpuSeconds))],
    ],
  };
  const w = big.written;
  const bigTable: Table = {
    title: `Gateway write path: a one-key delta on a ${num(BIG_KEYS)}-key LWWMap`,
    how: `bench/gateway-ingest.ts: the same gateway; one node's LWWMap of ${num(BIG_KEYS)} keys ("k0".."k${BIG_KEYS - 1}", numbers) synced to it (untimed). Then, ${BIG_SAMPLES} times, the node sets one existing key and sends its delta; timed: from the gateway's receive() of the frame to its ACK sent (decode, checks, apply, the commit of its batch with synchronous=FULL). The median of ${BIG_SAMPLES - 1} (the first warms up); "CPU": the median of the same samples' CPU time (this process's user + system: the kernel's work for the commit's writes and fsync included, not the wait for the disk). Bytes: what one such commit hands to SQLite, counted on the batch: the values of the puts (the document's state: with the gateway's incremental states, the delta appended to its tail; the event-log entry), and the JSON of the change row and of the entity patch (a large entity's goes to its patch row, not its whole JSON row: src/store/sqlite.ts). The second row counts every commit of ${num(BIG_AMORTIZED)} such deltas, per delta: past ${num(GATEWAY_TAILS.maxDeltas)} deltas the tail is folded into a new base (the whole state written once), which this average includes; the mirror's patch row folded into the JSON value (past ${num(FOLD_PATCH_BYTES)} bytes of patch) is SQLite's own work, not counted here. Wall-clock time varies; the bytes are deterministic.`,
    columns: ["commits counted", "median ms, receive to ACK", "median CPU ms", "state bytes written", "event-log bytes", "change row bytes", "entity patch bytes", "total bytes"],
    rows: [
      ["the last one", num(big.medianMs, 2), num(big.medianCpuMs, 2), num(w.stateBytes), num(w.logBytes), num(w.changeRowBytes), num(w.entityBytes), num(total(w))],
      [`${num(BIG_AMORTIZED)}, per delta`, num(amortized.medianMs, 2), num(amortized.medianCpuMs, 2), num(Math.round(am.stateBytes / BIG_AMORTIZED)), num(Math.round(am.logBytes / BIG_AMORTIZED)), num(Math.round(am.changeRowBytes / BIG_AMORTIZED)), num(Math.round(am.entityBytes / BIG_AMORTIZED)), num(Math.round(total(am) / BIG_AMORTIZED))],
      ["the floor: SQLite alone, the same rows by hand (bareCommitRun)", num(bare.medianMs, 2), num(bare.medianCpuMs, 2), "—", "—", "—", "—", "—"],
    ],
  };
  const perSecond = steady.perSecond;
  const targets: Target[] = [
    { figure: `Gateway ingest from ${num(INGEST_NODES)} nodes into SQLite (synchronous FULL), the daemon's write path`, target: `≥ ${num(INGEST_TARGET)} deltas/s`, actual: `${num(perSecond)} deltas/s in the steady state (${num(steady.perCpuSecond)} per CPU second; the cold start's first ${INGEST_COLD_ROUNDS} rounds: ${num(cold.perSecond)})`, ok: perSecond >= INGEST_TARGET },
    { figure: `A one-key delta on a ${num(BIG_KEYS)}-key map: receive to ACK`, target: `≤ ${BIG_TARGET_MS} ms`, actual: `${num(big.medianMs, 2)} ms (CPU ${num(big.medianCpuMs, 2)} ms; SQLite alone writing the same rows: ${num(bare.medianMs, 2)} ms)`, ok: big.medianMs <= BIG_TARGET_MS },
    { figure: `A one-key delta on a ${num(BIG_KEYS)}-key map: bytes written`, target: `≤ ${num(BIG_TARGET_BYTES)} bytes`, actual: `${num(total(w))} bytes (${num(w.stateBytes)} of them the state: its tail's new delta; ${num(Math.round(total(am) / BIG_AMORTIZED))} per delta over ${num(BIG_AMORTIZED)}, compaction included)`, ok: total(w) <= BIG_TARGET_BYTES },
  ];
  const checks: Check[] = [
    ...[group, single].map((r) => ({ what: `Gateway write path (${r.label}): ${num(r.deltas)} DELTA frames in, ${num(r.acks)} ACKs out, every node in sync, the gateway's copies equal the nodes', the event log holds every delta${r.problem === undefined ? "" : ` (${r.problem})`}`, ok: r.converged })),
    { what: `Gateway write path, ${num(BIG_KEYS)}-key map: no warnings, the gateway's copy equals the node's, the node in sync`, ok: big.converged && amortized.converged },
  ];
  return { tables: [ingest, bigTable], targets, checks };
}

/**
 * writePathFigures in a process of its own, as a gateway runs: not in the bench's, whose heap holds
 * every section measured before (the gateway's collections would work through it). Progress lines
 * come through `progress`.
 */
export async function writePathFiguresApart(progress: (text: string) => void = () => {}): Promise<{ tables: Table[]; targets: Target[]; checks: Check[] }> {
  const child = spawn(process.execPath, ["--import", "tsx", fileURLToPath(import.meta.url), "--json"], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  child.stdout.setEncoding("utf8").on("data", (d: string) => (out += d));
  child.stderr.setEncoding("utf8").on("data", (d: string) => {
    err += d;
    for (const line of d.split("\n")) if (line.startsWith("sync: ")) progress(line);
  });
  const code = await new Promise<number | null>((res) => child.on("close", res));
  if (code !== 0) throw new Error(`bench/gateway-ingest.ts --json exited with ${code}: ${err.slice(-2000)}`);
  return JSON.parse(out) as { tables: Table[]; targets: Target[]; checks: Check[] };
}

// Run on its own: print the figures (--json: as JSON, for writePathFiguresApart).
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const f = await writePathFigures((t) => console.error(t));
  if (process.argv.includes("--json")) console.log(JSON.stringify(f));
  else {
    for (const t of f.tables) console.log(t.title, "\n", t.columns.join(" | "), "\n", t.rows.map((r) => r.join(" | ")).join("\n "));
    for (const t of f.targets) console.log(t.figure, t.target, t.actual, t.ok ? "met" : "NOT met");
    for (const c of f.checks) console.log(c.ok ? "ok" : "FAILED", c.what);
  }
}
