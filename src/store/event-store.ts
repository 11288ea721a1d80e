import { cborEncodeFlat, cborEncodeFlatWrapping } from "../core/cbor.js";
import { decodeCbor, encodeCbor } from "../core/codec.js";
import { invalidArgument, LichenError } from "../core/errors.js";
import { isTimestamp } from "../core/hlc.js";
import { checkReplicaId } from "../core/replica.js";
import type { KvOp, KvStore } from "./kv.js";
import { eventKey, eventPrefix, parseEventSeq, snapshotKey, storedLogs } from "./keys.js";

/** One event of a log: its sequence number, HLC timestamp, the node that made it, and its bytes. */
export interface StoredEvent {
  readonly seq: number;
  readonly ts: number;
  readonly node: string;
  readonly data: Uint8Array;
}

export interface Snapshot {
  /** The snapshot holds the effect of every event up to and including this one. */
  readonly seq: number;
  readonly state: Uint8Array;
}

const RECORD_FORMAT = 1;

/**
 * An append-only event log over any KvStore (crdt-kit's event store): append
 * events, read ranges, save a snapshot at a sequence number, drop the events
 * before it. Compaction is a snapshot, then a truncation: the two are one
 * atomic batch, so a power cut never leaves a log without either.
 */
export class EventStore {
  private readonly eventPrefix: string;
  private readonly snapshotKey: string;
  private last: number;
  private first: number;

  constructor(
    private readonly kv: KvStore,
    readonly log: string,
  ) {
    this.eventPrefix = eventPrefix(log);
    this.snapshotKey = snapshotKey(log);
    const keys = kv.keys(this.eventPrefix);
    const snap = this.snapshot();
    this.first = keys.length > 0 ? this.parseSeq(keys[0]) : (snap?.seq ?? 0) + 1;
    this.last = keys.length > 0 ? this.parseSeq(keys[keys.length - 1]) : (snap?.seq ?? 0);
  }

  /** The names of the logs a store holds (events or a snapshot), sorted. */
  static logs(kv: KvStore): string[] {
    return storedLogs(kv);
  }

  private parseSeq(key: string): number {
    const n = parseEventSeq(this.log, key);
    if (n === undefined) throw new LichenError("CORRUPT", `event key ${key} has no sequence number`);
    return n;
  }

  /** How many events are stored with a sequence number up to `seq` (all of them by default). */
  count(seq = this.last): number {
    return this.keysBefore(seq + 1).length;
  }

  /** The sequence number of the newest event (0 if none ever). */
  get lastSeq(): number {
    return this.last;
  }

  /** The oldest sequence number still stored. */
  get firstSeq(): number {
    return this.first;
  }

  /** Appends an event; returns its sequence number. One write. */
  append(ts: number, node: string, data: Uint8Array): number {
    const [last, first] = [this.last, this.first];
    const op = this.appendOp(ts, node, data);
    try {
      this.kv.put(op.key, op.value);
    } catch (e) {
      this.last = last;
      this.first = first;
      throw e;
    }
    return this.last;
  }

  /**
   * An event as a put for a batch the caller writes (with the state it
   * describes, in one transaction): its sequence number is taken now, so
   * a batch that fails leaves a gap, never a reused number.
   */
  appendOp(ts: number, node: string, data: Uint8Array): KvOp & { readonly type: "put" } {
    return this.put(ts, node, data, undefined);
  }

  /**
   * appendOp(ts, node, cborEncodeFlat(fields)), the data written in place (the gateway logs a
   * delta per DELTA frame: no array for the data, no copy of it).
   */
  appendFlatOp(ts: number, node: string, fields: ReadonlyArray<number | string | Uint8Array>): KvOp & { readonly type: "put" } {
    return this.put(ts, node, undefined, fields);
  }

