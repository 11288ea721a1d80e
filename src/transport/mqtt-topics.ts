// The MQTT topic layout of lichen's sync protocol, presence payloads, and the ACL rule that a
// broker enforces. Device-safe: pure functions, no Node APIs, no module-scope mutable state.
//
//   lichen/<fleet>/<peer>/in/<sender>   a sync frame from <sender> to <peer> (CBOR + CRC, frames.ts)
//   lichen/<fleet>/<peer>/presence      <peer>'s presence, retained: {"state","role","ts","hb"}
//
// Every peer P subscribes to `lichen/F/P/in/+` (its inbox) and to presence. The sender of a frame
// is the LAST segment of its topic: the receiver binds the sender's replica id to that segment,
// and the broker's ACL binds the segment to the MQTT client id (a client may publish only to
// `lichen/F/+/in/<its client id>` and `lichen/F/<its client id>/presence`), so a node can only
// speak as itself. See docs/mqtt.md.
import { invalidArgument, malformed } from "../core/errors.js";
import { replicaIdProblem } from "../core/replica.js";
import type { PeerRole } from "./sync-engine.js";

export const TOPIC_ROOT = "lichen";

/** Largest presence payload accepted (they are about 60 bytes). */
export const MAX_PRESENCE_BYTES = 256;

/** Longest heartbeat period a presence may announce: one day. */
export const MAX_HEARTBEAT_MS = 86_400_000;

