import { readArray } from "./codec.js";
import { malformed } from "./errors.js";
import { compareReplicaIds } from "./replica.js";
import { checkCounter } from "./sequence-checks.js";
import { CLK, DC, DR, DS, LEN, NONE, OLC, OLR, ORC, ORR, RCLK, RDC, RDR, RDS, REP, RLEN, RREP, RS, S, stepOf, type Numbers } from "./sequence-layout.js";
import { readReplicaTable } from "./wire-context.js";

// The wire codec of a sequence's delta or state (DELTAS in sequence.ts says
// what a delta carries).
//
// The body is [replica ids (sorted), runs, content, records?]: runs and
// records are byte strings of LEB128 varints (columns of small numbers cost a
// byte each; CBOR would spend a header per number), runs in document order,
// each with a head byte saying how its origins relate to its neighbours (the
// usual case, "right after the previous run, before the next", costs no
// bytes), content is one string (Text) or one array (Rga) of the visible
// runs. Reading checks the shape of every number (MALFORMED); what the runs
// say of one another and of the document is checked in sequence-checks.ts.

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
    /** The part of the body read, for messages. */
    readonly part: string,
  ) {}

  get more(): boolean {
    return this.p < this.b.length;
  }

  u(): number {
    const b = this.b;
    // one byte: the usual case
    if (this.p < b.length && b[this.p] < 128) return b[this.p++];
    let x = 0;
    let mul = 1;
    for (let i = 0; ; i++) {
      if (this.p >= b.length) throw malformed(`${this.what} ${this.part}: truncated`);
      const byte = b[this.p++];
      x += (byte & 127) * mul;
      if (byte < 128) {
        if (byte === 0 && i > 0) throw malformed(`${this.what} ${this.part}: overlong number`);
        break;
      }
      if (i === 7) throw malformed(`${this.what} ${this.part}: number too long`);
      mul *= 128;
    }
    if (x > Number.MAX_SAFE_INTEGER) throw malformed(`${this.what} ${this.part}: number beyond the safe integer range`);
    return x;
  }

  z(): number {
    const v = this.u();
    return v % 2 === 0 ? v / 2 : -(v + 1) / 2;
  }
}

function zigzag(x: number): number {
  return x >= 0 ? x * 2 : -x * 2 - 1;
}

function unzigzag(v: number): number {
  return v % 2 === 0 ? v / 2 : -(v + 1) / 2;
}

/** What a delta carries, before it is written: runs (S numbers each) in document order, the content of the visible ones, deletion records (RS each). Replicas are the document's indices. */
export interface Emission<C> {
  runs: number[];
  parts: C[];
  recs: number[];
}

