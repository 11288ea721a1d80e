import { invalidArgument } from "./errors.js";
import { compareReplicaIds } from "./replica.js";
import {
  CLK,
  DC,
  DR,
  DS,
  LEAF_FILL,
  LEN,
  Leaf,
  MAX_COUNTER,
  NONE,
  OLC,
  OLR,
  ORC,
  ORR,
  RCLK,
  RDC,
  RDR,
  RDS,
  REP,
  RLEN,
  RREP,
  RS,
  S,
  SequenceLayout,
  stepOf,
  type SeqPatch,
} from "./sequence-layout.js";

// The edits of a sequence: local inserts and deletes, and the integration of
// remote items (YjsMod, that is FugueMax; see sequence.ts) and deletions from
// a checked patch. A patch reaches here checked (sequence-checks.ts): applying
// it never throws.

export abstract class SequenceIntegration<C> extends SequenceLayout<C> {
  /** Scratch for the integration's scan. */
  private readonly regL: Array<Leaf<C>> = [];
  private readonly regI: number[] = [];

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
}
