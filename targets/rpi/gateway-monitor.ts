// What the dashboard shows about the fleet, kept by the running gateway: per peer (node or
// gateway) its presence, when it was last seen, the documents it wrote, and its lag; the ingest
// rate; a short history of both for the charts; and the documents changed since the last look.
//
// Lag, defined: for each node, how old the gateway's newest data from that node is, i.e.
// now − the time the newest change the gateway holds from the node was made (the wall-clock part
// of its HLC timestamp, from the documents' version vectors). A node writing every second and in
// sync shows a lag of about a second; a node that went offline, or whose deltas do not get
// through, shows a lag that keeps growing; when its backlog arrives the lag drops. (Counters'
// versions count amounts, not time: for those the time the gateway stored the change stands in.)
// Delivery: for the latest delta from a node, the time between the newest change in it being
// made and the gateway storing it. In sync: nothing pending towards the node: for every document
// it wants, it acknowledged (or told) every event the gateway holds (SyncEngine.pending).
//
// Node only (the daemon); no I/O of its own.

import { timestampToMs } from "../../src/core/hlc.js";
import type { PeerStatus } from "../../src/transport/mqtt-peer.js";
import type { PeerRole, SyncEngine } from "../../src/transport/sync-engine.js";

export interface NodeView {
  id: string;
  role: PeerRole;
  online: boolean;
  /** Wall-clock ms: the last presence or frame heard from it (null: not since this gateway started). */
  lastSeen: number | null;
  /** Wall-clock ms: when the newest change the gateway holds from it was made (see above). */
  lastChange: number | null;
  /** now − lastChange, ms. */
  lagMs: number | null;
  /** Its latest delta: made → stored at the gateway, ms. */
  deliveryMs: number | null;
  /** Nothing pending towards it (online peers only; see pendingDocs). */
  inSync: boolean | null;
  /** The documents with changes it lacks, as far as the gateway knows (online peers only). */
  pending: string[] | null;
  /** Documents holding its changes. */
  docs: string[];
  /** Deltas from it applied since the gateway started, and their bytes. */
  applied: number;
  appliedBytes: number;
  /** Deltas from it refused (forged, refused) since the gateway started. */
  refused: number;
}

export interface Sample {
  /** Wall-clock ms at the end of the second. */
  t: number;
  /** Deltas applied during that second. */
  ingest: number;
  /** Lag per peer (ms), null while unknown. */
  lag: Record<string, number | null>;
  /** The peers as they were then (not kept in the history). */
  nodes?: NodeView[];
}

export interface Totals {
  applied: number;
  appliedBytes: number;
  /** Deltas and frames refused, all reasons together; `refusedBy` splits them by reason. */
  refused: number;
  forged: number;
  local: number;
  /** Refusals by the engine's reason: forged, refused, forbidden, quota, rate-limited, frame-error. */
  refusedBy: Record<string, number>;
}

interface Track {
  docs: Set<string>;
  lastChange: number | null;
  deliveryMs: number | null;
  lastSeen: number | null;
  applied: number;
  appliedBytes: number;
  refused: number;
}

export interface MonitorOptions {
  readonly self: string;
  /** Trusted gateways (shown with the gateway role until their presence says otherwise). */
  readonly gateways: readonly string[];
  readonly engine: SyncEngine;
  /** The MQTT peers as presence tells (MqttSync.peers()). */
  readonly peers: () => PeerStatus[];
  /** Wall clock, ms (default Date.now). */
  readonly now?: () => number;
  /** The clock of PeerStatus.lastHeard (default performance.now). */
  readonly monotonic?: () => number;
  /** Samples kept (default 180: three minutes). */
  readonly historySize?: number;
}

const YEAR_MS = 366 * 86_400_000;
/** Seconds averaged by the ingest rate (the dashboard's Ingest card, /metrics). */
export const INGEST_WINDOW = 10;

/** The documents with changes `peer` lacks, as far as the gateway knows (undefined: an unknown peer). */
export function pendingDocs(engine: SyncEngine, peer: string): string[] | undefined {
  return engine.pending(peer);
}

export class GatewayMonitor {
  readonly totals: Totals = { applied: 0, appliedBytes: 0, refused: 0, forged: 0, local: 0, refusedBy: {} };
  private readonly tracks = new Map<string, Track>();
  /** Per document, the version counters seen per replica: tells which replicas a delta brought news of. */
  private readonly seen = new Map<string, Map<string, number>>();
  private readonly history: Sample[] = [];
  private readonly dirty = new Set<string>();
  private ingest = 0;
  private readonly now: () => number;
  private readonly monotonic: () => number;
  private readonly historySize: number;

  constructor(private readonly o: MonitorOptions) {
    this.now = o.now ?? Date.now;
    this.monotonic = o.monotonic ?? (() => performance.now());
    this.historySize = o.historySize ?? 180;
    // what the database holds already: every replica's newest change, so lags survive a restart
    for (const doc of o.engine.documents()) this.observe(doc, undefined, 0);
  }

  private track(id: string): Track {
    let t = this.tracks.get(id);
    if (t === undefined) {
      t = { docs: new Set(), lastChange: null, deliveryMs: null, lastSeen: null, applied: 0, appliedBytes: 0, refused: 0 };
      this.tracks.set(id, t);
    }
    return t;
  }

