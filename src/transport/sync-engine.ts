import type { Crdt } from "../core/crdt.js";
import { invalidArgument, LichenError } from "../core/errors.js";
import type { Hlc } from "../core/hlc.js";
import type { CrdtClass } from "../core/maps.js";
import { crdtClassForTag, loadCrdt } from "../core/registry.js";
import { docKey, docParts } from "../core/names.js";
import { checkReplicaId } from "../core/replica.js";
import { VersionVector } from "../core/version-vector.js";
import { openClock } from "../store/clock-store.js";
import type { KvOp, KvStore } from "../store/kv.js";
import { StateStore, WRITE_THROUGH, type CoalescePolicy, type TailPolicy } from "../store/state-store.js";
import { decodeFrame, DEFAULT_MAX_FRAME_BYTES, encodeFrame, encodeFrameInFull, FrameKind, MIN_FRAME_BYTES, splitFrame, StaleReference, versionHash, type DocumentHeader, type Frame, type FrameSession } from "./frames.js";
import { makePolicy, type SyncPolicy } from "./policy.js";
import { Reassembler } from "./reassembly.js";

/** Time and timers, given to the engine: the core and the store have none of their own. */
export interface Scheduler {
  /** Milliseconds (any origin). */
  now(): number;
  /** Calls `fn` once after `ms`; returns a function that cancels it. */
  setTimer(ms: number, fn: () => void): () => void;
}

/** A node syncs its own documents with its gateway; gateways hold everything and sync with each other. */
export type PeerRole = "node" | "gateway";

export interface SyncLogEntry {
  readonly level: "info" | "warn";
  /** What happened: "forged", "refused", "rate-limited", "frame-error", "peer-error", ... */
  readonly event: string;
  readonly peer?: string;
  readonly doc?: string;
  readonly message: string;
  /** How many such events this line stands for (one line per peer, event and interval). */
  readonly count?: number;
}

export interface SyncOptions {
  /** This replica's id: on a node, its MAC-derived id; the same id as its MQTT client. */
  readonly replica: string;
  readonly role: PeerRole;
  readonly kv: KvStore;
  readonly scheduler: Scheduler;
  /** Hands a frame to the transport for one peer. Fire and forget: loss is repaired by the protocol. */
  readonly send: (peer: string, frame: Uint8Array) => void;
  /** The replica's clock (default: openClock(kv), which survives restarts). */
  readonly clock?: Hlc;
  /** Write coalescing of local changes (default: write-through). Received changes are stored before they are acknowledged. */
  readonly coalesce?: CoalescePolicy;
  /** Largest frame sent or accepted (default 4,000 bytes). */
  readonly maxFrameBytes?: number;
  /** Period of the anti-entropy digest (default 30 s). */
  readonly antiEntropyMs?: number;
  /** First resend delay of an unacknowledged delta; doubles per attempt up to maxResendMs (defaults 1 s, 60 s). */
  readonly resendMs?: number;
  readonly maxResendMs?: number;
  /** Incoming frames allowed per peer: a burst, refilled at a rate per second (defaults 200 and 100). */
  readonly rateBurst?: number;
  readonly ratePerSecond?: number;
  /** Bytes of partial frames held per peer while reassembling (default 64 KiB; keep it small on a device). */
  readonly maxReassemblyBytes?: number;
  /** Frames being reassembled per peer (default 4). */
  readonly maxPartialFrames?: number;
  /** Bytes and frames being reassembled, all peers together (defaults 4 × maxReassemblyBytes, 64). */
  readonly maxReassemblyTotalBytes?: number;
  readonly maxPartialFramesTotal?: number;
  /**
   * Largest delta sent (default 12,000 bytes): a larger one is cut into
   * several, each acknowledged before the next, where the type allows
   * (see Crdt.deltaWithin). Keep it under every receiver's maxReassemblyBytes.
   */
  readonly maxDeltaBytes?: number;
  /**
   * How far past the local wall clock a node's timestamps may be (default
   * 10 min: a node's clock runs up to its reservation span, about 65 s, ahead
   * after each restart, so a node that restarts a few times in a row runs
   * minutes ahead, honestly; plus clock skew). A delta stamped further
   * ahead is refused (CLOCK_DRIFT) and applies once our wall clock nears it;
   * so a node moves this replica's clock at most this far ahead. Gateways are
   * held to the clock's own maxDriftMs.
   */
  readonly clockLeadMs?: number;
  /** Who may write and read what, for peers that are not gateways (default: makePolicy(), see policy.ts). */
  readonly policy?: SyncPolicy;
  /** One log line per peer, event and this interval, with a count (default 10 s). */
  readonly logIntervalMs?: number;
  /** A node that started on an empty store learned its own events back from a gateway (see `recovering`). */
  readonly onRecovered?: () => void;
  readonly log?: (entry: SyncLogEntry) => void;
  /**
   * Group commit: received deltas are stored together, up to this many in
   * one KvStore.batch (default 1: each delta stored at once). A group closes
   * when it is full or when the scheduler runs its next 0 ms timer (on Node:
   * once the frames that arrived together are handled); until its batch has
   * returned, every frame this replica sends (the group's ACKs among them)
   * is held, so nothing acknowledges or reflects a change that a crash could
   * still lose. A gateway takes thousands of deltas per fsync this way.
   */
  readonly groupCommit?: number;
  /** Store documents incrementally: a received delta is written alone, after the document's last whole write (see TailPolicy). Default: every write whole. */
  readonly tails?: TailPolicy;
  /**
   * Records to store with a received delta, in the same batch as its state (the gateway's event
   * log); called once the delta is applied, with the keys it changed (as onApplied's).
   */
  readonly logApplied?: (peer: string, doc: string, delta: Uint8Array, changedKeys: readonly string[] | undefined) => readonly KvOp[];
  /**
   * Called after a peer's delta was applied and stored, with the top-level
   * keys of the document's value it changed (Crdt.changedKeys; undefined: the
   * whole value may have changed).
   */
  readonly onApplied?: (peer: string, doc: string, delta: Uint8Array, changedKeys: readonly string[] | undefined) => void;
  /**
   * The typed documents this replica's code knows (generated by `lichen generate` from a schema
   * with `document = ...`): per namespace, the schema's name and version. A local change to a
   * document of such a namespace stamps the document with this version; every delta carries the
   * document's header (the newest version that wrote to it), so a reader of another version
   * knows what it reads (see docs/schema.md, "Synced documents").
   */
  readonly documents?: readonly DocumentSchema[];
}

