import { invalidArgument } from "../core/errors.js";
import { idRule, isEntityId, isPlainName, nameRule } from "../core/names.js";
import { checkReplicaId } from "../core/replica.js";

/**
 * Who may write and read which documents, as the gateway sees its peers.
 * Gateways (the configured `gateways` list) are trusted with everything;
 * the policy rules the other peers: nodes, and operators (tools that edit
 * shared documents such as `fleet/config`). Authorship is checked apart:
 * whatever a peer may write, the events it sends must be its own.
 */
export interface SyncPolicy {
  /** May the peer (not a gateway) write the document ("namespace/id")? */
  mayWrite(peer: string, doc: string): boolean;
  /** May it read it (be sent it)? */
  mayRead(peer: string, doc: string): boolean;
  /** Documents one peer may create on this replica. */
  readonly maxDocsPerPeer: number;
}

/** A pattern is "namespace/id"; either part may be `*` (anything), and the id `{self}` (the peer's own id). */
export type DocPattern = string;

export interface PolicyRules {
  /** Peers that write and read every document. */
  readonly operators?: readonly string[];
  /** What every other peer may write (default: its own documents, `*\/{self}`). */
  readonly write?: readonly DocPattern[];
  /** What every other peer may read besides what it may write (default: the fleet's shared documents, `fleet/*`). */
  readonly read?: readonly DocPattern[];
  /** More, per peer id. */
  readonly peers?: { readonly [peer: string]: { readonly write?: readonly DocPattern[]; readonly read?: readonly DocPattern[] } };
  /** Documents one peer may create (default 32). */
  readonly maxDocsPerPeer?: number;
}

export const DEFAULT_WRITE: readonly DocPattern[] = Object.freeze(["*/{self}"]);
export const DEFAULT_READ: readonly DocPattern[] = Object.freeze(["fleet/*"]);
export const DEFAULT_MAX_DOCS_PER_PEER = 32;

function checkPattern(p: unknown, where: string): DocPattern {
  if (typeof p !== "string") throw invalidArgument(`${where}: a document pattern is a string "namespace/id"`);
  const slash = p.indexOf("/");
  if (slash < 0) throw invalidArgument(`${where}: "${p}" is not "namespace/id" (either part may be *, the id {self})`);
  // the parts follow the document-key grammar (the first slash ends the namespace), so that a
  // pattern names only documents that may exist
  const ns = p.slice(0, slash);
  const id = p.slice(slash + 1);
  if (ns !== "*" && !isPlainName(ns)) throw invalidArgument(`${where}: "${p}": ${nameRule("a namespace")} (or *)`);
  if (id !== "*" && id !== "{self}" && !isEntityId(id)) throw invalidArgument(`${where}: "${p}": ${idRule()} (or *, {self})`);
  return p;
}

function checkPatterns(x: unknown, where: string): readonly DocPattern[] | undefined {
  if (x === undefined) return undefined;
  if (!Array.isArray(x)) throw invalidArgument(`${where}: a list of document patterns`);
  return x.map((p, i) => checkPattern(p, `${where}[${i}]`));
}

/** True if the document matches the pattern for this peer. */
export function matchesDoc(pattern: DocPattern, doc: string, peer: string): boolean {
  const ps = pattern.indexOf("/");
  const ds = doc.indexOf("/");
  if (ps < 0 || ds < 0) return false;
  const pn = pattern.slice(0, ps);
  const pi = pattern.slice(ps + 1);
  if (pn !== "*" && pn !== doc.slice(0, ds)) return false;
  const id = doc.slice(ds + 1);
  return pi === "*" || (pi === "{self}" ? id === peer : pi === id);
}

function anyMatch(patterns: readonly DocPattern[], doc: string, peer: string): boolean {
  for (const p of patterns) if (matchesDoc(p, doc, peer)) return true;
  return false;
}

/** A policy from rules (a parsed policy file); checks them and throws INVALID_ARGUMENT with the field at fault. */
export function makePolicy(rules: PolicyRules = {}): SyncPolicy {
  if (typeof rules !== "object" || rules === null || Array.isArray(rules)) throw invalidArgument("policy: an object");
  for (const k of Object.keys(rules)) {
    if (k !== "operators" && k !== "write" && k !== "read" && k !== "peers" && k !== "maxDocsPerPeer") throw invalidArgument(`policy: unknown field "${k}"`);
  }
  const operators = new Set<string>();
  if (rules.operators !== undefined) {
    if (!Array.isArray(rules.operators)) throw invalidArgument("policy.operators: a list of replica ids");
    for (const o of rules.operators) operators.add(checkReplicaId(o));
  }
  const write = checkPatterns(rules.write, "policy.write") ?? DEFAULT_WRITE;
  const read = checkPatterns(rules.read, "policy.read") ?? DEFAULT_READ;
  const perPeer = new Map<string, { write: readonly DocPattern[]; read: readonly DocPattern[] }>();
  if (rules.peers !== undefined) {
    if (typeof rules.peers !== "object" || rules.peers === null || Array.isArray(rules.peers)) throw invalidArgument("policy.peers: an object by peer id");
    for (const [id, g] of Object.entries(rules.peers)) {
      checkReplicaId(id);
      if (typeof g !== "object" || g === null) throw invalidArgument(`policy.peers.${id}: an object { write, read }`);
      perPeer.set(id, { write: checkPatterns(g.write, `policy.peers.${id}.write`) ?? [], read: checkPatterns(g.read, `policy.peers.${id}.read`) ?? [] });
    }
  }
  const max = rules.maxDocsPerPeer ?? DEFAULT_MAX_DOCS_PER_PEER;
  if (!(Number.isSafeInteger(max) && max >= 0)) throw invalidArgument("policy.maxDocsPerPeer: a non-negative integer");
  const mayWrite = (peer: string, doc: string): boolean => {
    if (operators.has(peer) || anyMatch(write, doc, peer)) return true;
    const g = perPeer.get(peer);
    return g !== undefined && anyMatch(g.write, doc, peer);
  };
  return Object.freeze({
    maxDocsPerPeer: max,
    mayWrite,
    mayRead: (peer: string, doc: string): boolean => {
      if (mayWrite(peer, doc) || anyMatch(read, doc, peer)) return true;
      const g = perPeer.get(peer);
      return g !== undefined && anyMatch(g.read, doc, peer);
    },
  });
}
