// The logic of lichen's MQTT binding that does not depend on the MQTT client: topic routing,
// presence (heartbeat, last will, missed heartbeats), and the choice of which peers to sync with.
// Device-safe. The bindings (mqtt-node.ts: MQTT.js; mqtt-moddable.ts: Moddable's "mqtt") are thin
// adapters that turn their client into an MqttClientLike.
import { invalidArgument } from "../core/errors.js";
import { checkReplicaId } from "../core/replica.js";
import { decodePresence, encodePresence, inboxFilter, inboxTopic, parseTopic, presenceFilter, presenceTopic, checkTopicId, type Presence } from "./mqtt-topics.js";
import { SyncEngine, type PeerRole, type SyncOptions } from "./sync-engine.js";

export interface MqttPublishOptions {
  readonly qos: 0 | 1;
  readonly retain: boolean;
}

/**
 * What MqttPeer needs of an MQTT client. The adapter calls `onConnect` when a session is up
 * (every reconnect included), `onDisconnect` when it is lost, and `onMessage` for every message
 * received; MqttPeer assigns the three. publish and subscribe are fire and forget: the adapter
 * drops what it cannot send (the protocol repairs loss), and never throws.
 */
export interface MqttClientLike {
  publish(topic: string, payload: Uint8Array, options: MqttPublishOptions): void;
  subscribe(topic: string, qos: 0 | 1): void;
  onConnect?: () => void;
  onDisconnect?: () => void;
  onMessage?: (topic: string, payload: Uint8Array) => void;
}

export interface MqttPeerOptions extends Omit<SyncOptions, "send"> {
  /** The fleet: the second level of every topic. Peers of different fleets never see each other. */
  readonly fleet: string;
  readonly client: MqttClientLike;
  /** Presence is republished (retained) this often; a peer silent for 3 of its periods is offline. Default 30 s. */
  readonly heartbeatMs?: number;
  /** QoS of every publish (default 0; Moddable's client speaks QoS 0 only). */
  readonly qos?: 0 | 1;
  /**
   * The replica ids trusted as gateways. A peer announcing the gateway role that is not listed is
   * taken for a node (on a gateway: synced with the origin rule) or ignored (on a node). A node
   * then also subscribes to those gateways' presence only, not the whole fleet's. Omitted: any
   * peer's announced role is believed (see docs/mqtt.md: set it on every peer in production).
   */
  readonly gateways?: readonly string[];
  /** Called when a peer that this replica syncs with comes online or goes offline. */
  readonly onPresence?: (peer: string, status: PeerStatus) => void;
  /**
   * A node offline this long is forgotten (its entry here and its state in the engine: see
   * SyncEngine.forget), checked every heartbeat period; default 10 minutes, 0: never. Without it,
   * every client id that ever sent a frame or a presence would be kept for ever.
   */
  readonly forgetAfterMs?: number;
}

export interface PeerStatus {
  readonly id: string;
  readonly role: PeerRole;
  readonly online: boolean;
  /** When this replica last heard from it (its scheduler's clock). */
  readonly lastHeard: number;
  /** Its announced heartbeat period. */
  readonly heartbeatMs: number;
}

export interface MqttPeerStats {
  framesIn: number;
  framesOut: number;
  /** Messages ignored: another fleet, not for us, from a peer we do not sync with, bad presence, or sent while disconnected. */
  dropped: number;
  presenceIn: number;
}

interface Entry {
  role: PeerRole;
  online: boolean;
  lastHeard: number;
  heartbeatMs: number;
}

export const DEFAULT_HEARTBEAT_MS = 30_000;

/** The default of forgetAfterMs: 10 minutes offline. */
export const DEFAULT_FORGET_AFTER_MS = 600_000;

/** A peer is offline after this many of its heartbeat periods without a word. */
export const MISSED_HEARTBEATS = 3;

/** The last will of a replica: its presence, offline, retained. Set it when creating the client. `now`: the wall clock, ms. */
export function lastWill(fleet: string, replica: string, role: PeerRole, heartbeatMs: number, now: number): { topic: string; payload: Uint8Array } {
  return { topic: presenceTopic(fleet, replica), payload: encodePresence({ state: "offline", role, ts: Math.floor(now), hb: heartbeatMs }) };
}

/**
 * A SyncEngine bound to an MQTT client: frames go to `lichen/F/<peer>/in/<me>`, frames come from
 * `lichen/F/<me>/in/<sender>` (the sender is the topic's last segment, which the broker's ACL
 * binds to the MQTT client id), and presence decides who is connected. A gateway syncs with every
 * peer online; a node with gateways only. On a peer's offline presence or 3 missed heartbeats,
 * `engine.disconnect(peer)`; on its online presence (or after our own reconnect, when the
 * retained presences arrive again), `engine.connect(peer, role)`, which exchanges digests.
 */