/** A typed document's schema as the engine needs it: where its documents live, its name and version. */
export interface DocumentSchema {
  readonly namespace: string;
  readonly name: string;
  readonly version: number;
}

/** A delta applied and waiting for its group's commit. */
interface Applied {
  readonly peer: string;
  readonly doc: string;
  readonly delta: Uint8Array;
  readonly keys: readonly string[] | undefined;
}

/** Received deltas applied in memory, to be stored in one batch; frames held until then. */
interface Group {
  readonly applied: Applied[];
  readonly records: KvOp[];
  /** Frames held until the batch returns; an APPLIED is made then, for the version stored. */
  readonly held: Array<readonly [string, Uint8Array | (() => Uint8Array)]>;
  /** "peer doc" of the APPLIED frames held: one per peer and document a group. */
  readonly acks: Set<string>;
  cancel: (() => void) | undefined;
}

interface Doc {
  readonly ns: string;
  readonly id: string;
  readonly crdt: Crdt;
  /** The document's header: its schema and the newest version that wrote to it (typed documents). */
  schema?: DocumentHeader;
}

interface Push {
  readonly attempts: number;
  /** The version the delta in flight was made from. */
  readonly since: VersionVector | undefined;
  /** Our version when it was made: what the peer holds once it applied the delta, if the delta was whole and it held `since` exactly. */
  readonly upTo: VersionVector;
  cancel: (() => void) | undefined;
}

interface LogWindow {
  until: number;
  count: number;
}

interface Peer {
  readonly role: PeerRole;
  online: boolean;
  /** Documents this peer created here (its quota). */
  created: number;
  /** Documents it refused to take from us (not ours to write there): not pushed again until it reconnects. */
  readonly refused: Set<string>;
  /** Log lines per event, rate-limited. */
  readonly logs: Map<string, LogWindow>;
  /** Per document, a version the peer is known to have reached (acknowledged or told): deltas are made from it. */
  readonly known: Map<string, VersionVector>;
  /** Documents the peer holds or wants (a gateway peer wants everything). */
  readonly interest: Set<string>;
  readonly pushes: Map<string, Push>;
  /** Documents whose next delta goes in full: the peer could not read one relative to its version (a StaleReference). */
  readonly inFull: Set<string>;
  tokens: number;
  refilled: number;
  dropped: number;
}

/** The DELTA frame of a document's delta, with its header if it is typed. */
function deltaFrame(key: string, doc: Doc, delta: Uint8Array): Frame {
  return doc.schema === undefined ? { kind: FrameKind.Delta, doc: key, type: doc.crdt.typeTag, delta } : { kind: FrameKind.Delta, doc: key, type: doc.crdt.typeTag, delta, schema: doc.schema };
}

/** Raises a document's header to `version` (headers only grow: the newest schema that wrote to it). True if it changed. */
function stamp(doc: Doc, name: string, version: number): boolean {
  if (doc.schema !== undefined && doc.schema.name === name && doc.schema.version >= version) return false;
  doc.schema = { name, version };
  return true;
}

/**
 * lichen's sync protocol, transport-agnostic: sessions with peers over
 * frames (see frames.ts). Local writes never wait: `changed()` stores them
 * (coalesced) and pushes a delta to every interested peer, resending from the
 * peer's last acknowledged version with backoff until acknowledged. A
 * periodic digest of version hashes repairs whatever was lost; peers that
 * agree exchange one small frame. Duplicates and reordering are harmless:
 * deltas are idempotent, and one made for a version the receiver has not
 * reached is refused and asked for again.
 */
export class SyncEngine {
  readonly replica: string;
  readonly role: PeerRole;
  readonly clock: Hlc;
  private readonly states: StateStore;
  private readonly docs = new Map<string, Doc>();
  private readonly peers = new Map<string, Peer>();
  private readonly opts: Required<Omit<SyncOptions, "clock" | "coalesce" | "tails" | "log" | "onApplied" | "onRecovered" | "documents" | "logApplied">>;
  /** The typed documents' schemas this code knows, by namespace. */
  private readonly schemas = new Map<string, DocumentSchema>();
  private readonly onRecovered: (() => void) | undefined;
  private readonly partial: Reassembler;
  /**
   * A node that started on an empty store (new, or its flash wiped) may hold
   * events of its own on a gateway: until a gateway has told it what it holds
   * of its documents and it has learned its own events back, its clock and
   * counters could reuse old ids, so its changes are kept and not sent.
   * Documents still to confirm, each with how far the gateway holds our own
   * events of it (-1 until it told us); undefined once recovered.
   */
  private awaiting: Map<string, number> | undefined;
  private readonly onApplied: SyncOptions["onApplied"];
  /** Whether anyone reads a received delta's changed keys (a store keeping views, onApplied or logApplied): a node on flash does not. */
  private readonly tracksChangedKeys: boolean;
  private readonly logApplied: SyncOptions["logApplied"];
  /** The group of received deltas not yet stored (see groupCommit). */
  private group: Group | undefined;
  /** Records of a group whose batch failed: stored with the next one. */
  private unstored: KvOp[] = [];
  /** Per document, the peers (not gateways) that want it: a change is pushed to them without a scan of every peer. */
  private readonly interested = new Map<string, Set<string>>();
  /** Each peer's FrameSession (its ids do not change): made once, not per frame. */
  private readonly sessions = new WeakMap<Peer, FrameSession>();
  /** The peers that are gateways, in the order they came. */
  private readonly gatewayPeers: string[] = [];
  private readonly log: (entry: SyncLogEntry) => void;
  private partId = 0;
  private cancelAntiEntropy: (() => void) | undefined;
  private cancelFlush: (() => void) | undefined;
  private closed = false;

