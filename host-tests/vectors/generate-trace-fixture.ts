// Regenerates trace-fixture.json, the editing traces' prefixes that the sequence tests replay
// inside XS (where there is no gunzip): `tsx host-tests/vectors/generate-trace-fixture.ts`.
//
// - automerge-paper: the first 2,000 edits ([pos, delete count, inserted text]) and the text they
//   give (applied to a plain string: the trace is sequential).
// - friendsforever: the first 1,500 transactions (agent, parents, edit) and the text every replica
//   must reach once all of them are merged. That text comes from a naive implementation of the
//   same algorithm written here (one object per character, the integration loop of
//   reference-crdts' integrateYjsMod), independent of src/core/sequence.ts; agents are replicas
//   "0" and "1".
// Positions in the traces count code points; both traces are ASCII, so they are UTF-16 positions.
// Source: Joseph Gentle's editing-traces (CC BY 4.0), see data/traces/README.md.

import { readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { gunzipSync } from "node:zlib";
import { naiveIntegrate } from "./naive-sequence.js";

const TRACES = fileURLToPath(new URL("../../data/traces", import.meta.url));
const PAPER_EDITS = 2000;
const FRIENDS_TXNS = 1500;

type Edit = [number, number, string];

function load<T>(name: string): T {
  return JSON.parse(gunzipSync(readFileSync(`${TRACES}/${name}`)).toString("utf8")) as T;
}

// ---- automerge-paper ----
const paper = load<{ startContent: string; txns: Array<{ patches: Edit[] }> }>("automerge-paper.json.gz");
const edits: Edit[] = [];
for (const t of paper.txns) for (const p of t.patches) if (edits.length < PAPER_EDITS) edits.push(p);
let text = paper.startContent;
for (const [pos, del, ins] of edits) text = text.slice(0, pos) + ins + text.slice(pos + del);

// ---- friendsforever, through the naive reference ----
interface Item {
  agent: string;
  seq: number;
  oL: Item | null;
  oR: Item | null;
  deleted: boolean;
  ch: string;
}
type Op = { ins: [string, number, string | null, number, string | null, number, string] } | { del: [string, number] };

class Naive {
  items: Item[] = [];
  byId = new Map<string, Item>();
  integrate(n: Item): void {
    naiveIntegrate(this.items, n);
    this.byId.set(`${n.agent}:${n.seq}`, n);
  }
  apply(op: Op): void {
    if ("del" in op) {
      this.byId.get(`${op.del[0]}:${op.del[1]}`)!.deleted = true;
      return;
    }
    const [agent, seq, la, ls, ra, rs, ch] = op.ins;
    const oL = la === null ? null : this.byId.get(`${la}:${ls}`)!;
    const oR = ra === null ? null : this.byId.get(`${ra}:${rs}`)!;
    this.integrate({ agent, seq, oL, oR, deleted: false, ch });
  }
  visible(pos: number): number {
    let i = 0;
    for (; i < this.items.length; i++) {
      if (this.items[i].deleted) continue;
      if (pos === 0) return i;
      pos--;
    }
    return i;
  }
  toString(): string {
    return this.items
      .filter((x) => !x.deleted)
      .map((x) => x.ch)
      .join("");
  }
}

interface Txn {
  parents: number[];
  agent: number;
  patches: Edit[];
}
const friends = load<{ numAgents: number; txns: Txn[] }>("friendsforever.json.gz");
const txns = friends.txns.slice(0, FRIENDS_TXNS).map((t) => ({ agent: t.agent, parents: t.parents, patches: t.patches }));
const A = friends.numAgents;
const ids = Array.from({ length: A }, (_, a) => String(a));
const docs = ids.map(() => new Naive());
const seqs = ids.map(() => 0);
const ops: Op[][] = [];
const byAgent: number[][] = ids.map(() => []);
const applied = ids.map(() => ids.map(() => 0)); // per replica, per agent: transactions applied
const frontier: number[][] = [];
for (let t = 0; t < txns.length; t++) {
  const tx = txns[t];
  const f = ids.map(() => -1);
  for (const p of tx.parents) for (let b = 0; b < A; b++) f[b] = Math.max(f[b], frontier[p][b]);
  const a = tx.agent;
  const d = docs[a];
  for (let b = 0; b < A; b++) {
    if (b === a) continue;
    const list = byAgent[b];
    while (applied[a][b] < list.length && list[applied[a][b]] <= f[b]) for (const op of ops[list[applied[a][b]++]]) d.apply(op);
  }
  const mine: Op[] = [];
  for (const [pos, del, ins] of tx.patches) {
    for (let k = 0; k < del; k++) {
      const it = d.items[d.visible(pos)];
      it.deleted = true;
      mine.push({ del: [it.agent, it.seq] });
    }
    let p = pos;
    for (const ch of ins) {
      const i = d.visible(p++);
      const l = d.items[i - 1] ?? null;
      const r = d.items[i] ?? null;
      const op: Op = { ins: [ids[a], seqs[a]++, l?.agent ?? null, l?.seq ?? 0, r?.agent ?? null, r?.seq ?? 0, ch] };
      d.apply(op);
      mine.push(op);
    }
  }
  ops.push(mine);
  byAgent[a].push(t);
  f[a] = t;
  frontier.push(f);
}
for (let a = 0; a < A; a++) {
  for (let b = 0; b < A; b++) {
    if (a === b) continue;
    const list = byAgent[b];
    while (applied[a][b] < list.length) for (const op of ops[list[applied[a][b]++]]) docs[a].apply(op);
  }
}
const merged = docs[0].toString();
if (docs.some((d) => d.toString() !== merged)) throw new Error("the naive replicas disagree");

const fixture = {
  source: "Joseph Gentle's editing-traces (CC BY 4.0); generated by host-tests/vectors/generate-trace-fixture.ts",
  automergePaper: { edits, text },
  friendsforever: { agents: ids, txns, text: merged },
};
writeFileSync(new URL("./trace-fixture.json", import.meta.url), JSON.stringify(fixture) + "\n");
console.log(`wrote ${edits.length} automerge-paper edits (${text.length} chars) and ${txns.length} friendsforever transactions (${merged.length} chars)`);
