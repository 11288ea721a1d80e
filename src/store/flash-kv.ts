import { writeUint32 } from "../core/cbor.js";
import { decodeCbor, encodeCbor } from "../core/codec.js";
import { LichenError, invalidArgument } from "../core/errors.js";
import { fnv1aBytes, fnv1aString } from "../core/hash.js";
import { asStorageError, storageError, type FlashDriver } from "./flash-driver.js";
import { checkBatch, checkKvKey, checkKvValue, closedError, type EntityView, type KvOp, type KvStore } from "./kv.js";

/*
 * FlashKv: a KvStore over a raw key/value flash (FlashDriver: NVS on the
 * device, FlashSim on the host) with keys of at most 15 characters, values of
 * at most 4,000 bytes, and atomic single writes.
 *
 * ON-FLASH LAYOUT (FLASH_FORMAT 1). One namespace per store. Physical keys:
 *
 *   h<B>              the head of bucket B. B is FNV-1a (32-bit, over the
 *                     UTF-16 code units of the logical key) in base 36,
 *                     zero-padded to 7 characters: "h0a1b2c3". A head lists
 *                     every logical key of its bucket (usually one; more when
 *                     hashes collide) and where each value is.
 *   d<B><g>_<i>       chunk i (base 36) of generation g (base 36) of bucket B:
 *                     raw value bytes, at most maxValueBytes each.
 *   j                 the rollback journal of a batch that spans several buckets.
 *   jp<i>             part i (base 36) of a journal too large for one value.
 *
 * Records (head and journal; chunks are raw bytes): CBOR (the core's codec)
 * followed by 4 bytes, the FNV-1a checksum of the CBOR bytes, big-endian.
 *
 *   head     [FLASH_FORMAT, 1, [entry, ...]]       entries sorted by key
 *            entry = [key, bytes]                    value inline in the head
 *                  | [key, length, g, size, sum]     value in ceil(length/size)
 *                                                    chunks d<B><g>_0.., sum = FNV-1a of the value
 *   journal  [FLASH_FORMAT, 2, body]                 body: CBOR bytes of [[B, old head | null], ...]
 *            [FLASH_FORMAT, 3, parts, length, sum]   body split over jp0..jp<parts-1>
 *
 * A value is kept inline when its head still fits one flash value; otherwise
 * it is chunked (largest inline values first, so a bucket of colliding keys
 * always fits). A new chunked value gets the smallest generation its bucket's
 * head does not use, so its chunks never overwrite live ones.
 *
 * ATOMICITY. Every change is written beside the old state and committed by
 * one atomic flash operation:
 *   put/delete, or a batch within one bucket:
 *     1. write the new chunks (fresh generation);
 *     2. COMMIT: write the bucket's new head (delete it if the bucket is empty);
 *     3. delete the chunks the old head referenced and the new one does not.
 *   batch over several buckets (a rollback journal, as SQLite's):
 *     1. write the new chunks;
 *     2. write the journal: the OLD head of every bucket the batch changes
 *        (its parts first, if any, then j in one write);
 *     3. write (or delete) each new head, in place;
 *     4. COMMIT: delete j; then its parts;
 *     5. delete the chunks no longer referenced.
 * A power cut before the commit leaves the old state, or, when it falls while
 * heads are being written, a valid j to roll back. Opening a store recovers:
 * while j exists, it restores every head j holds (last first, skipping heads
 * that already match) and then deletes j; a j that does not verify is deleted
 * (it cannot be a complete one: j is written in one write after its parts, and
 * before any head changes). Then it deletes the chunks and journal parts that
 * nothing references. A clean store opens without writing anything.
 * Why roll back rather than forward: restoring old heads in reverse order never
 * needs more flash than the batch had already used, so a batch that fills the
 * flash halfway is undone on the spot (STORAGE error, old state) instead of
 * leaving a committed batch that cannot be completed.
 *
 * WRITE COST (flash writes and deletes). A put whose head fits one value:
 * 1 write. A put of n chunks: n + 1 writes, plus one delete per chunk of the
 * value it replaces. A delete: 1 (plus its chunks). A put of the bytes already
 * stored: 0. A batch over k buckets: its chunks + journal parts + 1 (j) + k
 * heads, then 1 delete (j) + 1 per part.
 *
 * DAMAGE. Bytes that do not verify give a LichenError "CORRUPT" naming the key,
 * for the keys of that bucket only: a head that does not check out (its
 * checksum, its CBOR, its shape, its keys' hashes), a missing or wrong-sized
 * chunk, a value that does not match its checksum. keys() leaves out the keys
 * of unreadable heads (their names are in the bad bytes). A write to a key of
 * an unreadable bucket replaces that bucket (what it held was lost already).
 * A record of a newer FLASH_FORMAT gives "UNSUPPORTED_VERSION" and is never
 * overwritten. Unknown physical keys are ignored.
 *
 * MEMORY. Nothing is cached: no values, no key list. A get reads one head
 * (and its chunks), keys() reads every head. An open FlashKv keeps a handful
 * of slots however many keys it holds.
 *
 * Logical keys must be well-formed UTF-16 (no lone surrogates): they are
 * stored as UTF-8 text.
 */

