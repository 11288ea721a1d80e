// The firmware's configuration (targets/esp32/config.ts), on both engines: mc/config's values as
// the manifest gives them (numbers) and as mcconfig's command line gives them (strings), the id
// from the MAC address, and clear errors naming the key.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { LichenError } from "../../src/core/errors.js";
import { idFromMac, parseNodeConfig, parseThresholds, seedOf, SIMULATOR_ID } from "../../targets/esp32/config.js";
import { SimulatedSensor } from "../../targets/esp32/sensor.js";
import { FlashSim } from "../../src/store/flash-sim.js";
import type { ModdableClientConstructor, ModdableClientOptions } from "../../src/transport/mqtt-moddable.js";
import { createNodeApp } from "../../targets/esp32/node-app.js";

function throwsInvalid(fn: () => unknown, key: RegExp): void {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof LichenError, String(e));
    assert.is((e as LichenError).code, "INVALID_ARGUMENT");
    assert.match((e as Error).message, key);
    return;
  }
  assert.unreachable("expected INVALID_ARGUMENT");
}

test("defaults, and the id from the MAC address", () => {
  const c = parseNodeConfig({}, "A4:CF:12:B3:C4:D5");
  assert.is(c.id, "a4cf12b3c4d5");
  assert.is(c.broker, "");
  assert.is(c.brokerPort, 1883);
  assert.is(c.brokerTls, false, "TLS off by default");
  assert.is(c.brokerCa, "broker-ca.der");
  assert.is(c.fleet, "default");
  assert.equal([...c.gateways], []);
  assert.is(c.intervalMs, 10_000);
  assert.is(c.sensor, "sim");
  assert.equal({ ...c.thresholds }, { temperature: 30 });
  assert.is(c.seed, seedOf("a4cf12b3c4d5"));
  assert.equal({ ...c.sync }, { heartbeatMs: 30_000, antiEntropyMs: 30_000, resendMs: 1000, maxResendMs: 60_000, reconnectMs: 1000, maxReconnectMs: 60_000, keepaliveMs: 60_000 });
  assert.ok(Object.isFrozen(c));
});

test("in Moddable's simulator (no MAC address) the node is mcsim unless an id is given", () => {
  assert.is(parseNodeConfig({}, "").id, SIMULATOR_ID);
  assert.is(parseNodeConfig({}, undefined).id, SIMULATOR_ID);
  assert.is(SIMULATOR_ID, "mcsim");
  assert.is(parseNodeConfig({ id: "n7" }, "").id, "n7");
});

test("values from mcconfig's command line are strings", () => {
  const c = parseNodeConfig({ id: "n1", broker: "192.168.1.2", brokerPort: "1884", gateway: "gw1, gw2", interval: "2500", thresholds: "temperature:28.5,humidity:80", heartbeat: "5000" });
  assert.is(c.id, "n1");
  assert.is(c.brokerPort, 1884);
  assert.equal([...c.gateways], ["gw1", "gw2"]);
  assert.is(c.intervalMs, 2500);
  assert.equal({ ...c.thresholds }, { temperature: 28.5, humidity: 80 });
  assert.is(c.sync.heartbeatMs, 5000);
  const tls = parseNodeConfig({ id: "n1", brokerTls: "1", brokerCa: "fleet-ca.der" });
  assert.is(tls.brokerTls, true);
  assert.is(tls.brokerCa, "fleet-ca.der");
});

/** Starts the node app with a stand-in MQTT Client; returns the options each client was created with, and the log. */
function startWith(raw: Record<string, unknown>, tls?: (ca: string) => { Socket: unknown; secure: unknown }): { clients: ModdableClientOptions[]; lines: string[] } {
  const clients: ModdableClientOptions[] = [];
  const lines: string[] = [];
  const app = createNodeApp({
    config: parseNodeConfig({ id: "n1", broker: "192.168.1.2", gateway: "gw", ...raw }),
    flash: new FlashSim(),
    // called with `new` by the binding: returning an object makes it the instance
    Client: function Client(o: ModdableClientOptions) {
      clients.push(o);
      return { publish() {}, subscribe() {}, close() {} };
    } as unknown as ModdableClientConstructor,
    timer: { set: () => 0, clear: () => {} },
    sensor: new SimulatedSensor(1),
    now: () => 0,
    wallClock: () => 0,
    log: (l) => lines.push(l),
    ...(tls === undefined ? {} : { tls }),
  });
  app.start();
  app.stop();
  return { clients, lines };
}

test("brokerTls=1: the broker connection goes through the firmware's SecureSocket, with the CA resource; without TLS in the build, no connection in clear text", () => {
  function SecureSocket(): void {}
  const asked: string[] = [];
  const tls = (ca: string): { Socket: unknown; secure: unknown } => {
    asked.push(ca);
    return { Socket: SecureSocket, secure: { protocolVersion: 0x303, certificate: `resource ${ca}` } };
  };
  const plain = startWith({}, tls);
  assert.is(plain.clients.length, 1);
  assert.is(plain.clients[0]!.Socket, undefined, "off by default");
  assert.equal(asked, [], "no certificate read");
  const secure = startWith({ brokerTls: 1, brokerPort: 8883, brokerCa: "fleet-ca.der" }, tls);
  assert.is(secure.clients[0]!.Socket, SecureSocket);
  assert.equal(secure.clients[0]!.secure, { protocolVersion: 0x303, certificate: "resource fleet-ca.der" });
  assert.is(secure.clients[0]!.port, 8883);
  assert.ok(secure.lines.some((l) => l.endsWith("as n1 over TLS")), secure.lines.join("\n"));
  const refused = startWith({ brokerTls: 1, brokerUser: "n1", brokerPassword: "secret" });
  assert.is(refused.clients.length, 0, "no client: the password never leaves in clear text");
  assert.ok(refused.lines.some((l) => /brokerTls=1 but this firmware has no TLS/.test(l)));
});

test("bad values are refused, naming the key", () => {
  throwsInvalid(() => parseNodeConfig({ interval: "soon" }, "a4:cf:12:b3:c4:d5"), /interval/);
  throwsInvalid(() => parseNodeConfig({ brokerPort: 70000 }, "a4:cf:12:b3:c4:d5"), /brokerPort/);
  throwsInvalid(() => parseNodeConfig({ thresholds: "temperature" }, "a4:cf:12:b3:c4:d5"), /thresholds/);
  throwsInvalid(() => parseNodeConfig({}, "a4:cf"), /MAC/);
  throwsInvalid(() => parseNodeConfig({ broker: "192.168.1.2" }, "a4:cf:12:b3:c4:d5"), /gateway/);
  throwsInvalid(() => idFromMac("a4:cf"), /MAC/);
  assert.equal(parseThresholds(""), {});
});

test("the simulated sensor is deterministic: one seed, one series", () => {
  const a = new SimulatedSensor(42);
  const b = new SimulatedSensor(42);
  const sa = Array.from({ length: 100 }, () => a.read());
  const sb = Array.from({ length: 100 }, () => b.read());
  assert.equal(sa, sb);
  const temps = sa.map((r) => r[0]!.value);
  assert.ok(Math.max(...temps) > 30 && Math.min(...temps) < 18, "it swings over and under the default threshold");
  assert.equal(sa[0]!.map((r) => r.name), ["temperature", "humidity"]);
});

test.run();
