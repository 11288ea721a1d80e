import { readArray, typeName } from "./codec.js";
import { Crdt, type CrdtOptions, type Patch } from "./crdt.js";
import { LichenError, invalidArgument, malformed } from "./errors.js";
import { compareReplicaIds } from "./replica.js";
import { VersionVector } from "./version-vector.js";
import { readReplicaTable } from "./wire-context.js";

// The run machinery shared by Rga and Text: a replicated sequence of items,
// stored as runs, integrated with YjsMod (= FugueMax), synced by deltas.
//
// IDS. Every operation of a replica takes the next numbers of that replica's
// own counter (like Yjs clocks; not HLC timestamps): an insert of n items
// takes n counters, which become the ids of the items; a delete of n items
// takes n counters too, one per deleted item (the "tag" of the deletion). So
// a run of inserts has consecutive ids and splits and merges by arithmetic,
// and the version (the vector of counters) moves with deletions as well: two
// replicas that differ only in deletions have different versions. A
// replica's counters 1..version are a partition: each is exactly one item or
// one deletion tag. A state always holds *every* operation up to its version
// and none above it (the delta rules below keep it so), which is what makes
// the version honest.
//
// ITEMS. Each item has an origin left (the item just before it when it was
// inserted: the last item, tombstones included, before the first visible item
// at the insert position) and an origin right (that visible item, or none at
// the end). Items are integrated with the YjsMod algorithm of Gentle's
// reference-crdts, shown by Weidner & Kleppmann (2023) to be FugueMax: it is
// maximally non-interleaving, so two runs typed concurrently at one place
// stay whole, one after the other; concurrent items with the same origins
// are ordered by replica id (code-unit order, the same on every engine).
//
// RUNS. Items are stored as fragments: consecutive ids of one replica where
// each item's origin left is the previous item and all share one origin
// right (so only the first item's origins are stored), all visible with
// their content, or all deleted. A deleted fragment (tombstone) keeps only
// ids, origins and its tags, no content: tags of a fragment follow one
// another by +1 or -1 (forward delete, backspace), so they are three numbers.
// Two replicas deleting one item concurrently give it two tags: the smaller
// (replica id, counter) is its main tag, the other is kept aside in `extras`
// (rare), so that the state stays a function of the operations it holds.
//
// LAYOUT. Fragments are columns of numbers in leaves of at most 64 fragments
// (10 numbers per fragment in one array, content in another); the document is
// the list of leaves, each knowing its visible length. A local edit finds its
// leaf from a cached cursor (the leaf of the last edit and its start), then
// scans at most 64 fragments: edits are local, so this is O(1) in practice
// and allocates nothing but the text it keeps. Inside XS the columns live in
// chunks: a fragment costs no slot, where a Yjs Item costs a score of them.
// Remote operations find items by id through a per-replica sorted index of
// fragment starts, built on first use (a replica that only types never pays
// for it) and kept up to date after.
//
// DELTAS. delta(since) carries, for every replica r, all of r's operations
// above since[r]: the items above it (as runs, in document order) and the
// deletions whose tags are above it (inside those runs, or as deletion
// records for older items). So the counters of r in a delta are exactly an
// interval (lo, hi]: the receiver reads lo - 1 as the base (it must have seen
// r that far, else OUT_OF_ORDER) and hi as r's new version, with no version
// rows on the wire. The one-character delta is the envelope, the replica
// table, a 2-byte run and the character. For a `since` that no replica ever
// had, the sender lowers it until the delta is such an interval.
//
// WIRE. The body is [replica ids (sorted), runs, content, records?]: runs and
// records are byte strings of LEB128 varints (columns of small numbers cost a
// byte each; CBOR would spend a header per number), runs in document order,
// each with a head byte saying how its origins relate to its neighbours (the
// usual case, "right after the previous run, before the next", costs no
// bytes), content is one string (Text) or one array (Rga) of the visible
// runs. A saved state loads in wire order without running the integration.
// Everything is checked on decode (MALFORMED, or OUT_OF_ORDER for a delta
// that needs operations this replica lacks) before anything changes.
//
// COUNTERS ARE NOT TIMESTAMPS. A replica must never issue a counter twice:
// one restored from an older saved state (its last operations lost) must get
// them back from a peer (apply a peer's delta for its version) before it
// edits again, or it would give new items the ids of lost ones.

/** Largest counter of a replica: 2^48 operations (a varint stays within 8 bytes, arithmetic within safe integers). */
export const MAX_COUNTER = 281474976710656;

// Fragment columns: S numbers per fragment.
const S = 10;
const REP = 0; // replica (index in the document's table)
const CLK = 1; // id (counter) of the first item
const LEN = 2; // items
const OLR = 3; // origin left of the first item: replica, or NONE
const OLC = 4; //   ... and counter (0 with NONE)
const ORR = 5; // origin right of every item: replica, or NONE (the end)
const ORC = 6; //   ... and counter (0 with NONE)
const DR = 7; // deleter of a tombstone (main tag's replica), NONE if visible
const DC = 8; // main tag counter of the first item
const DS = 9; // step of the tags along the fragment: +1 or -1 (1 when visible or single)
const NONE = -1;

// Records (deletions of items not carried as runs), 6 numbers each.
const RS = 6;
const RREP = 0;
const RCLK = 1;
const RLEN = 2;
const RDR = 3;
const RDC = 4;
const RDS = 5;

/** Fragments per leaf before it splits in two. */
const LEAF_MAX = 64;
/** Fragments per leaf when a state is loaded. */
const LEAF_FILL = 48;
/** Counters a patch may carry (all replicas) for its checks to use a direct-address table (4 bytes each)... */
const DIRECT_MAX = 4194304;
/** ... and per span (a run's items or tags, a record): so the table stays proportional to the payload. */
const DIRECT_PER_SPAN = 32;

// A run on the wire: head = flags + 128 * (length - 1); [replica] if H_REP;
// zigzag(id - the id after this replica's previous run) unless OL_CONT;
// [origin left's replica, zigzag(its id - id)] for OL_ID and OL_ID_NEXT;
// [origin right's replica, zigzag(its id - id)] for OR_ID; if deleted:
// (deleter differs ? 1 : 0) + (step -1 ? 2 : 0) + 4 * zigzag(first tag - the
// tag after the deleter's previous run of tags), [deleter] if it differs.
// A record: (replica differs from the previous record's ? 1) + (deleter
// differs ? 2) + (step -1 ? 4) + 8 * (length - 1); [replica];
// zigzag(id - the id after this replica's previous record); [deleter];
// zigzag(first tag - the tag after the deleter's previous tags).
const H_DELETED = 1;
const H_OL_SHIFT = 1; // 3 bits: how the origin left is written
const OL_NONE = 0; // the start of the document
const OL_PREV = 1; // the last item of the previous run
const OL_CONT = 2; // ... and this run continues it: same replica, the next id (replica and id not written)
const OL_SELF = 3; // the previous id of this run's replica (a run split by something inserted later)
const OL_ID = 4; // written out
const OL_ID_NEXT = 5; // written out, and the origin right is the next id of its replica (typing inside a run); no origin right written
const H_OR_SHIFT = 4; // 2 bits: how the origin right is written
const OR_NONE = 0; // the end of the document
const OR_NEXT = 1; // the first item of the next run
const OR_SAME = 2; // the previous run's origin right
const OR_ID = 3; // written out
const H_REP = 64; // the replica differs from the previous run's and is written out

/** Unit kinds (Text): an item that is the first or second half of a surrogate pair. */
export const UNIT_PLAIN = 0;
export const UNIT_HIGH = 1;
export const UNIT_LOW = 2;

class Leaf<C> {
  /** S numbers per fragment. */
  d: number[] = [];
  /** Content of each fragment; null for a tombstone. */
  con: Array<C | null> = [];
  /** Visible items. */
  vis = 0;
  /** Position in the document's list of leaves. */
  idx = 0;
  /** Per replica, at least the highest counter (item or main tag) here: delta() skips leaves it has nothing to send from. */
  top: number[] = [];

  /** Notes a counter of replica r held here. */
  hold(r: number, c: number): void {
    const t = this.top;
    while (t.length <= r) t.push(0);
    if (c > t[r]) t[r] = c;
  }
}

/** Per replica: the starts of its fragments, sorted, and the leaf holding each. */
class IdIndex<C> {
  readonly starts: number[][] = [];
  readonly leafs: Array<Array<Leaf<C>>> = [];

  row(r: number): void {
    while (this.starts.length <= r) {
      this.starts.push([]);
      this.leafs.push([]);
    }
  }

