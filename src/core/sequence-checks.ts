import { LichenError, malformed } from "./errors.js";
import { CLK, DC, DR, DS, LEN, MAX_COUNTER, OLC, OLR, ORC, ORR, RCLK, RDC, RDR, RDS, REP, RLEN, RREP, RS, S, SequenceLayout, UNIT_HIGH, UNIT_LOW, type Numbers, type SeqPatch } from "./sequence-layout.js";

// The checks of a sequence's body once its numbers are read (sequence-wire.ts):
// what the runs and records say of one another (each replica's counters tile
// an interval, origins form no cycle), and, for a delta about to be applied,
// what they say of the document (its base, the items it refers to, no
// surrogate pair cut). They throw MALFORMED or OUT_OF_ORDER and change nothing.

/** Spans (a run's items or tags, a record) up to which a patch's tiling is checked pairwise and its runs found by a scan. */
const FEW_SPANS = 16;
/** Counters a patch may carry (all replicas) for its checks to use a direct-address table (4 bytes each)... */
const DIRECT_MAX = 4194304;
/** ... and per span (a run's items or tags, a record): so the table stays proportional to the payload. */
const DIRECT_PER_SPAN = 32;

export function checkCounter(c: number, what: string): number {
  if (c < 1 || c > MAX_COUNTER) throw malformed(`${what}: id ${c} out of range`);
  return c;
}

/** Per table entry, the interval (lo, hi] of counters a patch carries (hi 0: none); `owner`, when small enough, the run holding each (-1: a tag). */
export interface Tiling {
  readonly lo: number[];
  readonly hi: number[];
  readonly owner: Int32Array[] | null;
}

/** Notes span [a, z] of replica w: bounds and sum. */
function bound(lo: number[], hi: number[], sum: number[], w: number, a: number, z: number): void {
  if (sum[w] === 0 || a - 1 < lo[w]) lo[w] = a - 1;
  if (z > hi[w]) hi[w] = z;
  sum[w] += z - a + 1;
}

/** Notes run j (-1: a tag) as the owner of span [a, z] of replica w. */
function own(owner: Int32Array[], lo: number[], w: number, a: number, z: number, j: number): void {
  const o = owner[w];
  const base = lo[w] + 1;
  if (z - a < 16) for (let x = a - base; x <= z - base; x++) o[x] = j;
  else o.fill(j, a - base, z - base + 1);
}

function gap(table: readonly string[], w: number, what: string): LichenError {
  return malformed(`${what}: the ids of replica ${JSON.stringify(table[w])} overlap or leave a gap`);
}

