// Latency from a node's write to the gateway's stored state, over MQTT: two SyncEngines bound to
// MQTT.js (src/transport/mqtt-node.ts's MqttSync), through the embedded aedes broker and through
// mosquitto (when installed). Wall-clock on loopback: varies from run to run.
//
// Each broker is measured twice: as the binding ships it, and with TCP_NODELAY on every socket
// (the clients' sockets, and the broker's: an aedes server of our own with the binding's ACL, or
// mosquitto's set_tcp_nodelay). Neither MQTT.js nor aedes disables Nagle's algorithm, and on
// loopback a small write that follows an unacknowledged one waits for the peer's delayed ACK
// (about 40 ms on Linux): the second row shows what that costs.

import { freePort, mosquittoPath, portOpen } from "../sim/network/ports.js";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LWWMap } from "../src/core/index.js";
import { type EntityView, type KvOp, type KvStore, MemoryKv } from "../src/store/kv.js";
import { stateKey } from "../src/store/keys.js";
import { SqliteKv } from "../src/store/sqlite.js";
import { authorizePublish, authorizeSubscribe, startEmbeddedBroker } from "../src/transport/broker-node.js";
import { MqttSync } from "../src/transport/mqtt-node.js";
import type { SyncLogEntry } from "../src/transport/sync-engine.js";
import { MAC_ID, PEER_ID } from "./fixtures.js";

export const LATENCY_WARMUP = 20;
export const LATENCY_SAMPLES = 200;
const FLEET = "bench";
const WAIT_MS = 5000;

export interface LatencyResult {
  broker: string;
  /** TCP_NODELAY on every socket (clients and broker), or the binding as it ships. */
  noDelay: boolean;
  /** ms, sorted. */
  samples: number[];
  /** Set when the run could not be made (broker missing, timeout, ...). */
  error?: string;
  /** The gateway's stored copy equals the node's map at the end, and nothing was logged. */
  converged: boolean;
}

/** A KvStore that tells, after each batch has returned (is durable), which operations it wrote. */
class ObservedKv implements KvStore {
  constructor(
    private readonly inner: KvStore,
    private readonly onBatch: (ops: readonly KvOp[]) => void,
  ) {}
  get(key: string): Uint8Array | undefined {
    return this.inner.get(key);
  }
  put(key: string, value: Uint8Array): void {
    this.inner.put(key, value);
    this.onBatch([{ type: "put", key, value }]);
  }
  delete(key: string): void {
    this.inner.delete(key);
  }
  keys(prefix?: string): string[] {
    return this.inner.keys(prefix);
  }
  batch(ops: readonly KvOp[], views?: readonly EntityView[]): void {
    this.inner.batch(ops, views);
    this.onBatch(ops);
  }
  close(): void {
    this.inner.close();
  }
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!;
}

export function p50(r: LatencyResult): number {
  return percentile(r.samples, 0.5);
}

export function p99(r: LatencyResult): number {
  return percentile(r.samples, 0.99);
}

function within<T>(ms: number, what: string, p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
    }),
  ]);
}

/** Resolves when `cond()` holds, checking after every turn of the event loop. */
function until(cond: () => boolean, what: string): Promise<void> {
  return within(
    WAIT_MS,
    what,
    new Promise<void>((resolve) => {
      const check = (): void => {
        if (cond()) resolve();
        else setImmediate(check);
      };
      check();
    }),
  );
}