  constructor(options: SyncOptions) {
    this.replica = checkReplicaId(options.replica);
    if (options.role !== "node" && options.role !== "gateway") throw invalidArgument('role is "node" or "gateway"');
    this.role = options.role;
    this.opts = {
      replica: this.replica,
      role: options.role,
      kv: options.kv,
      scheduler: options.scheduler,
      send: options.send,
      maxFrameBytes: options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES,
      antiEntropyMs: options.antiEntropyMs ?? 30000,
      resendMs: options.resendMs ?? 1000,
      maxResendMs: options.maxResendMs ?? 60000,
      rateBurst: options.rateBurst ?? 200,
      ratePerSecond: options.ratePerSecond ?? 100,
      maxReassemblyBytes: options.maxReassemblyBytes ?? 65536,
      maxPartialFrames: options.maxPartialFrames ?? 4,
      maxReassemblyTotalBytes: options.maxReassemblyTotalBytes ?? 4 * (options.maxReassemblyBytes ?? 65536),
      maxPartialFramesTotal: options.maxPartialFramesTotal ?? 64,
      maxDeltaBytes: options.maxDeltaBytes ?? 12000,
      clockLeadMs: options.clockLeadMs ?? 600000,
      policy: options.policy ?? makePolicy(),
      logIntervalMs: options.logIntervalMs ?? 10000,
      groupCommit: options.groupCommit ?? 1,
    };
    if (!(Number.isSafeInteger(this.opts.groupCommit) && this.opts.groupCommit >= 1)) throw invalidArgument("groupCommit is a number of deltas, 1 or more");
    if (this.opts.maxDeltaBytes < 64) throw invalidArgument("maxDeltaBytes must be at least 64");
    for (const d of options.documents ?? []) {
      if (typeof d.name !== "string" || d.name.length === 0 || d.name.length > 64 || !Number.isSafeInteger(d.version) || d.version < 1 || d.version > 0xffff) {
        throw invalidArgument("a document schema has a name (1 to 64 characters) and a version from 1 to 65535");
      }
      if (this.schemas.has(d.namespace)) throw invalidArgument(`two document schemas for the namespace ${d.namespace}`);
      this.schemas.set(d.namespace, d);
    }
    if (!(this.opts.clockLeadMs >= 0)) throw invalidArgument("clockLeadMs must be a number of ms, 0 or more");
    this.onRecovered = options.onRecovered;
    this.partial = new Reassembler({
      maxBytes: this.opts.maxReassemblyBytes,
      maxFrames: this.opts.maxPartialFrames,
      maxTotalBytes: this.opts.maxReassemblyTotalBytes,
      maxTotalFrames: this.opts.maxPartialFramesTotal,
      abandonMs: 60000,
    });
    if (this.opts.maxFrameBytes < MIN_FRAME_BYTES) throw invalidArgument(`maxFrameBytes must be at least ${MIN_FRAME_BYTES}`);
    this.log = options.log ?? (() => {});
    this.onApplied = options.onApplied;
    this.tracksChangedKeys = options.kv.keepsViews === true || options.onApplied !== undefined || options.logApplied !== undefined;
    this.logApplied = options.logApplied;
    this.clock = options.clock ?? openClock(options.kv);
    this.states = new StateStore(options.kv, {
      coalesce: options.coalesce ?? WRITE_THROUGH,
      ...(options.tails === undefined ? {} : { tails: options.tails }),
      now: () => options.scheduler.now(),
      // changes go out once they are stored: a peer never holds an event this replica could lose in
      // a power cut, so a replica's own events are always whole wherever they are
      onFlushed: (written) => {
        for (const [ns, id] of written) this.pushToPeers(`${ns}/${id}`);
      },
    });
    // every stored document is live again after a restart, unacknowledged changes included
    for (const [ns, id] of this.states.all()) {
      const crdt = this.states.load(ns, id, (bytes) => this.restore(bytes));
      if (crdt === undefined) continue;
      const schema = this.states.header(ns, id);
      this.docs.set(`${ns}/${id}`, schema === undefined ? { ns, id, crdt } : { ns, id, crdt, schema });
    }
    if (this.role === "node" && this.docs.size === 0) this.awaiting = new Map();
    this.scheduleAntiEntropy();
  }

  private restore(bytes: Uint8Array): Crdt {
    return loadCrdt(bytes, this.replica, { clock: this.clock });
  }

  /** The document `ns/id`, loaded or created as a `type`. A node syncs only the documents it opens. */
  open<C extends Crdt>(ns: string, id: string, type: CrdtClass<C>): C {
    const key = docKey(ns, id);
    const existing = this.docs.get(key);
    if (existing !== undefined) {
      if (!(existing.crdt instanceof type)) throw new LichenError("WRONG_TYPE", `${key} holds another type than ${type.name}`);
      return existing.crdt as C;
    }
    const crdt = new type(this.replica, { clock: this.clock });
    this.docs.set(key, { ns, id, crdt });
    this.awaiting?.set(key, -1);
    const reply = this.awaiting !== undefined;
    for (const [peerId, peer] of this.peers) if (peer.online && this.wants(peer, key)) this.sendFrames(peerId, [{ kind: FrameKind.Versions, reply, docs: [[key, crdt.typeTag, crdt.version()]] }]);
    return crdt;
  }

  /**
   * True while a node that started on an empty store has not yet learned
   * back, from a gateway, the events of its own that the gateway holds. Its
   * writes wait meanwhile (they are kept and sent once it has recovered);
   * the app should not write before (see `onRecovered`), since a write now
   * could reuse the id of an event it made before its flash was wiped, and
   * a counter's increments would be merged under the count it learns back.
   * Once a gateway has said it holds such events of a document, `changed()`
   * of that document throws RECOVERING until they are back. (A new node
   * cannot tell itself from a wiped one before it meets a gateway: its
   * writes are kept meanwhile, offline first.)
   */
  get recovering(): boolean {
    return this.awaiting !== undefined;
  }

  /** False while `changed(ns, id)` would throw RECOVERING (see `recovering`). */
  mayWrite(ns: string, id: string): boolean {
    return (this.awaiting?.get(`${ns}/${id}`) ?? 0) <= 0;
  }

  /** Documents held, as "namespace/id". */
  documents(): string[] {
    return [...this.docs.keys()].sort();
  }

  /** The document under a key, if held. */
  get(doc: string): Crdt | undefined {
    return this.docs.get(doc)?.crdt;
  }

  /**
   * A typed document's header: its schema's name and the newest schema version that wrote to it,
   * as this replica knows it (its own writes and the headers of the deltas it applied, kept in the
   * store beside the document); undefined for an untyped document.
   */
  schemaOf(doc: string): DocumentHeader | undefined {
    return this.docs.get(doc)?.schema;
  }

