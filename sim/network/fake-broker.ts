// An in-memory MQTT broker on virtual time, for the shared binding logic (mqtt-peer.ts): retained
// messages, wildcard subscriptions, last wills, and lichen's ACL. Device-safe (runs in XS too).
import type { MqttClientLike, MqttPublishOptions } from "../../src/transport/mqtt-peer.js";
import { mayPublish } from "../../src/transport/mqtt-topics.js";
import type { VirtualTime } from "./simulator.js";

/** MQTT topic matching: '+' one level, '#' the rest. */
export function topicMatches(filter: string, topic: string): boolean {
  const f = filter.split("/");
  const t = topic.split("/");
  for (let i = 0; i < f.length; i++) {
    if (f[i] === "#") return true;
    if (i >= t.length) return false;
    if (f[i] !== "+" && f[i] !== t[i]) return false;
  }
  return f.length === t.length;
}

export interface Delivery {
  readonly from: string;
  readonly topic: string;
  readonly payload: Uint8Array;
  readonly retain: boolean;
}

export class FakeBroker {
  readonly retained = new Map<string, Uint8Array>();
  readonly clients = new Set<FakeClient>();
  /** Every publish the broker accepted, and the refused ones. */
  readonly published: Delivery[] = [];
  readonly refused: Delivery[] = [];

  constructor(
    readonly time: VirtualTime,
    readonly delayMs = 1,
    readonly acl = true,
  ) {}

  client(id: string): FakeClient {
    const c = new FakeClient(this, id);
    this.clients.add(c);
    return c;
  }

  publish(from: FakeClient | undefined, topic: string, payload: Uint8Array, retain: boolean): void {
    const d: Delivery = { from: from?.id ?? "(broker)", topic, payload: payload.slice(), retain };
    if (this.acl && from !== undefined && !mayPublish(from.id, topic)) {
      this.refused.push(d);
      return;
    }
    this.published.push(d);
    if (retain) {
      if (payload.length === 0) this.retained.delete(topic);
      else this.retained.set(topic, d.payload);
    }
    for (const c of this.clients) {
      if (!c.up) continue;
      for (const f of c.subs) {
        if (topicMatches(f, topic)) {
          this.deliver(c, topic, d.payload);
          break;
        }
      }
    }
  }

  subscribe(c: FakeClient, filter: string): void {
    c.subs.add(filter);
    for (const [topic, payload] of this.retained) if (topicMatches(filter, topic)) this.deliver(c, topic, payload);
  }

  private deliver(c: FakeClient, topic: string, payload: Uint8Array): void {
    const session = c.session;
    this.time.setTimer(this.delayMs, () => {
      if (c.up && c.session === session && !c.frozen) c.onMessage?.(topic, payload.slice());
    });
  }
}

/** One client of the FakeBroker, as an MqttClientLike. */
export class FakeClient implements MqttClientLike {
  up = false;
  /** A half-open connection: nothing gets through either way, and the broker has not noticed. */
  frozen = false;
  session = 0;
  readonly subs = new Set<string>();
  will: { topic: string; payload: Uint8Array } | undefined;
  onConnect?: () => void;
  onDisconnect?: () => void;
  onMessage?: (topic: string, payload: Uint8Array) => void;

  constructor(
    readonly broker: FakeBroker,
    readonly id: string,
  ) {}

  publish(topic: string, payload: Uint8Array, options: MqttPublishOptions): void {
    if (!this.up || this.frozen) return;
    const session = this.session;
    this.broker.time.setTimer(this.broker.delayMs, () => {
      if (this.up && this.session === session) this.broker.publish(this, topic, payload, options.retain);
    });
  }

  subscribe(topic: string): void {
    if (!this.up || this.frozen) return;
    this.broker.subscribe(this, topic);
  }

  /** A new session (clean: no subscriptions), announced to the peer after a CONNACK's delay. */
  connect(): void {
    this.session++;
    this.up = true;
    this.frozen = false;
    this.subs.clear();
    const session = this.session;
    this.broker.time.setTimer(this.broker.delayMs, () => {
      if (this.up && this.session === session) this.onConnect?.();
    });
  }

  /** The connection breaks: the broker publishes the will (unless `clean`), the client learns it lost the session. */
  drop(clean = false): void {
    if (!this.up) return;
    this.up = false;
    this.frozen = false;
    this.subs.clear();
    if (!clean && this.will !== undefined) this.broker.publish(undefined, this.will.topic, this.will.payload, true);
    this.onDisconnect?.();
  }
}