/** The version of the on-flash layout, inside every record. */
export const FLASH_FORMAT = 1;

const REC_HEAD = 1;
const REC_JOURNAL = 2;
const REC_JOURNAL_PARTS = 3;
const JOURNAL_KEY = "j";
const PART_PREFIX = "jp";
const BUCKET_WIDTH = 7;
/** A head must fit one 255-character key with its value's location: the smallest usable flash. */
const MIN_VALUE_BYTES = 512;
const MIN_KEY_LENGTH = 11;

/** FNV-1a (32-bit) of bytes: the checksum of records and of chunked values. */
export function checksum32(bytes: Uint8Array, start = 0, end = bytes.length): number {
  return fnv1aBytes(bytes, start, end);
}

/** The bucket of a logical key: FNV-1a (32-bit) over its UTF-16 code units, base 36, 7 characters. */
export function bucketOf(key: string): string {
  return fnv1aString(key).toString(36).padStart(BUCKET_WIDTH, "0");
}

/** The physical key of the head that holds a logical key. */
export function headKeyOf(key: string): string {
  return `h${bucketOf(key)}`;
}

/** The physical key of chunk `index` of generation `gen` in a bucket. */
export function chunkKeyOf(bucket: string, gen: number, index: number): string {
  return `d${bucket}${gen.toString(36)}_${index.toString(36)}`;
}

// ---- records ----

/** One logical key of a bucket. A value is inline, or chunked (inline undefined). */
interface Entry {
  readonly key: string;
  inline: Uint8Array | undefined;
  length: number;
  gen: number;
  size: number;
  sum: number;
  /** Bytes this operation must write as chunks (set by layout for a fresh generation). */
  data: Uint8Array | undefined;
  /** A value put by this operation, not placed yet. */
  pending: Uint8Array | undefined;
}

function inlineEntry(key: string, value: Uint8Array): Entry {
  return { key, inline: value, length: value.length, gen: -1, size: 0, sum: 0, data: undefined, pending: undefined };
}

function cloneEntry(e: Entry): Entry {
  return { key: e.key, inline: e.inline, length: e.length, gen: e.gen, size: e.size, sum: e.sum, data: undefined, pending: undefined };
}

function corrupt(message: string): LichenError {
  return new LichenError("CORRUPT", message);
}

function isBase36(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (!((c >= 48 && c <= 57) || (c >= 97 && c <= 122))) return false;
  }
  return s.length > 0;
}

function isBucket(s: string): boolean {
  return s.length === BUCKET_WIDTH && isBase36(s);
}

/** A canonical base-36 number ("0", "a", "10"; not "00"), or -1. */
function parse36(s: string): number {
  if (!isBase36(s) || s.length > 6) return -1;
  const n = parseInt(s, 36);
  return n.toString(36) === s ? n : -1;
}

/** The bucket of a head key, or undefined when the key is not one. */
function headBucket(name: string): string | undefined {
  return name.length === BUCKET_WIDTH + 1 && name.charCodeAt(0) === 104 /* h */ && isBucket(name.slice(1)) ? name.slice(1) : undefined;
}

interface ChunkName {
  bucket: string;
  gen: number;
  index: number;
}

function parseChunkKey(name: string): ChunkName | undefined {
  if (name.length < BUCKET_WIDTH + 4 || name.charCodeAt(0) !== 100 /* d */) return undefined;
  const bucket = name.slice(1, 1 + BUCKET_WIDTH);
  if (!isBucket(bucket)) return undefined;
  const rest = name.slice(1 + BUCKET_WIDTH);
  const sep = rest.indexOf("_");
  if (sep < 0) return undefined;
  const gen = parse36(rest.slice(0, sep));
  const index = parse36(rest.slice(sep + 1));
  return gen < 0 || index < 0 ? undefined : { bucket, gen, index };
}

