// Fleet schedules with one hostile behaviour each, on the simulated network: forgers, replayers,
// writers of documents they do not own, wipers (a peer that loses its disk and comes back with the
// same id) and power cuts in the middle of the gateway's writes; half with nodes that coalesce
// their flash writes. A ledger records every event an honest replica really made, so that any
// other event found on an honest replica is a forgery. Invariants, each a check of its own:
//   no-crash        nothing but a simulated power cut escapes the engine;
//   ack-durable     an ACK is sent only for what the sender has stored (checked as it is sent);
//   acked-survive   every write the gateway acknowledged is still on the gateway after healing;
//   no-forged       no honest replica holds an event an honest replica did not make, nor one of an unknown id;
//   no-unauthorized no honest replica holds an event in a document its writer may not write;
//   honest-accepted no delta of an honest peer is refused;
//   converge        after healing, every honest node and the gateway agree and have nothing unacknowledged
//                   (after a wipe of the only gateway, on the gateway's own documents: each node holds
//                   at least what the gateway holds, since no one may hand the gateway its lost events);
//   bounded-traffic the whole schedule sends at most TRAFFIC_BUDGET frames (a normal one sends under
//                   700): more is a resend storm, and the schedule stops there.
import { LWWMap, ORSet, type VersionVector } from "../../src/index.js";
import { LichenError } from "../../src/core/errors.js";
import { loadCrdt } from "../../src/core/registry.js";
import { StateStore } from "../../src/store/state-store.js";
import { versionHash } from "../../src/transport/frames.js";
import type { SyncOptions } from "../../src/transport/sync-engine.js";
import type { CoalescePolicy } from "../../src/store/state-store.js";
import { setFleetConfig } from "../../sim/network/schedules.js";
import { Fleet, openDocs, PowerCut, rng, SHARED_NAMESPACE, sharedReadPolicy, type NetworkOptions } from "../../sim/network/simulator.js";
import type { Findings } from "./findings.js";
import { deltaFrame, heldEvents, lwwDelta, tryDecodeFrame } from "./wire.js";

export const HONEST_NODES = ["n1", "n2", "n3"] as const;
export const ATTACKER = "x1";
export const GATEWAY = "gw";

/** The engine options every fuzzed engine runs with: the flood and reassembly checks measure against these limits. */
export const FUZZ_OPTIONS = Object.freeze({ maxFrameBytes: 4000, rateBurst: 200, ratePerSecond: 100, maxReassemblyBytes: 16384 } satisfies Partial<SyncOptions>);

/** The fuzzed gateway's group commit: small, so that groups fill as well as close on the loop's turn. */
export const FUZZ_GROUP_COMMIT = 4;

/** A fleet on the simulated network whose engines all run with FUZZ_OPTIONS (the gateway with group commit too). */
export function fuzzFleet(random: () => number, net: NetworkOptions, coalesce?: CoalescePolicy): Fleet {
  const fleet = new Fleet(random, net, coalesce, 5000);
  // the default: a node writes only its own documents (the simulator's fleets also grant the
  // shared ones); it reads the fleet's and the tests' shared documents, which the gateway writes
  fleet.policy = sharedReadPolicy();
  for (const id of [GATEWAY, ...HONEST_NODES, ATTACKER]) fleet.options.set(id, FUZZ_OPTIONS);
  // the gateway stores what arrives together in groups, as the daemon does (targets/rpi/gateway-ingest.ts)
  fleet.options.set(GATEWAY, { ...FUZZ_OPTIONS, groupCommit: FUZZ_GROUP_COMMIT });
  return fleet;
}

export const HOSTILE_KINDS = [
  "none",
  "forge-contiguous",
  "forge-new-replica",
  "forge-gap",
  "forge-below-prefix",
  "replay",
  "unowned-write",
  "wipe-node",
  "wipe-gateway",
  "power-cut",
] as const;
export type HostileKind = (typeof HOSTILE_KINDS)[number];

/** The documents only the gateway writes: the fleet's (fleet/config) and the tests' shared ones. */
export function gatewayWrites(doc: string): boolean {
  const ns = doc.slice(0, doc.indexOf("/"));
  return ns === "fleet" || ns === SHARED_NAMESPACE;
}

/** Who may write a document: its owner (the id in a node's document key), or the gateway for the shared ones. */
export function mayWrite(doc: string, replica: string): boolean {
  if (gatewayWrites(doc)) return replica === GATEWAY;
  return doc.slice(doc.indexOf("/") + 1) === replica;
}