  /** The wall-clock ms of a version counter, if it is a plausible HLC timestamp (not a counter's amount). */
  private wallMs(counter: number): number | undefined {
    const ms = timestampToMs(counter);
    const now = this.now();
    return ms > now - YEAR_MS && ms < now + 3_600_000 ? ms : undefined;
  }

  /** Reads a document's version: which replicas brought news, and when their changes were made. */
  private observe(doc: string, from: string | undefined, storedAt: number): void {
    const crdt = this.o.engine.get(doc);
    if (crdt === undefined) return;
    let seen = this.seen.get(doc);
    if (seen === undefined) this.seen.set(doc, (seen = new Map()));
    for (const [replica, counter] of Object.entries(crdt.version().toJSON())) {
      const before = seen.get(replica) ?? 0;
      if (counter <= before) continue;
      seen.set(replica, counter);
      if (replica === this.o.self) continue;
      const t = this.track(replica);
      t.docs.add(doc);
      const made = this.wallMs(counter);
      if (made !== undefined) t.lastChange = Math.max(t.lastChange ?? 0, made);
      else if (from === replica && storedAt > 0) t.lastChange = Math.max(t.lastChange ?? 0, storedAt);
      if (from === replica && storedAt > 0 && made !== undefined) t.deliveryMs = Math.max(0, storedAt - made);
    }
  }

  /** A peer's delta was applied and stored (SyncEngine's onApplied). */
  applied(peer: string, doc: string, bytes: number): void {
    const now = this.now();
    this.totals.applied++;
    this.totals.appliedBytes += bytes;
    this.ingest++;
    const t = this.track(peer);
    t.applied++;
    t.appliedBytes += bytes;
    t.lastSeen = now;
    this.observe(doc, peer, now);
    this.dirty.add(doc);
  }

  /** A document changed here (a local write). */
  changedLocally(doc: string): void {
    this.totals.local++;
    this.observe(doc, undefined, 0);
    this.dirty.add(doc);
  }

  /** The engine refused `count` of a peer's deltas or frames for this reason (its log lines carry the count). */
  refused(peer: string | undefined, event: string, count = 1): void {
    if (event === "forged") this.totals.forged += count;
    this.totals.refused += count;
    this.totals.refusedBy[event] = (this.totals.refusedBy[event] ?? 0) + count;
    if (peer !== undefined) this.track(peer).refused += count;
  }

  /** Presence changed (MqttSync's onPresence). */
  presence(peer: string): void {
    this.track(peer).lastSeen = this.now();
  }

  /** Closes the current second: one sample for the charts. */
  tick(): Sample {
    const lag: Record<string, number | null> = {};
    const nodes = this.nodes();
    for (const n of nodes) lag[n.id] = n.lagMs;
    const s: Sample = { t: this.now(), ingest: this.ingest, lag };
    this.ingest = 0;
    this.history.push(s);
    if (this.history.length > this.historySize) this.history.splice(0, this.history.length - this.historySize);
    return { ...s, nodes };
  }

  /**
   * Deltas applied per second over the last `seconds` closed samples (fewer while the history is
   * shorter): one second's count alone swings between 0 and 2 at about one delta a second.
   */
  ingestRate(seconds = INGEST_WINDOW): number {
    const window = this.history.slice(-seconds);
    if (window.length === 0) return 0;
    return window.reduce((n, s) => n + s.ingest, 0) / window.length;
  }

  samples(): Sample[] {
    return this.history.slice();
  }

  /** The documents changed since the last call (at most `max`; `more`: some were left for later). */
  takeChanged(max = 100): { docs: string[]; more: boolean } {
    const docs = [...this.dirty].slice(0, max);
    for (const d of docs) this.dirty.delete(d);
    return { docs, more: this.dirty.size > 0 };
  }

  /** Every peer known: from presence, from deltas, or from the documents' versions. Sorted by id. */
  nodes(): NodeView[] {
    const now = this.now();
    const mono = this.monotonic();
    const peers = new Map(this.o.peers().map((p) => [p.id, p]));
    const ids = new Set([...this.tracks.keys(), ...peers.keys()]);
    ids.delete(this.o.self);
    const out: NodeView[] = [];
    for (const id of [...ids].sort()) {
      const t = this.tracks.get(id);
      const p = peers.get(id);
      const heard = p === undefined ? null : Math.round(now - (mono - p.lastHeard));
      const lastSeen = t?.lastSeen == null ? heard : heard === null ? t.lastSeen : Math.max(heard, t.lastSeen);
      const online = p?.online ?? false;
      let inSync: boolean | null = null;
      let pending: string[] | null = null;
      if (online) {
        const p = pendingDocs(this.o.engine, id);
        pending = p ?? null;
        inSync = p === undefined ? false : p.length === 0;
      }
      const lastChange = t?.lastChange ?? null;
      out.push({
        id,
        role: p?.role ?? (this.o.gateways.includes(id) ? "gateway" : "node"),
        online,
        lastSeen,
        lastChange,
        lagMs: lastChange === null ? null : Math.max(0, now - lastChange),
        deliveryMs: t?.deliveryMs ?? null,
        inSync,
        pending,
        docs: t === undefined ? [] : [...t.docs].sort(),
        applied: t?.applied ?? 0,
        appliedBytes: t?.appliedBytes ?? 0,
        refused: t?.refused ?? 0,
      });
    }
    return out;
  }
}