  private put(ts: number, node: string, data: Uint8Array | undefined, fields: ReadonlyArray<number | string | Uint8Array> | undefined): KvOp & { readonly type: "put" } {
    if (!isTimestamp(ts)) throw invalidArgument("an event timestamp is a non-negative safe integer (an HLC timestamp)");
    checkReplicaId(node);
    if (fields === undefined && !(data instanceof Uint8Array)) throw invalidArgument("event data is a Uint8Array");
    const value = data !== undefined ? cborEncodeFlat([RECORD_FORMAT, ts, node, data]) : cborEncodeFlatWrapping([RECORD_FORMAT, ts, node], fields!);
    const seq = this.last + 1;
    this.last = seq;
    if (this.first > seq) this.first = seq;
    return { type: "put", key: eventKey(this.log, seq), value };
  }

  /** Events with from <= seq <= to, in order. A corrupt event throws CORRUPT naming it. */
  range(from = 1, to = this.last): StoredEvent[] {
    const out: StoredEvent[] = [];
    for (let seq = Math.max(from, this.first); seq <= to; seq++) {
      const key = eventKey(this.log, seq);
      const bytes = this.kv.get(key);
      if (bytes === undefined) continue;
      out.push(this.decode(key, seq, bytes));
    }
    return out;
  }

  private decode(key: string, seq: number, bytes: Uint8Array): StoredEvent {
    let r: unknown;
    try {
      r = decodeCbor(bytes);
    } catch {
      r = undefined;
    }
    if (!Array.isArray(r) || r.length !== 4 || r[0] !== RECORD_FORMAT || !isTimestamp(r[1]) || typeof r[2] !== "string" || !(r[3] instanceof Uint8Array)) {
      throw new LichenError("CORRUPT", `event ${seq} of log ${this.log} (${key}) is unreadable`);
    }
    return { seq, ts: r[1], node: r[2], data: r[3] };
  }

  saveSnapshot(seq: number, state: Uint8Array): void {
    this.checkSeq(seq);
    this.kv.put(this.snapshotKey, encodeCbor([RECORD_FORMAT, seq, state]));
  }

  snapshot(): Snapshot | undefined {
    const bytes = this.kv.get(this.snapshotKey);
    if (bytes === undefined) return undefined;
    let r: unknown;
    try {
      r = decodeCbor(bytes);
    } catch {
      r = undefined;
    }
    if (!Array.isArray(r) || r.length !== 3 || r[0] !== RECORD_FORMAT || !Number.isSafeInteger(r[1]) || !(r[2] instanceof Uint8Array)) {
      throw new LichenError("CORRUPT", `the snapshot of log ${this.log} is unreadable`);
    }
    return { seq: r[1] as number, state: r[2] };
  }

  /** Drops every event with a sequence number below `seq`, in one batch. */
  truncate(before: number): number {
    this.checkSeq(before - 1);
    const keys = this.keysBefore(before);
    if (keys.length > 0) this.kv.batch(keys.map((key) => ({ type: "delete", key })));
    if (before > this.first) this.first = before;
    return keys.length;
  }

  /** Snapshot at `seq`, then drop the events it covers: one atomic batch. */
  compact(seq: number, state: Uint8Array): number {
    this.checkSeq(seq);
    const keys = this.keysBefore(seq + 1);
    this.kv.batch([{ type: "put", key: this.snapshotKey, value: encodeCbor([RECORD_FORMAT, seq, state]) }, ...keys.map((key) => ({ type: "delete" as const, key }))]);
    if (seq + 1 > this.first) this.first = seq + 1;
    return keys.length;
  }

  private keysBefore(before: number): string[] {
    const limit = eventKey(this.log, before);
    return this.kv.keys(this.eventPrefix).filter((k) => k < limit);
  }

  private checkSeq(seq: number): void {
    if (!Number.isSafeInteger(seq) || seq < 0 || seq > this.last) throw invalidArgument(`sequence number ${seq} is not in this log (last: ${this.last})`);
  }
}