/** Every event an honest replica made: per document and replica, the highest id (or count); and each LWWMap write. */
export class Ledger {
  readonly tops = new Map<string, Map<string, number>>();
  readonly writes = new Set<string>();

  record(doc: string, replica: string, crdt: { version(): VersionVector }): void {
    let m = this.tops.get(doc);
    if (m === undefined) this.tops.set(doc, (m = new Map()));
    const n = crdt.version().get(replica);
    if (n > (m.get(replica) ?? 0)) m.set(replica, n);
  }

  recordWrite(doc: string, replica: string, key: string, t: number, value: unknown): void {
    this.writes.add(`${doc}|${key}|${replica}|${t}|${JSON.stringify(value ?? null)}`);
  }

  top(doc: string, replica: string): number {
    return this.tops.get(doc)?.get(replica) ?? 0;
  }

  has(doc: string, key: string, replica: string, t: number, valueJson: string): boolean {
    return this.writes.has(`${doc}|${key}|${replica}|${t}|${valueJson}`);
  }
}

/** Checks every document an honest peer holds against the ledger: forged and unauthorized events. */
export function checkHeld(fleet: Fleet, ledger: Ledger, honest: readonly string[], findings: Findings, check: string, seed: number): void {
  let forged: string | undefined;
  let unauthorized: string | undefined;
  for (const peerId of honest) {
    const engine = fleet.peers.get(peerId)!.engine;
    for (const doc of engine.documents()) {
      const held = heldEvents(engine.get(doc)!);
      for (const [r, top] of held.tops) {
        if (r === ATTACKER) {
          if (!mayWrite(doc, r)) unauthorized ??= `${peerId} holds events of ${r} in ${doc}`;
        } else if (!honest.includes(r)) forged ??= `${peerId} holds events of unknown replica ${r} in ${doc}`;
        else if (top > ledger.top(doc, r)) forged ??= `${peerId} holds ${r}'s events in ${doc} up to ${top}; ${r} made them up to ${ledger.top(doc, r)}`;
        else if (!mayWrite(doc, r)) unauthorized ??= `${peerId} holds events of ${r} in ${doc}`;
      }
      for (const [key, r, t, value] of held.entries) {
        if (!honest.includes(r)) continue; // counted above
        if (!ledger.has(doc, key, r, t, value)) forged ??= `${peerId} holds ${doc}[${key}] = ${value} by ${r} at ${t}, which ${r} never wrote`;
      }
    }
  }
  findings.check(`${check}/no-forged`, seed, forged === undefined, () => forged!);
  findings.check(`${check}/no-unauthorized`, seed, unauthorized === undefined, () => unauthorized!);
}

/** The version a peer has stored of a document (what survives a power cut now). */
function storedVersion(fleet: Fleet, peerId: string, doc: string): VersionVector | undefined {
  const slash = doc.indexOf("/");
  const stored = new StateStore(fleet.peers.get(peerId)!.kv).load(doc.slice(0, slash), doc.slice(slash + 1), (b) => loadCrdt(b, "probe"));
  return stored?.version();
}

/**
 * Watches every ACK an honest peer sends: it must cover only what that peer has stored
 * (ack-durable), and the gateway's are remembered for acked-survive.
 */
export function watchAcks(fleet: Fleet, honest: readonly string[], findings: Findings, check: string, seed: number): { acked: Map<string, VersionVector>; durable: () => boolean } {
  const acked = new Map<string, VersionVector>(); // "node|doc" → highest version the gateway acknowledged to it
  let durable = true;
  fleet.onSend = (from, to, bytes) => {
    if (!honest.includes(from)) return;
    const f = tryDecodeFrame(bytes, [from, to]);
    if (f === undefined || (f.kind !== 4 && f.kind !== 7)) return;
    const stored = storedVersion(fleet, from, f.doc);
    // an ACK tells a version, an APPLIED its hash: either way, what the peer has stored
    const ok = stored !== undefined && (f.kind === 4 ? stored.dominates(f.version) : versionHash(stored) === f.hash);
    const told = f.kind === 4 ? JSON.stringify(f.version) : `hash ${f.hash}`;
    if (!ok && durable) findings.fail(`${check}/ack-durable`, seed, `${from} acknowledged ${f.doc} at ${told} to ${to} with ${stored === undefined ? "nothing" : JSON.stringify(stored)} stored`);
    const version = f.kind === 4 ? f.version : ok ? stored : undefined;
    if (from === GATEWAY && honest.includes(to) && version !== undefined) {
      const k = `${to}|${f.doc}`;
      const prev = acked.get(k);
      acked.set(k, prev === undefined ? version.clone() : prev.clone().merge(version));
    }
    durable &&= ok;
  };
  return { acked, durable: () => durable };
}