function isPartKey(name: string): boolean {
  return name.startsWith(PART_PREFIX) && parse36(name.slice(PART_PREFIX.length)) >= 0;
}

function partKeyOf(index: number): string {
  return `${PART_PREFIX}${index.toString(36)}`;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function copyOf(b: Uint8Array): Uint8Array {
  const out = new Uint8Array(b.length);
  out.set(b);
  return out;
}

/** CBOR of `value` followed by its 4-byte checksum. */
function sealRecord(value: unknown): Uint8Array {
  const body = encodeCbor(value);
  const out = new Uint8Array(body.length + 4);
  out.set(body);
  writeUint32(out, body.length, checksum32(body));
  return out;
}

/** The record's array after its checksum, CBOR, format version and kind check out. */
function openRecord(bytes: Uint8Array, what: string): unknown[] {
  const n = bytes.length;
  if (n < 6) throw corrupt(`${what} is truncated (${n} bytes)`);
  const sum = ((bytes[n - 4] << 24) >>> 0) + (bytes[n - 3] << 16) + (bytes[n - 2] << 8) + bytes[n - 1];
  if (checksum32(bytes, 0, n - 4) !== sum) throw corrupt(`${what} does not match its checksum`);
  let top: unknown;
  try {
    top = decodeCbor(bytes.subarray(0, n - 4));
  } catch (e) {
    throw corrupt(`${what} is not valid CBOR: ${(e as Error).message}`);
  }
  if (!Array.isArray(top) || top.length < 2) throw corrupt(`${what} is not a lichen flash record`);
  const version = top[0];
  if (typeof version !== "number" || !Number.isSafeInteger(version) || version < 1) throw corrupt(`${what} has no valid format version`);
  if (version > FLASH_FORMAT) {
    throw new LichenError("UNSUPPORTED_VERSION", `${what} uses flash format ${version}; this lichen reads up to ${FLASH_FORMAT}: upgrade lichen`);
  }
  return top;
}

function isCount(x: unknown, max: number): x is number {
  return typeof x === "number" && Number.isSafeInteger(x) && x >= 0 && x <= max;
}

/** The entries of a head record of `bucket`; throws CORRUPT or UNSUPPORTED_VERSION. */
function decodeHead(bytes: Uint8Array, bucket: string): Entry[] {
  const what = `head h${bucket}`;
  const top = openRecord(bytes, what);
  if (top[1] !== REC_HEAD || top.length !== 3 || !Array.isArray(top[2])) throw corrupt(`${what} is not a head record`);
  const out: Entry[] = [];
  let previous = "";
  for (const item of top[2] as unknown[]) {
    if (!Array.isArray(item) || typeof item[0] !== "string") throw corrupt(`${what} has a malformed entry`);
    const key = item[0];
    if (key.length === 0 || key.length > 255 || bucketOf(key) !== bucket || (out.length > 0 && key <= previous)) {
      throw corrupt(`${what} holds a key that does not belong there`);
    }
    previous = key;
    if (item.length === 2 && item[1] instanceof Uint8Array) {
      out.push(inlineEntry(key, item[1]));
    } else if (
      item.length === 5 &&
      isCount(item[1], Number.MAX_SAFE_INTEGER) &&
      item[1] > 0 &&
      isCount(item[2], 0x7fffffff) &&
      isCount(item[3], 0x7fffffff) &&
      item[3] > 0 &&
      isCount(item[4], 0xffffffff)
    ) {
      out.push({ key, inline: undefined, length: item[1], gen: item[2], size: item[3], sum: item[4], data: undefined, pending: undefined });
    } else {
      throw corrupt(`${what} has a malformed entry for ${JSON.stringify(key)}`);
    }
  }
  if (out.length === 0) throw corrupt(`${what} is empty`);
  return out;
}

function encodeHead(entries: readonly Entry[]): Uint8Array {
  const list: unknown[] = [];
  for (const e of entries) list.push(e.inline !== undefined ? [e.key, e.inline] : [e.key, e.length, e.gen, e.size, e.sum]);
  return sealRecord([FLASH_FORMAT, REC_HEAD, list]);
}

function chunkCount(e: Entry): number {
  return Math.ceil(e.length / e.size);
}

function findEntry(entries: readonly Entry[], key: string): number {
  for (let i = 0; i < entries.length; i++) if (entries[i].key === key) return i;
  return -1;
}

function checkWellFormed(key: string): string {
  for (let i = 0; i < key.length; i++) {
    const c = key.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdfff) {
      const d = i + 1 < key.length ? key.charCodeAt(i + 1) : 0;
      if (c > 0xdbff || d < 0xdc00 || d > 0xdfff) throw invalidArgument("FlashKv keys must be well-formed UTF-16 (no lone surrogates)");
      i++;
    }
  }
  return key;
}