  /**
   * Call after changing a document: it is stored as the coalescing policy
   * says, and pushed to the peers that want it once it is stored. Returns at
   * once either way. Throws RECOVERING, storing nothing, while a gateway has
   * told this recovering node that it holds events of the node's own in this
   * document that the node does not hold yet (see `recovering`).
   */
  changed(ns: string, id: string): void {
    const key = `${ns}/${id}`;
    const doc = this.docs.get(key);
    if (doc === undefined) throw invalidArgument(`${key} is not open`);
    // a write under events of ours that a gateway holds and we do not yet: merged under them, it could be lost
    if (!this.mayWrite(ns, id)) throw new LichenError("RECOVERING", `${key} not stored: a gateway holds events of this node that it is still learning back (its flash was wiped?); write after onRecovered`);
    const schema = this.schemas.get(ns);
    if (schema !== undefined && stamp(doc, schema.name, schema.version)) this.states.saveHeader(ns, id, doc.schema!);
    this.states.save(ns, id, doc.crdt); // pushes through onFlushed if this writes
    this.scheduleFlush();
  }

  private pushToPeers(key: string): void {
    // every gateway wants every document; other peers, those they said they want
    const crdt = this.docs.get(key)?.crdt;
    for (const peerId of this.gatewayPeers) {
      const peer = this.peers.get(peerId)!;
      if (peer.online && this.wants(peer, key) && !this.holdsAll(peer, key, crdt)) this.push(peerId, peer, key);
    }
    const ids = this.interested.get(key);
    if (ids === undefined) return;
    for (const peerId of ids) {
      const peer = this.peers.get(peerId)!;
      if (peer.role !== "gateway" && peer.online && this.wants(peer, key) && !this.holdsAll(peer, key, crdt)) this.push(peerId, peer, key);
    }
  }

  /** Nothing in flight to the peer and it has seen all of the document: push() would do nothing (the sender of a delta, mostly). */
  private holdsAll(peer: Peer, key: string, crdt: Crdt | undefined): boolean {
    if (crdt === undefined || peer.pushes.has(key)) return false;
    const since = peer.known.get(key);
    return since !== undefined && crdt.seenBy(since);
  }

  /** A peer wants a document (it holds it, asked for it, or wrote it). */
  private addInterest(peerId: string, peer: Peer, key: string): void {
    if (peer.interest.has(key)) return;
    peer.interest.add(key);
    if (peer.role === "gateway") return; // gateways want everything: pushToPeers goes through gatewayPeers
    let ids = this.interested.get(key);
    if (ids === undefined) this.interested.set(key, (ids = new Set()));
    ids.add(peerId);
  }

  private dropInterest(peerId: string, peer: Peer, key: string): void {
    peer.interest.delete(key);
    this.interested.get(key)?.delete(peerId);
  }

  /** A timer for the oldest pending change's deadline (the policy's maxDelayMs). */
  private scheduleFlush(): void {
    const due = this.states.dueAt;
    if (due === undefined || this.cancelFlush !== undefined) return;
    this.cancelFlush = this.opts.scheduler.setTimer(Math.max(0, due - this.opts.scheduler.now()), () => {
      this.cancelFlush = undefined;
      if (this.closed) return;
      this.states.tick();
      this.scheduleFlush();
    });
  }

  /** Writes every pending change to storage. */
  flush(): void {
    this.states.flush();
  }

  /** Operations changed() but not yet stored: what a power cut now would lose locally. */
  get pendingOps(): number {
    return this.states.pendingOps;
  }

  /** A peer became reachable (its presence, or a connection): exchange digests and resume pushes. */
  connect(peerId: string, role: PeerRole): void {
    checkReplicaId(peerId);
    let peer = this.peers.get(peerId);
    if (peer === undefined) {
      peer = {
        role,
        online: true,
        created: 0,
        refused: new Set(),
        logs: new Map(),
        known: new Map(),
        interest: new Set(),
        pushes: new Map(),
        inFull: new Set(),
        tokens: this.opts.rateBurst,
        refilled: this.opts.scheduler.now(),
        dropped: 0,
      };
      this.peers.set(peerId, peer);
      if (role === "gateway") this.gatewayPeers.push(peerId);
    }
    peer.online = true;
    peer.refused.clear();
    if (this.awaiting !== undefined && peer.role === "gateway") {
      if (this.awaiting.size === 0) this.recovered();
      else this.askOwn(peerId);
    }
    // a peer back from a disconnection: what it is known to lack goes at once (it needs no digest
    // to ask for it), and the digest lists only the rest
    let pushed = false;
    for (const key of this.docs.keys()) {
      if (!peer.known.has(key) || !this.wants(peer, key)) continue;
      this.push(peerId, peer, key);
      pushed ||= peer.pushes.has(key);
    }
    this.sendDigest(peerId, peer, pushed);
  }

  /**
   * Recovery: asks a gateway what it holds of our documents (answered for
   * every one, see onVersions). Asked on connecting and again on each digest
   * of the gateway: a request sent before the gateway linked us is lost.
   */
  private askOwn(peerId: string): void {
    const rows: Array<[string, number, VersionVector]> = [];
    for (const key of this.awaiting!.keys()) {
      const crdt = this.docs.get(key)!.crdt;
      rows.push([key, crdt.typeTag, crdt.version()]);
    }
    this.sendVersions(peerId, true, rows);
  }

  /** A peer went away: stop pushing to it; what it lacks is resent when it is back. */
  disconnect(peerId: string): void {
    const peer = this.peers.get(peerId);
    if (peer === undefined) return;
    peer.online = false;
    for (const p of peer.pushes.values()) p.cancel?.();
    peer.pushes.clear();
    this.partial.dropPeer(peerId);
  }

  /**
   * Drops all that is kept about a node that is offline (what it holds, wants, its rate and
   * quota counts), so that state kept per peer id does not grow with every id ever seen: a
   * gateway forgets nodes long gone (MqttPeer's forgetAfterMs). If it comes back, it is a new
   * peer: the digest exchange finds what either side lacks, as after a restart, which forgets as
   * much. A gateway peer, or a peer online, is kept: false.
   */
  forget(peerId: string): boolean {
    const peer = this.peers.get(peerId);
    if (peer === undefined || peer.online || peer.role === "gateway") return false;
    for (const key of peer.interest) {
      const ids = this.interested.get(key);
      ids?.delete(peerId);
      if (ids !== undefined && ids.size === 0) this.interested.delete(key);
    }
    this.partial.dropPeer(peerId);
    this.peers.delete(peerId);
    return true;
  }

  /** Peers known now (online or not): what forget() keeps bounded. */
  get peerCount(): number {
    return this.peers.size;
  }