/** Frames a schedule may send in all, about 15 times what a normal one sends. */
export const TRAFFIC_BUDGET = 10_000;

class Storm extends Error {}

/** The log events of a refused delta. */
const REFUSALS = ["forged", "refused", "forbidden", "quota"];

/** Runs `fn`; a simulated power cut is part of the schedule, anything else a crash. */
function guarded(fn: () => void): void {
  try {
    fn();
  } catch (e) {
    if (!(e instanceof PowerCut)) throw e;
  }
}

/** The HLC timestamp the attacker's clock gives now (a forger stamps its events with plausible times). */
function attackerNow(fleet: Fleet): number {
  return fleet.peers.get(ATTACKER)!.engine.clock.now();
}

/**
 * One forged frame of the given kind: events stamped with a victim node's id, in the victim's
 * readings or in the attacker's own (which it may write), against what the gateway holds now.
 */
function forgery(kind: HostileKind, fleet: Fleet, random: () => number): Uint8Array | undefined {
  const gw = fleet.peers.get(GATEWAY)!;
  const victim = HONEST_NODES[Math.floor(random() * HONEST_NODES.length)];
  const doc = `readings/${random() < 0.5 ? victim : ATTACKER}`;
  const held = gw.up ? (gw.engine.get(doc) as LWWMap<number> | undefined) : undefined;
  const prefix = held?.version().get(victim) ?? 0;
  const now = attackerNow(fleet) + Math.floor(random() * 1024 * 600_000); // up to 10 min ahead: within the drift allowed
  const key = random() < 0.5 ? `k${Math.floor(random() * 5)}` : `forged${Math.floor(random() * 1000)}`;
  const value = 666_000 + Math.floor(random() * 1000);
  switch (kind) {
    case "forge-contiguous": {
      // the victim's next event, right above what the gateway holds
      const t = Math.max(now, prefix + 1);
      return deltaFrame(doc, 9, lwwDelta([{ key, r: victim, t, value }], new Map([[victim, [prefix, t]]])));
    }
    case "forge-new-replica": {
      const r = random() < 0.5 ? "n9" : "gw2";
      return deltaFrame(doc, 9, lwwDelta([{ key, r, t: now, value }], new Map([[r, [0, now]]])));
    }
    case "forge-gap": {
      // an event ahead of the victim's version, with a gap before it: the version does not move
      const t = Math.max(now, prefix + 4096);
      const lo = prefix + 1 + Math.floor(random() * (t - prefix - 2));
      return deltaFrame(doc, 9, lwwDelta([{ key, r: victim, t, value }], new Map([[victim, [lo, t]]]), new Map([[victim, 0]])));
    }
    case "forge-below-prefix": {
      // an event under the victim's version, on a new key or over an older write
      if (prefix < 2) return undefined;
      const t = 1 + Math.floor(random() * (prefix - 1));
      return deltaFrame(doc, 9, lwwDelta([{ key, r: victim, t, value }], new Map([[victim, [t - 1, t]]]), new Map([[victim, 0]])));
    }
    default:
      return undefined;
  }
}

export interface ScheduleOptions {
  kind: HostileKind;
  coalesce: boolean;
  steps?: number;
}

/** The gateway writes the fleet's config (setFleetConfig), each write in the ledger. */
export function setConfig(ledger: Ledger, gw: { changed(ns: string, id: string): void }, config: LWWMap<number>, step: number): void {
  setFleetConfig(config, step);
  ledger.record("fleet/config", GATEWAY, config);
  for (const key of ["interval", "threshold.temperature"]) ledger.recordWrite("fleet/config", GATEWAY, key, config.timestamp(key), config.get(key));
  gw.changed("fleet", "config");
}