/** What one operation does to one bucket. */
interface Plan {
  readonly bucket: string;
  /** The head's bytes before the operation (undefined: no head). */
  readonly oldBytes: Uint8Array | undefined;
  /** Its entries (empty when the head was unreadable: the operation replaces it). */
  readonly old: readonly Entry[];
  entries: Entry[];
  /** Generations in use: the old head's, then those given out by this operation. */
  readonly gens: number[];
  /** The new head (undefined: the bucket is empty), once laid out. */
  head: Uint8Array | undefined;
}

/** What the last open() found and did. */
export interface FlashRecovery {
  /** "rolled-back": a batch cut short was undone; "discarded": a journal that did not verify was deleted. */
  readonly journal: "none" | "rolled-back" | "discarded";
  /** Unreferenced chunks and journal parts deleted. */
  readonly orphans: number;
}

/** A consistency report of the flash (FlashKv.check). */
export interface FlashCheck {
  readonly heads: number;
  readonly keys: number;
  readonly chunks: number;
  /** Physical keys of heads that do not verify. */
  readonly corrupt: string[];
  /** Chunks and journal parts that nothing references. */
  readonly orphans: string[];
  /** Chunks that heads reference and the flash lacks. */
  readonly missing: string[];
  /** Whether a journal is present. */
  readonly journal: boolean;
}

/** A KvStore on a device's key/value flash: see the layout above. */
export class FlashKv implements KvStore {
  /** What opening this store recovered. */
  readonly recovery: FlashRecovery;
  private readonly driver: FlashDriver;
  private closed = false;
  /** A journal is still to be rolled back (undoing a failed batch failed): done before the next operation. */
  private pending = false;

  /** Opens the store on a driver, recovering from an interrupted operation. FlashKv owns the driver. */
  static open(driver: FlashDriver): FlashKv {
    return new FlashKv(driver);
  }

  constructor(driver: FlashDriver) {
    if (driver === null || typeof driver !== "object") throw invalidArgument("FlashKv needs a FlashDriver");
    if (!(driver.maxKeyLength >= MIN_KEY_LENGTH) || !(driver.maxValueBytes >= MIN_VALUE_BYTES)) {
      throw invalidArgument(`FlashKv needs flash keys of at least ${MIN_KEY_LENGTH} characters and values of at least ${MIN_VALUE_BYTES} bytes`);
    }
    this.driver = driver;
    this.recovery = this.recover();
  }

  get(key: string): Uint8Array | undefined {
    this.ready();
    checkWellFormed(checkKvKey(key));
    const bucket = bucketOf(key);
    let entries: Entry[] | undefined;
    try {
      entries = this.readHead(bucket);
    } catch (e) {
      throw about(key, e);
    }
    if (entries === undefined) return undefined;
    const i = findEntry(entries, key);
    if (i < 0) return undefined;
    const e = entries[i];
    if (e.inline !== undefined) return copyOf(e.inline);
    try {
      return this.readChunks(bucket, e);
    } catch (err) {
      throw about(key, err);
    }
  }

  put(key: string, value: Uint8Array): void {
    this.ready();
    checkWellFormed(checkKvKey(key));
    checkKvValue(value);
    this.write([{ type: "put", key, value }]);
  }

  delete(key: string): void {
    this.ready();
    checkWellFormed(checkKvKey(key));
    this.write([{ type: "delete", key }]);
  }

  keys(prefix = ""): string[] {
    this.ready();
    if (typeof prefix !== "string") throw invalidArgument("a key prefix is a string");
    const out: string[] = [];
    for (const name of this.names()) {
      const bucket = headBucket(name);
      if (bucket === undefined) continue;
      let entries: Entry[] | undefined;
      try {
        entries = this.readHead(bucket);
      } catch (e) {
        if (e instanceof LichenError && (e.code === "CORRUPT" || e.code === "UNSUPPORTED_VERSION")) continue;
        throw e;
      }
      if (entries !== undefined) for (const e of entries) if (e.key.startsWith(prefix)) out.push(e.key);
    }
    return out.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  }