  /** The documents the peer wants that it is not known to hold at our version, sorted (undefined for an unknown peer). */
  pending(peerId: string): string[] | undefined {
    const peer = this.peers.get(peerId);
    if (peer === undefined) return undefined;
    const out: string[] = [];
    for (const [key, doc] of this.docs) {
      if (this.wants(peer, key) && !(peer.known.get(key) ?? new VersionVector()).dominates(doc.crdt.version())) out.push(key);
    }
    return out.sort();
  }

  /** The version of `doc` the peer is known to hold (acknowledged or told), if any. */
  acknowledged(peerId: string, doc: string): VersionVector | undefined {
    return this.peers.get(peerId)?.known.get(doc)?.clone();
  }

  /** True if every document the peer wants has been acknowledged at our current version. */
  inSync(peerId: string): boolean {
    return this.pending(peerId)?.length === 0;
  }

  /** Stops timers and writes what is pending. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.cancelAntiEntropy?.();
    this.cancelFlush?.();
    this.commit();
    for (const peerId of [...this.peers.keys()]) this.disconnect(peerId);
    this.states.flush();
  }

  /**
   * Stores the open group of received deltas in one batch (with their
   * logApplied records), then calls onApplied for each and sends the frames
   * held meanwhile, their ACKs among them. If the batch fails, the held
   * frames are dropped (the peers resend what was not acknowledged), the
   * states stay pending, and the error is thrown.
   */
  commit(): void {
    const g = this.group;
    if (g === undefined) return;
    this.group = undefined;
    g.cancel?.();
    const records = this.unstored.length === 0 ? g.records : [...this.unstored, ...g.records];
    try {
      this.states.flush(records);
    } catch (e) {
      this.unstored = records;
      throw e;
    }
    this.unstored = [];
    for (const a of g.applied) this.onApplied?.(a.peer, a.doc, a.delta, a.keys);
    for (const [peerId, bytes] of g.held) this.opts.send(peerId, typeof bytes === "function" ? bytes() : bytes);
  }

  /**
   * The APPLIED of a delta in the open group: made when the group's batch has returned, for the
   * document's version then, which is what is stored (a later delta of the same group, or of
   * another peer, may have moved it on); one per peer and document, as a later one would supersede it.
   */
  private holdApplied(group: Group, peerId: string, key: string, doc: Doc): void {
    const id = `${peerId} ${key}`;
    if (group.acks.has(id)) return;
    group.acks.add(id);
    group.held.push([peerId, () => encodeFrame({ kind: FrameKind.Applied, doc: key, hash: versionHash(doc.crdt.version()) }, [this.replica, peerId])]);
  }

  /** A received delta joins the open group (opening one if none): from now on, frames are held until it is stored. */
  private joinGroup(peerId: string, doc: string, delta: Uint8Array, keys: readonly string[] | undefined): Group {
    let g = this.group;
    if (g === undefined) {
      g = { applied: [], records: [], held: [], acks: new Set(), cancel: undefined };
      this.group = g;
      if (this.opts.groupCommit > 1) g.cancel = this.opts.scheduler.setTimer(0, () => this.commit());
    }
    g.applied.push({ peer: peerId, doc, delta, keys });
    if (this.logApplied !== undefined) for (const op of this.logApplied(peerId, doc, delta, keys)) g.records.push(op);
    return g;
  }

  // ---- sending ----

  private wants(peer: Peer, doc: string): boolean {
    if (peer.refused.has(doc)) return false;
    return peer.role === "gateway" && this.role === "gateway" ? true : peer.interest.has(doc) || (this.role === "node" && peer.role === "gateway");
  }

  /** Gateways are trusted with every document; other peers get what the policy lets them read. */
  private mayRead(peerId: string, peer: Peer, doc: string): boolean {
    return peer.role === "gateway" || this.opts.policy.mayRead(peerId, doc);
  }

  /** Sends frames in the session with the peer (a DELTA relative to the peer's version where it can be). */
  private sendFrames(peerId: string, frames: Frame[]): void {
    for (const f of frames) {
      const bytes = encodeFrame(f, [this.replica, peerId]);
      this.sendBytes(peerId, bytes);
    }
  }

  /** Sends a DELTA whose context says its timestamps itself: after the peer found one relative to its version stale. */
  private sendInFull(peerId: string, f: Frame): void {
    const bytes = encodeFrameInFull(f, [this.replica, peerId]);
    this.sendBytes(peerId, bytes);
  }

  /** Sends a frame's bytes, in parts if it is larger than a frame may be. */
  private sendBytes(peerId: string, bytes: Uint8Array): void {
    if (bytes.length <= this.opts.maxFrameBytes) this.transmit(peerId, bytes);
    else {
      this.partId = (this.partId + 1) % 0x7fffffff;
      for (const part of splitFrame(bytes, this.partId, this.opts.maxFrameBytes)) this.transmit(peerId, part);
    }
  }

  /** Sends now, or holds until the open group is stored (see commit). */
  private transmit(peerId: string, bytes: Uint8Array): void {
    if (this.group !== undefined) this.group.held.push([peerId, bytes]);
    else this.opts.send(peerId, bytes);
  }

  /**
   * Digest frames listing every document the peer wants, each frame within the size limit. Those
   * with a delta in flight are left out (its APPLIED or ERROR tells what the peer holds), and with
   * `skipEmpty` so is a digest that would list nothing.
   */
  private sendDigest(peerId: string, peer: Peer, skipEmpty = false): void {
    const rows: Array<[string, number, number]> = [];
    for (const [key, doc] of this.docs) if (this.wants(peer, key) && !peer.pushes.has(key)) rows.push([key, doc.crdt.typeTag, versionHash(doc.crdt.version())]);
    if (rows.length === 0 && skipEmpty) return;
    rows.sort((a, b) => (a[0] < b[0] ? -1 : 1));
    const frames: Frame[] = [];
    let chunk: Array<[string, number, number]> = [];
    let size = 8;
    for (const r of rows) {
      const cost = r[0].length * 3 + 16;
      if (chunk.length > 0 && size + cost > this.opts.maxFrameBytes) {
        frames.push({ kind: FrameKind.Digest, docs: chunk });
        chunk = [];
        size = 8;
      }
      chunk.push(r);
      size += cost;
    }
    frames.push({ kind: FrameKind.Digest, docs: chunk });
    this.sendFrames(peerId, frames);
  }

