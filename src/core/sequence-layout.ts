import { typeName } from "./codec.js";
import { Crdt, type CrdtOptions, type Patch } from "./crdt.js";
import { VersionVector } from "./version-vector.js";

// The layout of a sequence (sequence.ts says what ids, items and runs are):
// how fragments are stored, found, split and joined.
//
// Fragments are columns of numbers in leaves of at most 64 fragments
// (10 numbers per fragment in one array, content in another); the document is
// the list of leaves, each knowing its visible length. A local edit finds its
// leaf from a cached cursor (the leaf of the last edit and its start), then
// scans at most 64 fragments: edits are local, so this is O(1) in practice
// and allocates nothing but the text it keeps. Inside XS the columns live in
// chunks: a fragment costs no slot, where a Yjs Item costs a score of them.
// Remote operations find items by id through a per-replica sorted index of
// fragment starts, built on first use (a replica that only types never pays
// for it) and kept up to date after. Where new items go (the integration) is
// sequence-integrate.ts.

/** Largest counter of a replica: 2^48 operations (a varint stays within 8 bytes, arithmetic within safe integers). */
export const MAX_COUNTER = 281474976710656;

// Fragment columns: S numbers per fragment.
export const S = 10;
export const REP = 0; // replica (index in the document's table)
export const CLK = 1; // id (counter) of the first item
export const LEN = 2; // items
export const OLR = 3; // origin left of the first item: replica, or NONE
export const OLC = 4; //   ... and counter (0 with NONE)
export const ORR = 5; // origin right of every item: replica, or NONE (the end)
export const ORC = 6; //   ... and counter (0 with NONE)
export const DR = 7; // deleter of a tombstone (main tag's replica), NONE if visible
export const DC = 8; // main tag counter of the first item
export const DS = 9; // step of the tags along the fragment: +1 or -1 (1 when visible or single)
export const NONE = -1;

// Records (deletions of items not carried as runs), 6 numbers each.
export const RS = 6;
export const RREP = 0;
export const RCLK = 1;
export const RLEN = 2;
export const RDR = 3;
export const RDC = 4;
export const RDS = 5;

/** Fragments per leaf before it splits in two. */
export const LEAF_MAX = 64;
/** Fragments per leaf when a state is loaded. */
export const LEAF_FILL = 48;

/** Unit kinds (Text): an item that is the first or second half of a surrogate pair. */
export const UNIT_PLAIN = 0;
export const UNIT_HIGH = 1;
export const UNIT_LOW = 2;

export class Leaf<C> {
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
export class IdIndex<C> {
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

/** The step that joins tags (a: first tag, step, length) and (b, ...) into one run of tags, or 0. */
export function stepOf(aDc: number, aDs: number, aLen: number, bDc: number, bDs: number, bLen: number): number {
  const s = aLen > 1 ? aDs : bLen > 1 ? bDs : bDc - aDc;
  if (s !== 1 && s !== -1) return 0;
  if (bLen > 1 && bDs !== s) return 0;
  return bDc === aDc + aLen * s ? s : 0;
}

/** A column of numbers read from the wire: a plain array (a delta) or a typed one (a state). */
export type Numbers = readonly number[] | Float64Array;

/** A delta or state, checked and ready to apply. Replicas are indices into `table`. */
export interface SeqPatch<C> extends Patch {
  readonly table: readonly string[];
  /** Runs in wire (document) order, S numbers each; origins and deleters NONE or table indices. */
  readonly runs: Numbers;
  readonly con: ReadonlyArray<C | null>;
  /** Deletion records, RS numbers each. */
  readonly recs: readonly number[];
  /** The runs in an order where every run comes after the runs its origins lie in. */
  readonly order: Int32Array;
  /** Per table entry: the patch carries exactly that replica's operations (lo, hi]; hi 0 if none. */
  readonly lo: readonly number[];
  readonly hi: readonly number[];
}

/**
 * The fragments of a sequence of items of content type C, in leaves, with the
 * replica table and the version. The subclasses add the edits
 * (sequence-integrate.ts), then the deltas (sequence.ts), then the content
 * and the user-facing API (Text, Rga).
 */
export abstract class SequenceLayout<C> extends Crdt<SeqPatch<C>> {
  protected leaves: Array<Leaf<C>> = [new Leaf<C>()];
  protected total = 0;
  /** Replica ids by index; the owner is 0. Indices are local to this instance. */
  protected readonly rid: string[];
  protected readonly ridx = new Map<string, number>();
  /** Version: highest counter seen per replica index. */
  protected readonly ver: number[] = [0];
  /** Cursor: a leaf and the visible position where it starts. */
  protected cLeaf = 0;
  protected cStart = 0;
  /** Results of seek/find. */
  protected sL: Leaf<C>;
  protected sI = 0;
  protected sOff = 0;
  protected ids: IdIndex<C> | null = null;
  /** Second (and further) tags of items deleted by several replicas: replica → id → [deleter, counter, ...]. */
  protected extras: Map<number, Map<number, number[]>> | null = null;
  /** The type's name, for messages (set on first use). */
  private label = "";

  constructor(replica: string, options?: CrdtOptions) {
    super(replica, options);
    this.rid = [this.replica];
    this.ridx.set(this.replica, 0);
    this.sL = this.leaves[0];
  }

  protected get what(): string {
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

  // ---- for the checks of a delta (sequence-checks.ts) ----

  /** @internal how many items from (r, c) on one fragment of `doc` holds; 0 if (r, c) is not an item there. */
  static heldSpan(doc: SequenceLayout<unknown>, r: number, c: number): number {
    return doc.find(r, c) ? doc.sL.d[doc.sI * S + LEN] - doc.sOff : 0;
  }

  /** @internal the unit kind of item (r, c) of `doc`; -1 if it is deleted or not an item there. */
  static heldKind(doc: SequenceLayout<unknown>, r: number, c: number): number {
    if (!doc.find(r, c)) return -1;
    const x = doc.sL.con[doc.sI];
    return x === null ? -1 : doc.unitKind(x, doc.sOff);
  }

  /** @internal the unit kind of item `off` of content `c` of `doc`'s type. */
  static unitKindOf<C>(doc: SequenceLayout<C>, c: C, off: number): number {
    return doc.unitKind(c, off);
  }

  /** @internal true if items of `doc`'s type can be halves of surrogate pairs. */
  static hasUnitsOf(doc: SequenceLayout<unknown>): boolean {
    return doc.hasUnits;
  }

  // ---- the structure ----

  protected intern(id: string): number {
    let r = this.ridx.get(id);
    if (r === undefined) {
      r = this.rid.length;
      this.rid.push(id);
      this.ridx.set(id, r);
      this.ver.push(0);
    }
    return r;
  }

  protected addVis(L: Leaf<C>, n: number): void {
    L.vis += n;
    this.total += n;
    if (L.idx < this.cLeaf) this.cStart += n;
  }

  /** Finds visible item `pos` (0 <= pos < total): sL, sI, sOff. Moves the cursor there. */
  protected seek(pos: number): void {
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
  protected find(r: number, c: number): boolean {
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

  protected insertFragment(
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
  protected split(L: Leaf<C>, i: number, off: number): void {
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
  protected mergeAround(L: Leaf<C>, i: number): void {
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
  protected fixLeaf(L: Leaf<C>): void {
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
  protected markDeleted(L: Leaf<C>, i: number, off: number, n: number, dr: number, t: number, s: number): void {
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
}