  batch(ops: readonly KvOp[], _views?: readonly EntityView[]): void {
    this.ready();
    checkBatch(ops);
    for (const op of ops) checkWellFormed(op.key);
    if (ops.length > 0) this.write(ops);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.driver.close?.();
  }

  /** Reads the whole flash and reports what it finds; changes nothing. */
  check(): FlashCheck {
    this.ready();
    return this.scan(false);
  }

  // ---- reading ----

  private ready(): void {
    if (this.closed) throw closedError("this FlashKv");
    if (this.pending) {
      this.rollBackJournal();
      this.scan(true); // the chunks of the batch undone
      this.pending = false;
    }
  }

  private names(): string[] {
    try {
      return this.driver.keys();
    } catch (e) {
      throw asStorageError(e, "listing the flash");
    }
  }

  private raw(name: string): Uint8Array | undefined {
    try {
      return this.driver.get(name);
    } catch (e) {
      throw asStorageError(e, `reading ${name}`);
    }
  }

  /** A bucket's entries, or undefined when it has no head. */
  private readHead(bucket: string): Entry[] | undefined {
    const bytes = this.raw(`h${bucket}`);
    return bytes === undefined ? undefined : decodeHead(bytes, bucket);
  }

  private readChunks(bucket: string, e: Entry): Uint8Array {
    const out = new Uint8Array(e.length);
    const n = chunkCount(e);
    for (let i = 0; i < n; i++) {
      const name = chunkKeyOf(bucket, e.gen, i);
      const chunk = this.raw(name);
      const expected = Math.min(e.size, e.length - i * e.size);
      if (chunk === undefined) throw corrupt(`chunk ${name} is missing`);
      if (chunk.length !== expected) throw corrupt(`chunk ${name} has ${chunk.length} bytes, not ${expected}`);
      out.set(chunk, i * e.size);
    }
    if (checksum32(out) !== e.sum) throw corrupt("the value does not match its checksum");
    return out;
  }

  // ---- writing ----

  private write(ops: readonly KvOp[]): void {
    const plans = new Map<string, Plan>();
    for (const op of ops) {
      const bucket = bucketOf(op.key);
      let plan = plans.get(bucket);
      if (plan === undefined) {
        plan = this.plan(bucket, op.key);
        plans.set(bucket, plan);
      }
      const i = findEntry(plan.entries, op.key);
      if (op.type === "put") {
        const e = inlineEntry(op.key, op.value);
        e.inline = undefined;
        e.pending = op.value;
        if (i >= 0) plan.entries[i] = e;
        else plan.entries.push(e);
      } else if (i >= 0) {
        plan.entries.splice(i, 1);
      }
    }

    // Lay out every bucket; keep those that change.
    const work: Plan[] = [];
    for (const plan of plans.values()) {
      this.keepUnchanged(plan);
      this.layout(plan);
      const same = plan.head === undefined ? plan.oldBytes === undefined : plan.oldBytes !== undefined && sameBytes(plan.head, plan.oldBytes);
      if (!same) work.push(plan);
    }
    if (work.length === 0) return;

    // 1. New chunks, beside the old state.
    const written: string[] = [];
    try {
      for (const plan of work) {
        for (const e of plan.entries) {
          if (e.data === undefined) continue;
          const n = chunkCount(e);
          for (let i = 0; i < n; i++) {
            const name = chunkKeyOf(plan.bucket, e.gen, i);
            this.driver.set(name, e.data.subarray(i * e.size, Math.min(e.length, (i + 1) * e.size)));
            written.push(name);
          }
        }
      }
    } catch (err) {
      this.discard(written);
      throw asStorageError(err, "writing a value's chunks");
    }

    if (work.length === 1) {
      // 2. Commit: one head.
      const plan = work[0];
      const name = `h${plan.bucket}`;
      try {
        if (plan.head === undefined) this.driver.delete(name);
        else this.driver.set(name, plan.head);
      } catch (err) {
        const landed = this.landed(name, plan.head);
        if (landed === false) this.discard(written);
        if (landed !== true) throw asStorageError(err, `writing ${name}`);
      }
    } else {
      this.commitBatch(work, written);
    }

    // 3. Garbage: chunks of the old heads that the new ones do not reference.
    const garbage: string[] = [];
    for (const plan of work) {
      for (const old of plan.old) {
        if (old.inline !== undefined) continue;
        let live = false;
        for (const e of plan.entries) if (e.inline === undefined && e.gen === old.gen) live = true;
        if (!live) for (let i = 0, n = chunkCount(old); i < n; i++) garbage.push(chunkKeyOf(plan.bucket, old.gen, i));
      }
    }
    this.discard(garbage);
  }