  add(r: number, c: number, L: Leaf<C>): void {
    this.row(r);
    const s = this.starts[r];
    const n = s.length;
    if (n === 0 || s[n - 1] < c) {
      s.push(c);
      this.leafs[r].push(L);
      return;
    }
    let lo = 0;
    let hi = n;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (s[mid] < c) lo = mid + 1;
      else hi = mid;
    }
    s.splice(lo, 0, c);
    this.leafs[r].splice(lo, 0, L);
  }

  /** Index of the last start <= c in row r, or -1. */
  floor(r: number, c: number): number {
    if (r >= this.starts.length) return -1;
    const s = this.starts[r];
    let lo = 0;
    let hi = s.length - 1;
    let at = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (s[mid] <= c) {
        at = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return at;
  }

  remove(r: number, c: number): void {
    const i = this.floor(r, c);
    if (i >= 0 && this.starts[r][i] === c) {
      this.starts[r].splice(i, 1);
      this.leafs[r].splice(i, 1);
    }
  }

  setLeaf(r: number, c: number, L: Leaf<C>): void {
    const i = this.floor(r, c);
    if (i >= 0 && this.starts[r][i] === c) this.leafs[r][i] = L;
  }
}

/** Varints into a growing buffer. */
class ByteWriter {
  buf = new Uint8Array(64);
  n = 0;

  u(x: number): void {
    if (this.n + 8 > this.buf.length) {
      const b = new Uint8Array(this.buf.length * 2);
      b.set(this.buf);
      this.buf = b;
    }
    let v = x;
    while (v >= 128) {
      this.buf[this.n++] = (v % 128) + 128;
      v = Math.floor(v / 128);
    }
    this.buf[this.n++] = v;
  }

  /** Zigzag: small signed numbers in small unsigned ones. */
  z(x: number): void {
    this.u(x >= 0 ? x * 2 : -x * 2 - 1);
  }

  bytes(): Uint8Array {
    return this.buf.slice(0, this.n);
  }
}

class ByteReader {
  p = 0;
  constructor(
    readonly b: Uint8Array,
    readonly what: string,
  ) {}

  get more(): boolean {
    return this.p < this.b.length;
  }

  u(): number {
    const b = this.b;
    let x = 0;
    let mul = 1;
    for (let i = 0; ; i++) {
      if (this.p >= b.length) throw malformed(`${this.what}: truncated`);
      const byte = b[this.p++];
      x += (byte & 127) * mul;
      if (byte < 128) {
        if (byte === 0 && i > 0) throw malformed(`${this.what}: overlong number`);
        break;
      }
      if (i === 7) throw malformed(`${this.what}: number too long`);
      mul *= 128;
    }
    if (x > Number.MAX_SAFE_INTEGER) throw malformed(`${this.what}: number beyond the safe integer range`);
    return x;
  }

  z(): number {
    const v = this.u();
    return v % 2 === 0 ? v / 2 : -(v + 1) / 2;
  }
}

/** The step that joins tags (a: first tag, step, length) and (b, ...) into one run of tags, or 0. */
function stepOf(aDc: number, aDs: number, aLen: number, bDc: number, bDs: number, bLen: number): number {
  const s = aLen > 1 ? aDs : bLen > 1 ? bDs : bDc - aDc;
  if (s !== 1 && s !== -1) return 0;
  if (bLen > 1 && bDs !== s) return 0;
  return bDc === aDc + aLen * s ? s : 0;
}

function checkCounter(c: number, what: string): number {
  if (c < 1 || c > MAX_COUNTER) throw malformed(`${what}: id ${c} out of range`);
  return c;
}

/** A delta or state, checked and ready to apply. Replicas are indices into `table`. */
export interface SeqPatch<C> extends Patch {
  readonly table: readonly string[];
  /** Runs in wire (document) order, S numbers each; origins and deleters NONE or table indices. */
  readonly runs: Float64Array;
  readonly con: ReadonlyArray<C | null>;
  /** Deletion records, RS numbers each. */
  readonly recs: Float64Array;
  /** The runs in an order where every run comes after the runs its origins lie in. */
  readonly order: Int32Array;
  /** Per table entry: the patch carries exactly that replica's operations (lo, hi]; hi 0 if none. */
  readonly lo: readonly number[];
  readonly hi: readonly number[];
}

interface Emission<C> {
  runs: number[];
  parts: C[];
  recs: number[];
}

/**
 * A replicated sequence of items of content type C (a string slice for Text,
 * an array of values for Rga). Subclasses give the content operations and the
 * user-facing API.
 */
export abstract class SequenceCrdt<C> extends Crdt<SeqPatch<C>> {
  private leaves: Array<Leaf<C>> = [new Leaf<C>()];
  private total = 0;
  /** Replica ids by index; the owner is 0. Indices are local to this instance. */
  private readonly rid: string[];
  private readonly ridx = new Map<string, number>();
  /** Version: highest counter seen per replica index. */
  private readonly ver: number[] = [0];
  /** Cursor: a leaf and the visible position where it starts. */
  private cLeaf = 0;
  private cStart = 0;
  /** Results of seek/find. */
  private sL: Leaf<C>;
  private sI = 0;
  private sOff = 0;
  private ids: IdIndex<C> | null = null;
  /** Second (and further) tags of items deleted by several replicas: replica → id → [deleter, counter, ...]. */
  private extras: Map<number, Map<number, number[]>> | null = null;
  /** Scratch for the integration's scan. */
  private readonly regL: Array<Leaf<C>> = [];
  private readonly regI: number[] = [];
  /** The type's name, for messages (set on first use). */
  private label = "";

  constructor(replica: string, options?: CrdtOptions) {
    super(replica, options);
    this.rid = [this.replica];
    this.ridx.set(this.replica, 0);
    this.sL = this.leaves[0];
  }

  private get what(): string {
    if (this.label === "") this.label = typeName(this.typeTag);
    return this.label;
  }

  // ---- content, given by the subclass ----

  protected abstract sliceContent(c: C, start: number, end: number): C;
  /** a followed by b; may reuse a (it belongs to the document). */
  protected abstract appendContent(a: C, b: C): C;
  /** UNIT_HIGH / UNIT_LOW for the halves of a surrogate pair (Text), else UNIT_PLAIN. */
  protected abstract unitKind(c: C, off: number): number;
  /** The wire form of the visible content, in order. */
  protected abstract contentToWire(parts: C[]): unknown;
  /** Reads the wire form and cuts it into runs of the given lengths; throws MALFORMED. */
  protected abstract contentFromWire(x: unknown, lengths: number[]): C[];
  /** True if items can be halves of surrogate pairs (Text): enables the pair checks. */
  protected abstract readonly hasUnits: boolean;

  // ---- reading ----

  /** Visible items. */
  protected get size(): number {
    return this.total;
  }

  /** The content of every visible fragment, in order. */
  protected visibleParts(): C[] {
    const out: C[] = [];
    for (const L of this.leaves) {
      if (L.vis === 0) continue;
      const con = L.con;
      for (let i = 0; i < con.length; i++) if (con[i] !== null) out.push(con[i]!);
    }
    return out;
  }

  /** The content holding visible item `pos` (0 <= pos < size); `partOffset` is its offset there. */
  protected partAt(pos: number): C {
    this.seek(pos);
    return this.sL.con[this.sI]!;
  }

  protected get partOffset(): number {
    return this.sOff;
  }

  version(): VersionVector {
    const v = new VersionVector();
    for (let r = 0; r < this.rid.length; r++) if (this.ver[r] > 0) v.set(this.rid[r], this.ver[r]);
    return v;
  }

  protected override seenUpTo(replica: string): number {
    const r = this.ridx.get(replica);
    return r === undefined ? 0 : this.ver[r];
  }

  /** Operations are numbered per replica without gaps: another's above what is seen here is not held. */
  protected unheldOrigin(p: SeqPatch<C>, author: string): string | undefined {
    for (let w = 0; w < p.table.length; w++) if (p.table[w] !== author && p.hi[w] > this.seenUpTo(p.table[w])) return p.table[w];
    return undefined;
  }

  // ---- the structure ----

  private intern(id: string): number {
    let r = this.ridx.get(id);
    if (r === undefined) {
      r = this.rid.length;
      this.rid.push(id);
      this.ridx.set(id, r);
      this.ver.push(0);
    }
    return r;
  }

  private addVis(L: Leaf<C>, n: number): void {
    L.vis += n;
    this.total += n;
    if (L.idx < this.cLeaf) this.cStart += n;
  }

  /** Finds visible item `pos` (0 <= pos < total): sL, sI, sOff. Moves the cursor there. */
  private seek(pos: number): void {
    const leaves = this.leaves;
    let li = this.cLeaf;
    let start = this.cStart;
    if (li >= leaves.length) {
      li = 0;
      start = 0;
    }
    while (pos < start) {
      li--;
      start -= leaves[li].vis;
    }
    let L = leaves[li];
    while (pos >= start + L.vis) {
      start += L.vis;
      L = leaves[++li];
    }
    this.cLeaf = li;
    this.cStart = start;
    let p = pos - start;
    const d = L.d;
    let i = 0;
    for (let k = 0; ; i++, k += S) {
      if (d[k + DR] < 0) {
        const n = d[k + LEN];
        if (p < n) break;
        p -= n;
      }
    }
    this.sL = L;
    this.sI = i;
    this.sOff = p;
  }