function idProblem(id: unknown): string | undefined {
  const p = replicaIdProblem(id);
  if (p !== undefined) return p;
  // '/' separates topic levels; '+' and '#' are MQTT wildcards: without them an id fills exactly
  // one topic level, as a broker's ACL (mosquitto's %c) expects.
  if (/[/+#]/.test(id as string)) return "must not contain '/', '+' or '#'";
  return undefined;
}

/** Checks a fleet or replica id for use in a topic: a replica id (1 to 64 printable characters) without '/', '+' or '#'. */
export function checkTopicId(id: unknown, what = "id"): string {
  const p = idProblem(id);
  if (p !== undefined) throw invalidArgument(`${what} ${p}`);
  return id as string;
}

/** True if `id` may stand in a topic (see checkTopicId). */
export function isTopicId(id: unknown): id is string {
  return idProblem(id) === undefined;
}

/** `lichen/F/to/in/from`: where `from` publishes a frame for `to`. */
export function inboxTopic(fleet: string, to: string, from: string): string {
  return `${TOPIC_ROOT}/${checkTopicId(fleet, "fleet")}/${checkTopicId(to, "peer")}/in/${checkTopicId(from, "sender")}`;
}

/** `lichen/F/P/in/+`: what P subscribes to for its frames. */
export function inboxFilter(fleet: string, peer: string): string {
  return `${TOPIC_ROOT}/${checkTopicId(fleet, "fleet")}/${checkTopicId(peer, "peer")}/in/+`;
}

/** `lichen/F/P/presence`: P's retained presence. */
export function presenceTopic(fleet: string, peer: string): string {
  return `${TOPIC_ROOT}/${checkTopicId(fleet, "fleet")}/${checkTopicId(peer, "peer")}/presence`;
}

/** `lichen/F/+/presence`: the presence of the whole fleet. */
export function presenceFilter(fleet: string): string {
  return `${TOPIC_ROOT}/${checkTopicId(fleet, "fleet")}/+/presence`;
}

export type ParsedTopic =
  | { readonly kind: "frame"; readonly fleet: string; readonly to: string; readonly from: string }
  | { readonly kind: "presence"; readonly fleet: string; readonly peer: string };

/** Reads a lichen topic; undefined for anything else (another layout, a bad id, a wildcard). */
export function parseTopic(topic: string): ParsedTopic | undefined {
  if (typeof topic !== "string") return undefined;
  const parts = topic.split("/");
  if (parts[0] !== TOPIC_ROOT) return undefined;
  if (parts.length === 5 && parts[3] === "in") {
    if (!isTopicId(parts[1]) || !isTopicId(parts[2]) || !isTopicId(parts[4])) return undefined;
    return { kind: "frame", fleet: parts[1], to: parts[2], from: parts[4] };
  }
  if (parts.length === 4 && parts[3] === "presence") {
    if (!isTopicId(parts[1]) || !isTopicId(parts[2])) return undefined;
    return { kind: "presence", fleet: parts[1], peer: parts[2] };
  }
  return undefined;
}

// ---- the ACL ----

/**
 * The broker-side rule for PUBLISH: client `clientId` may publish a frame as itself
 * (`lichen/F/<other>/in/<clientId>`) and its own presence (`lichen/F/<clientId>/presence`),
 * nothing else. With `fleet`, only within that fleet. (The will is a publish too.)
 */
export function mayPublish(clientId: string, topic: string, fleet?: string): boolean {
  if (!isTopicId(clientId)) return false;
  const t = parseTopic(topic);
  if (t === undefined || (fleet !== undefined && t.fleet !== fleet)) return false;
  if (t.kind === "frame") return t.from === clientId && t.to !== clientId;
  return t.peer === clientId;
}

/**
 * The broker-side rule for SUBSCRIBE: client `clientId` may subscribe to its own inbox
 * (`lichen/F/<clientId>/in/+`, or one sender of it) and to presence (`lichen/F/+/presence` or
 * one peer's), nothing else: no '#', no other peer's inbox. With `fleet`, only within that fleet.
 */
export function maySubscribe(clientId: string, filter: string, fleet?: string): boolean {
  if (!isTopicId(clientId) || typeof filter !== "string") return false;
  const parts = filter.split("/");
  if (parts[0] !== TOPIC_ROOT || !isTopicId(parts[1]) || (fleet !== undefined && parts[1] !== fleet)) return false;
  if (parts.length === 5 && parts[3] === "in") return parts[2] === clientId && (parts[4] === "+" || isTopicId(parts[4]));
  if (parts.length === 4 && parts[3] === "presence") return parts[2] === "+" || isTopicId(parts[2]);
  return false;
}

// ---- presence ----

export type PresenceState = "online" | "offline";

/** A peer's presence: tiny JSON, e.g. {"state":"online","role":"node","ts":1718000000000,"hb":30000}. */
export interface Presence {
  readonly state: PresenceState;
  readonly role: PeerRole;
  /** The sender's clock when it published, ms (informational: liveness is judged by the receiver's clock). */
  readonly ts: number;
  /** The sender's heartbeat period, ms: it is treated offline after 3 periods without a word. */
  readonly hb?: number;
}

function checkPresence(p: Presence, fail: (m: string) => Error): Presence {
  if (p === null || typeof p !== "object") throw fail("presence is an object");
  if (p.state !== "online" && p.state !== "offline") throw fail('presence state is "online" or "offline"');
  if (p.role !== "node" && p.role !== "gateway") throw fail('presence role is "node" or "gateway"');
  if (typeof p.ts !== "number" || !Number.isFinite(p.ts)) throw fail("presence ts is a number");
  if (p.hb !== undefined && !(Number.isSafeInteger(p.hb) && p.hb > 0 && p.hb <= MAX_HEARTBEAT_MS)) throw fail(`presence hb is an integer of 1 to ${MAX_HEARTBEAT_MS} ms`);
  return p;
}

/** The payload of a presence message: ASCII JSON (no TextEncoder needed on the device). */
export function encodePresence(p: Presence): Uint8Array {
  checkPresence(p, invalidArgument);
  const text = JSON.stringify(p.hb === undefined ? { state: p.state, role: p.role, ts: p.ts } : { state: p.state, role: p.role, ts: p.ts, hb: p.hb });
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i); // ASCII only: enumerated strings and numbers
  return out;
}

/** Reads a presence payload; throws MALFORMED on anything else. Unknown fields are ignored. */
export function decodePresence(bytes: Uint8Array): Presence {
  if (!(bytes instanceof Uint8Array)) throw malformed("a presence payload is a Uint8Array");
  if (bytes.length === 0 || bytes.length > MAX_PRESENCE_BYTES) throw malformed(`a presence payload is 1 to ${MAX_PRESENCE_BYTES} bytes`);
  let text = "";
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i];
    if (b < 0x20 || b > 0x7e) throw malformed("a presence payload is printable ASCII JSON");
    text += String.fromCharCode(b);
  }
  let x: unknown;
  try {
    x = JSON.parse(text);
  } catch {
    throw malformed("a presence payload is JSON");
  }
  const o = x as { state?: unknown; role?: unknown; ts?: unknown; hb?: unknown };
  if (o === null || typeof o !== "object" || Array.isArray(o)) throw malformed("presence is an object");
  const p = o.hb === undefined ? { state: o.state, role: o.role, ts: o.ts } : { state: o.state, role: o.role, ts: o.ts, hb: o.hb };
  return checkPresence(p as Presence, malformed);
}