  /** Reads a bucket for a write. An unreadable head is replaced; a newer one is refused. */
  private plan(bucket: string, key: string): Plan {
    let oldBytes: Uint8Array | undefined;
    let old: Entry[] = [];
    try {
      oldBytes = this.raw(`h${bucket}`);
      if (oldBytes !== undefined) old = decodeHead(oldBytes, bucket);
    } catch (e) {
      if (!(e instanceof LichenError && e.code === "CORRUPT")) throw about(key, e);
    }
    const gens: number[] = [];
    for (const e of old) if (e.inline === undefined) gens.push(e.gen);
    return { bucket, oldBytes, old, entries: old.map(cloneEntry), gens, head: undefined };
  }

  /** A put of the bytes already stored keeps the stored entry (and its chunks). */
  private keepUnchanged(plan: Plan): void {
    for (let i = 0; i < plan.entries.length; i++) {
      const e = plan.entries[i];
      if (e.pending === undefined) continue;
      const j = findEntry(plan.old, e.key);
      if (j < 0) continue;
      const old = plan.old[j];
      if (old.length !== e.pending.length) continue;
      let same = false;
      if (old.inline !== undefined) same = sameBytes(old.inline, e.pending);
      else if (checksum32(e.pending) === old.sum) {
        try {
          same = sameBytes(this.readChunks(plan.bucket, old), e.pending);
        } catch (err) {
          if (!(err instanceof LichenError && err.code === "CORRUPT")) throw err;
        }
      }
      if (same) plan.entries[i] = cloneEntry(old);
    }
  }

  /** Places pending values (inline when the head still fits, else in chunks of a fresh generation) and encodes the head. */
  private layout(plan: Plan): void {
    const entries = plan.entries.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    if (entries.length === 0) {
      plan.head = undefined;
      return;
    }
    for (const e of entries) {
      if (e.pending !== undefined) {
        e.inline = e.pending;
        e.pending = undefined;
      }
    }
    const max = this.driver.maxValueBytes;
    for (;;) {
      const head = encodeHead(entries);
      if (head.length <= max) {
        plan.head = head;
        return;
      }
      // Too big: move the largest inline value out into chunks.
      let victim: Entry | undefined;
      for (const e of entries) if (e.inline !== undefined && e.inline.length > 0 && (victim === undefined || e.inline.length > victim.inline!.length)) victim = e;
      if (victim === undefined) throw storageError(`bucket h${plan.bucket} holds too many colliding keys for one flash value`);
      const data = victim.inline!;
      let gen = 0;
      while (plan.gens.includes(gen)) gen++;
      plan.gens.push(gen);
      victim.inline = undefined;
      victim.data = data;
      victim.length = data.length;
      victim.gen = gen;
      victim.size = max;
      victim.sum = checksum32(data);
      const last = chunkKeyOf(plan.bucket, gen, chunkCount(victim) - 1);
      if (last.length > this.driver.maxKeyLength) throw storageError(`a value of ${data.length} bytes needs more chunks than flash keys can name`);
    }
  }