/** A node and a gateway on `url`; the node writes, the clock stops when the gateway's store has it. */
async function measure(broker: string, url: string, noDelay: boolean): Promise<LatencyResult> {
  const dir = mkdtempSync(join(tmpdir(), "lichen-bench-mqtt-"));
  const logs: SyncLogEntry[] = [];
  const docKey = stateKey("readings", MAC_ID);
  let waiting: { seq: number; resolve: (t: number) => void } | undefined;
  const sqlite = SqliteKv.open(join(dir, "gateway.db"));
  const gwKv = new ObservedKv(sqlite, (ops) => {
    const t = performance.now();
    if (waiting === undefined) return;
    for (const op of ops) {
      if (op.type === "put" && op.key === docKey && LWWMap.fromBytes<number>(op.value).get("seq") === waiting.seq) {
        const w = waiting;
        waiting = undefined;
        w.resolve(t);
        return;
      }
    }
  });
  const log = (e: SyncLogEntry): void => {
    if (e.level === "warn") logs.push(e);
  };
  const gw = new MqttSync({ url, replica: PEER_ID, role: "gateway", fleet: FLEET, kv: gwKv, log });
  const node = new MqttSync({ url, replica: MAC_ID, role: "node", fleet: FLEET, kv: new MemoryKv(), gateways: [PEER_ID], log });
  if (noDelay) {
    for (const c of [gw, node]) {
      const set = (): void => (c.client.stream as unknown as Partial<Socket>).setNoDelay?.(true) as unknown as void;
      c.client.on("connect", set);
      if (c.client.connected) set();
    }
  }
  const map = node.engine.open("readings", MAC_ID, LWWMap<number>);
  const samples: number[] = [];
  try {
    await Promise.all([gw.ready(WAIT_MS), node.ready(WAIT_MS)]);
    const write = async (seq: number): Promise<number> => {
      const stored = new Promise<number>((resolve) => {
        waiting = { seq, resolve };
      });
      const t0 = performance.now();
      map.set("seq", seq);
      node.engine.changed("readings", MAC_ID);
      const t1 = await within(WAIT_MS, `the gateway storing write ${seq}`, stored);
      // the acknowledgement back: the next write then goes at once (one delta in flight per document)
      await until(() => node.engine.inSync(PEER_ID), `the gateway acknowledging write ${seq}`);
      return t1 - t0;
    };
    // presence first: the node must know the gateway before its writes go anywhere
    await until(() => node.peers().some((p) => p.id === PEER_ID && p.online), "the node seeing the gateway's presence");
    for (let i = 0; i < LATENCY_WARMUP; i++) await write(i);
    for (let i = 0; i < LATENCY_SAMPLES; i++) samples.push(await write(LATENCY_WARMUP + i));
    samples.sort((a, b) => a - b);
    const stored = sqlite.get(docKey);
    const converged = logs.length === 0 && stored !== undefined && LWWMap.fromBytes(stored).equals(map);
    return { broker, noDelay, samples, converged };
  } catch (e) {
    return { broker, noDelay, samples: [], converged: false, error: (e as Error).message };
  } finally {
    waiting = undefined;
    await node.close();
    await gw.close();
    sqlite.close();
    rmSync(dir, { recursive: true, force: true });
  }
}




async function withMosquitto(noDelay: boolean): Promise<LatencyResult> {
  const bin = mosquittoPath();
  if (bin === undefined) return { broker: "mosquitto", noDelay, samples: [], converged: false, error: "mosquitto is not installed" };
  const dir = mkdtempSync(join(tmpdir(), "lichen-bench-mosquitto-"));
  const port = await freePort(); // mosquitto cannot take port 0
  const conf = join(dir, "mosquitto.conf");
  const lines = [`listener ${port} 127.0.0.1`, "allow_anonymous true", "max_queued_messages 0", "max_packet_size 65536", "persistence false", "log_dest none"];
  if (noDelay) lines.push("set_tcp_nodelay true");
  writeFileSync(conf, `${lines.join("\n")}\n`);
  let proc: ChildProcess | undefined;
  try {
    proc = spawn(bin, ["-c", conf], { stdio: "ignore" });
    const started = Date.now();
    while (!(await portOpen(port))) {
      if (proc.exitCode !== null || Date.now() - started > WAIT_MS) {
        return { broker: "mosquitto", noDelay, samples: [], converged: false, error: `mosquitto did not start on port ${port}` };
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    return await measure("mosquitto", `mqtt://127.0.0.1:${port}`, noDelay);
  } finally {
    if (proc !== undefined && proc.exitCode === null) {
      const exited = new Promise((r) => proc!.once("exit", r));
      proc.kill();
      await within(WAIT_MS, "mosquitto exiting", exited).catch(() => proc!.kill("SIGKILL"));
    }
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The binding's embedded broker, as it ships. */
async function withEmbeddedAedes(): Promise<LatencyResult> {
  const broker = await startEmbeddedBroker({ port: 0, fleet: FLEET });
  try {
    return await measure("aedes (startEmbeddedBroker)", broker.url, false);
  } finally {
    await broker.close();
  }
}

/** aedes with the binding's ACL (authorizePublish/authorizeSubscribe), its sockets with TCP_NODELAY. */
async function withNoDelayAedes(): Promise<LatencyResult> {
  const { Aedes } = await import("aedes");
  const broker = await Aedes.createBroker({ authorizePublish: authorizePublish({ fleet: FLEET }), authorizeSubscribe: authorizeSubscribe({ fleet: FLEET }) });
  const sockets = new Set<Socket>();
  const server = createServer((s) => {
    s.setNoDelay(true);
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
    broker.handle(s);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  const a = server.address();
  const port = typeof a === "object" && a !== null ? a.port : 0;
  try {
    return await measure("aedes (same ACL, own server)", `mqtt://127.0.0.1:${port}`, true);
  } finally {
    await new Promise<void>((resolve) => broker.close(() => resolve()));
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      for (const s of sockets) s.destroy();
    });
  }
}

/** Each broker as the binding ships it, then with TCP_NODELAY everywhere. */
export async function mqttLatency(progress: (text: string) => void = () => {}): Promise<LatencyResult[]> {
  const out: LatencyResult[] = [];
  progress("sync: MQTT latency, aedes (about 20 s)");
  out.push(await withEmbeddedAedes());
  out.push(await withNoDelayAedes());
  progress("sync: MQTT latency, mosquitto (about 20 s)");
  out.push(await withMosquitto(false));
  out.push(await withMosquitto(true));
  return out;
}