  private index(): IdIndex<C> {
    if (this.ids !== null) return this.ids;
    // Built on first use: per replica, the fragment starts sorted (document order is not id order).
    const ix = new IdIndex<C>();
    ix.row(this.rid.length - 1);
    for (const L of this.leaves) {
      const d = L.d;
      for (let k = 0; k < d.length; k += S) {
        ix.starts[d[k + REP]].push(d[k + CLK]);
        ix.leafs[d[k + REP]].push(L);
      }
    }
    for (let r = 0; r < ix.starts.length; r++) {
      const s = ix.starts[r];
      let sorted = true;
      for (let i = 1; i < s.length && sorted; i++) if (s[i - 1] > s[i]) sorted = false;
      if (sorted) continue;
      const l = ix.leafs[r];
      const order = s.map((_, i) => i).sort((a, b) => s[a] - s[b]);
      ix.starts[r] = order.map((i) => s[i]);
      ix.leafs[r] = order.map((i) => l[i]);
    }
    this.ids = ix;
    return ix;
  }

  /** Finds the item (r, c): sL, sI, sOff. False if this document does not hold it. */
  private find(r: number, c: number): boolean {
    const ix = this.index();
    const at = ix.floor(r, c);
    if (at < 0) return false;
    const start = ix.starts[r][at];
    const L = ix.leafs[r][at];
    const d = L.d;
    for (let k = 0, i = 0; k < d.length; k += S, i++) {
      if (d[k + CLK] === start && d[k + REP] === r) {
        if (c >= start + d[k + LEN]) return false;
        this.sL = L;
        this.sI = i;
        this.sOff = c - start;
        return true;
      }
    }
    return false;
  }

  private insertFragment(
    L: Leaf<C>,
    i: number,
    rep: number,
    clk: number,
    len: number,
    olr: number,
    olc: number,
    orr: number,
    orc: number,
    dr: number,
    dc: number,
    ds: number,
    con: C | null,
  ): void {
    L.d.splice(i * S, 0, rep, clk, len, olr, olc, orr, orc, dr, dr < 0 ? 0 : dc, dr < 0 || len === 1 ? 1 : ds);
    L.con.splice(i, 0, con);
    L.hold(rep, clk + len - 1);
    if (dr >= 0) L.hold(dr, Math.max(dc, dc + (len - 1) * ds));
    this.ids?.add(rep, clk, L);
  }

  /** Splits fragment i of L before its item `off` (0 < off < length): the second part becomes i + 1. */
  private split(L: Leaf<C>, i: number, off: number): void {
    const d = L.d;
    const k = i * S;
    const rep = d[k + REP];
    const clk = d[k + CLK];
    const len = d[k + LEN];
    const dr = d[k + DR];
    const c = L.con[i];
    d.splice(k + S, 0, rep, clk + off, len - off, rep, clk + off - 1, d[k + ORR], d[k + ORC], dr, dr < 0 ? 0 : d[k + DC] + off * d[k + DS], d[k + DS]);
    L.con.splice(i + 1, 0, c === null ? null : this.sliceContent(c, off, len));
    d[k + LEN] = off;
    if (c !== null) L.con[i] = this.sliceContent(c, 0, off);
    this.ids?.add(rep, clk + off, L);
  }

  /** 0 if fragments a and a + 1 of L cannot be one; else the tags' step (tombstones) or 2 (visible). */
  private mergeable(L: Leaf<C>, a: number): number {
    const d = L.d;
    const ka = a * S;
    const kb = ka + S;
    if (d[ka + REP] !== d[kb + REP] || d[ka + CLK] + d[ka + LEN] !== d[kb + CLK]) return 0;
    if (d[kb + OLR] !== d[kb + REP] || d[kb + OLC] !== d[kb + CLK] - 1) return 0;
    if (d[ka + ORR] !== d[kb + ORR] || d[ka + ORC] !== d[kb + ORC]) return 0;
    const da = d[ka + DR];
    const db = d[kb + DR];
    if (da < 0 || db < 0) return da < 0 && db < 0 ? 2 : 0;
    if (da !== db) return 0;
    return stepOf(d[ka + DC], d[ka + DS], d[ka + LEN], d[kb + DC], d[kb + DS], d[kb + LEN]);
  }

  private join(L: Leaf<C>, a: number, s: number): void {
    const d = L.d;
    const ka = a * S;
    const kb = ka + S;
    if (s === 2) L.con[a] = this.appendContent(L.con[a]!, L.con[a + 1]!);
    else d[ka + DS] = s;
    d[ka + LEN] += d[kb + LEN];
    this.ids?.remove(d[kb + REP], d[kb + CLK]);
    d.splice(kb, S);
    L.con.splice(a + 1, 1);
  }

  /** Joins tombstone i of L with its neighbours where possible. */
  private mergeAround(L: Leaf<C>, i: number): void {
    if (i + 1 < L.con.length) {
      const s = this.mergeable(L, i);
      if (s !== 0) this.join(L, i, s);
    }
    if (i > 0) {
      const s = this.mergeable(L, i - 1);
      if (s !== 0) this.join(L, i - 1, s);
    }
  }

  /** Splits a leaf that grew past LEAF_MAX fragments. */
  private fixLeaf(L: Leaf<C>): void {
    const n = L.con.length;
    if (n <= LEAF_MAX) return;
    const h = n >> 1;
    const R = new Leaf<C>();
    R.d = L.d.splice(h * S);
    R.con = L.con.splice(h);
    const d = R.d;
    let vis = 0;
    for (let k = 0; k < d.length; k += S) if (d[k + DR] < 0) vis += d[k + LEN];
    R.vis = vis;
    R.top = L.top.slice();
    L.vis -= vis;
    const leaves = this.leaves;
    leaves.splice(L.idx + 1, 0, R);
    for (let j = L.idx + 1; j < leaves.length; j++) leaves[j].idx = j;
    if (this.cLeaf > L.idx) this.cLeaf++;
    const ix = this.ids;
    if (ix !== null) for (let k = 0; k < d.length; k += S) ix.setLeaf(d[k + REP], d[k + CLK], R);
    this.fixLeaf(L);
    this.fixLeaf(R);
  }

  /** Marks items [off, off + n) of visible fragment i of L deleted, with tags t, t + s, ...; joins the tombstone to its neighbours where it can. */
  private markDeleted(L: Leaf<C>, i: number, off: number, n: number, dr: number, t: number, s: number): void {
    if (off > 0) {
      this.split(L, i, off);
      i++;
    }
    const k = i * S;
    if (n < L.d[k + LEN]) this.split(L, i, n);
    const d = L.d;
    d[k + DR] = dr;
    d[k + DC] = t;
    d[k + DS] = n === 1 ? 1 : s;
    L.hold(dr, Math.max(t, t + (n - 1) * s));
    L.con[i] = null;
    this.addVis(L, -n);
    this.mergeAround(L, i);
  }

  // ---- local edits ----

  /** Inserts n items of content at visible position pos (0..size); the subclass checked both. */
  protected insertLocal(pos: number, content: C, n: number): void {
    const clk = this.ver[0] + 1;
    if (clk + n - 1 > MAX_COUNTER) throw invalidArgument(`this replica has used all ${MAX_COUNTER} ids of the ${this.what}`);
    const leaves = this.leaves;
    let L: Leaf<C>;
    let at: number; // the new fragment goes at index `at` of L
    let lL: Leaf<C> | null = null; // the fragment before it (origin left)
    let li = 0;
    let orr = NONE;
    let orc = 0;
    if (pos === this.total) {
      const last = leaves.length - 1;
      L = leaves[last];
      this.cLeaf = last;
      this.cStart = this.total - L.vis;
      at = L.con.length;
      if (at > 0) {
        lL = L;
        li = at - 1;
      }
    } else {
      this.seek(pos);
      L = this.sL;
      const i = this.sI;
      const off = this.sOff;
      const k = i * S;
      orr = L.d[k + REP];
      orc = L.d[k + CLK] + off;
      if (off > 0) {
        this.split(L, i, off);
        lL = L;
        li = i;
        at = i + 1;
      } else {
        at = i;
        if (i > 0) {
          lL = L;
          li = i - 1;
        } else if (L.idx > 0) {
          lL = leaves[L.idx - 1];
          li = lL.con.length - 1;
        }
      }
    }
    let olr = NONE;
    let olc = 0;
    if (lL !== null) {
      const ld = lL.d;
      const lk = li * S;
      olr = ld[lk + REP];
      olc = ld[lk + CLK] + ld[lk + LEN] - 1;
      // typing on: extend our own run (the common case: no new fragment)
      if (olr === 0 && ld[lk + DR] < 0 && olc + 1 === clk && ld[lk + ORR] === orr && ld[lk + ORC] === orc) {
        ld[lk + LEN] += n;
        lL.con[li] = this.appendContent(lL.con[li]!, content);
        lL.hold(0, clk + n - 1);
        this.addVis(lL, n);
        this.ver[0] = clk + n - 1;
        return;
      }
    }
    this.insertFragment(L, at, 0, clk, n, olr, olc, orr, orc, NONE, 0, 1, content);
    this.addVis(L, n);
    this.ver[0] = clk + n - 1;
    this.fixLeaf(L);
  }

