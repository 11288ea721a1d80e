// Host side of mqtt-moddable.test.ts (runner/host-service.ts): an aedes broker with lichen's
// ACL, a Node gateway (MqttSync over SqliteKv in a temp dir), and the MQTT.js clients behind the
// stand-in of Moddable's "mqtt" module (host-tests/xs/moddable-mqtt-shim.ts), one per Client the
// device code creates. Ops: those of the shim (connect, publish, subscribe, close, poll) and, for
// the test: config, drop (the network of a client fails: no DISCONNECT, so its will goes out),
// gateway-doc, gateway-write, gateway-insync, gateway-presence.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, type MqttClient } from "mqtt";
import { LWWMap } from "../../src/index.js";
import { SqliteKv } from "../../src/store/sqlite.js";
import { startEmbeddedBroker } from "../../src/transport/broker-node.js";
import { MqttSync } from "../../src/transport/mqtt-node.js";
import type { SyncLogEntry } from "../../src/transport/sync-engine.js";
import type { HostService, ServiceMessage } from "../runner/host-service.js";

const FLEET = "xs";
const GATEWAY = "gw";

interface ShimEvent {
  cid: number;
  type: "ready" | "message" | "close";
  topic?: string;
  payload?: string;
}

export async function start(): Promise<HostService> {
  const broker = await startEmbeddedBroker({ port: 0 });
  const dir = mkdtempSync(join(tmpdir(), "lichen-xs-mqtt-"));
  const kv = new SqliteKv(join(dir, "gw.db"));
  const logs: SyncLogEntry[] = [];
  const presence: Array<{ peer: string; online: boolean }> = [];
  const gw = new MqttSync({
    url: broker.url,
    fleet: FLEET,
    replica: GATEWAY,
    role: "gateway",
    kv,
    gateways: [GATEWAY],
    heartbeatMs: 300,
    antiEntropyMs: 1000,
    resendMs: 200,
    maxResendMs: 1000,
    reconnectMs: 100,
    log: (e) => logs.push(e),
    onPresence: (peer, s) => presence.push({ peer, online: s.online }),
  });
  await gw.ready();

  const clients = new Map<number, { client: MqttClient; id: string; closedByApp: boolean; closeSent: boolean }>();
  const events: ShimEvent[] = [];
  let wake: (() => void) | undefined;
  const push = (ev: ShimEvent): void => {
    events.push(ev);
    wake?.();
  };

  const handle = (msg: ServiceMessage): unknown => {
    const m = msg as Record<string, unknown> & ServiceMessage;
    switch (m.op) {
      case "config":
        return { host: "127.0.0.1", port: broker.port, fleet: FLEET, gateway: GATEWAY };
      case "connect": {
        const cid = m.cid as number;
        const will = m.will as { topic: string; message: string; retain: boolean } | undefined;
        const timeout = (m.timeout as number) ?? 0;
        const client = connect({
          host: m.host as string,
          port: m.port as number,
          protocol: "mqtt",
          clientId: m.id as string,
          ...(m.user === undefined ? {} : { username: m.user as string }),
          ...(m.password === undefined ? {} : { password: m.password as string }),
          protocolVersion: 4,
          clean: true,
          reconnectPeriod: 0, // Moddable's client never reconnects by itself
          keepalive: Math.ceil(timeout / 1000),
          ...(will === undefined ? {} : { will: { topic: will.topic, payload: Buffer.from(will.message, "hex"), qos: 0 as const, retain: will.retain } }),
        });
        const entry = { client, id: m.id as string, closedByApp: false, closeSent: false };
        clients.set(cid, entry);
        client.on("connect", () => push({ cid, type: "ready" }));
        client.on("message", (topic, payload) => push({ cid, type: "message", topic, payload: payload.toString("hex") }));
        client.on("close", () => {
          if (entry.closedByApp || entry.closeSent) return;
          entry.closeSent = true;
          push({ cid, type: "close" });
        });
        client.on("error", () => {});
        return null;
      }
      case "publish": {
        const c = clients.get(m.cid as number);
        if (c?.client.connected) c.client.publish(m.topic as string, Buffer.from(m.payload as string, "hex"), { qos: 0, retain: m.retain === true });
        return null;
      }
      case "subscribe": {
        const c = clients.get(m.cid as number);
        if (c?.client.connected) c.client.subscribe(m.topic as string, { qos: 0 });
        return null;
      }
      case "close": {
        const c = clients.get(m.cid as number);
        if (c !== undefined) {
          c.closedByApp = true;
          c.client.end(false);
          clients.delete(m.cid as number);
        }
        return null;
      }
      case "drop": {
        for (const c of clients.values()) if (c.id === m.id) c.client.end(true);
        return null;
      }
      case "poll": {
        const take = (): { events: ShimEvent[] } => ({ events: events.splice(0, events.length) });
        if (events.length > 0) return take();
        return new Promise((resolve) => {
          const timer = setTimeout(() => {
            wake = undefined;
            resolve(take());
          }, Math.max(0, Number(m.waitMs) || 0));
          wake = () => {
            clearTimeout(timer);
            wake = undefined;
            // let the rest of a burst arrive: one poll, many events
            setImmediate(() => resolve(take()));
          };
        });
      }
      case "gateway-doc": {
        const doc = gw.engine.get(m.doc as string);
        return { value: doc === undefined ? null : doc.value() };
      }
      case "gateway-write": {
        const [ns, id] = (m.doc as string).split("/") as [string, string];
        const map = gw.engine.open(ns, id, LWWMap);
        map.set(m.key as string, m.value as string);
        gw.engine.changed(ns, id);
        return null;
      }
      case "gateway-insync":
        return gw.engine.inSync(m.peer as string);
      case "gateway-presence":
        return { events: presence, online: gw.peers().filter((p) => p.online).map((p) => p.id), logs };
      default:
        throw new Error(`unknown op ${JSON.stringify(m.op)}`);
    }
  };

  return {
    handle,
    close: async () => {
      for (const c of clients.values()) c.client.end(true);
      await gw.close();
      kv.close();
      await broker.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