/** Appends a run to an emission, joined to the previous one when they form one run. */
export function pushRun(runs: number[], rep: number, clk: number, len: number, olr: number, olc: number, orr: number, orc: number, dr: number, dc: number, ds: number): void {
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

export function pushRec(recs: number[], rep: number, clk: number, len: number, dr: number, dc: number, ds: number): void {
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

/** The body of an emission: replicas become indices into its own sorted table; `content` is the wire form of its parts. */
export function writeSequenceBody<C>(e: Emission<C>, rid: readonly string[], ridx: ReadonlyMap<string, number>, content: unknown): unknown[] {
  const { runs, recs } = e;
  // the replica table: every replica named, sorted
  const used = new Array<boolean>(rid.length).fill(false);
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
  for (let r = 0; r < used.length; r++) if (used[r]) table.push(rid[r]);
  // a delta names a few replicas: sorted in place (Array.prototype.sort would copy them first)
  if (table.length > 16) table.sort(compareReplicaIds);
  else for (let i = 1; i < table.length; i++) {
    const id = table[i];
    let j = i - 1;
    for (; j >= 0 && compareReplicaIds(table[j], id) > 0; j--) table[j + 1] = table[j];
    table[j + 1] = id;
  }
  const wmap = new Array<number>(rid.length).fill(-1);
  for (let w = 0; w < table.length; w++) wmap[ridx.get(table[w])!] = w;
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
  const body: unknown[] = [table, out.bytes(), content];
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

/** Bodies up to this many bytes of runs (deltas) are read into plain arrays, larger ones (states) into typed arrays. */
const SMALL_BODY = 256;

function replicaIndex(x: number, nt: number, what: string): number {
  if (x >= nt) throw malformed(`${what}: replica index ${x} out of range`);
  return x;
}

/** A body read from the wire, its numbers checked one by one; replicas are indices into `table`. */
export interface WireSequence<C> {
  readonly table: string[];
  /** Runs in wire order, S numbers each. */
  readonly runs: Numbers;
  /** Per run: the run holding its origin left, and its origin right (-1: none or outside the body, -2: to look up by id). */
  readonly deps: number[] | Int32Array;
  readonly con: Array<C | null>;
  /** Deletion records, RS numbers each. */
  readonly recs: number[];
}

/** Reads a body; `contentFromWire` cuts the content into the visible runs' lengths. Throws MALFORMED. */
export function readSequenceBody<C>(body: unknown, what: string, contentFromWire: (x: unknown, lengths: number[]) => C[]): WireSequence<C> {
  const b = readArray(body, what, 3, 4);
  const table = readReplicaTable(b[0], what);
  const nt = table.length;
  if (!(b[1] instanceof Uint8Array)) throw malformed(`${what}: runs must be a byte string`);
  if (b.length === 4 && !(b[3] instanceof Uint8Array)) throw malformed(`${what}: deletions must be a byte string`);

  // runs; deps: the run holding each one's origin left and right (-1: none or outside, -2: to look up)
  const bytes = b[1];
  // A delta (a few runs) goes into plain arrays, the cheapest to make; a state into typed arrays
  // sized from its length (about one run per 4 bytes), compact in XS and fast to fill.
  const small = bytes.length <= SMALL_BODY;
  const guess = 8 + (bytes.length >> 2);
  let runs: number[] | Float64Array = small ? [] : new Float64Array(guess * S);
  let deps: number[] | Int32Array = small ? [] : new Int32Array(guess * 2);
  let nr = 0;
  const lengths: number[] = [];
  const rd = new ByteReader(bytes, what, "runs");
  const nextClk = new Array<number>(nt).fill(1);
  const nextTag = new Array<number>(nt).fill(1);
  let prevRep = 0;
  let pendingNext = -1; // a run whose origin right is the next run's first item
  while (rd.more) {
    if (!small && (nr + 1) * S > runs.length) {
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
      rep = replicaIndex((flags & H_REP) !== 0 ? rd.u() : prevRep, nt, what);
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
      olr = replicaIndex(rd.u(), nt, what);
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
      orr = replicaIndex(rd.u(), nt, what);
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
      dr = (tf & 1) !== 0 ? replicaIndex(rd.u(), nt, what) : rep;
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
  if (!small) runs = (runs as Float64Array).subarray(0, nr * S);

  // content of the visible runs
  const parts = contentFromWire(b[2], lengths);
  const con: Array<C | null> = new Array<C | null>(nr);
  for (let j = 0, v = 0; j < nr; j++) con[j] = runs[j * S + DR] < 0 ? parts[v++] : null;

  // deletion records
  const recs: number[] = [];
  if (b.length === 4) {
    const rr = new ByteReader(b[3] as Uint8Array, what, "deletions");
    const recNext = new Array<number>(nt).fill(1);
    let prev = 0;
    while (rr.more) {
      const head = rr.u();
      const f = head % 8;
      const len = (head - f) / 8 + 1;
      const rep = replicaIndex((f & 1) !== 0 ? rr.u() : prev, nt, what);
      const clk = checkCounter(recNext[rep] + rr.z(), what);
      checkCounter(clk + len - 1, what);
      const dr = (f & 2) !== 0 ? replicaIndex(rr.u(), nt, what) : rep;
      const ds = len > 1 && (f & 4) !== 0 ? -1 : 1;
      const dc = checkCounter(nextTag[dr] + rr.z(), what);
      checkCounter(dc + (len - 1) * ds, what);
      recs.push(rep, clk, len, dr, dc, ds);
      recNext[rep] = clk + len;
      nextTag[dr] = Math.max(dc, dc + (len - 1) * ds) + 1;
      prev = rep;
    }
  }
  return { table, runs, deps, con, recs };
}