  /** Deletes n visible items from pos (the subclass checked the range). */
  protected deleteLocal(pos: number, n: number): void {
    let t = this.ver[0];
    if (t + n > MAX_COUNTER) throw invalidArgument(`this replica has used all ${MAX_COUNTER} ids of the ${this.what}`);
    while (n > 0) {
      this.seek(pos);
      const L = this.sL;
      const take = Math.min(n, L.d[this.sI * S + LEN] - this.sOff);
      this.markDeleted(L, this.sI, this.sOff, take, 0, t + 1, 1);
      this.fixLeaf(L);
      t += take;
      n -= take;
    }
    this.ver[0] = t;
  }

  // ---- remote edits ----

  /** Places new items (ids rep:clk..) whose origins this document holds, by YjsMod/FugueMax. */
  private integrate(rep: number, clk: number, len: number, olr: number, olc: number, orr: number, orc: number, dr: number, dc: number, ds: number, con: C | null): void {
    const leaves = this.leaves;
    let L: Leaf<C>;
    let at: number;
    if (olr === NONE) {
      L = leaves[0];
      at = 0;
    } else {
      this.find(olr, olc);
      L = this.sL;
      const i = this.sI;
      if (this.sOff < L.d[i * S + LEN] - 1) this.split(L, i, this.sOff + 1);
      at = i + 1;
    }
    let rL = L;
    if (orr !== NONE && this.find(orr, orc) && this.sOff > 0) {
      rL = this.sL;
      const ri = this.sI;
      this.split(rL, ri, this.sOff);
      if (rL === L && ri < at) at++;
    }
    // The items between the origins: whole fragments, up to the one that starts with the origin right.
    const regL = this.regL;
    const regI = this.regI;
    let m = 0;
    let cl = L;
    let ci = at;
    for (;;) {
      if (ci >= cl.con.length) {
        if (cl.idx + 1 >= leaves.length) break;
        cl = leaves[cl.idx + 1];
        ci = 0;
        continue;
      }
      const k = ci * S;
      if (cl.d[k + REP] === orr && cl.d[k + CLK] === orc) break;
      regL[m] = cl;
      regI[m] = ci;
      m++;
      ci++;
    }
    let destL = L;
    let destI = at;
    if (m > 0) {
      // YjsMod (reference-crdts' integrateYjsMod), one fragment at a time: only a fragment's first
      // item can stop the scan; the others have the item before them as origin left (bottom row).
      const me = this.rid[rep];
      let scanning = false;
      let dest = 0;
      let j = 0;
      for (; j < m; j++) {
        if (!scanning) dest = j;
        const hd = regL[j].d;
        const hk = regI[j] * S;
        const hr = hd[hk + OLR];
        const hc = hd[hk + OLC];
        let cmpL: number; // its origin left against ours: before (-1), the same (0), after (1)
        if (hr === NONE) cmpL = olr === NONE ? 0 : -1;
        else if (hr === olr && hc === olc) cmpL = 0;
        else cmpL = this.inRegion(hr, hc, 0, j) ? 1 : -1;
        if (cmpL < 0) break;
        if (cmpL > 0) continue;
        const xr = hd[hk + ORR];
        const xc = hd[hk + ORC];
        let cmpR: number; // its origin right against ours
        if (xr === NONE) cmpR = orr === NONE ? 0 : 1;
        else if (xr === orr && xc === orc) cmpR = 0;
        else cmpR = this.inRegion(xr, xc, j + 1, m) ? -1 : 1;
        if (cmpR < 0) {
          scanning = true;
          continue;
        }
        if (cmpR === 0 && compareReplicaIds(me, this.rid[hd[hk + REP]]) < 0) break;
        scanning = false;
      }
      if (j === m && !scanning) dest = m;
      if (dest > 0) {
        if (dest < m) {
          destL = regL[dest];
          destI = regI[dest];
        } else {
          destL = regL[m - 1];
          destI = regI[m - 1] + 1;
        }
      }
      regL.length = 0;
    }
    // The next part of a run that arrived in pieces: extend the fragment before.
    if (destI > 0 && olr === rep && olc === clk - 1) {
      const pd = destL.d;
      const pk = (destI - 1) * S;
      if (pd[pk + REP] === rep && pd[pk + CLK] + pd[pk + LEN] === clk && pd[pk + ORR] === orr && pd[pk + ORC] === orc) {
        const pdr = pd[pk + DR];
        if (pdr < 0 && dr < 0) {
          pd[pk + LEN] += len;
          destL.con[destI - 1] = this.appendContent(destL.con[destI - 1]!, con!);
          destL.hold(rep, clk + len - 1);
          this.addVis(destL, len);
          this.fixLeaf(L);
          this.fixLeaf(rL);
          return;
        }
        if (pdr >= 0 && pdr === dr) {
          const s = stepOf(pd[pk + DC], pd[pk + DS], pd[pk + LEN], dc, ds, len);
          if (s !== 0) {
            pd[pk + LEN] += len;
            pd[pk + DS] = s;
            destL.hold(rep, clk + len - 1);
            destL.hold(dr, Math.max(dc, dc + (len - 1) * ds));
            this.fixLeaf(L);
            this.fixLeaf(rL);
            return;
          }
        }
      }
    }
    this.insertFragment(destL, destI, rep, clk, len, olr, olc, orr, orc, dr, dc, ds, con);
    if (dr < 0) this.addVis(destL, len);
    this.fixLeaf(destL);
    this.fixLeaf(L);
    this.fixLeaf(rL);
  }

  /** True if one of region fragments [a, b) holds the item (r, c). */
  private inRegion(r: number, c: number, a: number, b: number): boolean {
    const regL = this.regL;
    const regI = this.regI;
    for (let t = a; t < b; t++) {
      const d = regL[t].d;
      const k = regI[t] * S;
      if (d[k + REP] === r && c >= d[k + CLK] && c < d[k + CLK] + d[k + LEN]) return true;
    }
    return false;
  }

  /** Deletes items rep:c.. (n of them, all held) with tags t, t + s, ... (all new to this document). */
  private deleteIds(rep: number, c: number, n: number, dr: number, t: number, s: number): void {
    while (n > 0) {
      this.find(rep, c);
      const L = this.sL;
      const i = this.sI;
      const off = this.sOff;
      const take = Math.min(n, L.d[i * S + LEN] - off);
      if (L.d[i * S + DR] < 0) {
        this.markDeleted(L, i, off, take, dr, t, s);
        this.fixLeaf(L);
      } else {
        for (let q = 0; q < take; q++) this.tagDeleted(rep, c + q, dr, t + q * s);
      }
      c += take;
      t += take * s;
      n -= take;
    }
  }

  private tagLess(d1: number, k1: number, d2: number, k2: number): boolean {
    const c = compareReplicaIds(this.rid[d1], this.rid[d2]);
    return c < 0 || (c === 0 && k1 < k2);
  }

  /** A further tag for an item already deleted: the smaller becomes the main tag, the other an extra. */
  private tagDeleted(rep: number, c: number, dr: number, t: number): void {
    this.find(rep, c);
    let L = this.sL;
    let i = this.sI;
    const off = this.sOff;
    const k = i * S;
    const er = L.d[k + DR];
    const et = L.d[k + DC] + off * L.d[k + DS];
    if (er === dr && et === t) return;
    const list = this.extras?.get(rep)?.get(c);
    if (list !== undefined) for (let q = 0; q < list.length; q += 2) if (list[q] === dr && list[q + 1] === t) return;
    if (!this.tagLess(dr, t, er, et)) {
      this.addExtra(rep, c, dr, t);
      return;
    }
    // the item's main tag changes: cut it out of its fragment
    if (off > 0) {
      this.split(L, i, off);
      i++;
    }
    if (L.d[i * S + LEN] > 1) this.split(L, i, 1);
    const kk = i * S;
    L.d[kk + DR] = dr;
    L.d[kk + DC] = t;
    L.d[kk + DS] = 1;
    L.hold(dr, t);
    this.addExtra(rep, c, er, et);
    this.mergeAround(L, i);
    this.fixLeaf(L);
  }

  private addExtra(rep: number, c: number, dr: number, t: number): void {
    if (this.extras === null) this.extras = new Map();
    let byId = this.extras.get(rep);
    if (byId === undefined) {
      byId = new Map();
      this.extras.set(rep, byId);
    }
    const list = byId.get(c);
    if (list === undefined) byId.set(c, [dr, t]);
    else list.push(dr, t);
  }

