// The fleet's settings: LWWMap documents in the `fleet` namespace (fleet/config: sample interval,
// alarm thresholds, ...), written by the gateway and read by the nodes.
//
// Permissions: the `fleet` namespace is the one the sync layer's default policy lets every node
// read and none write (src/transport/policy.ts: DEFAULT_READ); a node's own documents
// (readings/<node>, ...) belong to it, and the gateway never writes them for an operator. So a
// settings write names a fleet/* document, goes through the gateway's own engine under the
// gateway's replica id (Gateway.write), and reaches the nodes as any change does.
//
// Applied, per node: a node has applied a change once it acknowledged a version of the document
// that holds it (SyncEngine.acknowledged). The tracker notes the time it first saw that (on the
// dashboard's tick, and whenever asked), so the dashboard can say "applied 2 s after".
// Node only; no I/O.

import { invalidArgument, LichenError } from "../../src/core/errors.js";
import { LWWMap } from "../../src/core/maps.js";
import { docKeyProblem, splitDocKey } from "../../src/core/names.js";
import type { VersionVector } from "../../src/core/version-vector.js";
import type { SyncEngine } from "../../src/transport/sync-engine.js";
import type { NodeView } from "./gateway-monitor.js";

export const SETTINGS_NAMESPACE = "fleet";
export const DEFAULT_SETTINGS_DOC = "fleet/config";

export type SettingValue = number | string | boolean;
/** A change: key → new value, or null to remove the key. */
export type SettingsChange = Record<string, SettingValue | null>;

const KEY = /^[A-Za-z0-9_.:-]{1,64}$/;

/** Checks that `doc` is a settings document ("fleet/<id>"); INVALID_ARGUMENT saying why not. */
export function checkSettingsDoc(doc: unknown): string {
  const problem = docKeyProblem(doc);
  if (problem !== undefined) throw invalidArgument(`a settings document is "fleet/<id>": ${JSON.stringify(doc)} is not (${problem})`);
  if (!(doc as string).startsWith(`${SETTINGS_NAMESPACE}/`)) {
    throw invalidArgument(`${doc}: not permitted: the gateway writes only the fleet's shared documents (${SETTINGS_NAMESPACE}/*); a node's own documents are its to write`);
  }
  return doc as string;
}

/** Checks a change (from JSON: the HTTP API's body); INVALID_ARGUMENT naming the key at fault. */
export function checkChange(change: unknown): SettingsChange {
  if (typeof change !== "object" || change === null || Array.isArray(change)) throw invalidArgument('settings are a JSON object {"key": value, ...}');
  const entries = Object.entries(change as Record<string, unknown>);
  if (entries.length === 0) throw invalidArgument("no setting given");
  if (entries.length > 100) throw invalidArgument("at most 100 settings at once");
  for (const [k, v] of entries) {
    if (!KEY.test(k)) throw invalidArgument(`setting ${JSON.stringify(k)}: a key is 1 to 64 of A-Z a-z 0-9 _ . : -`);
    const ok = v === null || typeof v === "boolean" || (typeof v === "number" && Number.isFinite(v)) || (typeof v === "string" && v.length <= 256);
    if (!ok) throw invalidArgument(`setting ${k}: a value is a finite number, a boolean, a string of at most 256 characters, or null (remove)`);
  }
  return change as SettingsChange;
}

/**
 * `key=value` words (the CLI's): a number if it reads as one, true/false, a string otherwise
 * (quote it in JSON to force a string: key='"42"'); `key=` with nothing removes the key.
 */
export function parseAssignments(words: readonly string[]): SettingsChange {
  const out: SettingsChange = {};
  for (const w of words) {
    const eq = w.indexOf("=");
    if (eq <= 0) throw invalidArgument(`"${w}" is not key=value`);
    const key = w.slice(0, eq);
    const text = w.slice(eq + 1);
    let value: SettingValue | null;
    if (text === "") value = null;
    else if (text === "true" || text === "false") value = text === "true";
    else if (text.trim() !== "" && Number.isFinite(Number(text))) value = Number(text);
    else if (text.startsWith('"')) {
      try {
        value = JSON.parse(text) as string;
      } catch {
        throw invalidArgument(`${key}: ${text} is not a JSON string`);
      }
      if (typeof value !== "string") throw invalidArgument(`${key}: ${text} is not a JSON string`);
    } else value = text;
    out[key] = value;
  }
  return checkChange(out);
}