/** One schedule from a seed, with its checks recorded under `hostile/<kind>/...`. */
export function runHostileSchedule(seed: number, opts: ScheduleOptions, findings: Findings): void {
  const check = `hostile/${opts.kind}`;
  const random = rng(seed);
  const honest = [GATEWAY, ...HONEST_NODES];
  const fleet = fuzzFleet(
    random,
    { loss: random() * 0.3, duplicate: random() * 0.2, maxDelayMs: 1 + Math.floor(random() * 500) },
    opts.coalesce ? { maxOps: 4, maxDelayMs: 2000 } : undefined,
  );
  const ledger = new Ledger();
  const captured: Uint8Array[] = [];
  try {
    fleet.add(GATEWAY, "gateway");
    for (const n of [...HONEST_NODES, ATTACKER]) {
      fleet.add(n, "node");
      openDocs(fleet.peers.get(n)!.engine, n);
      fleet.link(n, GATEWAY);
    }
    openDocs(fleet.peers.get(GATEWAY)!.engine, GATEWAY);
    const { acked, durable } = watchAcks(fleet, honest, findings, check, seed);
    const watch = fleet.onSend!;
    let sent = 0;
    fleet.onSend = (from, to, bytes) => {
      if (++sent > TRAFFIC_BUDGET) throw new Storm(`over ${TRAFFIC_BUDGET} frames sent: a resend storm`);
      watch(from, to, bytes);
      if (opts.kind === "replay" && from !== ATTACKER && captured.length < 200) captured.push(bytes);
    };
    if (opts.kind === "power-cut") fleet.powerCuts.set(GATEWAY, 0.05);
    const up = (id: string): boolean => fleet.peers.get(id)!.up;
    const linksOf = (id: string): string[] => (id === GATEWAY ? [...HONEST_NODES, ATTACKER].filter(up) : [GATEWAY]);

    for (let step = 0; step < (opts.steps ?? 50); step++) {
      // after a power cut the gateway comes back soon: the cut is what is tested, not the downtime
      if (opts.kind === "power-cut" && !up(GATEWAY) && random() < 0.5) guarded(() => fleet.restart(GATEWAY, linksOf(GATEWAY)));
      const r = random();
      const node = HONEST_NODES[Math.floor(random() * HONEST_NODES.length)];
      const p = fleet.peers.get(node)!;
      if (r < 0.45) {
        // a node back from a wipe writes only once it has learned its own events back (the engine's
        // contract, see SyncEngine.recovering: a write before could reuse the id of a lost event)
        if (!p.up || p.engine.recovering) continue;
        // a node writes its own documents
        const docs = openDocs(p.engine, node);
        const key = `k${Math.floor(random() * 5)}`;
        const value = step * 10 + Math.floor(random() * 10);
        docs.readings.set(key, value);
        ledger.record(`readings/${node}`, node, docs.readings);
        ledger.recordWrite(`readings/${node}`, node, key, docs.readings.timestamp(key), value);
        p.engine.changed("readings", node);
        docs.events.increment();
        ledger.record(`events/${node}`, node, docs.events);
        p.engine.changed("events", node);
      } else if (r < 0.52) {
        // the gateway writes the fleet's shared documents
        const gw = fleet.peers.get(GATEWAY)!;
        if (!gw.up) continue;
        const docs = openDocs(gw.engine, GATEWAY);
        const add = random() < 0.7;
        // a power cut may hit the clock's own write as well as the document's
        if (random() < 0.6) {
          // on even steps the fleet's config (the firmware's LWWMap), on odd ones the shared AWMap
          if (step % 2 === 0) guarded(() => setConfig(ledger, gw.engine, docs.config, step));
          else {
            guarded(() => {
              docs.awmap.update("alarms", ORSet, (s) => (add ? s.add(`a${step % 5}`) : s.remove(`a${step % 5}`)));
              ledger.record(`${SHARED_NAMESPACE}/awmap`, GATEWAY, docs.awmap);
              gw.engine.changed(SHARED_NAMESPACE, "awmap");
            });
          }
        } else {
          guarded(() => {
            docs.mode.set(`mode-${step}`);
            ledger.record(`${SHARED_NAMESPACE}/mode`, GATEWAY, docs.mode);
            gw.engine.changed(SHARED_NAMESPACE, "mode");
          });
        }
      } else if (r < 0.58) {
        if (p.up) fleet.crash(node);
        else guarded(() => fleet.restart(node, linksOf(node)));
      } else if (r < 0.63) {
        fleet.partition(node, GATEWAY, random() < 0.6);
      } else if (r < 0.65) {
        if (up(GATEWAY)) fleet.crash(GATEWAY);
        else guarded(() => fleet.restart(GATEWAY, linksOf(GATEWAY)));
      } else if (r < 0.8) {
        hostileStep(opts.kind, fleet, random, captured, node, linksOf);
      }
      fleet.run(Math.floor(random() * 3000));
    }

    // heal: no loss, no partition, no power cut, everyone up, time for anti-entropy to finish
    fleet.net = { loss: 0, duplicate: 0, maxDelayMs: 50 };
    fleet.powerCuts.clear();
    for (const n of HONEST_NODES) fleet.partition(n, GATEWAY, false);
    if (!up(GATEWAY)) fleet.restart(GATEWAY, linksOf(GATEWAY));
    for (const n of [...HONEST_NODES, ATTACKER]) if (!up(n)) fleet.restart(n, [GATEWAY]);
    fleet.run(90_000);
    findings.pass(`${check}/no-crash`);
    findings.pass(`${check}/bounded-traffic`);
    if (durable()) findings.pass(`${check}/ack-durable`);

    const gw = fleet.peers.get(GATEWAY)!.engine;
    // every write the gateway acknowledged is still there
    let lost: string | undefined;
    for (const [k, v] of acked) {
      const [node, doc] = k.split("|");
      const have = gw.get(doc)?.version().get(node) ?? 0;
      if (have < v.get(node)) lost ??= `the gateway acknowledged ${node}'s ${doc} up to ${v.get(node)} and now holds it up to ${have}`;
    }
    findings.check(`${check}/acked-survive`, seed, lost === undefined, () => lost!);
    checkHeld(fleet, ledger, honest, findings, check, seed);
    const refused = fleet.logs.find((l) => REFUSALS.includes(l.event) && l.peer !== undefined && honest.includes(l.peer));
    findings.check(`${check}/honest-accepted`, seed, refused === undefined, () => `a delta of ${refused!.peer} was refused: ${refused!.message}`);
    let differ: string | undefined;
    for (const n of HONEST_NODES) {
      const node = fleet.peers.get(n)!.engine;
      for (const doc of node.documents()) {
        const mine = node.get(doc)!;
        const theirs = gw.get(doc);
        // With one gateway, the gateway's own events lost with its disk stay lost to it: a node may
        // not hand them back (that would be a forgery it cannot tell from a real one). So on the
        // documents only the gateway writes, a node must hold all the gateway holds, and may hold more.
        if (opts.kind === "wipe-gateway" && gatewayWrites(doc)) {
          if (theirs !== undefined && !mine.version().dominates(theirs.version())) differ ??= `${n} lacks the gateway's ${doc}: ${JSON.stringify(mine.version())} vs ${JSON.stringify(theirs.version())}`;
          continue;
        }
        if (theirs === undefined ? mine.version().size > 0 : !mine.equals(theirs)) differ ??= `${n} and the gateway differ on ${doc}: ${JSON.stringify(mine.value())} vs ${JSON.stringify(theirs?.value())}`;
      }
      if (differ === undefined && !(gw.inSync(n) || node.inSync(GATEWAY))) differ = `${n} still has unacknowledged changes`;
    }
    findings.check(`${check}/converge`, seed, differ === undefined, () => differ!);
  } catch (e) {
    if (e instanceof Storm) {
      findings.fail(`${check}/bounded-traffic`, seed, e.message);
      return;
    }
    findings.fail(`${check}/no-crash`, seed, `${e instanceof LichenError ? e.code : (e as Error).name}: ${(e as Error).message}`);
    if (process.env.LICHEN_FUZZ_STACK) console.log((e as Error).stack);
  }
}