  // ---- applying a patch ----

  protected applyPatch(p: SeqPatch<C>): void {
    const table = p.table;
    const map = table.map((id) => this.intern(id));
    const seen = map.map((r) => this.ver[r]);
    const runs = p.runs;
    let fresh = this.leaves.length === 1 && this.leaves[0].con.length === 0;
    for (let w = 0; w < table.length && fresh; w++) if (p.lo[w] > 0) fresh = false;
    if (fresh) this.load(p, map);
    else {
      for (const j of p.order) {
        const b = j * S;
        const w = runs[b + REP];
        const rep = map[w];
        const clk = runs[b + CLK];
        const len = runs[b + LEN];
        const sn = seen[w];
        const dw = runs[b + DR];
        const dr = dw < 0 ? NONE : map[dw];
        const dc = runs[b + DC];
        const ds = runs[b + DS];
        // items this document holds: only their deletion may be new
        const known = clk + len - 1 <= sn ? len : clk <= sn ? sn - clk + 1 : 0;
        if (known > 0 && dr >= 0) this.applyTags(rep, clk, known, dr, dc, ds, seen[dw]);
        if (known === len) continue;
        const c0 = clk + known;
        const olr = known > 0 ? rep : runs[b + OLR] < 0 ? NONE : map[runs[b + OLR]];
        const olc = known > 0 ? c0 - 1 : runs[b + OLC];
        const orr = runs[b + ORR] < 0 ? NONE : map[runs[b + ORR]];
        const con = p.con[j];
        this.integrate(rep, c0, len - known, olr, olc, orr, runs[b + ORC], dr, dc + known * ds, ds, con === null ? null : known > 0 ? this.sliceContent(con, known, len) : con);
      }
    }
    const recs = p.recs;
    for (let b = 0; b < recs.length; b += RS) {
      const dw = recs[b + RDR];
      this.applyTags(map[recs[b + RREP]], recs[b + RCLK], recs[b + RLEN], map[dw], recs[b + RDC], recs[b + RDS], seen[dw]);
    }
    for (let w = 0; w < table.length; w++) if (p.hi[w] > this.ver[map[w]]) this.ver[map[w]] = p.hi[w];
  }

  /** Applies tags t, t + s, ... to items rep:c.. (n), skipping those the document has seen (<= seenD). */
  private applyTags(rep: number, c: number, n: number, dr: number, t: number, s: number, seenD: number): void {
    let a = 0;
    let b = n;
    if (s > 0) a = Math.max(0, seenD - t + 1);
    else b = Math.min(n, t - seenD);
    if (a < b) this.deleteIds(rep, c + a, b - a, dr, t + a * s, s);
  }

  /** Builds an empty document from a whole state, in wire order: no integration needed. */
  private load(p: SeqPatch<C>, map: number[]): void {
    const runs = p.runs;
    const nr = runs.length / S;
    const leaves: Array<Leaf<C>> = [];
    let total = 0;
    for (let first = 0; first < nr || leaves.length === 0; first += LEAF_FILL) {
      const last = Math.min(nr, first + LEAF_FILL);
      const L = new Leaf<C>();
      // the leaf's numbers, with replicas in this document's indices
      const d: number[] = [];
      L.d = d;
      for (let k = 0, b = first * S, j = first; j < last; k += S, b += S, j++) {
        d[k + REP] = map[runs[b + REP]];
        d[k + CLK] = runs[b + CLK];
        d[k + LEN] = runs[b + LEN];
        d[k + OLR] = runs[b + OLR] < 0 ? NONE : map[runs[b + OLR]];
        d[k + OLC] = runs[b + OLC];
        d[k + ORR] = runs[b + ORR] < 0 ? NONE : map[runs[b + ORR]];
        d[k + ORC] = runs[b + ORC];
        d[k + DR] = runs[b + DR];
        d[k + DC] = runs[b + DC];
        d[k + DS] = runs[b + DS];
        const len = d[k + LEN];
        L.hold(d[k + REP], d[k + CLK] + len - 1);
        if (d[k + DR] >= 0) {
          d[k + DR] = map[d[k + DR]];
          L.hold(d[k + DR], Math.max(d[k + DC], d[k + DC] + (len - 1) * d[k + DS]));
        } else {
          L.vis += len;
          total += len;
        }
        L.con.push(p.con[j]);
      }
      L.idx = leaves.length;
      leaves.push(L);
    }
    this.leaves = leaves;
    this.total = total;
    this.cLeaf = 0;
    this.cStart = 0;
    this.ids = null;
  }

  // ---- encoding ----

  protected encodeBody(since: ReadonlyMap<string, number>): unknown {
    const th = this.rid.map((id) => since.get(id) ?? 0);
    for (;;) {
      const e = this.emit(th);
      if (e !== null) return this.writeBody(e);
    }
  }

  protected statePatch(): SeqPatch<C> {
    return this.parse(this.encodeBody(new Map()), false);
  }

  /**
   * What a replica at `th` lacks: runs of the items above th, with their tags, and records of the
   * tags above th on older items. Returns null after lowering th where the delta would not be an
   * interval of counters per replica, or would cut a surrogate pair (a `since` no replica had).
   */
  private emit(th: number[]): Emission<C> | null {
    const runs: number[] = [];
    const parts: C[] = [];
    const recs: number[] = [];
    for (const L of this.leaves) {
      const top = L.top;
      let skip = true;
      for (let r = 0; r < top.length && skip; r++) if (top[r] > th[r]) skip = false;
      if (skip) continue;
      const d = L.d;
      for (let k = 0, i = 0; k < d.length; k += S, i++) {
        const rep = d[k + REP];
        const clk = d[k + CLK];
        const len = d[k + LEN];
        const dr = d[k + DR];
        const dc = d[k + DC];
        const ds = d[k + DS];
        const t = th[rep];
        const off = t >= clk ? Math.min(len, t - clk + 1) : 0; // items [0, off) are not sent
        if (off < len) {
          const olr = off > 0 ? rep : d[k + OLR];
          const olc = off > 0 ? clk + off - 1 : d[k + OLC];
          if (dr >= 0) {
            const t0 = dc + off * ds;
            const low = ds > 0 ? t0 : t0 + (len - off - 1) * ds;
            if (low <= th[dr]) {
              th[dr] = low - 1;
              return null;
            }
            pushRun(runs, rep, clk + off, len - off, olr, olc, d[k + ORR], d[k + ORC], dr, t0, ds);
          } else {
            const con = L.con[i]!;
            if (off > 0 && this.unitKind(con, off) === UNIT_LOW) {
              th[rep] = clk + off - 2;
              return null;
            }
            pushRun(runs, rep, clk + off, len - off, olr, olc, d[k + ORR], d[k + ORC], NONE, 0, 1);
            parts.push(off > 0 ? this.sliceContent(con, off, len) : con);
          }
        }
        if (dr >= 0 && off > 0) {
          const td = th[dr];
          const a = ds > 0 ? Math.max(0, td - dc + 1) : 0;
          const b = ds > 0 ? off : Math.min(off, dc - td);
          if (a < b) pushRec(recs, rep, clk + a, b - a, dr, dc + a * ds, ds);
        }
      }
    }
    if (this.extras !== null) {
      const ex: number[][] = [];
      for (const [rep, byId] of this.extras) {
        for (const [c, list] of byId) {
          for (let q = 0; q < list.length; q += 2) if (list[q + 1] > th[list[q]]) ex.push([rep, c, list[q], list[q + 1]]);
        }
      }
      const rid = this.rid;
      ex.sort((x, y) => compareReplicaIds(rid[x[0]], rid[y[0]]) || x[1] - y[1] || compareReplicaIds(rid[x[2]], rid[y[2]]) || x[3] - y[3]);
      for (const [rep, c, dr, t] of ex) recs.push(rep, c, 1, dr, t, 1);
    }
    return { runs, parts, recs };
  }

