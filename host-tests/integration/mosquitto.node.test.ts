// The production broker as documented: targets/rpi/mosquitto/lichen.conf and lichen.acl, run by
// a real mosquitto (when /usr/sbin/mosquitto is installed) with only its paths and ports replaced,
// per-device passwords (mosquitto_passwd) and TLS (a self-signed certificate made by openssl).
// A gateway on the loopback listener and a node over TLS sync; anonymous clients, wrong
// passwords, a device taking the gateway's client id, a forged topic and a packet over
// max_packet_size all fail, and the gateway is never disconnected.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { MqttClient } from "mqtt";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { LWWMap } from "../../src/index.js";
import { MemoryKv } from "../../src/store/kv.js";
import { MqttSync } from "../../src/transport/mqtt-node.js";
import { attempt, freePort, portOpen } from "../../sim/network/ports.js";

const MOSQUITTO = "/usr/sbin/mosquitto";
const CONF = fileURLToPath(new URL("../../targets/rpi/mosquitto/lichen.conf", import.meta.url));
const ACL = fileURLToPath(new URL("../../targets/rpi/mosquitto/lichen.acl", import.meta.url));
const FLEET = "prod";
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const which = (cmd: string): string => spawnSync("sh", ["-c", `command -v ${cmd} || true`], { encoding: "utf8" }).stdout.trim();

async function waitFor(what: string, cond: () => boolean, timeoutMs = 8000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(20);
  }
}

/** Connects; resolves to the client, or to the error of a refused connection. */

/** lichen.conf with this test's paths and ports; every other line as it is. */
function testConf(text: string, files: { cert: string; key: string; passwd: string; acl: string }, plainPort: number, tlsPort: number): string {
  const replaced = new Set<string>();
  const lines = text.split("\n").map((line) => {
    const [directive, ...rest] = line.trim().split(/\s+/);
    const set = (value: string): string => {
      replaced.add(directive!);
      return `${directive} ${value}`;
    };
    switch (directive) {
      case "listener":
        return rest[1] === "127.0.0.1" ? set(`${plainPort} 127.0.0.1`) : set(`${tlsPort} 127.0.0.1`);
      case "certfile":
        return set(files.cert);
      case "keyfile":
        return set(files.key);
      case "password_file":
        return set(files.passwd);
      case "acl_file":
        return set(files.acl);
      case "persistence":
        return set("false");
      case "persistence_location":
        replaced.add(directive);
        return "";
      default:
        return line;
    }
  });
  assert.equal([...replaced].sort(), ["acl_file", "certfile", "keyfile", "listener", "password_file", "persistence", "persistence_location"], "the conf names the files and listeners the test replaces");
  return [...lines, "log_dest stderr", "log_type error", "log_type warning", ""].join("\n");
}

