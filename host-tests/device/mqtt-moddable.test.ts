// The device binding (src/transport/mqtt-moddable.ts) inside XS, against a real broker: a node
// runs ModdableMqttSync on the stand-in of Moddable's "mqtt" module, whose clients are MQTT.js
// clients on the host, and syncs with a Node gateway (MqttSync, SQLite) through aedes with
// lichen's ACL. The host side is mqtt-moddable.service.ts. Under Node the same stand-in and
// service run in process, so the test asserts the same there.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { MemoryKv } from "../../src/store/kv.js";
import { ModdableMqttSync, timerScheduler } from "../../src/transport/mqtt-moddable.js";
import { ENGINE } from "../engine.js";
import { pump, pumpUntil, Timer, usePumpedStandIns } from "../../sim/moddable/pump.js";
import { serviceRequest, serviceSend } from "../../sim/xs/service-bridge.js";
import { PATIENCE_MS } from "../patience.js";
import { openFleetConfig, openReadings } from "../../targets/esp32/documents.js";

interface Config {
  host: string;
  port: number;
  fleet: string;
  gateway: string;
}

interface GatewayPresence {
  events: Array<{ peer: string; online: boolean }>;
  online: string[];
  logs: Array<{ event: string; peer?: string }>;
}

const gatewayDoc = async (doc: string): Promise<unknown> => ((await serviceRequest({ op: "gateway-doc", doc })) as { value: unknown }).value;
const gatewayPresence = async (): Promise<GatewayPresence> => (await serviceRequest({ op: "gateway-presence" })) as GatewayPresence;
const sameJson = (a: unknown, b: unknown): boolean => JSON.stringify(sortKeys(a)) === JSON.stringify(sortKeys(b));

function sortKeys(v: unknown): unknown {
  if (v === null || typeof v !== "object" || Array.isArray(v)) return v;
  const o = v as Record<string, unknown>;
  return Object.fromEntries(Object.keys(o).sort().map((k) => [k, sortKeys(o[k])]));
}

test(`a node on Moddable's MQTT client (${ENGINE}) syncs with a Node gateway over a real broker`, async () => {
  usePumpedStandIns();
  const cfg = (await serviceRequest({ op: "config" })) as Config;
  const id = `dev-${ENGINE}`;
  const node = new ModdableMqttSync({
    host: cfg.host,
    port: cfg.port,
    fleet: cfg.fleet,
    replica: id,
    role: "node",
    kv: new MemoryKv(),
    scheduler: timerScheduler(Timer),
    gateways: [cfg.gateway],
    heartbeatMs: 300,
    keepaliveMs: 10_000,
    reconnectMs: 100,
    antiEntropyMs: 1000,
    resendMs: 200,
    maxResendMs: 1000,
  });
  try {
    const readings = openReadings(node.engine, id);
    const config = openFleetConfig(node.engine, "config");
    await pumpUntil("the node to see the gateway online", () => node.peers().some((p) => p.id === cfg.gateway && p.online), PATIENCE_MS);
    await pumpUntil("the gateway to see the node online", async () => (await gatewayPresence()).online.includes(id), PATIENCE_MS);

    // writes on the device reach the gateway; the gateway's reach the device
    for (let i = 0; i < 20; i++) {
      readings.set(`k${i}`, i);
      node.engine.changed("readings", id);
      await pump(5);
    }
    await serviceRequest({ op: "gateway-write", doc: "fleet/config", key: "interval", value: 60_000 });
    await pumpUntil("the gateway to hold the node's readings", async () => sameJson(await gatewayDoc(`readings/${id}`), readings.value()), PATIENCE_MS);
    await pumpUntil("the node to get the gateway's config", () => config.get("interval") === 60_000, PATIENCE_MS);
    await pumpUntil("the gateway to acknowledge everything", () => node.engine.inSync(cfg.gateway), PATIENCE_MS);

    // the network fails (no DISCONNECT): the broker publishes the node's will, the binding makes
    // a new client after reconnectMs, and what was written meanwhile goes through
    serviceSend({ op: "drop", id });
    await pumpUntil("the gateway to see the node offline (its will)", async () => !(await gatewayPresence()).online.includes(id), PATIENCE_MS);
    for (let i = 20; i < 30; i++) {
      readings.set(`k${i}`, i);
      node.engine.changed("readings", id);
    }
    await pumpUntil("the node to reconnect", () => node.connected && node.peers().some((p) => p.id === cfg.gateway && p.online), PATIENCE_MS);
    await pumpUntil("the gateway to hold the writes made while disconnected", async () => sameJson(await gatewayDoc(`readings/${id}`), readings.value()), PATIENCE_MS);
    assert.is((readings.value() as Record<string, number>).k29, 29);
    const presence = await gatewayPresence();
    assert.equal(
      presence.events.filter((e) => e.peer === id).map((e) => e.online),
      [true, false, true],
      "the gateway saw it online, offline (its will), online again",
    );
    assert.equal(presence.logs.filter((l) => l.event === "forged" || l.event === "refused"), []);
  } finally {
    node.close();
    await pump(100);
  }
  await pumpUntil("the gateway to see the node's clean offline", async () => !(await gatewayPresence()).online.includes(id), PATIENCE_MS);
});

test.run();