/** The hostile part of one step. */
function hostileStep(kind: HostileKind, fleet: Fleet, random: () => number, captured: Uint8Array[], node: string, linksOf: (id: string) => string[]): void {
  switch (kind) {
    case "forge-contiguous":
    case "forge-new-replica":
    case "forge-gap":
    case "forge-below-prefix": {
      const f = forgery(kind, fleet, random);
      if (f !== undefined) fleet.inject(ATTACKER, GATEWAY, f);
      return;
    }
    case "replay": {
      // frames seen on any link, sent again by the attacker, one or several times
      for (let i = 0; i < 3 && captured.length > 0; i++) fleet.inject(ATTACKER, GATEWAY, captured[Math.floor(random() * captured.length)]);
      return;
    }
    case "unowned-write": {
      // the attacker's own events, in a victim's readings or in the shared documents
      const x = fleet.peers.get(ATTACKER)!;
      if (!x.up) return;
      if (random() < 0.5) {
        const readings = x.engine.open("readings", node, LWWMap);
        readings.set(`k${Math.floor(random() * 5)}`, -1);
        x.engine.changed("readings", node);
      } else {
        const docs = openDocs(x.engine, ATTACKER);
        docs.config.set("interval", 10); // the whole fleet sampling every 10 ms
        x.engine.changed("fleet", "config");
        docs.awmap.update("alarms", ORSet, (s) => s.add("sampling=1h"));
        x.engine.changed(SHARED_NAMESPACE, "awmap");
      }
      return;
    }
    case "wipe-node":
      if (random() < 0.4) fleet.wipe(node, linksOf(node));
      return;
    case "wipe-gateway":
      if (random() < 0.15) guarded(() => fleet.wipe(GATEWAY, linksOf(GATEWAY)));
      return;
    default:
      return;
  }
}