export class MqttPeer {
  readonly engine: SyncEngine;
  readonly fleet: string;
  readonly replica: string;
  readonly role: PeerRole;
  readonly heartbeatMs: number;
  readonly qos: 0 | 1;
  readonly stats: MqttPeerStats = { framesIn: 0, framesOut: 0, dropped: 0, presenceIn: 0 };
  private readonly client: MqttClientLike;
  private readonly gateways: readonly string[] | undefined;
  private readonly entries = new Map<string, Entry>();
  private readonly onPresence: ((peer: string, status: PeerStatus) => void) | undefined;
  private readonly forgetAfterMs: number;
  private readonly now: () => number;
  private readonly setTimer: (ms: number, fn: () => void) => () => void;
  private connected = false;
  private closed = false;
  private cancelTick: (() => void) | undefined;

  constructor(options: MqttPeerOptions) {
    this.fleet = checkTopicId(options.fleet, "fleet");
    this.replica = checkTopicId(checkReplicaId(options.replica), "replica");
    this.role = options.role;
    const hb = options.heartbeatMs ?? DEFAULT_HEARTBEAT_MS;
    if (!(Number.isSafeInteger(hb) && hb >= 10 && hb <= 86_400_000)) throw invalidArgument("heartbeatMs is an integer of 10 ms to one day");
    this.heartbeatMs = hb;
    const qos = options.qos ?? 0;
    if (qos !== 0 && qos !== 1) throw invalidArgument("qos is 0 or 1");
    this.qos = qos;
    if (options.gateways !== undefined) {
      if (!Array.isArray(options.gateways)) throw invalidArgument("gateways is an array of replica ids");
      for (const g of options.gateways) checkTopicId(g, "gateway id");
    }
    this.gateways = options.gateways === undefined ? undefined : options.gateways.slice();
    this.onPresence = options.onPresence;
    const forget = options.forgetAfterMs ?? DEFAULT_FORGET_AFTER_MS;
    if (!(Number.isSafeInteger(forget) && forget >= 0)) throw invalidArgument("forgetAfterMs is an integer of 0 ms or more");
    this.forgetAfterMs = forget;
    const scheduler = options.scheduler;
    this.now = () => scheduler.now();
    this.setTimer = (ms, fn) => scheduler.setTimer(ms, fn);
    this.client = options.client;
    this.engine = new SyncEngine({ ...options, send: (peer, frame) => this.sendFrame(peer, frame) });
    this.client.onConnect = () => this.handleConnect();
    this.client.onDisconnect = () => this.handleDisconnect();
    this.client.onMessage = (topic, payload) => this.handleMessage(topic, payload);
  }

  /** True while the MQTT session is up. */
  get isConnected(): boolean {
    return this.connected;
  }

  /** This replica's last will (see lastWill). */
  will(): { topic: string; payload: Uint8Array } {
    return lastWill(this.fleet, this.replica, this.role, this.heartbeatMs, Date.now());
  }