  /** Changes the heads of several buckets under a rollback journal. */
  private commitBatch(work: readonly Plan[], written: string[]): void {
    const undo: unknown[] = [];
    for (const plan of work) undo.push([plan.bucket, plan.oldBytes === undefined ? null : plan.oldBytes]);
    const body = encodeCbor(undo);
    const max = this.driver.maxValueBytes;
    let journal = sealRecord([FLASH_FORMAT, REC_JOURNAL, body]);
    let parts = 0;
    try {
      if (journal.length > max) {
        parts = Math.ceil(body.length / max);
        for (let i = 0; i < parts; i++) {
          this.driver.set(partKeyOf(i), body.subarray(i * max, Math.min(body.length, (i + 1) * max)));
          written.push(partKeyOf(i));
        }
        journal = sealRecord([FLASH_FORMAT, REC_JOURNAL_PARTS, parts, body.length, checksum32(body)]);
      }
      this.driver.set(JOURNAL_KEY, journal);
    } catch (err) {
      // No head has changed: a journal that landed holds the current heads, harmless to delete.
      this.discard([JOURNAL_KEY, ...written]);
      throw asStorageError(err, "writing the journal");
    }
    try {
      for (const plan of work) {
        const name = `h${plan.bucket}`;
        if (plan.head === undefined) this.driver.delete(name);
        else this.driver.set(name, plan.head);
      }
    } catch (err) {
      this.undoBatch(undo, written, err);
    }
    try {
      this.driver.delete(JOURNAL_KEY); // COMMIT
    } catch (err) {
      const gone = this.landed(JOURNAL_KEY, undefined);
      if (gone === false) this.undoBatch(undo, written, err);
      if (gone === undefined) {
        this.pending = true; // whether j is gone decides, before the next operation or at the next open
        throw asStorageError(err, "committing a batch");
      }
    }
    const leftovers: string[] = [];
    for (let i = 0; i < parts; i++) leftovers.push(partKeyOf(i));
    this.discard(leftovers);
  }

  /** Undoes a batch whose heads could not all be written, and throws. */
  private undoBatch(undo: readonly unknown[], written: readonly string[], err: unknown): never {
    try {
      this.rollBack(undo);
      this.driver.delete(JOURNAL_KEY);
    } catch {
      this.pending = true; // rolled back before the next operation, or by the next open
      throw asStorageError(err, "writing a batch (it will be rolled back)");
    }
    this.discard(written);
    throw asStorageError(err, "writing a batch (rolled back)");
  }

  /** Restores the heads of an undo list, last first, skipping those that already match. */
  private rollBack(undo: readonly unknown[]): void {
    for (let i = undo.length - 1; i >= 0; i--) {
      const [bucket, old] = undo[i] as [string, Uint8Array | null];
      const name = `h${bucket}`;
      const now = this.driver.get(name);
      if (old === null) {
        if (now !== undefined) this.driver.delete(name);
      } else if (now === undefined || !sameBytes(now, old)) {
        this.driver.set(name, old);
      }
    }
  }

  /** Whether a write whose call failed is on flash: true, false, or undefined when that cannot be read. */
  private landed(name: string, bytes: Uint8Array | undefined): boolean | undefined {
    try {
      const now = this.driver.get(name);
      return bytes === undefined ? now === undefined : now !== undefined && sameBytes(now, bytes);
    } catch {
      return undefined;
    }
  }

  /** Deletes physical keys that nothing references, as far as possible (what is left is collected by the next open). */
  private discard(names: readonly string[]): void {
    for (const name of names) {
      try {
        this.driver.delete(name);
      } catch {
        // an orphan: the next open deletes it
      }
    }
  }

  // ---- recovery ----

  private recover(): FlashRecovery {
    let journal: FlashRecovery["journal"] = "none";
    let hasJournal = true;
    try {
      hasJournal = this.raw(JOURNAL_KEY) !== undefined;
    } catch (e) {
      if (!(e instanceof LichenError && e.code === "CORRUPT")) throw e; // unreadable: rollBackJournal deletes it
    }
    if (hasJournal) journal = this.rollBackJournal() ? "rolled-back" : "discarded";
    const { orphans } = this.scan(true);
    return { journal, orphans: orphans.length };
  }

  /** Rolls back the batch of the journal on flash, if it verifies, then deletes it. Returns whether it did. */
  private rollBackJournal(): boolean {
    let undo: unknown[] | undefined;
    try {
      const bytes = this.raw(JOURNAL_KEY);
      if (bytes === undefined) return false;
      undo = this.readJournal(bytes);
    } catch (e) {
      if (!(e instanceof LichenError && e.code === "CORRUPT")) throw e;
    }
    try {
      if (undo !== undefined) this.rollBack(undo);
      this.driver.delete(JOURNAL_KEY);
    } catch (e) {
      throw asStorageError(e, "rolling back a batch cut short");
    }
    return undo !== undefined;
  }

