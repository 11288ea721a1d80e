// Host side of mqtt-moddable.test.ts (runner/host-service.ts): an aedes broker with lichen's
// ACL, a Node gateway (MqttSync over SqliteKv in a temp dir), and the MQTT.js clients behind the
// stand-in of Moddable's "mqtt" module (sim/moddable/mqtt.ts, its host side mqtt-bridge-node.ts),
// one per Client the device code creates. Ops: those of the stand-in (mqtt-connect, mqtt-publish,
// mqtt-subscribe, mqtt-close), mqtt-poll (the events since the last poll, waiting up to waitMs for
// one) and, for the test: config, drop (the network of a client fails: no DISCONNECT, so its will
// goes out), gateway-doc, gateway-write, gateway-insync, gateway-presence.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LWWMap } from "../../src/index.js";
import { SqliteKv } from "../../src/store/sqlite.js";
import { startEmbeddedBroker } from "../../src/transport/broker-node.js";
import { MqttSync } from "../../src/transport/mqtt-node.js";
import type { SyncLogEntry } from "../../src/transport/sync-engine.js";
import { MqttBridge } from "../../sim/moddable/mqtt-bridge-node.js";
import type { MqttEvent } from "../../sim/moddable/mqtt.js";
import type { HostService, ServiceMessage } from "../runner/host-service.js";

const FLEET = "xs";
const GATEWAY = "gw";

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

  const events: MqttEvent[] = [];
  let wake: (() => void) | undefined;
  const bridge = new MqttBridge((ev) => {
    events.push(ev);
    wake?.();
  });

  const handle = (msg: ServiceMessage): unknown => {
    const m = msg as Record<string, unknown> & ServiceMessage;
    if (bridge.handle(m)) return null;
    switch (m.op) {
      case "config":
        return { host: "127.0.0.1", port: broker.port, fleet: FLEET, gateway: GATEWAY };
      case "drop":
        bridge.drop(m.id as string);
        return null;
      case "mqtt-poll": {
        const take = (): { events: MqttEvent[] } => ({ events: events.splice(0, events.length) });
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
        map.set(m.key as string, m.value as number | string);
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
      bridge.cut();
      await gw.close();
      kv.close();
      await broker.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
