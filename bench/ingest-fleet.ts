// The nodes of the ingest run (bench/gateway-ingest.ts), in a worker thread of their own: the
// gateway's thread then holds the gateway alone, as a real gateway's process does. In the same
// thread, the nodes' allocations filled the young generation the gateway's scavenges copy its
// open group out of: the gateway paid for the simulation's garbage.
//
// Both sides are here. The main thread's NodeFleet asks; the worker (this file again) holds
// `count` node SyncEngines (MemoryKv), each with an LWWMap "readings/<id>", on a LoopTime the
// main thread sets with each request, and answers with the frames the nodes sent.

import { isMainThread, parentPort, Worker, workerData } from "node:worker_threads";
import { Hlc, LWWMap } from "../src/core/index.js";
import { MemoryKv } from "../src/store/kv.js";
import { SyncEngine } from "../src/transport/sync-engine.js";
import { LoopTime } from "../sim/network/loop-time.js";

/** Frames as [peer, bytes]: to the gateway, from the node named; to a node, the node named. */
export type Frames = Array<[string, Uint8Array]>;

type Request =
  | { op: "deliver"; t: number; frames: Frames }
  | { op: "round"; t: number; k: number }
  | { op: "states" };

export const READING_KEYS = ["temp", "hum", "battery", "rssi"];

export function nodeId(i: number): string {
  return `a4cf12b3${i.toString(16).padStart(4, "0")}`;
}

/** A node of the write path's runs: its frames to the gateway go to `out`, as [its id, bytes]. */
export function simNode(id: string, time: LoopTime, out: Frames): SyncEngine {
  return new SyncEngine({
    replica: id,
    role: "node",
    kv: new MemoryKv(),
    scheduler: time,
    clock: new Hlc({ wallClock: () => time.t }),
    send: (_to, frame) => out.push([id, frame]),
    antiEntropyMs: 7 * 24 * 3600_000,
  });
}

/** The main thread's side: each call answers with the frames the nodes sent to the gateway meanwhile. */
export class NodeFleet {
  private readonly worker: Worker;
  private waiting: ((reply: unknown) => void) | undefined;
  /** Replies that came with no call waiting (the first, sent as the worker starts). */
  private readonly early: unknown[] = [];
  private failed: Error | undefined;

  /** Starts the worker: `count` nodes, connected to `gateway`, their clock at `t`. */
  constructor(count: number, gateway: string, t: number) {
    const data = { count, gateway, t };
    if (import.meta.url.endsWith(".ts")) {
      // under tsx: the worker's entry registers tsx's loader first (the main thread's does not reach it)
      const tsx = import.meta.resolve("tsx/esm/api");
      this.worker = new Worker(`import(${JSON.stringify(tsx)}).then((t) => { t.register(); return import(${JSON.stringify(import.meta.url)}); })`, { eval: true, workerData: data });
    } else this.worker = new Worker(new URL(import.meta.url), { workerData: data });
    this.worker.on("message", (m: unknown) => {
      const w = this.waiting;
      this.waiting = undefined;
      if (w === undefined) this.early.push(m);
      else w(m);
    });
    this.worker.on("error", (e) => {
      this.failed = e;
      this.waiting?.(undefined);
    });
  }

  /** The frames the nodes sent when they connected. */
  started(): Promise<Frames> {
    return this.call(undefined);
  }

  /** Hands the gateway's frames to their nodes (their 0 ms timers run after). */
  deliver(t: number, frames: Frames): Promise<Frames> {
    return this.call({ op: "deliver", t, frames });
  }

  /** Each node sets one reading (round k) and sends its delta. */
  round(t: number, k: number): Promise<Frames> {
    return this.call({ op: "round", t, k });
  }

  /** Each node's map, as bytes, and whether it is in sync with the gateway. */
  states(): Promise<Array<[string, Uint8Array, boolean]>> {
    return this.call({ op: "states" });
  }

  async close(): Promise<void> {
    await this.worker.terminate();
  }

  private call<T>(req: Request | undefined): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      if (this.failed !== undefined) return reject(this.failed);
      if (req === undefined && this.early.length > 0) return resolve(this.early.shift() as T);
      this.waiting = (m) => (this.failed !== undefined ? reject(this.failed) : resolve(m as T));
      if (req !== undefined) this.worker.postMessage(req);
    });
  }
}

/** The worker's side. */
function serve(count: number, gateway: string, t: number): void {
  const port = parentPort!;
  const time = new LoopTime(t);
  const out: Frames = [];
  const nodes = new Map<string, { engine: SyncEngine; map: LWWMap<number> }>();
  for (let i = 0; i < count; i++) {
    const id = nodeId(i);
    const engine = simNode(id, time, out);
    nodes.set(id, { engine, map: engine.open("readings", id, LWWMap<number>) });
    engine.connect(gateway, "gateway");
  }
  const reply = (): void => {
    while (time.turn());
    port.postMessage(out.splice(0));
  };
  reply();
  port.on("message", (req: Request) => {
    switch (req.op) {
      case "deliver":
        time.t = req.t;
        for (const [to, f] of req.frames) nodes.get(to)?.engine.receive(gateway, f);
        return reply();
      case "round":
        time.t = req.t;
        for (const [id, n] of nodes) {
          n.map.set(READING_KEYS[req.k % READING_KEYS.length]!, Math.round(Math.sin(req.k + id.length) * 1000) / 100);
          n.engine.changed("readings", id);
        }
        return reply();
      case "states":
        return port.postMessage([...nodes].map(([id, n]) => [id, n.map.toBytes(), n.engine.inSync(gateway)]));
    }
  });
}

if (!isMainThread && (workerData as { count?: unknown } | null)?.count !== undefined) {
  const d = workerData as { count: number; gateway: string; t: number };
  serve(d.count, d.gateway, d.t);
}