  private readJournal(bytes: Uint8Array): unknown[] {
    const top = openRecord(bytes, "the journal");
    let body: Uint8Array;
    if (top[1] === REC_JOURNAL && top.length === 3 && top[2] instanceof Uint8Array) {
      body = top[2];
    } else if (top[1] === REC_JOURNAL_PARTS && top.length === 5 && isCount(top[2], 46655) && isCount(top[3], 0x7fffffff) && isCount(top[4], 0xffffffff)) {
      const [, , parts, length, sum] = top as [number, number, number, number, number];
      body = new Uint8Array(length);
      let at = 0;
      for (let i = 0; i < parts; i++) {
        const part = this.raw(partKeyOf(i));
        if (part === undefined || at + part.length > length) throw corrupt(`journal part ${partKeyOf(i)} is missing or too long`);
        body.set(part, at);
        at += part.length;
      }
      if (at !== length || checksum32(body) !== sum) throw corrupt("the journal's parts do not match it");
    } else {
      throw corrupt("the journal is not a journal record");
    }
    let list: unknown;
    try {
      list = decodeCbor(body);
    } catch (e) {
      throw corrupt(`the journal's body is not valid CBOR: ${(e as Error).message}`);
    }
    if (!Array.isArray(list)) throw corrupt("the journal's body is not a list");
    for (const item of list) {
      if (!Array.isArray(item) || item.length !== 2 || typeof item[0] !== "string" || !isBucket(item[0]) || !(item[1] === null || item[1] instanceof Uint8Array)) {
        throw corrupt("the journal holds a malformed entry");
      }
    }
    return list;
  }

  /**
   * Walks the flash: heads, chunks, journal parts. Chunks that no readable
   * head references and journal parts without a journal are orphans; with
   * `remove` they are deleted. Chunks of unreadable heads are kept.
   */
  private scan(remove: boolean): FlashCheck {
    const names = this.names();
    const journal = names.includes(JOURNAL_KEY);
    // bucket → [gen, chunk count, gen, chunk count, ...], or null for an unreadable head
    const refs = new Map<string, number[] | null>();
    const referenced = (bucket: string): number[] | null => {
      let r = refs.get(bucket);
      if (r !== undefined) return r;
      r = [];
      try {
        const entries = this.readHead(bucket);
        if (entries !== undefined) for (const e of entries) if (e.inline === undefined) r.push(e.gen, chunkCount(e));
      } catch (e) {
        if (!(e instanceof LichenError && (e.code === "CORRUPT" || e.code === "UNSUPPORTED_VERSION"))) throw e;
        r = null;
      }
      refs.set(bucket, r);
      return r;
    };
    let heads = 0;
    let keys = 0;
    let chunks = 0;
    const corruptHeads: string[] = [];
    const orphans: string[] = [];
    const missing: string[] = [];
    for (const name of names) {
      const bucket = headBucket(name);
      if (bucket !== undefined) {
        heads++;
        if (remove) continue;
        const r = referenced(bucket);
        if (r === null) {
          corruptHeads.push(name);
          continue;
        }
        keys += this.readHead(bucket)!.length;
        for (let i = 0; i < r.length; i += 2) {
          for (let c = 0; c < r[i + 1]; c++) {
            const chunk = chunkKeyOf(bucket, r[i], c);
            if (!names.includes(chunk)) missing.push(chunk);
          }
        }
        continue;
      }
      if (isPartKey(name)) {
        if (!journal) orphans.push(name);
        continue;
      }
      const chunk = parseChunkKey(name);
      if (chunk === undefined) continue;
      chunks++;
      const r = referenced(chunk.bucket);
      if (r === null) continue;
      let live = false;
      for (let i = 0; i < r.length; i += 2) if (r[i] === chunk.gen && chunk.index < r[i + 1]) live = true;
      if (!live) orphans.push(name);
    }
    if (remove) {
      for (const name of orphans) {
        try {
          this.driver.delete(name);
        } catch (e) {
          throw asStorageError(e, `deleting ${name}`);
        }
      }
    }
    return { heads, keys, chunks, corrupt: corruptHeads, orphans, missing, journal };
  }
}

/** A CORRUPT or UNSUPPORTED_VERSION error about a bucket, restated for the logical key asked for. */
function about(key: string, e: unknown): unknown {
  if (e instanceof LichenError && (e.code === "CORRUPT" || e.code === "UNSUPPORTED_VERSION")) {
    return new LichenError(e.code, `stored value of key ${JSON.stringify(key)} is unreadable: ${e.message}`);
  }
  return e;
}
