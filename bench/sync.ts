// Section 5, sync: bytes on the wire to bring a peer up to date after N changes (lichen's sync
// engine beside Yjs's sync protocol, y-protocols/sync), the gateway's ingest throughput from 1,000
// simulated nodes (MemoryKv and SqliteKv), and the write-to-stored latency over MQTT brokers.
//
// The byte counts run on virtual time (sim/network/simulator.ts's VirtualTime) with every
// clock reading it, so they are deterministic. The ingest figures are wall-clock and vary.

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as decoding from "lib0/decoding";
import * as encoding from "lib0/encoding";
import * as syncProtocol from "y-protocols/sync";
import * as Y from "yjs";
import { VirtualTime } from "../sim/network/simulator.js";
import { Hlc, LWWMap } from "../src/core/index.js";
import { type KvStore, MemoryKv } from "../src/store/kv.js";
import { statePrefix } from "../src/store/keys.js";
import { SqliteKv } from "../src/store/sqlite.js";
import { decodeFrame, FrameKind, StaleReference } from "../src/transport/frames.js";
import { type Scheduler, SyncEngine, type SyncLogEntry } from "../src/transport/sync-engine.js";
import { MAC_ID, PEER_ID, YJS_CLIENT_ID } from "./fixtures.js";
import { LATENCY_SAMPLES, LATENCY_WARMUP, mqttLatency, p50, p99 } from "./mqtt-latency.js";
import { writePathFiguresApart } from "./gateway-ingest.js";
import { nodeId, READING_KEYS } from "./ingest-fleet.js";
import { type Check, met, num, type Section, type Table, type Target } from "./report.js";

/** The wall clock every replica reads: virtual time from 2025-01-01. */
const BASE_MS = Date.UTC(2025, 0, 1);
/** Long enough that no anti-entropy round falls inside a measurement. */
const NO_ANTI_ENTROPY_MS = 7 * 24 * 3600_000;

// ---- catch-up bytes ----

const MAP_KEYS = 100;
const CATCH_UP_N = [1, 10, 100, 1000];
/** One-way delay of the simulated link. */
const LINK_MS = 5;
/** Changes made offline are this far apart (a sensor writing every second). */
const WRITE_MS = 1000;
/** After reconnecting, the network runs this long: far past the last acknowledgement. */
const QUIET_MS = 10_000;

const KIND_NAMES: Record<number, string> = { 1: "digest", 2: "versions", 3: "delta", 4: "ack", 5: "part", 6: "error", 7: "applied" };

interface KindCount {
  frames: number;
  bytes: number;
}

interface CatchUp {
  n: number;
  byKind: Map<number, KindCount>;
  frames: number;
  bytes: number;
  /** DELTA frames byte-for-byte equal to one sent before in the same exchange, and their bytes. */
  repeated: KindCount;
  converged: boolean;
  /** Yjs: the four messages (step 1 both ways, step 2 both ways). */
  yjs: { step1: number; step2: number; messages: number; bytes: number; converged: boolean };
}

function key(i: number): string {
  return `k${(i * 7) % MAP_KEYS}`; // 7 is prime to 100: the first 100 writes touch every key
}

function reading(i: number): number {
  return Math.round((20 + 5 * Math.sin(i)) * 100) / 100;
}

/** A sent frame's kind, read as its receiver reads it (a delta relative to its version: against its state now). */
function frameKind(frame: Uint8Array, from: string, to: string, engines: ReadonlyMap<string, SyncEngine>): number {
  const prefixOf = (doc: string): number => engines.get(to)?.get(doc)?.version().get(from) ?? 0;
  try {
    return decodeFrame(frame, frame.length, { ids: [from, to], maxExpandedBytes: 1 << 20, prefixOf }).kind;
  } catch (e) {
    // made for a version the receiver no longer holds: still a delta on the wire, and the receiver will say so
    if (e instanceof StaleReference) return FrameKind.Delta;
    throw e;
  }
}