/** Checks that every counter the runs and records carry, per replica (items and tags), tiles an interval (lo, hi]. */
export function checkTiling(table: readonly string[], runs: Numbers, recs: readonly number[], what: string): Tiling {
  const nt = table.length;
  // Bounds and sums first; then, with the sums equal, no two spans may overlap.
  const lo = new Array<number>(nt).fill(0);
  const hi = new Array<number>(nt).fill(0);
  const sum = new Array<number>(nt).fill(0);
  // a few spans (a delta): kept as (replica, first, last) and compared pairwise
  const few: number[] | null = (2 * runs.length) / S + recs.length / RS <= FEW_SPANS ? [] : null;
  let spans = 0;
  for (let k = 0; k < runs.length; k += S) {
    spans++;
    bound(lo, hi, sum, runs[k + REP], runs[k + CLK], runs[k + CLK] + runs[k + LEN] - 1);
    if (few !== null) few.push(runs[k + REP], runs[k + CLK], runs[k + CLK] + runs[k + LEN] - 1);
    if (runs[k + DR] >= 0) {
      spans++;
      const last = runs[k + DC] + (runs[k + LEN] - 1) * runs[k + DS];
      bound(lo, hi, sum, runs[k + DR], Math.min(runs[k + DC], last), Math.max(runs[k + DC], last));
      if (few !== null) few.push(runs[k + DR], Math.min(runs[k + DC], last), Math.max(runs[k + DC], last));
    }
  }
  for (let k = 0; k < recs.length; k += RS) {
    spans++;
    const last = recs[k + RDC] + (recs[k + RLEN] - 1) * recs[k + RDS];
    bound(lo, hi, sum, recs[k + RDR], Math.min(recs[k + RDC], last), Math.max(recs[k + RDC], last));
    if (few !== null) few.push(recs[k + RDR], Math.min(recs[k + RDC], last), Math.max(recs[k + RDC], last));
  }
  let total = 0;
  for (let w = 0; w < nt; w++) {
    if (sum[w] !== hi[w] - lo[w]) throw gap(table, w, what);
    total += sum[w];
  }
  if (few !== null) {
    for (let w = 0; w < nt; w++) {
      for (let x = 0; x < few.length; x += 3) {
        if (few[x] !== w) continue;
        for (let y = x + 3; y < few.length; y += 3) if (few[y] === w && few[x + 1] <= few[y + 2] && few[y + 1] <= few[x + 2]) throw gap(table, w, what);
      }
    }
    return { lo, hi, owner: null };
  }
  // Which run holds each counter (-1: a tag), by direct address when the table stays small beside
  // the payload (4 bytes a counter, at most DIRECT_PER_SPAN counters a span): with the sums equal,
  // a counter left unfilled is the sign of an overlap. Otherwise (few spans covering many
  // counters, such as a long deletion): sorted starts and ends.
  if (total <= DIRECT_MAX && total <= DIRECT_PER_SPAN * spans) {
    const owner: Int32Array[] = new Array<Int32Array>(nt);
    for (let w = 0; w < nt; w++) owner[w] = new Int32Array(hi[w] - lo[w]).fill(-2);
    for (let k = 0, j = 0; k < runs.length; k += S, j++) {
      own(owner, lo, runs[k + REP], runs[k + CLK], runs[k + CLK] + runs[k + LEN] - 1, j);
      if (runs[k + DR] >= 0) {
        const last = runs[k + DC] + (runs[k + LEN] - 1) * runs[k + DS];
        own(owner, lo, runs[k + DR], Math.min(runs[k + DC], last), Math.max(runs[k + DC], last), -1);
      }
    }
    for (let k = 0; k < recs.length; k += RS) {
      const last = recs[k + RDC] + (recs[k + RLEN] - 1) * recs[k + RDS];
      own(owner, lo, recs[k + RDR], Math.min(recs[k + RDC], last), Math.max(recs[k + RDC], last), -1);
    }
    for (let w = 0; w < nt; w++) if (owner[w].indexOf(-2) >= 0) throw gap(table, w, what);
    return { lo, hi, owner };
  }
  for (let w = 0; w < nt; w++) {
    const st: number[] = [];
    const en: number[] = [];
    for (let k = 0; k < runs.length; k += S) {
      if (runs[k + REP] === w) {
        st.push(runs[k + CLK]);
        en.push(runs[k + CLK] + runs[k + LEN] - 1);
      }
      const last = runs[k + DC] + (runs[k + LEN] - 1) * runs[k + DS];
      if (runs[k + DR] === w) {
        st.push(Math.min(runs[k + DC], last));
        en.push(Math.max(runs[k + DC], last));
      }
    }
    for (let k = 0; k < recs.length; k += RS) {
      if (recs[k + RDR] !== w) continue;
      const last = recs[k + RDC] + (recs[k + RLEN] - 1) * recs[k + RDS];
      st.push(Math.min(recs[k + RDC], last));
      en.push(Math.max(recs[k + RDC], last));
    }
    const s = Float64Array.from(st).sort();
    const e = Float64Array.from(en).sort();
    // sorted apart, the starts and ends of spans that tile pair up in order, and only they do
    for (let q = 0; q < s.length; q++) if (s[q] > e[q] || (q > 0 && s[q] !== e[q - 1] + 1)) throw gap(table, w, what);
  }
  return { lo, hi, owner: null };
}

/** The runs of a patch by id: for the origins that are not neighbours on the wire. */
export class RunIndex {
  /** Without a direct-address table: per replica, its runs' first ids, sorted; and run by (id, replica). */
  private starts: Float64Array[] | null = null;
  private at: Map<number, number> | null = null;

  constructor(
    private readonly runs: Numbers,
    private readonly nt: number,
    private readonly tiling: Tiling,
  ) {}

  /** The run holding item (w, c), or -1. */
  of(w: number, c: number): number {
    const { lo, owner } = this.tiling;
    if (owner !== null) {
      const x = c - lo[w] - 1;
      return x >= 0 && x < owner[w].length ? owner[w][x] : -1;
    }
    const runs = this.runs;
    if (runs.length <= FEW_SPANS * S) {
      for (let k = 0, j = 0; k < runs.length; k += S, j++) if (runs[k + REP] === w && c >= runs[k + CLK] && c < runs[k + CLK] + runs[k + LEN]) return j;
      return -1;
    }
    const nt = this.nt;
    if (this.starts === null || this.at === null) {
      const n = new Array<number>(nt).fill(0);
      for (let k = 0; k < runs.length; k += S) n[runs[k + REP]]++;
      const starts = n.map((x) => new Float64Array(x));
      const next = new Array<number>(nt).fill(0);
      const at = new Map<number, number>();
      for (let k = 0, j = 0; k < runs.length; k += S, j++) {
        const r = runs[k + REP];
        starts[r][next[r]++] = runs[k + CLK];
        at.set(runs[k + CLK] * nt + r, j);
      }
      for (const x of starts) x.sort();
      this.starts = starts;
      this.at = at;
    }
    const s = this.starts[w];
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
    const j = this.at.get(s[f] * nt + w)!;
    return c < runs[j * S + CLK] + runs[j * S + LEN] ? j : -1;
  }
}

