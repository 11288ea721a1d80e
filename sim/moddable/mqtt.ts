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

export interface ClientDictionary {
  host: string;
  port?: number;
  id?: string;
  user?: string;
  password?: string | ArrayBuffer;
  will?: { topic: string; message: string | ArrayBuffer; retain?: boolean };
  timeout?: number;
}

/** A Client class of Moddable's API over `link`, and the way back for the host's events. */
export interface MqttStandIn {
  readonly Client: new (dictionary: ClientDictionary) => StandInClient;
  /** Hands the host's events to their clients (events of closed clients are dropped). */
  deliver(events: readonly MqttEvent[]): void;
}

export interface StandInClient {
  onReady?: () => void;
  onMessage?: (topic: string, data: ArrayBuffer) => void;
  onClose?: () => void;
  publish(topic: string, data: ArrayBuffer | string, flags?: { retain?: boolean; quality?: number }): void;
  subscribe(topic: string): void;
  close(): void;
}

/** A stand-in with its own clients, over `link`: one per simulated device (several may share a
 * Node process: sim/esp32/app-node.ts). */
export function mqttStandIn(link: MqttLink): MqttStandIn {
  const clients = new Map<number, Client>();
  let nextCid = 1;

  /** Moddable's MQTT Client, over a host MQTT.js client. */
  class Client implements StandInClient {
    onReady?: () => void;
    onMessage?: (topic: string, data: ArrayBuffer) => void;
    onClose?: () => void;
    private readonly cid: number;
    private phase: "connecting" | "ready" | "closed" = "connecting";

    constructor(dictionary: ClientDictionary) {
      if (!dictionary.host) throw new Error("parameter host is required");
      this.cid = nextCid++;
      clients.set(this.cid, this);
      const will = dictionary.will === undefined ? undefined : { topic: dictionary.will.topic, message: toHex(bytesOf(dictionary.will.message)), retain: dictionary.will.retain === true };
      const password = dictionary.password instanceof ArrayBuffer ? new TextDecoder("utf-8").decode(new Uint8Array(dictionary.password)) : dictionary.password;
      link({ op: "mqtt-connect", cid: this.cid, host: dictionary.host, port: dictionary.port ?? 1883, id: dictionary.id ?? "", user: dictionary.user, password, will, timeout: dictionary.timeout ?? 0 });
    }

    publish(topic: string, data: ArrayBuffer | string, flags?: { retain?: boolean; quality?: number }): void {
      if (this.phase !== "ready") throw new Error("connection closed");
      if (flags?.quality) throw new Error("this stand-in, like the devices' use of Moddable's client, speaks QoS 0 only");
      if (!(data instanceof ArrayBuffer) && typeof data !== "string") throw new TypeError("publish: data is a string or an ArrayBuffer (Moddable's client takes no views)");
      link({ op: "mqtt-publish", cid: this.cid, topic, payload: toHex(bytesOf(data)), retain: flags?.retain === true });
    }

    subscribe(topic: string): void {
      if (this.phase !== "ready") throw new Error("connection closed");
      link({ op: "mqtt-subscribe", cid: this.cid, topic });
    }

    close(): void {
      if (this.phase === "closed") return;
      this.phase = "closed";
      clients.delete(this.cid);
      link({ op: "mqtt-close", cid: this.cid });
    }

    /** An event from the host. */
    deliver(ev: MqttEvent): void {
      if (this.phase === "closed") return;
      if (ev.type === "ready") {
        this.phase = "ready";
        this.onReady?.();
      } else if (ev.type === "message") {
        if (this.phase === "ready") this.onMessage?.(ev.topic!, fromHex(ev.payload!).buffer as ArrayBuffer);
      } else if (ev.type === "close") {
        this.phase = "closed";
        clients.delete(this.cid);
        this.onClose?.();
      }
    }
  }

  return {
    Client,
    deliver(events) {
      for (const ev of events) clients.get(ev.cid)?.deliver(ev);
    },
  };
}

// The module's own stand-in, for code that imports "mqtt" (one device per XS worker or test
// process): its link is set by the environment.
const linked: { link: MqttLink | undefined } = { link: undefined };

/** Where the module's clients' ops go from now on (set once by the environment, before any Client). */
export function setMqttLink(link: MqttLink): void {
  linked.link = link;
}

const moduleStandIn = mqttStandIn((msg) => {
  if (linked.link === undefined) throw new Error("Moddable's mqtt stand-in has no link to the host (sim/moddable/esp32.ts or pump.ts sets it)");
  linked.link(msg);
});

/** Hands the host's events to the module's clients. */
export const deliverMqttEvents = moduleStandIn.deliver;

/** Moddable's MQTT Client (the default export of "mqtt"). */
const Client = moduleStandIn.Client;
export default Client;