const OPENSSL = which("openssl");
const MOSQUITTO_PASSWD = which("mosquitto_passwd");
if (!existsSync(MOSQUITTO) || OPENSSL === "" || MOSQUITTO_PASSWD === "") {
  console.log(`note: mosquitto, mosquitto_passwd or openssl not found: the production mosquitto test is skipped`);
} else {
  test("mosquitto with lichen.conf and lichen.acl: per-device passwords, TLS, max_packet_size, the gateway's id out of reach", async () => {
    const dir = mkdtempSync(join(tmpdir(), "lichen-mosquitto-"));
    chmodSync(dir, 0o755); // mosquitto, started as root, reads its files as its own user
    const files = { cert: join(dir, "lichen.crt"), key: join(dir, "lichen.key"), passwd: join(dir, "lichen.passwd"), acl: join(dir, "lichen.acl") };
    const ssl = spawnSync(OPENSSL, ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", files.key, "-out", files.cert, "-days", "1", "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1"], { encoding: "utf8" });
    assert.is(ssl.status, 0, ssl.stderr);
    for (const [user, pw] of [["gw", "pw-gw"], ["n1", "pw-n1"], ["n2", "pw-n2"], ["n3", "pw-n3"]] as const) {
      const r = spawnSync(MOSQUITTO_PASSWD, [...(user === "gw" ? ["-c"] : []), "-b", files.passwd, user, pw], { encoding: "utf8" });
      assert.is(r.status, 0, r.stderr);
    }
    writeFileSync(files.acl, readFileSync(ACL));
    for (const f of Object.values(files)) chmodSync(f, 0o644);
    const plainPort = await freePort();
    const tlsPort = await freePort();
    const conf = join(dir, "mosquitto.conf");
    writeFileSync(conf, testConf(readFileSync(CONF, "utf8"), files, plainPort, tlsPort), { mode: 0o644 });
    let stderr = "";
    const proc: ChildProcess = spawn(MOSQUITTO, ["-c", conf], { stdio: ["ignore", "ignore", "pipe"] });
    proc.stderr!.setEncoding("utf8").on("data", (s: string) => (stderr += s));
    const open: MqttClient[] = [];
    let gw: MqttSync | undefined;
    let node: MqttSync | undefined;
    try {
      const deadline = Date.now() + 5000;
      while (!((await portOpen(plainPort)) && (await portOpen(tlsPort)))) {
        if (proc.exitCode !== null || Date.now() > deadline) throw new Error(`mosquitto did not start: ${stderr}`);
        await sleep(20);
      }
      const plain = `mqtt://127.0.0.1:${plainPort}`;
      const tls = `mqtts://127.0.0.1:${tlsPort}`;
      const ca = readFileSync(files.cert);
      gw = new MqttSync({ url: plain, username: "gw", password: "pw-gw", fleet: FLEET, replica: "gw", role: "gateway", gateways: ["gw"], kv: new MemoryKv(), heartbeatMs: 500, antiEntropyMs: 1000 });
      let gwCloses = 0;
      gw.client.on("close", () => gwCloses++);
      const gwTopics: string[] = [];
      const gwPayloads: Buffer[] = [];
      gw.client.on("message", (t, p) => {
        gwTopics.push(t);
        gwPayloads.push(p);
      });
      node = new MqttSync({ url: tls, ca, username: "n1", password: "pw-n1", fleet: FLEET, replica: "n1", role: "node", gateways: ["gw"], qos: 0, kv: new MemoryKv(), heartbeatMs: 500, resendMs: 200 });
      await gw.ready(5000);
      await node.ready(5000);
      const readings = node.engine.open("readings", "n1", LWWMap) as LWWMap<number>;
      readings.set("t", 19);
      node.engine.changed("readings", "n1");
      const gwEngine = gw.engine;
      await waitFor("the gateway to hold n1's reading", () => (gwEngine.get("readings/n1") as LWWMap<number> | undefined)?.get("t") === 19);

      // refused: anonymous, a wrong password, plain MQTT on the TLS listener
      for (const [what, url, options] of [
        ["anonymous", plain, { clientId: "x1" }],
        ["a wrong password", tls, { clientId: "n1", username: "n1", password: "nope", ca }],
        ["no TLS on the device listener", `mqtt://127.0.0.1:${tlsPort}`, { clientId: "n1", username: "n1", password: "pw-n1" }],
      ] as const) {
        const r = await attempt(url, options);
        assert.ok(r instanceof Error, `${what}: connected`);
      }
      // n2 asks for the gateway's client id: it gets its user name instead, the gateway stays
      const n2 = await attempt(tls, { clientId: "gw", username: "n2", password: "pw-n2", ca });
      if (n2 instanceof Error) throw n2;
      open.push(n2);
      // as n2 it may not publish for n1 (the ACL drops it); n3's packet over max_packet_size closes its connection
      n2.publish(`lichen/${FLEET}/gw/in/n2`, Buffer.from([1]), { qos: 0 });
      await waitFor("n2's own frame to reach the gateway (as n2)", () => gwTopics.includes(`lichen/${FLEET}/gw/in/n2`));
      const forged = (): boolean => gwPayloads.some((p) => p.toString() === "forged");
      n2.publish(`lichen/${FLEET}/gw/in/n1`, Buffer.from("forged"), { qos: 0 });
      // mosquitto 2.0 drops a publish its ACL denies and closes the client's connection
      await waitFor("the forged frame to be refused (n2 disconnected) or delivered", () => !n2.connected || forged());
      assert.not.ok(forged(), "n2's frame on n1's topic never reached the gateway");
      const n3 = await attempt(tls, { clientId: "n3", username: "n3", password: "pw-n3", ca });
      if (n3 instanceof Error) throw n3;
      open.push(n3);
      let n3Closed = false;
      n3.on("close", () => (n3Closed = true));
      n3.publish(`lichen/${FLEET}/gw/in/n3`, Buffer.alloc(100_000, 1), { qos: 0 });
      await waitFor("mosquitto to close the connection of the packet over max_packet_size", () => n3Closed);
      await sleep(300);
      assert.not.ok(gwPayloads.some((p) => p.length === 100_000), "nor the packet over the limit");
      assert.ok(gw.connected, "the gateway is connected");
      assert.is(gwCloses, 0, "the gateway was never disconnected");
    } finally {
      for (const c of open) await c.endAsync(true).catch(() => {});
      await node?.close();
      await gw?.close();
      proc.kill("SIGKILL");
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

test.run();