/** Fills in the runs holding the origins that are not neighbours on the wire (deps -2). */
export function resolveDeps(runs: Numbers, deps: number[] | Int32Array, index: RunIndex): void {
  const nr = runs.length / S;
  for (let j = 0, k = 0; j < nr; j++, k += S) {
    if (deps[2 * j] === -2) deps[2 * j] = index.of(runs[k + OLR], runs[k + OLC]);
    if (deps[2 * j + 1] === -2) deps[2 * j + 1] = index.of(runs[k + ORR], runs[k + ORC]);
  }
}

/** The order of integration: every run after the runs its origins lie in (depth first, iterative). MALFORMED on a cycle. */
export function integrationOrder(deps: readonly number[] | Int32Array, nr: number, what: string): Int32Array {
  const order = new Int32Array(nr);
  if (nr === 1) {
    if (deps[0] === 0 || deps[1] === 0) throw malformed(`${what}: runs whose origins form a cycle`);
    return order;
  }
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
  return order;
}

/** The document a delta is checked against, and how the delta's replicas map to its own. */
export interface Here<C> {
  readonly doc: SequenceLayout<C>;
  /** Per table entry: the document's index of that replica (NONE if it has none). */
  readonly map: readonly number[];
  /** Per table entry: how far the document has seen that replica. */
  readonly seen: readonly number[];
}

/** Checks that items w:c.. (n) are held by the document or carried by the patch. */
function needItems<C>(p: SeqPatch<C>, here: Here<C>, index: RunIndex, what: string, w: number, c: number, n: number): void {
  const { table, runs, hi } = p;
  const seen = here.seen;
  const end = c + n;
  while (c < end) {
    if (c <= seen[w]) {
      const got = SequenceLayout.heldSpan(here.doc, here.map[w], c);
      if (got === 0) throw malformed(`${what}: refers to ${table[w]}:${c}, which is not an item`);
      c += Math.min(end - c, got);
      continue;
    }
    const j = index.of(w, c);
    if (j < 0) {
      if (hi[w] > 0 && c <= hi[w]) throw malformed(`${what}: refers to ${table[w]}:${c}, which is not an item`);
      if (hi[w] > 0) throw malformed(`${what}: refers to ${table[w]}:${c}, beyond what it carries of ${table[w]}`);
      throw new LichenError("OUT_OF_ORDER", `this ${what} delta needs ${table[w]}:${c}, which this replica has not seen: ask for a delta from this version`);
    }
    c = Math.min(end, runs[j * S + CLK] + runs[j * S + LEN]);
  }
}

/** The unit kind of item c of run j of the patch; -1 if deleted. */
function kindIn<C>(p: SeqPatch<C>, here: Here<C>, j: number, c: number): number {
  const x = p.con[j];
  return x === null ? -1 : SequenceLayout.unitKindOf(here.doc, x, c - p.runs[j * S + CLK]);
}

/** The unit kind of item w:c, held by the document or carried by the patch; -1 if deleted or neither. */
function kindOf<C>(p: SeqPatch<C>, here: Here<C>, index: RunIndex, w: number, c: number): number {
  if (c <= here.seen[w]) return SequenceLayout.heldKind(here.doc, here.map[w], c);
  const j = index.of(w, c);
  return j < 0 ? -1 : kindIn(p, here, j, c);
}

function emptyLists(n: number): number[][] {
  const out: number[][] = [];
  for (let i = 0; i < n; i++) out.push([]);
  return out;
}

/**
 * The checks of a delta that depend on the document it is applied to: its base, the items it
 * refers to, and, for Text, that no surrogate pair gets split.
 */