  /**
   * Sends what the peer lacks of a document, from the last version it
   * acknowledged, and resends with backoff until acknowledged. One delta in
   * flight per document: changes made meanwhile go with the next one.
   */
  private push(peerId: string, peer: Peer, key: string, attempt = 0): void {
    const doc = this.docs.get(key);
    if (doc === undefined || !peer.online || this.awaiting !== undefined || peer.refused.has(key)) return;
    const current = peer.pushes.get(key);
    if (this.states.isPending(doc.ns, doc.id)) {
      // not stored yet: the write that stores it pushes it (onFlushed)
      current?.cancel?.();
      peer.pushes.delete(key);
      return;
    }
    const since = peer.known.get(key);
    // a node sends only events of its own: what it holds of others' that the peer lacks (a
    // gateway that lost its disk) is not its to hand back, and would be refused as forged
    const nothingOfMine = this.role === "node" && (since?.get(this.replica) ?? 0) >= doc.crdt.version().get(this.replica);
    if (nothingOfMine || (since !== undefined && since.dominates(doc.crdt.version()))) {
      current?.cancel?.();
      peer.pushes.delete(key);
      return;
    }
    if (current !== undefined && attempt === 0) return; // in flight: its acknowledgement or its timer sends more
    current?.cancel?.();
    const delta = doc.crdt.deltaWithin(since, this.opts.maxDeltaBytes);
    if (peer.inFull.delete(key)) this.sendInFull(peerId, deltaFrame(key, doc, delta));
    else this.sendFrames(peerId, [deltaFrame(key, doc, delta)]);
    const p: Push = { attempts: attempt, since, upTo: doc.crdt.version(), cancel: undefined };
    const delay = Math.min(this.opts.resendMs * 2 ** Math.min(attempt, 16), this.opts.maxResendMs);
    p.cancel = this.opts.scheduler.setTimer(delay, () => {
      if (peer.pushes.get(key) === p) this.push(peerId, peer, key, attempt + 1);
    });
    peer.pushes.set(key, p);
  }

  private scheduleAntiEntropy(): void {
    this.cancelAntiEntropy = this.opts.scheduler.setTimer(this.opts.antiEntropyMs, () => {
      if (this.closed) return;
      this.states.tick();
      for (const [peerId, peer] of this.peers) if (peer.online) this.sendDigest(peerId, peer);
      this.scheduleAntiEntropy();
    });
  }

  // ---- receiving ----

  /** Handles a frame from a peer. Bad frames are logged and dropped; they never throw and never change state. */
  receive(peerId: string, bytes: Uint8Array): void {
    const peer = this.peers.get(peerId);
    if (peer === undefined || this.closed) return;
    if (!this.admit(peerId, peer)) return;
    let frame: Frame;
    try {
      frame = decodeFrame(bytes, this.opts.maxFrameBytes, this.session(peerId, peer));
    } catch (e) {
      this.frameError(peerId, peer, e);
      return;
    }
    if (frame.kind === FrameKind.Part) {
      const got = this.partial.add(peerId, frame, this.opts.scheduler.now());
      if (got === undefined) return;
      if ("dropped" in got) {
        this.note(peerId, peer, "frame-error", undefined, `${got.dropped}: dropped`);
        return;
      }
      const whole = got.whole;
      try {
        frame = decodeFrame(whole, whole.length, this.session(peerId, peer));
      } catch (e) {
        this.frameError(peerId, peer, e);
        return;
      }
      if (frame.kind === FrameKind.Part) return;
    }
    this.handle(peerId, peer, frame);
  }

  /**
   * What frames from a peer are read against: its id as the transport
   * authenticated it and ours, never ids the bytes name. A delta expands to
   * at most what a peer may have reassembled (senders cut theirs to
   * maxDeltaBytes, kept under every receiver's maxReassemblyBytes).
   */
  private session(peerId: string, peer: Peer): FrameSession {
    let s = this.sessions.get(peer);
    if (s === undefined) {
      s = {
        ids: [peerId, this.replica],
        maxExpandedBytes: Math.max(this.opts.maxReassemblyBytes, this.opts.maxFrameBytes),
        prefixOf: (doc) => this.docs.get(doc)?.crdt.versionOf(peerId) ?? 0,
      };
      this.sessions.set(peer, s);
    }
    return s;
  }

  /**
   * A frame that could not be read is dropped and logged. One that was made
   * relative to a version of the document we do not hold (we got more since,
   * lost some, or it is a replay) is answered with a "stale" ERROR: its
   * sender sends the delta again in full, which says its timestamps itself.
   */
  private frameError(peerId: string, peer: Peer, e: unknown): void {
    if (!(e instanceof StaleReference)) {
      this.note(peerId, peer, "frame-error", undefined, (e as Error).message);
      return;
    }
    this.note(peerId, peer, "stale-reference", e.doc, e.message);
    this.sendFrames(peerId, [{ kind: FrameKind.Error, doc: e.doc, code: "stale", message: "a delta relative to a version this replica does not hold: send it in full" }]);
  }

  /**
   * Logs a warning about a peer, at most once per peer, event and interval:
   * the line counts the events it stands for, so a flood costs one line.
   */
  private note(peerId: string, peer: Peer, event: string, doc: string | undefined, message: string): void {
    const now = this.opts.scheduler.now();
    let w = peer.logs.get(event);
    if (w === undefined) {
      w = { until: -Infinity, count: 0 };
      peer.logs.set(event, w);
    }
    w.count++;
    if (now < w.until) return;
    const count = w.count;
    w.count = 0;
    w.until = now + this.opts.logIntervalMs;
    this.log(doc === undefined ? { level: "warn", event, peer: peerId, message, count } : { level: "warn", event, peer: peerId, doc, message, count });
  }

  /** Token bucket per peer: a flood of frames is dropped, not processed. */
  private admit(peerId: string, peer: Peer): boolean {
    const now = this.opts.scheduler.now();
    const refill = ((now - peer.refilled) * this.opts.ratePerSecond) / 1000;
    if (refill > 0) {
      peer.tokens = Math.min(this.opts.rateBurst, peer.tokens + refill);
      peer.refilled = now;
    }
    if (peer.tokens >= 1) {
      peer.tokens -= 1;
      return true;
    }
    peer.dropped++;
    this.note(peerId, peer, "rate-limited", undefined, `frames from ${peerId} over ${this.opts.ratePerSecond}/s: dropped`);
    return false;
  }

  /** Bytes of partial frames held now, all peers together. */
  get reassemblyBytes(): number {
    return this.partial.bytes;
  }

