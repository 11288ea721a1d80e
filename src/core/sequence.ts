import { compareReplicaIds } from "./replica.js";
import { checkAgainstDocument, checkTiling, integrationOrder, resolveDeps, RunIndex, type Here } from "./sequence-checks.js";
import { SequenceIntegration } from "./sequence-integrate.js";
import { CLK, DC, DR, DS, LEN, NONE, OLC, OLR, ORC, ORR, REP, S, UNIT_LOW, type SeqPatch } from "./sequence-layout.js";
import { pushRec, pushRun, readSequenceBody, writeSequenceBody, type Emission } from "./sequence-wire.js";

export { MAX_COUNTER, UNIT_HIGH, UNIT_LOW, UNIT_PLAIN, type SeqPatch } from "./sequence-layout.js";

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
// (The layout of fragments: sequence-layout.ts; local edits and the
// integration: sequence-integrate.ts.)
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
// (The wire codec: sequence-wire.ts.) A saved state loads in wire order
// without running the integration. Everything is checked on decode
// (MALFORMED, or OUT_OF_ORDER for a delta that needs operations this replica
// lacks) before anything changes (sequence-checks.ts).
//
// COUNTERS ARE NOT TIMESTAMPS. A replica must never issue a counter twice:
// one restored from an older saved state (its last operations lost) must get
// them back from a peer (apply a peer's delta for its version) before it
// edits again, or it would give new items the ids of lost ones.

/**
 * A replicated sequence of items of content type C (a string slice for Text,
 * an array of values for Rga), synced by deltas. Subclasses give the content
 * operations and the user-facing API.
 */
export abstract class SequenceCrdt<C> extends SequenceIntegration<C> {
  /** Operations are numbered per replica without gaps: another's above what is seen here is not held. */
  protected unheldOrigin(p: SeqPatch<C>, author: string): string | undefined {
    for (let w = 0; w < p.table.length; w++) if (p.table[w] !== author && p.hi[w] > this.seenUpTo(p.table[w])) return p.table[w];
    return undefined;
  }

  // ---- encoding ----

  protected encodeBody(since: ReadonlyMap<string, number>): unknown {
    const th = this.rid.map((id) => since.get(id) ?? 0);
    for (;;) {
      const e = this.emit(th);
      if (e !== null) return writeSequenceBody(e, this.rid, this.ridx, this.contentToWire(e.parts));
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
    const { table, runs, deps, con, recs } = readSequenceBody(body, what, (x, lengths) => this.contentFromWire(x, lengths));
    const tiling = checkTiling(table, runs, recs, what);
    const index = new RunIndex(runs, table.length, tiling);
    resolveDeps(runs, deps, index);
    const order = integrationOrder(deps, runs.length / S, what);
    const { lo, hi } = tiling;
    const base: Array<[string, number]> = [];
    for (let w = 0; w < table.length; w++) if (hi[w] > 0 && lo[w] > 0) base.push([table[w], lo[w]]);
    const patch: SeqPatch<C> = { table, runs, con, recs, order, lo, hi, maxTs: 0, base };
    if (here) checkAgainstDocument(patch, deps, index, what, this.here(table));
    return patch;
  }

  /** This document, as the checks of a delta with replica table `table` see it. */
  private here(table: readonly string[]): Here<C> {
    const map: number[] = [];
    const seen: number[] = [];
    for (let w = 0; w < table.length; w++) {
      const r = this.ridx.get(table[w]) ?? NONE;
      map.push(r);
      seen.push(r === NONE ? 0 : this.ver[r]);
    }
    return { doc: this, map, seen };
  }
}
