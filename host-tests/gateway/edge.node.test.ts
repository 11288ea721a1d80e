// The gateway's edge, in process (startGateway) on loopback: its embedded broker with a users
// file, the gateway's own id out of reach, a node that logs in and syncs, and a peer's malformed
// frames logged once per interval with a count (simulated time for the interval).
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { LWWMap } from "../../src/index.js";
import { MemoryKv } from "../../src/store/kv.js";
import { MqttSync } from "../../src/transport/mqtt-node.js";
import { readUsersFile, setPassword, verifyPassword } from "../../src/transport/users-file-node.js";
import { defaults, type GatewayConfig } from "../../targets/rpi/gateway-config.js";
import { PEER_LOG_INTERVAL_MS, startGateway, type Gateway } from "../../targets/rpi/gateway-daemon.js";
import { LogLimiter } from "../../targets/rpi/log-limit.js";
import { LICHEN_CLI, PATIENCE_MS, ROOT, waitFor, within } from "./helpers.js";
import { attempt } from "../../sim/network/ports.js";

const tmp = mkdtempSync(join(tmpdir(), "lichen-edge-"));
let seq = 0;

interface Line {
  level: string;
  event: string;
  fields: Record<string, unknown>;
}

async function gateway(overrides: Partial<GatewayConfig>, now: () => number = Date.now): Promise<{ gw: Gateway; lines: Line[] }> {
  const lines: Line[] = [];
  const config: GatewayConfig = { ...defaults(), id: "gw", fleet: "edge", db: join(tmp, `gw-${++seq}.db`), port: 0, httpPort: 0, heartbeatMs: 500, antiEntropyMs: 1000, ...overrides };
  const gw = await startGateway(config, { log: (level, event, fields = {}) => lines.push({ level, event, fields }), tickMs: 50, now });
  return { gw, lines };
}


test("LogLimiter: one line per key and interval, the count of those held back; quiet keys are forgotten", () => {
  let now = 0;
  const l = new LogLimiter(1000, () => now);
  assert.is(l.admit("frame-error n1"), 0);
  for (let i = 0; i < 99; i++) assert.is(l.admit("frame-error n1"), undefined);
  assert.is(l.admit("frame-error n2"), 0, "another peer has its own line");
  now = 500;
  assert.equal(l.flush(), [], "nothing before the interval is over");
  now = 1000;
  assert.equal(l.flush(), [{ key: "frame-error n1", count: 99 }]);
  assert.is(l.size, 1, "n2, quiet for an interval, is forgotten");
  now = 2500;
  assert.is(l.admit("frame-error n1"), 0, "after a quiet interval: written at once");
  now = 2600;
  assert.is(l.admit("frame-error n1"), undefined);
  now = 3600;
  assert.is(l.admit("frame-error n1"), 1, "the next line carries the count");
});

/** `lichen passwd FILE USER` with the password on stdin. */
function passwd(file: string, user: string, password: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const p = spawn(process.execPath, [...LICHEN_CLI, "passwd", file, user], { cwd: ROOT, stdio: ["pipe", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  p.stdout.setEncoding("utf8").on("data", (s: string) => (stdout += s));
  p.stderr.setEncoding("utf8").on("data", (s: string) => (stderr += s));
  p.stdin.end(`${password}\n`);
  return within("lichen passwd", 20_000, new Promise((resolve) => p.on("close", (code) => resolve({ code, stdout, stderr }))));
}

test("lichen passwd FILE USER: adds a user (password from stdin); a bad user name is one clear line, exit 1", async () => {
  const users = join(tmp, "users");
  const ok = await passwd(users, "n1", "pw-1");
  assert.is(ok.code, 0, ok.stderr);
  assert.is(ok.stdout, `added n1 in ${users}\n`);
  assert.ok(await verifyPassword(readUsersFile(users), "n1", "pw-1"));
  const bad = await passwd(users, "a/b", "pw");
  assert.is(bad.code, 1);
  assert.match(bad.stderr, /^lichen: bad user name "a\/b": .* \[INVALID_ARGUMENT\]\n$/);
});

test("a gateway with --users: a node logs in and syncs; the gateway's own id is refused to the network", async () => {
  const users = join(tmp, "users");
  if (!existsSync(users)) await setPassword(users, "n1", "pw-1");
  const { gw, lines } = await gateway({ users });
  const node = new MqttSync({ url: gw.brokerUrl, username: "n1", password: "pw-1", fleet: "edge", replica: "n1", role: "node", kv: new MemoryKv(), qos: 0, gateways: ["gw"], heartbeatMs: 500, resendMs: 200 });
  let gwDrops = 0;
  gw.sync.client.on("close", () => gwDrops++);
  try {
    await node.ready(5000);
    const readings = node.engine.open("readings", "n1", LWWMap) as LWWMap<number>;
    readings.set("t", 21);
    node.engine.changed("readings", "n1");
    await waitFor("the gateway to hold n1's reading", () => (gw.engine.get("readings/n1") as LWWMap<number> | undefined)?.get("t") === 21, 8000);
    for (const [id, creds] of [
      ["gw", {}],
      ["gw", { username: "n1", password: "pw-1" }],
      ["n2", {}],
      ["n1", { username: "n1", password: "nope" }],
    ] as const) {
      const r = await attempt(gw.brokerUrl, { clientId: id, ...creds });
      assert.ok(r instanceof Error, `${id} ${JSON.stringify(creds)} connected`);
    }
    assert.ok(gw.sync.connected, "the gateway is still connected");
    assert.is(gwDrops, 0, "and never was dropped");
    const rejected = lines.filter((l) => l.event === "broker-rejected").map((l) => l.fields.reason);
    assert.ok(rejected.includes("reserved-id") && rejected.includes("bad-credentials"), JSON.stringify(rejected));
  } finally {
    await node.close();
    await gw.stop();
  }
});

test("a peer's malformed frames: one log line per interval, each with the count of the frames it stands for", async () => {
  const { gw, lines } = await gateway({});
  const rogue = await attempt(gw.brokerUrl, { clientId: "rogue" });
  if (rogue instanceof Error) throw rogue;
  try {
    const FRAMES = 150;
    const junk = (i: number): Buffer => Buffer.from([0xde, 0xad, i & 0xff]);
    for (let i = 0; i < FRAMES; i++) rogue.publish("lichen/edge/gw/in/rogue", junk(i), { qos: 0 });
    const errors = (): Line[] => lines.filter((l) => l.event === "frame-error" && l.fields.peer === "rogue");
    const counted = (): number => errors().reduce((n, l) => n + Number(l.fields.count ?? 0), 0);
    await waitFor("the first line", () => errors().length >= 1, PATIENCE_MS);
    // the engine's interval is 10 s of real time: one more frame after it brings the count of the rest
    await new Promise((r) => setTimeout(r, PEER_LOG_INTERVAL_MS + 500));
    rogue.publish("lichen/edge/gw/in/rogue", junk(FRAMES), { qos: 0 });
    await waitFor("every frame counted", () => counted() === FRAMES + 1, PATIENCE_MS, () => JSON.stringify(errors()));
    assert.ok(errors().length <= 3, `a handful of lines for ${FRAMES + 1} frames, not one each: ${errors().length}`);
    assert.is(errors()[0]!.fields.count, 1, "the first frame is written at once");
  } finally {
    await rogue.endAsync(true);
    await gw.stop();
  }
});

test("(cleanup)", () => {
  rmSync(tmp, { recursive: true, force: true });
});

test.run();
