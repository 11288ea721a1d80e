// The host side of Moddable's "mqtt" stand-in (mqtt.ts), under Node: each Client the device code
// creates is a MQTT.js client here, to a real broker. It answers the stand-in's ops (mqtt-connect,
// mqtt-publish, mqtt-subscribe, mqtt-close) and reports what happens (ready, message, close) as
// events, which the environment hands back to the device: the simulated ESP32's host
// (sim/esp32/sim-node.ts) in its next tick, a test's host service when the test pumps.
import { connect, type MqttClient } from "mqtt";
import type { MqttEvent } from "./mqtt.js";

interface Conn {
  client: MqttClient;
  id: string;
  closedByApp: boolean;
  closeSent: boolean;
}

export class MqttBridge {
  private readonly conns = new Map<number, Conn>();
  private readonly ending = new Set<Promise<void>>();
  private linkUp = true;

  /** `onEvent` gets every event for the device, in order. */
  constructor(private readonly onEvent: (ev: MqttEvent) => void) {}

  /** Handles `msg` if it is one of the stand-in's ops; false if it is not. */
  handle(msg: { op: string; [key: string]: unknown }): boolean {
    const m = msg as Record<string, unknown> & { op: string };
    switch (m.op) {
      case "mqtt-connect":
        this.connect(m);
        return true;
      case "mqtt-publish": {
        const c = this.conns.get(m.cid as number);
        if (c?.client.connected) c.client.publish(m.topic as string, Buffer.from(m.payload as string, "hex"), { qos: 0, retain: m.retain === true });
        return true;
      }
      case "mqtt-subscribe": {
        const c = this.conns.get(m.cid as number);
        if (c?.client.connected) c.client.subscribe(m.topic as string, { qos: 0 });
        return true;
      }
      case "mqtt-close": {
        const c = this.conns.get(m.cid as number);
        if (c !== undefined) {
          c.closedByApp = true;
          this.conns.delete(m.cid as number);
          const done = new Promise<void>((resolve) => c.client.end(false, {}, () => resolve()));
          this.ending.add(done);
          void done.then(() => this.ending.delete(done));
        }
        return true;
      }
      default:
        return false;
    }
  }

  /** The device's network: down drops its connections at once (no DISCONNECT: the broker
   * publishes their wills) and fails every new one until it is up. */
  setLink(up: boolean): void {
    this.linkUp = up;
    if (!up) for (const c of this.conns.values()) c.client.end(true);
  }

  /** The connections of MQTT client id `id` fail (no DISCONNECT: the broker publishes the will). */
  drop(id: string): void {
    for (const c of this.conns.values()) if (c.id === id) c.client.end(true);
  }

  /** Waits for the clean closes the device asked for (their DISCONNECTs are out). */
  async settled(): Promise<void> {
    await Promise.all([...this.ending]);
  }

  /** Power off: every connection ends now, with no event for the device (it is gone). */
  cut(): void {
    for (const c of this.conns.values()) {
      c.closedByApp = true;
      c.client.end(true);
    }
    this.conns.clear();
  }

  private connect(m: Record<string, unknown>): void {
    const cid = m.cid as number;
    if (!this.linkUp) {
      // the network is down: the connection fails (at once, where a device would time out)
      this.onEvent({ cid, type: "close" });
      return;
    }
    const will = m.will as { topic: string; message: string; retain: boolean } | undefined;
    const client = connect({
      host: m.host as string,
      port: m.port as number,
      protocol: "mqtt",
      clientId: m.id as string,
      ...(typeof m.user === "string" ? { username: m.user } : {}),
      ...(typeof m.password === "string" ? { password: m.password } : {}),
      protocolVersion: 4,
      clean: true,
      reconnectPeriod: 0, // Moddable's client never reconnects by itself
      connectTimeout: 5000,
      keepalive: Math.ceil(((m.timeout as number) ?? 0) / 1000),
      ...(will === undefined ? {} : { will: { topic: will.topic, payload: Buffer.from(will.message, "hex"), qos: 0 as const, retain: will.retain } }),
    });
    const conn: Conn = { client, id: m.id as string, closedByApp: false, closeSent: false };
    this.conns.set(cid, conn);
    client.on("connect", () => {
      if (!this.linkUp) client.end(true);
      else this.onEvent({ cid, type: "ready" });
    });
    client.on("message", (topic, payload) => this.onEvent({ cid, type: "message", topic, payload: payload.toString("hex") }));
    client.on("close", () => {
      if (conn.closedByApp || conn.closeSent) return;
      conn.closeSent = true;
      this.conns.delete(cid);
      this.onEvent({ cid, type: "close" });
    });
    client.on("error", () => {});
  }
}