export function lichenCatchUp(n: number): Omit<CatchUp, "yjs"> {
  const time = new VirtualTime();
  const wall = (): number => BASE_MS + time.now();
  const engines = new Map<string, SyncEngine>();
  const logs: SyncLogEntry[] = [];
  let counting = false;
  const byKind = new Map<number, KindCount>();
  let frames = 0;
  let bytes = 0;
  const seen = new Set<string>();
  const repeated: KindCount = { frames: 0, bytes: 0 };
  const link = (from: string) => (to: string, frame: Uint8Array) => {
    if (counting) {
      const k = frameKind(frame, from, to, engines);
      if (k === 3) {
        const text = `${from}>${Buffer.from(frame).toString("hex")}`;
        if (seen.has(text)) {
          repeated.frames++;
          repeated.bytes += frame.length;
        }
        seen.add(text);
      }
      const c = byKind.get(k) ?? { frames: 0, bytes: 0 };
      c.frames++;
      c.bytes += frame.length;
      byKind.set(k, c);
      frames++;
      bytes += frame.length;
    }
    const copy = frame.slice();
    time.setTimer(LINK_MS, () => engines.get(to)!.receive(from, copy));
  };
  const make = (id: string, role: "node" | "gateway"): SyncEngine =>
    new SyncEngine({
      replica: id,
      role,
      kv: new MemoryKv(),
      scheduler: time,
      send: link(id),
      clock: new Hlc({ wallClock: wall }),
      antiEntropyMs: NO_ANTI_ENTROPY_MS,
      log: (e) => logs.push(e),
    });
  const node = make(MAC_ID, "node");
  const gw = make(PEER_ID, "gateway");
  engines.set(MAC_ID, node);
  engines.set(PEER_ID, gw);
  const doc = `readings/${MAC_ID}`;

  // both hold the 100-key map, in sync
  const map = node.open("readings", MAC_ID, LWWMap<number>);
  for (let i = 0; i < MAP_KEYS; i++) map.set(`k${i}`, reading(-1 - i));
  node.changed("readings", MAC_ID);
  node.connect(PEER_ID, "gateway");
  gw.connect(MAC_ID, "node");
  time.runUntil(time.now() + QUIET_MS);
  const synced = gw.get(doc)?.equals(map) === true && node.inSync(PEER_ID);

  // the gateway goes away; the node writes n times, a second apart
  node.disconnect(PEER_ID);
  gw.disconnect(MAC_ID);
  for (let i = 0; i < n; i++) {
    time.runUntil(time.now() + WRITE_MS);
    map.set(key(i), reading(i));
    node.changed("readings", MAC_ID);
  }

  // back: count every frame both ways until the network is quiet
  time.runUntil(time.now() + WRITE_MS);
  counting = true;
  node.connect(PEER_ID, "gateway");
  gw.connect(MAC_ID, "node");
  time.runUntil(time.now() + QUIET_MS);
  counting = false;
  const converged = synced && gw.get(doc)?.equals(map) === true && node.inSync(PEER_ID) && logs.length === 0;
  node.close();
  gw.close();
  return { n, byKind, frames, bytes, repeated, converged };
}

function yjsMessage(write: (e: encoding.Encoder) => void): Uint8Array {
  const e = encoding.createEncoder();
  write(e);
  return encoding.toUint8Array(e);
}

/** Feeds a sync message to a doc; returns its reply, if any (y-protocols answers step 1 with step 2). */
function yjsReceive(doc: Y.Doc, message: Uint8Array): Uint8Array | undefined {
  const reply = encoding.createEncoder();
  syncProtocol.readSyncMessage(decoding.createDecoder(message), reply, doc, "remote");
  return encoding.length(reply) > 0 ? encoding.toUint8Array(reply) : undefined;
}

function yjsCatchUp(n: number): CatchUp["yjs"] {
  const source = new Y.Doc();
  source.clientID = YJS_CLIENT_ID;
  const peer = new Y.Doc();
  peer.clientID = YJS_CLIENT_ID + 1;
  const m = source.getMap<number>("m");
  for (let i = 0; i < MAP_KEYS; i++) m.set(`k${i}`, reading(-1 - i));
  Y.applyUpdate(peer, Y.encodeStateAsUpdate(source));
  for (let i = 0; i < n; i++) m.set(key(i), reading(i)); // one transaction per write, as the lichen side
  // both sides open with step 1 (their state vector); each answers the other's with step 2
  const s1 = yjsMessage((e) => syncProtocol.writeSyncStep1(e, source));
  const p1 = yjsMessage((e) => syncProtocol.writeSyncStep1(e, peer));
  const p2 = yjsReceive(peer, s1)!; // what the source lacks: nothing
  const s2 = yjsReceive(source, p1)!; // what the peer lacks: the n writes
  const none = [yjsReceive(source, p2), yjsReceive(peer, s2)].every((x) => x === undefined);
  const converged = none && JSON.stringify(peer.getMap("m").toJSON()) === JSON.stringify(m.toJSON()) && peer.getMap("m").size === MAP_KEYS;
  return { step1: s1.length + p1.length, step2: p2.length + s2.length, messages: 4, bytes: s1.length + p1.length + p2.length + s2.length, converged };
}

