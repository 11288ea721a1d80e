// A deterministic network for the sync protocol: virtual time, seeded loss,
// duplication, reordering, partitions, and crashes that keep what was stored.
import { AWMap, LWWRegister } from "../../src/index.js";
import { openClock } from "../../src/store/clock-store.js";
import { MemoryKv, type KvStore } from "../../src/store/kv.js";
import type { CoalescePolicy } from "../../src/store/state-store.js";
import { DEFAULT_READ, makePolicy, type PolicyRules, type SyncPolicy } from "../../src/transport/policy.js";
import { SyncEngine, type PeerRole, type Scheduler, type SyncOptions, type SyncLogEntry } from "../../src/transport/sync-engine.js";
import { openEvents, openFleetConfig, openReadings } from "../../targets/esp32/documents.js";
import { deviceTurn } from "../xs/device-turn.js";

/**
 * The namespace of the documents every peer of a test fleet shares that are not the firmware's:
 * `shared/awmap`, an AWMap of nested CRDTs that every peer edits concurrently (the convergence of
 * nested values through the protocol), and `shared/mode`, an LWWRegister.
 */
export const SHARED_NAMESPACE = "shared";

/** lichen's default policy (makePolicy), except that every node also reads the tests' shared documents, as it reads fleet/*. */
export function sharedReadPolicy(rules: PolicyRules = {}): SyncPolicy {
  return makePolicy({ read: [...DEFAULT_READ, `${SHARED_NAMESPACE}/*`], ...rules });
}

/** mulberry32: a small seeded PRNG, the same on every engine. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The virtual wall clock's start: every replica's clock reads it plus the virtual time. */
export const WALL_START = Date.UTC(2026, 0, 1);

/** Thrown by a storage write that a simulated power cut interrupted: the peer is down, nothing was written. */
export class PowerCut extends Error {
  constructor(readonly peer: string) {
    super(`${peer} lost power during a write`);
  }
}

/** Runs `fn`, absorbing a simulated power cut (the peer it hit is down). */
function surviving(fn: () => void): void {
  try {
    fn();
  } catch (e) {
    if (!(e instanceof PowerCut)) throw e;
  }
}

interface Timer {
  at: number;
  seq: number;
  fn: () => void;
  cancelled: boolean;
}

/** Virtual time: timers run in order of due time, then of creation. It is every peer's event loop. */
export class VirtualTime implements Scheduler {
  private t = 0;
  private seq = 0;
  private timers: Timer[] = [];

  now(): number {
    return this.t;
  }

  setTimer(ms: number, fn: () => void): () => void {
    const timer = { at: this.t + Math.max(0, ms), seq: this.seq++, fn, cancelled: false };
    this.timers.push(timer);
    return () => {
      timer.cancelled = true;
    };
  }

  /** Runs every timer due up to `until`, advancing the clock. Each is a turn of the device's event
   * loop: in the device XS, it gets the device's stack of its own (sim/xs/device-turn.ts). */
  runUntil(until: number): void {
    for (;;) {
      let next: Timer | undefined;
      for (const x of this.timers) if (!x.cancelled && x.at <= until && (next === undefined || x.at < next.at || (x.at === next.at && x.seq < next.seq))) next = x;
      if (next === undefined) break;
      this.timers = this.timers.filter((x) => x !== next && !x.cancelled);
      this.t = next.at;
      deviceTurn(next.fn);
    }
    this.t = until;
  }
}

export interface NetworkOptions {
  loss: number;
  duplicate: number;
  /** Largest delivery delay, ms: messages overtake each other. */
  maxDelayMs: number;
}

export interface SimPeer {
  readonly id: string;
  readonly role: PeerRole;
  /** Its storage; replaced by an empty one when the peer is wiped. */
  kv: MemoryKv;
  engine: SyncEngine;
  up: boolean;
}

/** One gateway (or more) and its nodes, on one virtual network. */
export class Fleet {
  readonly time = new VirtualTime();
  readonly peers = new Map<string, SimPeer>();
  readonly logs: SyncLogEntry[] = [];
  private readonly cut = new Set<string>();
  sent = 0;
  bytes = 0;
  /** Frames sent, by sender. */
  readonly sentBy = new Map<string, number>();
  /** The gateways' policy: in these fleets the nodes also edit the shared documents (fleet/ and the tests' shared/), as operators. */
  policy: SyncPolicy = makePolicy({ write: ["*/{self}", "fleet/*", `${SHARED_NAMESPACE}/*`] });
  /** Sees every frame a peer sends, before the network loses, delays or duplicates it. */
  onSend: ((from: string, to: string, frame: Uint8Array) => void) | undefined;
  /** Per peer, the chance that a storage write is cut by a power loss (none by default). */
  readonly powerCuts = new Map<string, number>();
  /** More engine options, per peer id, for engines made from now on. */
  readonly options = new Map<string, Partial<SyncOptions>>();

  constructor(
    private readonly random: () => number,
    public net: NetworkOptions,
    private readonly coalesce?: CoalescePolicy,
    private readonly antiEntropyMs = 5000,
  ) {}

  /** The life of the engine each peer runs now: a crash ends it (its timers, sends and writes stop). */
  private readonly alive = new Map<string, { alive: boolean }>();