  private handle(peerId: string, peer: Peer, f: Frame): void {
    switch (f.kind) {
      case FrameKind.Digest:
        return this.onDigest(peerId, peer, f.docs);
      case FrameKind.Versions:
        return this.onVersions(peerId, peer, f.reply, f.docs);
      case FrameKind.Delta:
        return this.onDelta(peerId, peer, f.doc, f.type, f.delta, f.schema);
      case FrameKind.Ack:
        return this.onAck(peerId, peer, f.doc, f.version);
      case FrameKind.Applied:
        return this.onAppliedHash(peerId, peer, f.doc, f.hash);
      case FrameKind.Error:
        if (f.code === "stale") {
          // the peer could not read our delta relative to its version: the next one goes in full, now
          // (only for a document we hold: a peer naming others would grow the set for nothing)
          if (!this.docs.has(f.doc)) return;
          peer.inFull.add(f.doc);
          const p = peer.pushes.get(f.doc);
          if (p !== undefined) {
            p.cancel?.();
            peer.pushes.delete(f.doc);
            this.push(peerId, peer, f.doc);
          }
          return;
        }
        if (f.code === "unwanted" || f.code === "forbidden" || f.code === "quota" || f.code === "forged") {
          // the peer will not take this delta: no resends. Nor this document, unless forged (a
          // later change may be accepted): not pushed again until it reconnects
          if (f.code === "unwanted") this.dropInterest(peerId, peer, f.doc);
          else if (f.code !== "forged") peer.refused.add(f.doc);
          peer.pushes.get(f.doc)?.cancel?.();
          peer.pushes.delete(f.doc);
          if (f.code === "unwanted") return;
        }
        this.note(peerId, peer, "peer-error", f.doc, `${f.code}: ${f.message}`);
        return;
    }
  }

  /** Whether this replica takes a document it does not hold yet. */
  private accepts(peerId: string, peer: Peer, key: string): boolean {
    return this.docs.has(key) || (this.role === "gateway" && this.mayRead(peerId, peer, key));
  }

  private onDigest(peerId: string, peer: Peer, docs: ReadonlyArray<readonly [string, number, number]>): void {
    if (this.awaiting !== undefined && peer.role === "gateway") this.askOwn(peerId);
    const mismatch: Array<[string, number, VersionVector]> = [];
    for (const [key, type, hash] of docs) {
      if (!this.mayRead(peerId, peer, key)) continue;
      this.addInterest(peerId, peer, key);
      const doc = this.docs.get(key);
      const mine = doc === undefined ? new VersionVector() : doc.crdt.version();
      const inFlight = peer.pushes.get(key);
      if (versionHash(mine) === hash) {
        // the same version: the peer has exactly what we have (a collision would only cost an OUT_OF_ORDER round trip)
        if (doc !== undefined) peer.known.set(key, mine);
      } else if (inFlight !== undefined && versionHash(inFlight.since ?? new VersionVector()) === hash) {
        // the peer holds what the delta in flight was made from: that delta is all it lacks, and it has nothing we lack
      } else if (doc !== undefined) mismatch.push([key, doc.crdt.typeTag, mine]);
      else if (this.accepts(peerId, peer, key)) mismatch.push([key, type, mine]);
    }
    if (mismatch.length > 0) this.sendVersions(peerId, true, mismatch);
  }

  private sendVersions(peerId: string, reply: boolean, rows: Array<[string, number, VersionVector]>): void {
    // chunked so that each frame stays small: a version costs about 16 bytes per replica
    const frames: Frame[] = [];
    let chunk: Array<[string, number, VersionVector]> = [];
    let size = 8;
    for (const r of rows) {
      const cost = r[0].length * 3 + 16 + r[2].size * 80;
      if (chunk.length > 0 && size + cost > this.opts.maxFrameBytes) {
        frames.push({ kind: FrameKind.Versions, reply, docs: chunk });
        chunk = [];
        size = 8;
      }
      chunk.push(r);
      size += cost;
    }
    if (chunk.length > 0) frames.push({ kind: FrameKind.Versions, reply, docs: chunk });
    this.sendFrames(peerId, frames);
  }

  /**
   * A peer's versions: what it holds now. They replace what we took it to
   * hold, even if less (a peer restored from an older backup, or with its
   * storage wiped): pushes restart from there, so it is brought up to date
   * instead of being sent deltas it cannot apply. A VERSIONS with `reply`
   * asks for ours: answered for every document listed that it may read.
   */
  private onVersions(peerId: string, peer: Peer, reply: boolean, docs: ReadonlyArray<readonly [string, number, VersionVector]>): void {
    const back: Array<[string, number, VersionVector]> = [];
    for (const [key, type, theirs] of docs) {
      if (!this.mayRead(peerId, peer, key)) continue;
      this.addInterest(peerId, peer, key);
      peer.known.set(key, theirs.clone());
      const doc = this.docs.get(key);
      if (doc === undefined) {
        if (reply && this.accepts(peerId, peer, key)) back.push([key, type, new VersionVector()]);
        continue;
      }
      const mine = doc.crdt.version();
      if (!theirs.dominates(mine)) {
        // they lack something: restart the push from the version they just told,
        // unless the delta in flight was made from that very version
        const inFlight = peer.pushes.get(key);
        if (inFlight === undefined || !theirs.equals(inFlight.since ?? new VersionVector())) {
          inFlight?.cancel?.();
          peer.pushes.delete(key);
          this.push(peerId, peer, key);
        }
      }
      if (reply) back.push([key, doc.crdt.typeTag, mine]);
      if (this.awaiting !== undefined && peer.role === "gateway") this.awaitOwn(key, theirs.get(this.replica));
    }
    if (back.length > 0) this.sendVersions(peerId, false, back);
  }

  /** Recovery: a gateway holds our own events of a document up to `upTo`; done with it once we hold them too. */
  private awaitOwn(key: string, upTo: number): void {
    const awaiting = this.awaiting!;
    if (!awaiting.has(key)) return;
    awaiting.set(key, upTo);
    this.checkRecovered();
  }

  private checkRecovered(): void {
    const awaiting = this.awaiting;
    if (awaiting === undefined) return;
    for (const [key, upTo] of awaiting) {
      if (upTo < 0) continue;
      if (this.docs.get(key)!.crdt.version().get(this.replica) >= upTo) awaiting.delete(key);
    }
    if (awaiting.size === 0) this.recovered();
  }

  private recovered(): void {
    this.awaiting = undefined;
    this.onRecovered?.();
    for (const key of this.docs.keys()) this.pushToPeers(key);
  }