export type AppliedState = "applied" | "pending" | "offline" | "not-subscribed";

export interface NodeApplied {
  id: string;
  online: boolean;
  state: AppliedState;
  /** Wall-clock ms at which the gateway saw the node acknowledge the last change (null: not yet, or before this gateway started). */
  appliedAt: number | null;
}

export interface SettingsView {
  doc: string;
  value: Record<string, unknown>;
  /** Replica → counter: the document's version. */
  version: Record<string, number>;
  /** Wall-clock ms of the last change made through this gateway since it started (null: none). */
  changedAt: number | null;
  nodes: NodeApplied[];
}

interface Change {
  at: number;
  version: VersionVector;
  appliedAt: Map<string, number>;
}

/** Writes settings through the gateway and follows which nodes applied them. */
export class SettingsTracker {
  private readonly changes = new Map<string, Change>();

  constructor(
    private readonly engine: SyncEngine,
    private readonly write: (ns: string, id: string, change: (doc: LWWMap) => void) => LWWMap,
    private readonly nodes: () => NodeView[],
    private readonly now: () => number = Date.now,
  ) {}

  /** Applies a change to a settings document; returns the document as it is now. */
  set(doc: string, change: SettingsChange): SettingsView {
    checkSettingsDoc(doc);
    checkChange(change);
    const existing = this.engine.get(doc);
    if (existing !== undefined && !(existing instanceof LWWMap)) throw new LichenError("WRONG_TYPE", `${doc} is not a settings document (an LWWMap)`);
    const [ns, id] = splitDocKey(doc);
    const map = this.write(ns, id, (m) => {
      for (const [k, v] of Object.entries(change)) {
        if (v === null) m.delete(k);
        else m.set(k, v);
      }
    });
    this.changes.set(doc, { at: this.now(), version: map.version().clone(), appliedAt: new Map() });
    return this.view(doc)!;
  }

  /** The document, its last change, and where each node stands (undefined: no such document). */
  view(doc: string): SettingsView | undefined {
    const crdt = this.engine.get(doc);
    if (crdt === undefined) return undefined;
    if (!(crdt instanceof LWWMap)) throw new LichenError("WRONG_TYPE", `${doc} is not a settings document (an LWWMap)`);
    this.observe();
    const change = this.changes.get(doc);
    const target = change?.version ?? crdt.version();
    const pendingFor = (id: string): boolean => (this.engine.pending(id) ?? []).includes(doc);
    const nodes: NodeApplied[] = [];
    for (const n of this.nodes()) {
      if (n.role !== "node") continue;
      const acked = this.engine.acknowledged(n.id, doc);
      let state: AppliedState;
      if (acked !== undefined && acked.dominates(target)) state = "applied";
      else if (!n.online) state = "offline";
      else state = acked !== undefined || pendingFor(n.id) ? "pending" : "not-subscribed";
      nodes.push({ id: n.id, online: n.online, state, appliedAt: state === "applied" ? (change?.appliedAt.get(n.id) ?? null) : null });
    }
    return { doc, value: crdt.value() as Record<string, unknown>, version: crdt.version().toJSON(), changedAt: change?.at ?? null, nodes };
  }

  /** Notes, for every change followed, the nodes that have acknowledged it since the last look. */
  observe(): void {
    if (this.changes.size === 0) return;
    const now = this.now();
    const nodes = this.nodes().filter((n) => n.role === "node");
    for (const [doc, c] of this.changes) {
      for (const n of nodes) {
        if (c.appliedAt.has(n.id)) continue;
        const acked = this.engine.acknowledged(n.id, doc);
        if (acked !== undefined && acked.dominates(c.version)) c.appliedAt.set(n.id, now);
      }
    }
  }
}