export function checkAgainstDocument<C>(p: SeqPatch<C>, deps: readonly number[] | Int32Array, index: RunIndex, what: string, here: Here<C>): void {
  const { table, runs, recs, lo, hi } = p;
  const nt = table.length;
  const seen = here.seen;
  // the base first, as applyDelta would: a replica behind it gets OUT_OF_ORDER whatever else is wrong
  for (let w = 0; w < nt; w++) {
    if (hi[w] > 0 && lo[w] > seen[w]) {
      throw new LichenError(
        "OUT_OF_ORDER",
        `this ${what} delta was made for a replica that has seen ${table[w]} up to ${lo[w]}; this one has seen it up to ${seen[w]}: ask for a delta from this version`,
      );
    }
  }
  // An item at or below this replica's version is read here, whatever the delta says of it (its
  // copy in the delta is not applied): it must be an item here, not a deletion's counter.
  const nr = runs.length / S;
  for (let j = 0, k = 0; j < nr; j++, k += S) {
    const w = runs[k + REP];
    const clk = runs[k + CLK];
    const len = runs[k + LEN];
    const known = clk + len - 1 <= seen[w] ? len : clk <= seen[w] ? seen[w] - clk + 1 : 0;
    const dr = runs[k + DR];
    if (known > 0 && (dr >= 0 || known < len)) needItems(p, here, index, what, w, clk, known); // tags apply to them, or the rest follows the last
    if (known === len) continue;
    if (known === 0 && runs[k + OLR] >= 0 && (deps[2 * j] < 0 || runs[k + OLC] <= seen[runs[k + OLR]])) needItems(p, here, index, what, runs[k + OLR], runs[k + OLC], 1);
    if (runs[k + ORR] >= 0 && (deps[2 * j + 1] < 0 || runs[k + ORC] <= seen[runs[k + ORR]])) needItems(p, here, index, what, runs[k + ORR], runs[k + ORC], 1);
    if (dr >= 0) {
      // the tags of items new here are new here (else this replica would hold the items)
      const t0 = runs[k + DC] + known * runs[k + DS];
      const low = runs[k + DS] > 0 ? t0 : t0 + (len - known - 1) * runs[k + DS];
      if (low <= seen[dr]) throw malformed(`${what}: new items with a deletion this replica has seen`);
    }
  }
  for (let k = 0; k < recs.length; k += RS) needItems(p, here, index, what, recs[k + RREP], recs[k + RCLK], recs[k + RLEN]);
  if (!SequenceLayout.hasUnitsOf(here.doc)) return;

  // Text: no insert between the halves of a pair, no deletion of one half.
  // deletions of items that may be visible: of held items (records, or runs this replica holds)
  let dels: number[][] | null = null;
  for (let j = 0, k = 0; j < nr; j++, k += S) {
    const w = runs[k + REP];
    const clk = runs[k + CLK];
    const len = runs[k + LEN];
    if (runs[k + DR] >= 0 && clk <= seen[w]) (dels ??= emptyLists(nt))[w].push(clk, clk + len - 1);
    if (clk + len - 1 <= seen[w]) continue;
    if (clk <= seen[w]) {
      // the part of the run that is new here must not start or attach inside a pair
      if (kindOf(p, here, index, w, seen[w]) === UNIT_HIGH || kindIn(p, here, j, seen[w] + 1) === UNIT_LOW) throw malformed(`${what}: an insert inside a surrogate pair`);
    } else if (runs[k + OLR] >= 0) {
      // (an item held here is read here: a delta's copy of it is ignored when it is applied)
      const olr = runs[k + OLR];
      const kind = deps[2 * j] >= 0 && runs[k + OLC] > seen[olr] ? kindIn(p, here, deps[2 * j], runs[k + OLC]) : kindOf(p, here, index, olr, runs[k + OLC]);
      if (kind === UNIT_HIGH) throw malformed(`${what}: an insert inside a surrogate pair`);
    }
    if (runs[k + ORR] >= 0) {
      const orr = runs[k + ORR];
      const kind = deps[2 * j + 1] >= 0 && runs[k + ORC] > seen[orr] ? kindIn(p, here, deps[2 * j + 1], runs[k + ORC]) : kindOf(p, here, index, orr, runs[k + ORC]);
      if (kind === UNIT_LOW) throw malformed(`${what}: an insert inside a surrogate pair`);
    }
  }
  for (let k = 0; k < recs.length; k += RS) (dels ??= emptyLists(nt))[recs[k + RREP]].push(recs[k + RCLK], recs[k + RCLK] + recs[k + RLEN] - 1);
  if (dels === null) return;
  for (let w = 0; w < nt; w++) {
    const d = dels[w];
    if (d.length === 0) continue;
    const order: number[] = [];
    for (let q = 0; q < d.length; q += 2) order.push(q);
    order.sort((x, y) => d[x] - d[y]);
    // merged ranges: no pair is cut if neither end of a range is a visible half
    for (let q = 0; q < order.length; ) {
      const a = d[order[q]];
      let z = d[order[q] + 1];
      q++;
      while (q < order.length && d[order[q]] <= z + 1) {
        z = Math.max(z, d[order[q] + 1]);
        q++;
      }
      if (kindOf(p, here, index, w, a) === UNIT_LOW || kindOf(p, here, index, w, z) === UNIT_HIGH) throw malformed(`${what}: a deletion of half a surrogate pair`);
    }
  }
}