  /** The peers this replica syncs with, as presence told. */
  peers(): PeerStatus[] {
    const out: PeerStatus[] = [];
    for (const [id, e] of this.entries) out.push(status(id, e));
    return out.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  /** Publishes offline presence (retained), stops the heartbeat, closes the engine. The adapter then ends its client. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.cancelTick?.();
    this.cancelTick = undefined;
    if (this.connected) this.publishPresence("offline");
    this.engine.close();
    this.client.onConnect = undefined;
    this.client.onDisconnect = undefined;
    this.client.onMessage = undefined;
  }

  // ---- the client's events ----

  private handleConnect(): void {
    if (this.closed) return;
    this.connected = true;
    // the inbox first: replies to the digests that presence triggers must find it in place
    this.client.subscribe(inboxFilter(this.fleet, this.replica), this.qos);
    if (this.role === "node" && this.gateways !== undefined) {
      for (const g of this.gateways) this.client.subscribe(presenceTopic(this.fleet, g), this.qos);
    } else this.client.subscribe(presenceFilter(this.fleet), this.qos);
    this.publishPresence("online");
    if (this.cancelTick === undefined) this.scheduleTick();
  }

  private handleDisconnect(): void {
    if (!this.connected) return;
    this.connected = false;
    // nobody is reachable now; the retained presences arriving after the reconnect link them again
    for (const [id, e] of this.entries) if (e.online) this.setOffline(id, e);
  }

  private handleMessage(topic: string, payload: Uint8Array): void {
    if (this.closed) return;
    const t = parseTopic(topic);
    if (t === undefined || t.fleet !== this.fleet) {
      this.stats.dropped++;
      return;
    }
    if (t.kind === "presence") {
      this.stats.presenceIn++;
      let p: Presence;
      try {
        p = decodePresence(payload);
      } catch {
        this.stats.dropped++;
        return;
      }
      if (t.peer === this.replica) {
        // our own presence: a will of an older session of ours (published on a takeover after
        // this session started) says offline; say online again
        if (p.state === "offline" && this.connected) this.publishPresence("online");
        return;
      }
      this.presence(t.peer, p);
      return;
    }
    if (t.to !== this.replica || t.from === this.replica) {
      this.stats.dropped++;
      return;
    }
    // a frame on the sender's own topic is proof of life (the broker binds the topic to the client)
    let e = this.entries.get(t.from);
    if (e === undefined) {
      // Its presence has not arrived (yet, or at all: aedes drops a retained message that a later
      // one from the same client overtook). With a gateways list the sender's role is known: link
      // it now. Otherwise (or if we do not sync with it) drop the frame; its next heartbeat links it.
      const role = this.implicitRole(t.from);
      if (role === undefined) {
        this.stats.dropped++;
        return;
      }
      e = { role, online: false, lastHeard: this.now(), heartbeatMs: this.heartbeatMs };
      this.entries.set(t.from, e);
    }
    e.lastHeard = this.now();
    if (!e.online) this.setOnline(t.from, e);
    this.stats.framesIn++;
    this.engine.receive(t.from, payload);
  }

  // ---- presence ----

  /** The role a peer is taken for: announced, but gateway only if trusted. */
  private effectiveRole(peer: string, announced: PeerRole): PeerRole {
    if (announced === "gateway" && this.gateways !== undefined && !this.gateways.includes(peer)) return "node";
    return announced;
  }

  /** The role of a peer known only by its frames: certain only with a gateways list. */
  private implicitRole(peer: string): PeerRole | undefined {
    if (this.gateways === undefined) return undefined;
    if (this.gateways.includes(peer)) return "gateway";
    return this.role === "gateway" ? "node" : undefined;
  }

  private presence(peer: string, p: Presence): void {
    const role = this.effectiveRole(peer, p.role);
    let e = this.entries.get(peer);
    // a gateway syncs with everyone; a node with gateways only
    if (this.role === "node" && role !== "gateway") {
      if (e !== undefined) {
        if (e.online) this.setOffline(peer, e);
        this.entries.delete(peer);
      }
      this.stats.dropped++;
      return;
    }
    const now = this.now();
    if (e === undefined) {
      if (p.state === "offline") return;
      e = { role, online: false, lastHeard: now, heartbeatMs: p.hb ?? this.heartbeatMs };
      this.entries.set(peer, e);
    }
    e.heartbeatMs = p.hb ?? this.heartbeatMs;
    if (e.role !== role) {
      if (e.online) this.setOffline(peer, e);
      e.role = role;
    }
    if (p.state === "offline") {
      if (e.online) this.setOffline(peer, e);
      return;
    }
    e.lastHeard = now;
    if (!e.online) this.setOnline(peer, e);
  }

  private setOnline(peer: string, e: Entry): void {
    e.online = true;
    this.engine.connect(peer, e.role);
    this.onPresence?.(peer, status(peer, e));
  }

  private setOffline(peer: string, e: Entry): void {
    e.online = false;
    this.engine.disconnect(peer);
    this.onPresence?.(peer, status(peer, e));
  }

  private publishPresence(state: "online" | "offline"): void {
    // ts: the wall clock, for people and dashboards; liveness is judged by the receiver's scheduler
    const payload = encodePresence({ state, role: this.role, ts: Date.now(), hb: this.heartbeatMs });
    this.client.publish(presenceTopic(this.fleet, this.replica), payload, { qos: this.qos, retain: true });
  }

  /** Every heartbeat period: republish our presence, take peers silent for 3 of theirs offline, and forget nodes long offline. */
  private scheduleTick(): void {
    this.cancelTick = this.setTimer(this.heartbeatMs, () => {
      if (this.closed) return;
      if (this.connected) {
        this.publishPresence("online");
        const now = this.now();
        for (const [id, e] of this.entries) if (e.online && now - e.lastHeard > MISSED_HEARTBEATS * e.heartbeatMs) this.setOffline(id, e);
      }
      this.forgetGone();
      this.scheduleTick();
    });
  }

  /** Drops the nodes offline for forgetAfterMs, here and in the engine. */
  private forgetGone(): void {
    if (this.forgetAfterMs === 0) return;
    const now = this.now();
    for (const [id, e] of this.entries) {
      if (e.online || e.role !== "node" || now - e.lastHeard <= this.forgetAfterMs) continue;
      this.entries.delete(id);
      this.engine.forget(id);
    }
  }

  private sendFrame(peer: string, frame: Uint8Array): void {
    if (!this.connected || this.closed) {
      this.stats.dropped++;
      return;
    }
    this.stats.framesOut++;
    this.client.publish(inboxTopic(this.fleet, peer, this.replica), frame, { qos: this.qos, retain: false });
  }
}

function status(id: string, e: Entry): PeerStatus {
  return { id, role: e.role, online: e.online, lastHeard: e.lastHeard, heartbeatMs: e.heartbeatMs };
}