  private writeBody(e: Emission<C>): unknown {
    const { runs, recs } = e;
    // the replica table: every replica named, sorted
    const used = new Array<boolean>(this.rid.length).fill(false);
    for (let b = 0; b < runs.length; b += S) {
      used[runs[b + REP]] = true;
      if (runs[b + OLR] >= 0) used[runs[b + OLR]] = true;
      if (runs[b + ORR] >= 0) used[runs[b + ORR]] = true;
      if (runs[b + DR] >= 0) used[runs[b + DR]] = true;
    }
    for (let b = 0; b < recs.length; b += RS) {
      used[recs[b + RREP]] = true;
      used[recs[b + RDR]] = true;
    }
    const table: string[] = [];
    for (let r = 0; r < used.length; r++) if (used[r]) table.push(this.rid[r]);
    table.sort(compareReplicaIds);
    const wmap = new Array<number>(this.rid.length).fill(-1);
    table.forEach((id, w) => (wmap[this.ridx.get(id)!] = w));
    const nextClk = new Array<number>(table.length).fill(1);
    const nextTag = new Array<number>(table.length).fill(1);

    const out = new ByteWriter();
    let prevRep = 0;
    for (let b = 0; b < runs.length; b += S) {
      const rep = wmap[runs[b + REP]];
      const clk = runs[b + CLK];
      const len = runs[b + LEN];
      const olr = runs[b + OLR] < 0 ? NONE : wmap[runs[b + OLR]];
      const olc = runs[b + OLC];
      const orr = runs[b + ORR] < 0 ? NONE : wmap[runs[b + ORR]];
      const orc = runs[b + ORC];
      const p = b - S;
      const n = b + S;
      let ol: number;
      if (olr === NONE) ol = OL_NONE;
      else if (p >= 0 && olr === wmap[runs[p + REP]] && olc === runs[p + CLK] + runs[p + LEN] - 1) ol = rep === olr && clk === olc + 1 ? OL_CONT : OL_PREV;
      else if (olr === rep && olc === clk - 1) ol = OL_SELF;
      else ol = OL_ID;
      let or: number;
      if (orr === NONE) or = OR_NONE;
      else if (n < runs.length && orr === wmap[runs[n + REP]] && orc === runs[n + CLK]) or = OR_NEXT;
      else if (p >= 0 && runs[p + ORR] >= 0 && orr === wmap[runs[p + ORR]] && orc === runs[p + ORC]) or = OR_SAME;
      else or = OR_ID;
      if (ol === OL_ID && or === OR_ID && orr === olr && orc === olc + 1) {
        ol = OL_ID_NEXT;
        or = OR_NONE;
      }
      const dw = runs[b + DR] < 0 ? NONE : wmap[runs[b + DR]];
      const writeRep = ol !== OL_CONT && rep !== prevRep;
      out.u((dw >= 0 ? H_DELETED : 0) + (ol << H_OL_SHIFT) + (or << H_OR_SHIFT) + (writeRep ? H_REP : 0) + 128 * (len - 1));
      if (ol !== OL_CONT) {
        if (writeRep) out.u(rep);
        out.z(clk - nextClk[rep]);
      }
      if (ol === OL_ID || ol === OL_ID_NEXT) {
        out.u(olr);
        out.z(olc - clk);
      }
      if (or === OR_ID) {
        out.u(orr);
        out.z(orc - clk);
      }
      if (dw >= 0) {
        const dc = runs[b + DC];
        const ds = runs[b + DS];
        out.u((dw !== rep ? 1 : 0) + (ds < 0 ? 2 : 0) + 4 * zigzag(dc - nextTag[dw]));
        if (dw !== rep) out.u(dw);
        nextTag[dw] = Math.max(dc, dc + (len - 1) * ds) + 1;
      }
      nextClk[rep] = clk + len;
      prevRep = rep;
    }
    const body: unknown[] = [table, out.bytes(), this.contentToWire(e.parts)];
    if (recs.length > 0) {
      const rw = new ByteWriter();
      let prev = 0;
      const recNext = new Array<number>(table.length).fill(1);
      for (let b = 0; b < recs.length; b += RS) {
        const rep = wmap[recs[b + RREP]];
        const dw = wmap[recs[b + RDR]];
        const len = recs[b + RLEN];
        const dc = recs[b + RDC];
        const ds = recs[b + RDS];
        rw.u((rep !== prev ? 1 : 0) + (dw !== rep ? 2 : 0) + (ds < 0 ? 4 : 0) + 8 * (len - 1));
        if (rep !== prev) rw.u(rep);
        rw.z(recs[b + RCLK] - recNext[rep]);
        if (dw !== rep) rw.u(dw);
        rw.z(dc - nextTag[dw]);
        recNext[rep] = recs[b + RCLK] + len;
        nextTag[dw] = Math.max(dc, dc + (len - 1) * ds) + 1;
        prev = rep;
      }
      body.push(rw.bytes());
    }
    return body;
  }

  // ---- decoding ----

  protected readBody(body: unknown): SeqPatch<C> {
    return this.parse(body, true);
  }