/** The targets of a catch-up after n writes: ≤ 100 bytes after 1, no more than Yjs after 10, less than Yjs after 100 and 1,000. */
function catchUpTarget(r: CatchUp): { target: string; ok: boolean } {
  if (r.n === 1) return { target: "≤ 100 bytes", ok: r.bytes <= 100 };
  if (r.n === 10) return { target: `≤ Yjs (${num(r.yjs.bytes)} bytes)`, ok: r.bytes <= r.yjs.bytes };
  return { target: `< Yjs (${num(r.yjs.bytes)} bytes)`, ok: r.bytes < r.yjs.bytes };
}

function catchUpTable(): { table: Table; checks: Check[]; results: CatchUp[]; notes: string; targets: Target[] } {
  const results: CatchUp[] = CATCH_UP_N.map((n) => ({ ...lichenCatchUp(n), yjs: yjsCatchUp(n) }));
  const kinds = (r: CatchUp, k: number): string => {
    const c = r.byKind.get(k);
    return c === undefined ? "0" : `${num(c.frames)} / ${num(c.bytes)}`;
  };
  const extra = new Set<number>();
  for (const r of results) for (const k of r.byKind.keys()) if (k > 4) extra.add(k);
  const table: Table = {
    title: `Bytes on the wire to bring a peer up to date after N changes (LWWMap of ${MAP_KEYS} keys; Yjs: Y.Map)`,
    how: `lichen: a node SyncEngine and a gateway SyncEngine (MemoryKv) on a simulated link (VirtualTime from sim/network/simulator.ts, ${LINK_MS} ms each way, no loss; every HLC reads the virtual time; anti-entropy pushed out of the way). The node's LWWMap "readings/${MAC_ID}" holds ${MAP_KEYS} keys, synced to the gateway. Both disconnect; the node makes N writes, ${WRITE_MS / 1000} s apart (set("k<7i mod ${MAP_KEYS}>", a reading), changed() after each: N = 100 touches every key once, N = 1,000 ten times); both reconnect (connect() on each side, as presence tells them). Every frame either side sends from the reconnect until the network is quiet (${QUIET_MS / 1000} s of virtual time) is counted, whole (CBOR + CRC-32, as sent: session frames, format 2), by kind (APPLIED, kind 7, is what a session acknowledges a delta with): "frames / bytes"; "repeats" are DELTA frames byte-for-byte equal to one the same side sent earlier in the exchange (counted in "delta" too). Yjs: the same ${MAP_KEYS} keys and N writes on a Y.Map (one transaction per write), the peer synced before; then y-protocols/sync as both sides of a peer-to-peer link run it: writeSyncStep1 each way (the state vector), readSyncMessage answers each with step 2 (the missing update; the source's is empty), 4 messages. Neither side counts transport framing (MQTT topic and header, y-websocket's message-type byte). Deterministic.`,
    columns: [
      "N writes offline",
      "lichen frames",
      "lichen bytes",
      "digest (frames / bytes)",
      "versions",
      "delta",
      "ack",
      "of the deltas: repeats (frames / bytes)",
      ...[...extra].sort().map((k) => KIND_NAMES[k] ?? `kind ${k}`),
      "Yjs messages",
      "Yjs bytes (step 1 + step 2)",
      "lichen ÷ Yjs",
      "target",
      "met?",
    ],
    rows: results.map((r) => [
      num(r.n),
      num(r.frames),
      num(r.bytes),
      kinds(r, 1),
      kinds(r, 2),
      kinds(r, 3),
      kinds(r, 4),
      r.repeated.frames === 0 ? "0" : `${num(r.repeated.frames)} / ${num(r.repeated.bytes)}`,
      ...[...extra].sort().map((k) => kinds(r, k)),
      num(r.yjs.messages),
      `${num(r.yjs.bytes)} (${num(r.yjs.step1)} + ${num(r.yjs.step2)})`,
      `${num(r.bytes / r.yjs.bytes, 2)}×`,
      catchUpTarget(r).target,
      met(catchUpTarget(r).ok),
    ]),
  };
  const checks: Check[] = results.flatMap((r) => [
    {
      what: `Sync catch-up after ${r.n} offline write(s): the gateway's copy equals the node's LWWMap, the node is in sync with it, nothing was logged, and the frames counted by kind add up`,
      ok: r.converged && [...r.byKind.values()].reduce((s, c) => s + c.bytes, 0) === r.bytes,
    },
    { what: `Sync catch-up after ${r.n} offline write(s), Yjs: the peer's Y.Map equals the source's after the 4 messages`, ok: r.yjs.converged },
  ]);
  const repeats = results.filter((r) => r.repeated.frames > 0);
  const notes =
    repeats.length > 0
      ? `**On reconnect the node sends its delta twice** (in ${repeats.length} of ${results.length} catch-up runs; at N = ${num(repeats[repeats.length - 1]!.n)}, ${num(repeats[repeats.length - 1]!.repeated.bytes)} of the ${num(repeats[repeats.length - 1]!.bytes)} bytes are the repeat). From the frame trace: both sides send a DIGEST; each answers with VERSIONS (reply); the node pushes its delta on the gateway's VERSIONS, and the gateway's own reply, VERSIONS (reply = false), reaches the node while that delta is in flight: onVersions cancels the push and sends the same delta again from the same version. The bench reports it as measured.`
      : "";
  const targets: Target[] = results.map((r) => ({ figure: `Sync: bytes to bring a peer up to date after ${num(r.n)} offline write(s)`, target: catchUpTarget(r).target, actual: `${num(r.bytes)} bytes (${num(r.frames)} frames; Yjs ${num(r.yjs.bytes)})`, ok: catchUpTarget(r).ok }));
  return { table, checks, results, notes, targets };
}

