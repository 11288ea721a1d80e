// A gateway in its own process, for the crash tests of mqtt.node.test.ts:
//
//   tsx host-tests/integration/gateway-process.ts '{"url":"mqtt://127.0.0.1:1883","fleet":"f","replica":"gw","db":"/tmp/x/gw.db"}'
//
// SqliteKv at `db`, MqttSync as a gateway. Prints one JSON object per line on stdout:
// {"event":"ready"} at the first connection, {"event":"presence","peer","online"}, {"event":"log",...}
// for the engine's log. SIGTERM: clean shutdown (offline presence, engine closed), exit 0.
// SIGKILL is what the tests use to crash it.
import { makePolicy } from "../../src/transport/policy.js";
import { SqliteKv } from "../../src/store/sqlite.js";
import { MqttSync } from "../../src/transport/mqtt-node.js";

interface Config {
  url: string;
  fleet: string;
  replica: string;
  db: string;
  heartbeatMs?: number;
  antiEntropyMs?: number;
  resendMs?: number;
  maxResendMs?: number;
  reconnectMs?: number;
}

const config = JSON.parse(process.argv[2] ?? "{}") as Config;
const out = (o: object): void => {
  process.stdout.write(`${JSON.stringify(o)}\n`);
};

const kv = new SqliteKv(config.db);
const sync = new MqttSync({
  url: config.url,
  fleet: config.fleet,
  replica: config.replica,
  role: "gateway",
  kv,
  policy: makePolicy({ write: ["*/{self}", "shared/notes"] }), // the test's nodes edit shared notes too
  heartbeatMs: config.heartbeatMs ?? 500,
  antiEntropyMs: config.antiEntropyMs ?? 1000,
  resendMs: config.resendMs ?? 200,
  maxResendMs: config.maxResendMs ?? 1000,
  reconnectMs: config.reconnectMs ?? 200,
  // a test floods the gateway on purpose: no rate limit here
  rateBurst: 100_000,
  ratePerSecond: 100_000,
  log: (entry) => out({ event: "log", entry }),
  onPresence: (peer, s) => out({ event: "presence", peer, online: s.online }),
});
sync.client.once("connect", () => out({ event: "ready" }));
// keep the process alive (the scheduler's timers are unref'd)
const keepAlive = setInterval(() => {}, 60_000);

process.on("SIGTERM", () => {
  void sync.close().then(() => {
    kv.close();
    clearInterval(keepAlive);
    out({ event: "closed" });
    process.exit(0);
  });
});