  /**
   * Reads a body into a patch. Everything that does not depend on this document is checked always;
   * with `here`, also what does (this is a delta about to be applied here): the base, the items it
   * refers to, and, for Text, that no surrogate pair gets split. Never changes the document.
   */
  private parse(body: unknown, here: boolean): SeqPatch<C> {
    const what = this.what;
    const b = readArray(body, what, 3, 4);
    const table = readReplicaTable(b[0], what);
    const nt = table.length;
    if (!(b[1] instanceof Uint8Array)) throw malformed(`${what}: runs must be a byte string`);
    if (b.length === 4 && !(b[3] instanceof Uint8Array)) throw malformed(`${what}: deletions must be a byte string`);
    const idx = (x: number): number => {
      if (x >= nt) throw malformed(`${what}: replica index ${x} out of range`);
      return x;
    };

    // runs; deps: the run holding each one's origin left and right (-1: none or outside, -2: to look up)
    const bytes = b[1];
    // (about one run per 4 bytes in a saved state; a delta on a device is a few runs; doubled as needed)
    const guess = 8 + (bytes.length >> 2);
    let runs = new Float64Array(guess * S);
    let deps = new Int32Array(guess * 2);
    let nr = 0;
    const lengths: number[] = [];
    const rd = new ByteReader(bytes, `${what} runs`);
    const nextClk = new Array<number>(nt).fill(1);
    const nextTag = new Array<number>(nt).fill(1);
    let prevRep = 0;
    let pendingNext = -1; // a run whose origin right is the next run's first item
    while (rd.more) {
      if ((nr + 1) * S > runs.length) {
        const r2 = new Float64Array(runs.length * 2);
        r2.set(runs);
        runs = r2;
        const d2 = new Int32Array(deps.length * 2);
        d2.set(deps);
        deps = d2;
      }
      const head = rd.u();
      const flags = head % 128;
      const len = (head - flags) / 128 + 1;
      const ol = (flags >> H_OL_SHIFT) & 7;
      const or = (flags >> H_OR_SHIFT) & 3;
      const p = (nr - 1) * S;
      if (ol > OL_ID_NEXT || (ol === OL_ID_NEXT && or !== OR_NONE)) throw malformed(`${what}: unknown origin kind`);
      if ((ol === OL_PREV || ol === OL_CONT || or === OR_SAME) && nr === 0) throw malformed(`${what}: the first run refers to a previous one`);
      if (ol === OL_CONT && (flags & H_REP) !== 0) throw malformed(`${what}: bad run head`);
      let rep: number;
      let clk: number;
      if (ol === OL_CONT) {
        rep = runs[p + REP];
        clk = runs[p + CLK] + runs[p + LEN];
      } else {
        rep = idx((flags & H_REP) !== 0 ? rd.u() : prevRep);
        clk = nextClk[rep] + rd.z();
      }
      checkCounter(clk, what);
      checkCounter(clk + len - 1, what);
      let olr = NONE;
      let olc = 0;
      let depL = -1;
      if (ol === OL_PREV || ol === OL_CONT) {
        olr = runs[p + REP];
        olc = runs[p + CLK] + runs[p + LEN] - 1;
        depL = nr - 1;
      } else if (ol === OL_SELF) {
        olr = rep;
        olc = checkCounter(clk - 1, what);
        depL = -2;
      } else if (ol === OL_ID || ol === OL_ID_NEXT) {
        olr = idx(rd.u());
        olc = checkCounter(clk + rd.z(), what);
        depL = -2;
      }
      let orr = NONE;
      let orc = 0;
      let depR = -1;
      if (pendingNext >= 0) {
        runs[pendingNext * S + ORR] = rep;
        runs[pendingNext * S + ORC] = clk;
        pendingNext = -1;
      }
      if (or === OR_NEXT) {
        pendingNext = nr;
        depR = nr + 1;
      } else if (or === OR_SAME) {
        orr = runs[p + ORR];
        orc = runs[p + ORC];
        if (orr === NONE) throw malformed(`${what}: no origin right to repeat`);
        depR = -2;
      } else if (or === OR_ID) {
        orr = idx(rd.u());
        orc = checkCounter(clk + rd.z(), what);
        depR = -2;
      } else if (ol === OL_ID_NEXT) {
        orr = olr;
        orc = checkCounter(olc + 1, what);
        depR = -2;
      }
      let dr = NONE;
      let dc = 0;
      let ds = 1;
      if ((flags & H_DELETED) !== 0) {
        const th = rd.u();
        const tf = th % 4;
        dr = (tf & 1) !== 0 ? idx(rd.u()) : rep;
        ds = len > 1 && (tf & 2) !== 0 ? -1 : 1;
        dc = checkCounter(nextTag[dr] + unzigzag((th - tf) / 4), what);
        checkCounter(dc + (len - 1) * ds, what);
        nextTag[dr] = Math.max(dc, dc + (len - 1) * ds) + 1;
      } else lengths.push(len);
      const k = nr * S;
      runs[k + REP] = rep;
      runs[k + CLK] = clk;
      runs[k + LEN] = len;
      runs[k + OLR] = olr;
      runs[k + OLC] = olc;
      runs[k + ORR] = orr;
      runs[k + ORC] = orc;
      runs[k + DR] = dr;
      runs[k + DC] = dc;
      runs[k + DS] = ds;
      deps[2 * nr] = depL;
      deps[2 * nr + 1] = depR;
      nr++;
      nextClk[rep] = clk + len;
      prevRep = rep;
    }
    if (pendingNext >= 0) throw malformed(`${what}: the last run refers to a next one`);
    runs = runs.subarray(0, nr * S);

    // content of the visible runs
    const parts = this.contentFromWire(b[2], lengths);
    const con: Array<C | null> = new Array<C | null>(nr);
    for (let j = 0, v = 0; j < nr; j++) con[j] = runs[j * S + DR] < 0 ? parts[v++] : null;

    // deletion records
    const rl: number[] = [];
    if (b.length === 4) {
      const rr = new ByteReader(b[3] as Uint8Array, `${what} deletions`);
      const recNext = new Array<number>(nt).fill(1);
      let prev = 0;
      while (rr.more) {
        const head = rr.u();
        const f = head % 8;
        const len = (head - f) / 8 + 1;
        const rep = idx((f & 1) !== 0 ? rr.u() : prev);
        const clk = checkCounter(recNext[rep] + rr.z(), what);
        checkCounter(clk + len - 1, what);
        const dr = (f & 2) !== 0 ? idx(rr.u()) : rep;
        const ds = len > 1 && (f & 4) !== 0 ? -1 : 1;
        const dc = checkCounter(nextTag[dr] + rr.z(), what);
        checkCounter(dc + (len - 1) * ds, what);
        rl.push(rep, clk, len, dr, dc, ds);
        recNext[rep] = clk + len;
        nextTag[dr] = Math.max(dc, dc + (len - 1) * ds) + 1;
        prev = rep;
      }
    }
    const recs = Float64Array.from(rl);

    // Every counter the patch carries, per replica (items and tags), must tile an interval (lo, hi].
    // Two passes over the runs and records: bounds and sums, then the owner of each counter.
    const lo = new Array<number>(nt).fill(0);
    const hi = new Array<number>(nt).fill(0);
    const sum = new Array<number>(nt).fill(0);
    let owner: Int32Array[] | null = null;
    let total = 0;
    let spans = 0;
    const visit = (pass: number): void => {
      const own = owner;
      const span = (w: number, a: number, z: number, j: number): void => {
        if (pass === 0) {
          spans++;
          if (sum[w] === 0 || a - 1 < lo[w]) lo[w] = a - 1;
          if (z > hi[w]) hi[w] = z;
          sum[w] += z - a + 1;
        } else if (own !== null) {
          const o = own[w];
          const base = lo[w] + 1;
          if (z - a < 16) for (let x = a - base; x <= z - base; x++) o[x] = j;
          else o.fill(j, a - base, z - base + 1);
        }
      };
      for (let k = 0, j = 0; k < runs.length; k += S, j++) {
        span(runs[k + REP], runs[k + CLK], runs[k + CLK] + runs[k + LEN] - 1, j);
        if (runs[k + DR] >= 0) {
          const last = runs[k + DC] + (runs[k + LEN] - 1) * runs[k + DS];
          span(runs[k + DR], Math.min(runs[k + DC], last), Math.max(runs[k + DC], last), -1);
        }
      }
      for (let k = 0; k < recs.length; k += RS) {
        const last = recs[k + RDC] + (recs[k + RLEN] - 1) * recs[k + RDS];
        span(recs[k + RDR], Math.min(recs[k + RDC], last), Math.max(recs[k + RDC], last), -1);
      }
    };
    visit(0);
    const gap = (w: number): LichenError => malformed(`${what}: the ids of replica ${JSON.stringify(table[w])} overlap or leave a gap`);
    for (let w = 0; w < nt; w++) {
      if (sum[w] !== hi[w] - lo[w]) throw gap(w);
      total += sum[w];
    }
    // Which run holds each counter (-1: a tag), by direct address when the table stays small beside
    // the payload (4 bytes a counter, at most DIRECT_PER_SPAN counters a span): with the sums equal,
    // a counter left unfilled is the sign of an overlap. Otherwise (few spans covering many
    // counters, such as a long deletion): sorted starts and ends.
    if (total <= DIRECT_MAX && total <= DIRECT_PER_SPAN * spans) {
      owner = hi.map((h, w) => new Int32Array(h - lo[w]).fill(-2));
      visit(1);
      for (let w = 0; w < nt; w++) if (owner[w].indexOf(-2) >= 0) throw gap(w);
    } else {
      for (let w = 0; w < nt; w++) {
        const st: number[] = [];
        const en: number[] = [];
        const add = (r: number, a: number, z: number): void => {
          if (r !== w) return;
          st.push(a);
          en.push(z);
        };
        for (let k = 0; k < runs.length; k += S) {
          add(runs[k + REP], runs[k + CLK], runs[k + CLK] + runs[k + LEN] - 1);
          const last = runs[k + DC] + (runs[k + LEN] - 1) * runs[k + DS];
          if (runs[k + DR] >= 0) add(runs[k + DR], Math.min(runs[k + DC], last), Math.max(runs[k + DC], last));
        }
        for (let k = 0; k < recs.length; k += RS) {
          const last = recs[k + RDC] + (recs[k + RLEN] - 1) * recs[k + RDS];
          add(recs[k + RDR], Math.min(recs[k + RDC], last), Math.max(recs[k + RDC], last));
        }
        const s = Float64Array.from(st).sort();
        const e = Float64Array.from(en).sort();
        // sorted apart, the starts and ends of spans that tile pair up in order, and only they do
        for (let q = 0; q < s.length; q++) if (s[q] > e[q] || (q > 0 && s[q] !== e[q - 1] + 1)) throw gap(w);
      }
    }

    // Runs by id, for the origins that are not neighbours on the wire.
    let runStarts: Float64Array[] | null = null;
    let runAt: Map<number, number> | null = null;
    const runOf = (w: number, c: number): number => {
      if (owner !== null) {
        const x = c - lo[w] - 1;
        return x >= 0 && x < owner[w].length ? owner[w][x] : -1;
      }
      if (runStarts === null || runAt === null) {
        const n = new Array<number>(nt).fill(0);
        for (let k = 0; k < runs.length; k += S) n[runs[k + REP]]++;
        runStarts = n.map((x) => new Float64Array(x));
        const at = new Array<number>(nt).fill(0);
        runAt = new Map();
        for (let k = 0, j = 0; k < runs.length; k += S, j++) {
          const r = runs[k + REP];
          runStarts[r][at[r]++] = runs[k + CLK];
          runAt.set(runs[k + CLK] * nt + r, j);
        }
        for (const x of runStarts) x.sort();
      }
      const s = runStarts[w];
      let a = 0;
      let z = s.length - 1;
      let f = -1;
      while (a <= z) {
        const mid = (a + z) >> 1;
        if (s[mid] <= c) {
          f = mid;
          a = mid + 1;
        } else z = mid - 1;
      }
      if (f < 0) return -1;
      const j = runAt.get(s[f] * nt + w)!;
      return c < runs[j * S + CLK] + runs[j * S + LEN] ? j : -1;
    };
    for (let j = 0, k = 0; j < nr; j++, k += S) {
      if (deps[2 * j] === -2) deps[2 * j] = runOf(runs[k + OLR], runs[k + OLC]);
      if (deps[2 * j + 1] === -2) deps[2 * j + 1] = runOf(runs[k + ORR], runs[k + ORC]);
    }

    // the order of integration: every run after the runs its origins lie in (depth first, iterative)
    const order = new Int32Array(nr);
    let no = 0;
    const state = new Uint8Array(nr);
    const stack = new Int32Array(2 * nr + 2);
    for (let root = 0; root < nr; root++) {
      if (state[root] !== 0) continue;
      state[root] = 1;
      stack[0] = root;
      stack[1] = 0;
      let sp = 2;
      while (sp > 0) {
        const v = stack[sp - 2];
        const e = stack[sp - 1];
        if (e < 2) {
          stack[sp - 1] = e + 1;
          const u = deps[2 * v + e];
          if (u < 0 || state[u] === 2) continue;
          if (state[u] === 1) throw malformed(`${what}: runs whose origins form a cycle`);
          state[u] = 1;
          stack[sp] = u;
          stack[sp + 1] = 0;
          sp += 2;
        } else {
          state[v] = 2;
          order[no++] = v;
          sp -= 2;
        }
      }
    }

    const base: Array<[string, number]> = [];
    for (let w = 0; w < nt; w++) if (hi[w] > 0 && lo[w] > 0) base.push([table[w], lo[w]]);
    const patch: SeqPatch<C> = { table, runs, con, recs, order, lo, hi, maxTs: 0, base };
    if (here) this.checkHere(patch, deps, runOf, what);
    return patch;
  }