// ---- gateway ingest ----

const NODES = 1000;
const ROUNDS = 10;

/** A scheduler whose clock the bench moves and whose timers never fire (no resends, no anti-entropy). */
class FrozenTime implements Scheduler {
  t = 0;
  now(): number {
    return this.t;
  }
  setTimer(): () => void {
    return () => {};
  }
}

interface Ingest {
  store: string;
  deltas: number;
  acks: number;
  seconds: number;
  gatewaySeconds: number;
  converged: boolean;
}

function gatewayIngest(label: string, kv: KvStore): Ingest {
  const time = new FrozenTime();
  const wall = (): number => BASE_MS + time.now();
  const logs: SyncLogEntry[] = [];
  // frames in flight: [from, to, bytes], delivered in order by `drain`
  const queue: Array<[string, string, Uint8Array]> = [];
  let head = 0;
  const gw = new SyncEngine({
    replica: PEER_ID,
    role: "gateway",
    kv,
    scheduler: time,
    send: (to, frame) => queue.push([PEER_ID, to, frame]),
    clock: new Hlc({ wallClock: wall }),
    antiEntropyMs: NO_ANTI_ENTROPY_MS,
    log: (e) => logs.push(e),
  });
  const nodes = new Map<string, { engine: SyncEngine; map: LWWMap<number> }>();
  for (let i = 0; i < NODES; i++) {
    const id = nodeId(i);
    const engine = new SyncEngine({
      replica: id,
      role: "node",
      kv: new MemoryKv(),
      scheduler: time,
      send: (to, frame) => queue.push([id, to, frame]),
      clock: new Hlc({ wallClock: wall }),
      antiEntropyMs: NO_ANTI_ENTROPY_MS,
      log: (e) => logs.push(e),
    });
    nodes.set(id, { engine, map: engine.open("readings", id, LWWMap<number>) });
  }
  let deltas = 0;
  let acks = 0;
  let gatewayMs = 0;
  const drain = (): void => {
    while (head < queue.length) {
      const [from, to, frame] = queue[head]!;
      queue[head++] = undefined as unknown as [string, string, Uint8Array];
      if (to === PEER_ID) {
        if (frame[2] === 3) deltas++; // [FRAME_FORMAT, kind, ...]: the kind is the third byte
        const t0 = performance.now();
        gw.receive(from, frame);
        gatewayMs += performance.now() - t0;
      } else {
        if (frame[2] === 7) acks++; // APPLIED: a delta applied and stored
        nodes.get(to)!.engine.receive(from, frame);
      }
    }
    queue.length = 0;
    head = 0;
  };
  // presence: each node and the gateway connect; their digests and versions go through, untimed
  for (const [id, n] of nodes) {
    gw.connect(id, "node");
    n.engine.connect(PEER_ID, "gateway");
  }
  drain();
  const round = (r: number): void => {
    time.t += 1000;
    for (const [, n] of nodes) {
      n.map.set(READING_KEYS[r % READING_KEYS.length]!, reading(r));
      n.engine.changed("readings", n.engine.replica);
    }
  };
  // one round untimed: warms up the JIT on the engine's receive path
  round(0);
  drain();
  deltas = 0;
  acks = 0;
  gatewayMs = 0;
  let totalMs = 0;
  for (let r = 1; r <= ROUNDS; r++) {
    round(r);
    const t0 = performance.now();
    drain();
    totalMs += performance.now() - t0;
  }
  let converged = logs.length === 0 && deltas === NODES * ROUNDS && acks === NODES * ROUNDS;
  for (const [id, n] of nodes) {
    if (!(gw.get(`readings/${id}`)?.equals(n.map) === true && n.engine.inSync(PEER_ID))) converged = false;
    n.engine.close();
  }
  converged = converged && kv.keys(statePrefix("readings")).length === NODES;
  gw.close();
  return { store: label, deltas, acks, seconds: totalMs / 1000, gatewaySeconds: gatewayMs / 1000, converged };
}

