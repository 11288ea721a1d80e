// The firmware's configuration (targets/esp32/config.ts), on both engines: mc/config's values as
// the manifest gives them (numbers) and as mcconfig's command line gives them (strings), the id
// from the MAC address, and clear errors naming the key.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { LichenError } from "../../src/core/errors.js";
import { idFromMac, parseNodeConfig, parseThresholds, seedOf, SIMULATOR_ID } from "../../targets/esp32/config.js";
import { SimulatedSensor } from "../../targets/esp32/sensor.js";

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