  private onDelta(peerId: string, peer: Peer, key: string, type: number, delta: Uint8Array, header: DocumentHeader | undefined): void {
    // a peer that is not a gateway writes only what the policy lets it, and only events of its own
    const checked = peer.role !== "gateway";
    if (checked && !this.opts.policy.mayWrite(peerId, key)) {
      this.refuse(peerId, peer, key, "forbidden", `${peerId} may not write ${key}: nothing applied`);
      return;
    }
    if (header !== undefined) {
      const mine = this.schemas.get(key.slice(0, key.indexOf("/")));
      if (mine !== undefined && header.name !== mine.name) {
        // another schema's document under our namespace: its data would be read as ours
        this.refuse(peerId, peer, key, "refused", `${key} is a ${header.name} (schema version ${header.version}); here it is a ${mine.name}: nothing applied`);
        return;
      }
    }
    // (a peer already interested needs no policy check: addInterest would do nothing)
    if (!peer.interest.has(key) && this.mayRead(peerId, peer, key)) this.addInterest(peerId, peer, key);
    let doc = this.docs.get(key);
    if (doc === undefined) {
      const ctor = crdtClassForTag(type);
      if (ctor === undefined) {
        this.refuse(peerId, peer, key, "refused", `unknown type ${type}`);
        return;
      }
      if (!this.accepts(peerId, peer, key)) {
        // a node keeps only the documents it opened: the peer stops sending this one
        this.sendFrames(peerId, [{ kind: FrameKind.Error, doc: key, code: "unwanted", message: "this replica does not hold that document" }]);
        return;
      }
      if (checked && peer.created >= this.opts.policy.maxDocsPerPeer) {
        this.refuse(peerId, peer, key, "quota", `${peerId} created ${peer.created} documents, its quota: nothing applied`);
        return;
      }
      const [ns, id] = docParts(key);
      doc = { ns, id, crdt: new ctor(this.replica, { clock: this.clock }) };
    } else if (doc.crdt.typeTag !== type) {
      this.refuse(peerId, peer, key, "refused", `${key} is of another type`);
      return;
    }
    // the top-level keys of the value it changes, if the type tells; none new (a new key rewrites the readable copy whole)
    let keys: string[] | undefined;
    try {
      // decoded and checked once, its authorship checked on the decoded delta, applied once
      const d = doc.crdt.checkDelta(delta);
      const forged = checked ? doc.crdt.unheldAuthor(d, peerId) : undefined;
      if (forged !== undefined) {
        this.refuse(peerId, peer, key, "forged", `${peerId} sent events of ${forged}: nothing applied`);
        return;
      }
      // a node's timestamps move our clock at most clockLeadMs ahead: later ones wait (refused, resent) until our wall clock nears them
      if (checked) this.clock.check(d.maxTs, this.opts.clockLeadMs);
      const crdt = doc.crdt;
      keys = this.tracksChangedKeys && this.docs.has(key) ? crdt.changedKeys(d) : undefined;
      if (keys !== undefined) {
        for (const k of keys) {
          if (crdt.valueAt(k) === undefined) {
            keys = undefined;
            break;
          }
        }
      }
      doc.crdt.applyChecked(d);
    } catch (e) {
      const err = e as LichenError;
      if (err.code === "OUT_OF_ORDER") {
        // made for a version we have not reached (a lost or reordered delta): ask again from ours
        this.sendVersions(peerId, false, [[key, doc.crdt.typeTag, doc.crdt.version()]]);
        return;
      }
      this.refuse(peerId, peer, key, "refused", `${err.code ?? "ERROR"}: ${err.message}`);
      return;
    }
    if (!this.docs.has(key)) {
      this.docs.set(key, doc);
      if (checked) peer.created++;
    }
    if (header !== undefined && stamp(doc, header.name, header.version)) this.states.saveHeader(doc.ns, doc.id, doc.schema!);
    // the sender holds every event of its own that we hold (it stores before it sends)
    const own = doc.crdt.versionOf(peerId);
    const known = peer.known.get(key) ?? new VersionVector();
    if (own > known.get(peerId)) peer.known.set(key, known.clone().set(peerId, own));
    // stored before acknowledged: the ACK is held with the group until its batch returns (the
    // batch also pushes the change on to the peers that lack it)
    this.states.stage(doc.ns, doc.id, doc.crdt, keys, delta);
    const group = this.joinGroup(peerId, key, delta, keys);
    this.holdApplied(group, peerId, key, doc);
    if (this.awaiting !== undefined) this.checkRecovered();
    if (group.applied.length >= this.opts.groupCommit) this.commit();
  }

  /** A delta refused: nothing applied, the sender told (ERROR frame), one log line per peer, event and interval. */
  private refuse(peerId: string, peer: Peer, doc: string, event: string, message: string): void {
    this.note(peerId, peer, event, doc, message);
    this.sendFrames(peerId, [{ kind: FrameKind.Error, doc, code: event, message }]);
  }

  /**
   * A delta of ours applied: the peer's version now has `hash`. The version the delta was meant
   * to bring it to (or ours) if the hash says so; otherwise, with a delta of ours in flight (cut in
   * parts, or the peer held more than we knew), we ask for its version, and its answer restarts the
   * push from there. Without one it answers nothing of ours (a duplicate, a replay): ignored.
   */
  private onAppliedHash(peerId: string, peer: Peer, key: string, hash: number): void {
    const doc = this.docs.get(key);
    if (doc === undefined) return;
    const upTo = peer.pushes.get(key)?.upTo;
    if (upTo !== undefined && versionHash(upTo) === hash) return this.onAck(peerId, peer, key, upTo);
    const mine = doc.crdt.version();
    if (versionHash(mine) === hash) return this.onAck(peerId, peer, key, mine);
    if (upTo !== undefined) this.sendVersions(peerId, true, [[key, doc.crdt.typeTag, mine]]);
  }

  private onAck(peerId: string, peer: Peer, key: string, version: VersionVector): void {
    const known = peer.known.get(key);
    peer.known.set(key, known === undefined ? version.clone() : known.clone().merge(version));
    const p = peer.pushes.get(key);
    if (p !== undefined) {
      p.cancel?.();
      peer.pushes.delete(key);
    }
    // changes made while the delta was in flight go now (and the next part of a delta cut in several)
    const doc = this.docs.get(key);
    if (doc !== undefined && !peer.known.get(key)!.dominates(doc.crdt.version())) this.push(peerId, peer, key);
  }
}
