// The stand-in for the Moddable SDK's "mqtt" module (its Client), the one used wherever device code
// that imports it runs on the host: the simulated ESP32 (esp32.ts, inside an xsnap-worker) and the
// tests of src/transport/mqtt-moddable.ts (pump.ts, under XS and under Node). The real client needs
// Moddable's sockets; each Client here is a real MQTT.js client on the host (mqtt-bridge-node.ts),
// reached through a link that the environment sets (setMqttLink): the worker's issueCommand for
// the simulated ESP32, the test's host service for the tests.
//
// The Moddable API kept (modules/network/mqtt/mqtt.js of the SDK): `new Client({ host, port, id,
// user, password, will: { topic, message, retain }, timeout })`; `onReady`, `onMessage(topic,
// ArrayBuffer)`, `onClose` (once, when the connection is lost; not after close()); `publish(topic,
// string | ArrayBuffer, { retain })` and `subscribe(topic)` throw before onReady and after the
// end; QoS 0 only; no reconnection.
//
// Wire (JSON; payloads in hex), device → host: mqtt-connect {cid, host, port, id, user, password,
// will, timeout}, mqtt-publish {cid, topic, payload, retain}, mqtt-subscribe {cid, topic},
// mqtt-close {cid}; host → device, through deliverMqttEvents: {cid, type: "ready" | "message" |
// "close", topic?, payload?}.
import { bytesOf, fromHex, toHex } from "./hex.js";

export interface MqttEvent {
  cid: number;
  type: "ready" | "message" | "close";
  topic?: string;
  payload?: string;
}

/** How an op reaches the host (its answer, if any, is not used). */
export type MqttLink = (msg: { op: string; [key: string]: unknown }) => void;

const state: { nextCid: number; clients: Map<number, Client>; link: MqttLink | undefined } = { nextCid: 1, clients: new Map(), link: undefined };

/** Where the clients' ops go from now on (set once by the environment, before any Client). */
export function setMqttLink(link: MqttLink): void {
  state.link = link;
}

function send(msg: { op: string; [key: string]: unknown }): void {
  if (state.link === undefined) throw new Error("Moddable's mqtt stand-in has no link to the host (sim/moddable/esp32.ts or pump.ts sets it)");
  state.link(msg);
}

/** Hands the host's events to their clients (events of closed clients are dropped). */
export function deliverMqttEvents(events: readonly MqttEvent[]): void {
  for (const ev of events) state.clients.get(ev.cid)?.deliver(ev);
}

export interface ClientDictionary {
  host: string;
  port?: number;
  id?: string;
  user?: string;
  password?: string | ArrayBuffer;
  will?: { topic: string; message: string | ArrayBuffer; retain?: boolean };
  timeout?: number;
}

/** Moddable's MQTT Client, over a host MQTT.js client. */
export default class Client {
  onReady?: () => void;
  onMessage?: (topic: string, data: ArrayBuffer) => void;
  onClose?: () => void;
  private readonly cid: number;
  private phase: "connecting" | "ready" | "closed" = "connecting";

  constructor(dictionary: ClientDictionary) {
    if (!dictionary.host) throw new Error("parameter host is required");
    this.cid = state.nextCid++;
    state.clients.set(this.cid, this);
    const will = dictionary.will === undefined ? undefined : { topic: dictionary.will.topic, message: toHex(bytesOf(dictionary.will.message)), retain: dictionary.will.retain === true };
    const password = dictionary.password instanceof ArrayBuffer ? new TextDecoder("utf-8").decode(new Uint8Array(dictionary.password)) : dictionary.password;
    send({ op: "mqtt-connect", cid: this.cid, host: dictionary.host, port: dictionary.port ?? 1883, id: dictionary.id ?? "", user: dictionary.user, password, will, timeout: dictionary.timeout ?? 0 });
  }

  publish(topic: string, data: ArrayBuffer | string, flags?: { retain?: boolean; quality?: number }): void {
    if (this.phase !== "ready") throw new Error("connection closed");
    if (flags?.quality) throw new Error("this stand-in, like the devices' use of Moddable's client, speaks QoS 0 only");
    if (!(data instanceof ArrayBuffer) && typeof data !== "string") throw new TypeError("publish: data is a string or an ArrayBuffer (Moddable's client takes no views)");
    send({ op: "mqtt-publish", cid: this.cid, topic, payload: toHex(bytesOf(data)), retain: flags?.retain === true });
  }

  subscribe(topic: string): void {
    if (this.phase !== "ready") throw new Error("connection closed");
    send({ op: "mqtt-subscribe", cid: this.cid, topic });
  }

  close(): void {
    if (this.phase === "closed") return;
    this.phase = "closed";
    state.clients.delete(this.cid);
    send({ op: "mqtt-close", cid: this.cid });
  }

  /** @internal an event from the host. */
  deliver(ev: MqttEvent): void {
    if (this.phase === "closed") return;
    if (ev.type === "ready") {
      this.phase = "ready";
      this.onReady?.();
    } else if (ev.type === "message") {
      if (this.phase === "ready") this.onMessage?.(ev.topic!, fromHex(ev.payload!).buffer as ArrayBuffer);
    } else if (ev.type === "close") {
      this.phase = "closed";
      state.clients.delete(this.cid);
      this.onClose?.();
    }
  }
}