function ingestTable(): { table: Table; checks: Check[]; results: Ingest[] } {
  const results: Ingest[] = [gatewayIngest("MemoryKv", new MemoryKv())];
  const dir = mkdtempSync(join(tmpdir(), "lichen-bench-ingest-"));
  try {
    const kv = SqliteKv.open(join(dir, "gateway.db"));
    try {
      results.push(gatewayIngest("SqliteKv (synchronous FULL, the default; file in os.tmpdir())", kv));
    } finally {
      kv.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const table: Table = {
    title: `Gateway ingest: DELTA frames from ${num(NODES)} simulated nodes into one gateway SyncEngine`,
    how: `in-process, no network: frames are handed straight from one engine's send() to the other's receive() through a queue, with no delay, so the figure is the engines' own cost. ${num(NODES)} node SyncEngines (MemoryKv) each own an LWWMap "readings/<node id>" (12-character MAC-like ids) and are connected to one gateway SyncEngine (the store below); the handshake (digests, versions) is not timed. Then ${ROUNDS} rounds (plus one untimed warm-up round): in each, every node sets one reading (temp, hum, battery or rssi) and calls changed(), which queues one DELTA frame; the clock starts at the first frame delivered and stops when the queue is empty: every delta received by the gateway (which checks its origin, applies it, stores the state through its StateStore and flushes: one KvStore.batch per delta, as received changes are stored before they are acknowledged) and every ACK processed by its node. "Gateway share" is the time spent inside the gateway's receive(). Timers never fire (no resends, no anti-entropy). Wall-clock: varies from run to run.`,
    columns: ["gateway store", "deltas", "seconds", "deltas/s (first frame to all acknowledged)", "gateway share of the time", "µs per delta"],
    rows: results.map((r) => [
      r.store,
      num(r.deltas),
      num(r.seconds, 2),
      num(Math.round(r.deltas / r.seconds)),
      `${num((100 * r.gatewaySeconds) / r.seconds, 0)}%`,
      num((r.seconds * 1e6) / r.deltas, 1),
    ]),
  };
  const checks: Check[] = results.map((r) => ({
    what: `Gateway ingest (${r.store}): ${num(NODES * ROUNDS)} DELTA frames in and ${num(NODES * ROUNDS)} ACKs back (got ${num(r.deltas)} / ${num(r.acks)}), no warnings, every node in sync, and the gateway's copy of each of the ${num(NODES)} maps (and its ${num(NODES)} stored keys) equals the node's`,
    ok: r.converged,
  }));
  return { table, checks, results };
}

// ---- latency over MQTT ----

async function latencyTable(progress: (text: string) => void): Promise<{ table: Table; checks: Check[]; notes: string }> {
  const results = await mqttLatency(progress);
  const table: Table = {
    title: "Latency from a node's write to the gateway's stored state, over MQTT",
    how: `bench/mqtt-latency.ts: a node and a gateway, each a SyncEngine bound to MQTT.js by src/transport/mqtt-node.ts (MqttSync: QoS 1, its default on Node; the node lists the gateway in \`gateways\`), on loopback. Brokers: the binding's embedded aedes (startEmbeddedBroker, lichen's ACL) and mosquitto (a fresh process: listener on 127.0.0.1, max_queued_messages 0, no persistence, no ACL). The gateway stores into SqliteKv (synchronous FULL, a file in os.tmpdir()) through a wrapper that notes the time when a batch holding the node's state has returned. One sample: the node sets a field of its LWWMap and calls changed(); the clock stops when the gateway's batch with that write has returned (durable); then the bench waits for the gateway's ACK to reach the node before the next write (one delta in flight per document), so each sample is one write's own path: node engine → MQTT.js → broker → MQTT.js → gateway engine (origin check, apply, SQLite transaction). ${LATENCY_WARMUP} writes warm up, ${LATENCY_SAMPLES} are measured; percentiles by nearest rank. "TCP_NODELAY" rows are a diagnostic, not what the binding does: the same run with Nagle's algorithm off on every socket (the clients' sockets through client.stream.setNoDelay(true); for aedes, a server of the bench's own with the binding's ACL whose accepted sockets get setNoDelay(true); for mosquitto, set_tcp_nodelay true). Wall-clock: varies from run to run.`,
    columns: ["broker", "sockets", "samples", "p50 (ms)", "p99 (ms)", "max (ms)"],
    rows: results.map((r) => {
      const sockets = r.noDelay ? "TCP_NODELAY (diagnostic)" : "as the binding ships them";
      return r.error !== undefined
        ? [r.broker, sockets, "0", "—", "—", `not measured: ${r.error}`]
        : [r.broker, sockets, num(r.samples.length), num(p50(r), 2), num(p99(r), 2), num(r.samples[r.samples.length - 1]!, 2)];
    }),
  };
  const checks: Check[] = results
    .filter((r) => r.error === undefined || !/not installed/.test(r.error))
    .map((r) => ({
      what: `MQTT latency (${r.broker}${r.noDelay ? ", TCP_NODELAY" : ""}): ${LATENCY_SAMPLES} writes stored by the gateway, no warnings, and its stored copy equals the node's map at the end${r.error === undefined ? "" : ` (${r.error})`}`,
      ok: r.error === undefined && r.converged && r.samples.length === LATENCY_SAMPLES,
    }));
  const shipped = results.filter((r) => !r.noDelay && r.error === undefined);
  const fast = results.filter((r) => r.noDelay && r.error === undefined);
  const notes =
    shipped.length > 0 && fast.length > 0 && Math.min(...shipped.map(p50)) > 5 * Math.max(...fast.map(p50))
      ? "**The MQTT latency as shipped is dominated by Nagle's algorithm:** neither MQTT.js nor aedes sets TCP_NODELAY, so a small packet written while an earlier one is still unacknowledged (e.g. the node's PUBACK for the gateway's ACK frame, then its next DELTA) waits for the peer's delayed ACK, about 40 ms on Linux, at each such hop. With TCP_NODELAY on every socket the same path takes a few milliseconds at most (the diagnostic rows). Setting it (MQTT.js: stream.setNoDelay(true) once connected; aedes: on each accepted socket; mosquitto: set_tcp_nodelay true) is for the binding to decide: the bench only measures."
      : "";
  return { table, checks, notes };
}

export async function syncSection(progress: (text: string) => void = () => {}): Promise<{ section: Section; checks: Check[] }> {
  progress("sync: catch-up bytes, lichen and Yjs");
  const catchUp = catchUpTable();
  progress("sync: gateway ingest from 1,000 nodes (MemoryKv, SqliteKv)");
  const ingest = ingestTable();
  const writePath = await writePathFiguresApart(progress);
  const latency = await latencyTable(progress);
  return {
    section: {
      title: "5. Sync: bytes to catch up, gateway ingest, latency",
      tables: [catchUp.table, ingest.table, ...writePath.tables, latency.table],
      targets: [...catchUp.targets, ...writePath.targets],
      notes: [catchUp.notes, latency.notes, "The ingest (without the write path) and the latency have no targets."].filter((x) => x).join("\n\n"),
    },
    checks: [...catchUp.checks, ...ingest.checks, ...writePath.checks, ...latency.checks],
  };
}