  /** The checks of a delta that depend on this document (see parse). */
  private checkHere(p: SeqPatch<C>, deps: Int32Array, runOf: (w: number, c: number) => number, what: string): void {
    const { table, runs, recs, lo, hi } = p;
    const nt = table.length;
    const doc = table.map((id) => this.ridx.get(id) ?? NONE);
    const seen = doc.map((r) => (r === NONE ? 0 : this.ver[r]));
    // the base first, as applyDelta would: a replica behind it gets OUT_OF_ORDER whatever else is wrong
    for (let w = 0; w < nt; w++) {
      if (hi[w] > 0 && lo[w] > seen[w]) {
        throw new LichenError(
          "OUT_OF_ORDER",
          `this ${what} delta was made for a replica that has seen ${table[w]} up to ${lo[w]}; this one has seen it up to ${seen[w]}: ask for a delta from this version`,
        );
      }
    }
    /** Checks that items w:c.. (n) are held here or carried by the patch. */
    const needItems = (w: number, c: number, n: number): void => {
      const end = c + n;
      while (c < end) {
        if (c <= seen[w]) {
          if (!this.find(doc[w], c)) throw malformed(`${what}: refers to ${table[w]}:${c}, which is not an item`);
          c += Math.min(end - c, this.sL.d[this.sI * S + LEN] - this.sOff);
          continue;
        }
        const j = runOf(w, c);
        if (j < 0) {
          if (hi[w] > 0 && c <= hi[w]) throw malformed(`${what}: refers to ${table[w]}:${c}, which is not an item`);
          if (hi[w] > 0) throw malformed(`${what}: refers to ${table[w]}:${c}, beyond what it carries of ${table[w]}`);
          throw new LichenError("OUT_OF_ORDER", `this ${what} delta needs ${table[w]}:${c}, which this replica has not seen: ask for a delta from this version`);
        }
        c = Math.min(end, runs[j * S + CLK] + runs[j * S + LEN]);
      }
    };
    // An item at or below this replica's version is read here, whatever the delta says of it (its
    // copy in the delta is not applied): it must be an item here, not a deletion's counter.
    const nr = runs.length / S;
    for (let j = 0, k = 0; j < nr; j++, k += S) {
      const w = runs[k + REP];
      const clk = runs[k + CLK];
      const len = runs[k + LEN];
      const known = clk + len - 1 <= seen[w] ? len : clk <= seen[w] ? seen[w] - clk + 1 : 0;
      const dr = runs[k + DR];
      if (known > 0 && (dr >= 0 || known < len)) needItems(w, clk, known); // tags apply to them, or the rest follows the last
      if (known === len) continue;
      if (known === 0 && runs[k + OLR] >= 0 && (deps[2 * j] < 0 || runs[k + OLC] <= seen[runs[k + OLR]])) needItems(runs[k + OLR], runs[k + OLC], 1);
      if (runs[k + ORR] >= 0 && (deps[2 * j + 1] < 0 || runs[k + ORC] <= seen[runs[k + ORR]])) needItems(runs[k + ORR], runs[k + ORC], 1);
      if (dr >= 0) {
        // the tags of items new here are new here (else this replica would hold the items)
        const t0 = runs[k + DC] + known * runs[k + DS];
        const low = runs[k + DS] > 0 ? t0 : t0 + (len - known - 1) * runs[k + DS];
        if (low <= seen[dr]) throw malformed(`${what}: new items with a deletion this replica has seen`);
      }
    }
    for (let k = 0; k < recs.length; k += RS) needItems(recs[k + RREP], recs[k + RCLK], recs[k + RLEN]);
    if (!this.hasUnits) return;

    // Text: no insert between the halves of a pair, no deletion of one half.
    const kindIn = (j: number, c: number): number => {
      const x = p.con[j];
      return x === null ? -1 : this.unitKind(x, c - runs[j * S + CLK]);
    };
    const kindOf = (w: number, c: number): number => {
      if (c <= seen[w]) {
        if (!this.find(doc[w], c)) return -1;
        const x = this.sL.con[this.sI];
        return x === null ? -1 : this.unitKind(x, this.sOff);
      }
      const j = runOf(w, c);
      return j < 0 ? -1 : kindIn(j, c);
    };
    // deletions of items that may be visible: of held items (records, or runs this replica holds)
    const dels: number[][] = table.map(() => []);
    for (let j = 0, k = 0; j < nr; j++, k += S) {
      const w = runs[k + REP];
      const clk = runs[k + CLK];
      const len = runs[k + LEN];
      if (runs[k + DR] >= 0 && clk <= seen[w]) dels[w].push(clk, clk + len - 1);
      if (clk + len - 1 <= seen[w]) continue;
      if (clk <= seen[w]) {
        // the part of the run that is new here must not start or attach inside a pair
        if (kindOf(w, seen[w]) === UNIT_HIGH || kindIn(j, seen[w] + 1) === UNIT_LOW) throw malformed(`${what}: an insert inside a surrogate pair`);
      } else if (runs[k + OLR] >= 0) {
        // (an item held here is read here: a delta's copy of it is ignored when it is applied)
        const olr = runs[k + OLR];
        const kind = deps[2 * j] >= 0 && runs[k + OLC] > seen[olr] ? kindIn(deps[2 * j], runs[k + OLC]) : kindOf(olr, runs[k + OLC]);
        if (kind === UNIT_HIGH) throw malformed(`${what}: an insert inside a surrogate pair`);
      }
      if (runs[k + ORR] >= 0) {
        const orr = runs[k + ORR];
        const kind = deps[2 * j + 1] >= 0 && runs[k + ORC] > seen[orr] ? kindIn(deps[2 * j + 1], runs[k + ORC]) : kindOf(orr, runs[k + ORC]);
        if (kind === UNIT_LOW) throw malformed(`${what}: an insert inside a surrogate pair`);
      }
    }
    for (let k = 0; k < recs.length; k += RS) dels[recs[k + RREP]].push(recs[k + RCLK], recs[k + RCLK] + recs[k + RLEN] - 1);
    for (let w = 0; w < nt; w++) {
      const d = dels[w];
      if (d.length === 0) continue;
      const order = Array.from({ length: d.length / 2 }, (_, q) => 2 * q).sort((x, y) => d[x] - d[y]);
      // merged ranges: no pair is cut if neither end of a range is a visible half
      for (let q = 0; q < order.length; ) {
        const a = d[order[q]];
        let z = d[order[q] + 1];
        q++;
        while (q < order.length && d[order[q]] <= z + 1) {
          z = Math.max(z, d[order[q] + 1]);
          q++;
        }
        if (kindOf(w, a) === UNIT_LOW || kindOf(w, z) === UNIT_HIGH) throw malformed(`${what}: a deletion of half a surrogate pair`);
      }
    }
  }
}

function zigzag(x: number): number {
  return x >= 0 ? x * 2 : -x * 2 - 1;
}

function unzigzag(v: number): number {
  return v % 2 === 0 ? v / 2 : -(v + 1) / 2;
}

/** Appends a run to an emission, joined to the previous one when they form one run. */
function pushRun(runs: number[], rep: number, clk: number, len: number, olr: number, olc: number, orr: number, orc: number, dr: number, dc: number, ds: number): void {
  const k = runs.length - S;
  if (k >= 0 && runs[k + REP] === rep && runs[k + CLK] + runs[k + LEN] === clk && olr === rep && olc === clk - 1 && runs[k + ORR] === orr && runs[k + ORC] === orc) {
    const pd = runs[k + DR];
    if (pd < 0 && dr < 0) {
      runs[k + LEN] += len;
      return;
    }
    if (pd >= 0 && pd === dr) {
      const s = stepOf(runs[k + DC], runs[k + DS], runs[k + LEN], dc, ds, len);
      if (s !== 0) {
        runs[k + LEN] += len;
        runs[k + DS] = s;
        return;
      }
    }
  }
  runs.push(rep, clk, len, olr, olc, orr, orc, dr, dr < 0 ? 0 : dc, dr < 0 || len === 1 ? 1 : ds);
}

function pushRec(recs: number[], rep: number, clk: number, len: number, dr: number, dc: number, ds: number): void {
  const k = recs.length - RS;
  if (k >= 0 && recs[k + RREP] === rep && recs[k + RCLK] + recs[k + RLEN] === clk && recs[k + RDR] === dr) {
    const s = stepOf(recs[k + RDC], recs[k + RDS], recs[k + RLEN], dc, ds, len);
    if (s !== 0) {
      recs[k + RLEN] += len;
      recs[k + RDS] = s;
      return;
    }
  }
  recs.push(rep, clk, len, dr, dc, len === 1 ? 1 : ds);
}