  private makeEngine(id: string, role: PeerRole, kv: MemoryKv): SyncEngine {
    const previous = this.alive.get(id);
    if (previous !== undefined) previous.alive = false;
    const life = { alive: true };
    this.alive.set(id, life);
    const dead = (): never => {
      throw new Error(`${id} has lost power`);
    };
    // what a dead engine's leftover timers try to write never reaches the flash; a power cut
    // (if configured for this peer) stops a write before it reaches the storage
    const writable = (): void => {
      if (!life.alive) dead();
      const chance = this.powerCuts.get(id) ?? 0;
      if (chance > 0 && this.random() < chance) {
        this.crash(id);
        throw new PowerCut(id);
      }
    };
    const storage: KvStore = {
      get: (k) => kv.get(k),
      keys: (p) => kv.keys(p),
      put: (k, v) => (writable(), kv.put(k, v)),
      delete: (k) => (writable(), kv.delete(k)),
      batch: (ops, views) => (writable(), kv.batch(ops, views)),
      close: () => {},
    };
    const scheduler: Scheduler = {
      now: () => this.time.now(),
      setTimer: (ms, fn) =>
        this.time.setTimer(ms, () => {
          if (life.alive) surviving(fn);
        }),
    };
    return new SyncEngine({
      replica: id,
      role,
      kv: storage,
      scheduler,
      send: (to, frame) => {
        if (life.alive) this.transmit(id, to, frame);
      },
      coalesce: role === "node" ? this.coalesce : undefined,
      antiEntropyMs: this.antiEntropyMs,
      resendMs: 500,
      maxResendMs: 8000,
      maxFrameBytes: 4000,
      log: (e) => this.logs.push(e),
      // every replica's wall clock reads the virtual time, from 2026: runs repeat exactly
      clock: openClock(storage, { wallClock: () => WALL_START + this.time.now() }),
      policy: this.policy,
      ...this.options.get(id),
    });
  }

  add(id: string, role: PeerRole): SimPeer {
    const kv = new MemoryKv();
    const p: SimPeer = { id, role, kv, engine: this.makeEngine(id, role, kv), up: true };
    this.peers.set(id, p);
    return p;
  }

  /** Links two peers (as presence on a broker would tell them). */
  link(a: string, b: string): void {
    const pa = this.peers.get(a)!;
    const pb = this.peers.get(b)!;
    pa.engine.connect(b, pb.role);
    pb.engine.connect(a, pa.role);
  }

  partition(a: string, b: string, on: boolean): void {
    const k = a < b ? `${a}|${b}` : `${b}|${a}`;
    if (on) this.cut.add(k);
    else this.cut.delete(k);
  }

  private isCut(a: string, b: string): boolean {
    return this.cut.has(a < b ? `${a}|${b}` : `${b}|${a}`);
  }

  /** Sends a frame as `from` would (an attacker's, say), through the same network. */
  inject(from: string, to: string, frame: Uint8Array): void {
    this.transmit(from, to, frame);
  }

  private transmit(from: string, to: string, frame: Uint8Array): void {
    this.onSend?.(from, to, frame);
    this.sent++;
    this.bytes += frame.length;
    this.sentBy.set(from, (this.sentBy.get(from) ?? 0) + 1);
    if (this.isCut(from, to) || this.random() < this.net.loss) return;
    const copies = this.random() < this.net.duplicate ? 2 : 1;
    for (let i = 0; i < copies; i++) {
      const bytes = frame.slice();
      this.time.setTimer(Math.floor(this.random() * this.net.maxDelayMs), () => {
        const p = this.peers.get(to);
        if (p !== undefined && p.up && !this.isCut(from, to)) surviving(() => p.engine.receive(from, bytes));
      });
    }
  }

  /** Power loss: the engine is gone; only what its storage holds survives. */
  crash(id: string): void {
    const p = this.peers.get(id)!;
    p.up = false;
    this.alive.get(id)!.alive = false;
    for (const other of this.peers.values()) if (other.id !== id) other.engine.disconnect(id);
  }

  /** Power back: a new engine on the same storage, reconnecting to its links. */
  restart(id: string, links: string[]): void {
    const p = this.peers.get(id)!;
    p.engine = this.makeEngine(id, p.role, p.kv);
    p.up = true;
    openDocs(p.engine, id); // the firmware opens its documents at boot
    for (const other of links) if (this.peers.get(other)!.up) this.link(id, other);
  }

  /** Disk lost: the peer comes back with the same id and empty storage. */
  wipe(id: string, links: string[]): void {
    const p = this.peers.get(id)!;
    if (p.up) this.crash(id);
    p.kv = new MemoryKv();
    this.restart(id, links);
  }

  run(ms: number): void {
    this.time.runUntil(this.time.now() + ms);
  }
}

/**
 * The documents of the simulated fleet. The firmware's, typed as it types them
 * (targets/esp32/documents.ts): each node's readings (LWWMap of numbers) and events (PNCounter),
 * and the fleet's config (fleet/config: an LWWMap of `interval` and `threshold.<sensor>`, written by
 * the gateway). And the tests' own shared documents (SHARED_NAMESPACE).
 */
export function openDocs(engine: SyncEngine, node: string) {
  return {
    readings: openReadings(engine, node),
    events: openEvents(engine, node),
    config: openFleetConfig(engine, "config"),
    awmap: engine.open(SHARED_NAMESPACE, "awmap", AWMap),
    mode: engine.open(SHARED_NAMESPACE, "mode", LWWRegister),
  };
}

/** A fleet of a gateway and nodes, no loss; `policy` for the gateway (default: lichen's, the tests' shared documents readable). */
export function fleetOf(nodes: string[], policy = sharedReadPolicy()): Fleet {
  const fleet = new Fleet(rng(7), { loss: 0, duplicate: 0, maxDelayMs: 20 });
  fleet.policy = policy;
  fleet.add("gw", "gateway");
  for (const n of nodes) {
    fleet.add(n, "node");
    fleet.link(n, "gw");
  }
  return fleet;
}
