/**
 * `npm start`: a live lichen fleet on this machine. A gateway (targets/rpi: SQLite, its embedded
 * MQTT broker, the dashboard) and three simulated sensor nodes that connect to it, write readings
 * every second and converge with it. Open the dashboard URL it prints; Ctrl-C stops everything.
 *
 *   npm start [-- --duration SECONDS] [--nodes N] [--sim auto|xs|node] [--interval MS]
 *                [--port N] [--http-port N] [--db FILE] [--verbose]
 *
 * The nodes run the firmware's node app (targets/esp32/node-app.ts): inside XS, as the ESP32 would
 * (sim/esp32/sim-node.ts), or, with --sim node or when XS fails, in this Node process
 * (sim/esp32/app-node.ts), and it says so. The broker takes port 1883, or a
 * free port if 1883 is in use (a mosquitto, say); the dashboard 8080, or a free port. The database
 * goes to a new temporary directory, removed at the end (give --db FILE to keep it).
 *
 * --duration: stop by itself that many seconds after every node is online (at most a minute of
 * start-up is waited for); the exit code is 0 if the nodes converged with the gateway, 1 if not
 * (the test of `npm start` uses it).
 *
 * Signals: SIGINT or SIGTERM stop it cleanly at any time, start-up included. package.json runs
 * it as `exec node --import tsx ...`: one process, which a signal npm relays reaches.
 */
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { LWWMap } from "../src/core/maps.js";
import { defaults, type GatewayConfig } from "../targets/rpi/gateway-config.js";
import { errorMessage, portFree, startGateway, type Gateway } from "../targets/rpi/gateway-daemon.js";
import { startAppNode } from "../sim/esp32/app-node.js";
import { startSimulatedNode } from "../sim/esp32/sim-node.js";

const USAGE = "usage: npm start [-- --duration SECONDS] [--nodes N] [--sim auto|xs|node] [--interval MS] [--port N] [--http-port N] [--db FILE] [--verbose]";
const FLEET = "demo";
const GATEWAY_ID = "gateway-1";

interface SimNode {
  readonly id: string;
  stop(): Promise<void>;
  powerCut(): Promise<void>;
  restart(): Promise<void>;
}

type StartSimulatedNode = typeof startSimulatedNode;

function die(message: string): never {
  process.stderr.write(`start: ${message}\n${USAGE}\n`);
  process.exit(2);
}

function intArg(name: string, v: string | undefined, min: number, max: number): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (v.trim() === "" || !Number.isFinite(n) || n < min || n > max) die(`--${name}: expected a number from ${min} to ${max}, got ${JSON.stringify(v)}`);
  return n;
}

let args: ReturnType<typeof parse>;
function parse() {
  return parseArgs({
    options: {
      duration: { type: "string" },
      nodes: { type: "string" },
      sim: { type: "string" },
      interval: { type: "string" },
      port: { type: "string" },
      "http-port": { type: "string" },
      db: { type: "string" },
      verbose: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
    strict: true,
    allowPositionals: false,
  });
}
try {
  args = parse();
} catch (e) {
  die(errorMessage(e));
}
if (args.values.help) {
  process.stdout.write(`${USAGE}\n`);
  process.exit(0);
}
const duration = intArg("duration", args.values.duration, 1, 86_400);
const nodeCount = intArg("nodes", args.values.nodes, 1, 20) ?? 3;
const intervalMs = intArg("interval", args.values.interval, 50, 60_000) ?? 1000;
const wantPort = intArg("port", args.values.port, 0, 65535);
const wantHttpPort = intArg("http-port", args.values["http-port"], 0, 65535);
const simMode = args.values.sim ?? "auto";
if (!["auto", "xs", "node"].includes(simMode)) die(`--sim: expected auto, xs or node, got ${JSON.stringify(simMode)}`);
const verbose = args.values.verbose === true;

const t0 = Date.now();
const stamp = (): string => `${((Date.now() - t0) / 1000).toFixed(1).padStart(5)}s`;
const say = (line: string): void => {
  process.stdout.write(`${stamp()}  ${line}\n`);
};
const plain = (line = ""): void => {
  process.stdout.write(`${line}\n`);
};

/** The preferred port if it is free, else a free one (and a note). */
async function choosePort(preferred: number, what: string, flag: string): Promise<number> {
  if (preferred === 0 || (await portFree(preferred, "127.0.0.1"))) return preferred;
  plain(`note: port ${preferred} is in use${what === "broker" ? " (a mosquitto?)" : ""}: the ${what === "broker" ? "embedded MQTT broker" : "dashboard"} takes a free port instead (or choose one with ${flag})`);
  return 0;
}

const fmtValue = (v: unknown): string => {
  if (v === null || typeof v !== "object" || Array.isArray(v)) return JSON.stringify(v);
  return Object.entries(v as Record<string, unknown>)
    .map(([k, x]) => `${k} ${typeof x === "number" ? x : JSON.stringify(x)}`)
    .join(" · ");
};

/** Most start-up waited for before --duration counts anyway. */
const STARTUP_WAIT_MS = 60_000;

async function main(): Promise<number> {
  // Ctrl-C: a clean stop, start-up included; another one a second later or more: at once. (Under
  // `npm start` the first Ctrl-C arrives twice, from the terminal and relayed by npm: that is one.)
  let stopRequested: (why: string) => void = () => {};
  const stopped = new Promise<string>((r) => (stopRequested = r));
  let signalledAt: number | undefined;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (signalledAt === undefined) {
      signalledAt = Date.now();
      stopRequested(signal === "SIGINT" ? "Ctrl-C" : signal);
    } else if (Date.now() - signalledAt > 1000) process.exit(130);
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);

  plain(`lichen demo: a gateway and ${nodeCount} simulated sensor nodes, syncing over MQTT`);
  const tempDir = args.values.db === undefined ? mkdtempSync(join(tmpdir(), "lichen-demo-")) : undefined;
  try {
    return await run(tempDir === undefined ? resolve(args.values.db!) : join(tempDir, "lichen.db"), stopped, (why) => stopRequested(why));
  } finally {
    if (tempDir !== undefined) {
      rmSync(tempDir, { recursive: true, force: true });
      say(`the database was temporary and is removed (give --db FILE to keep it)`);
    }
  }
}

async function run(dbPath: string, stopped: Promise<string>, stopRequested: (why: string) => void): Promise<number> {
  mkdirSync(dirname(dbPath), { recursive: true });
  const port = await choosePort(wantPort ?? 1883, "broker", "--port");
  const httpPort = await choosePort(wantHttpPort ?? 8080, "dashboard", "--http-port");

  const config: GatewayConfig = {
    ...defaults(),
    id: GATEWAY_ID,
    fleet: FLEET,
    db: dbPath,
    port,
    httpPort,
    heartbeatMs: 2000, // offline after 6 s of silence: quick enough to watch
    antiEntropyMs: 5000,
    logLevel: verbose ? "debug" : "warn",
  };

  // the terminal: presence, the first sync of each document (then one line per document every
  // 15 s at most), warnings, and a summary every 5 s
  const lastPrinted = new Map<string, number>();
  let gateway: Gateway | undefined;
  gateway = await startGateway(config, {
    log: (level, event, fields = {}) => {
      if (level === "debug" && !verbose) return;
      if (level === "info" && !verbose) return;
      const detail = Object.entries(fields)
        .filter(([, v]) => v !== undefined)
        .map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`)
        .join(" ");
      say(`${level === "info" || level === "debug" ? "" : `${level}: `}${event} ${detail}`);
    },
    onPresence: (peer, s) => say(`${peer} ${s.online ? "online" : "offline"}${s.role === "gateway" ? " (gateway)" : ""}`),
    onApplied: (_peer, doc) => {
      const at = lastPrinted.get(doc);
      if (at !== undefined && Date.now() - at < 15_000) return;
      lastPrinted.set(doc, Date.now());
      const crdt = gateway?.engine.get(doc);
      if (crdt === undefined) return;
      const v = crdt.value();
      const size = v !== null && typeof v === "object" && !Array.isArray(v) ? ` (${Object.keys(v).length} keys)` : "";
      say(`${doc} synced${size}: ${fmtValue(v)}`);
    },
  });
  const gw = gateway;
  plain(`gateway    ${gw.config.id}, fleet "${FLEET}", database ${gw.db.path}`);
  plain(`broker     ${gw.brokerUrl} (embedded, with lichen's ACL)`);
  plain(`dashboard  ${gw.httpUrl}   <- open it in a browser`);
  plain(duration === undefined ? "Ctrl-C stops everything.\n" : `stopping by itself ${duration} s after every node is online.\n`);

  // the fleet's config, synced to every node, in the firmware's keys (targets/esp32/node-app.ts)
  gw.write("fleet", "config", LWWMap, (c) => {
    c.set("interval", intervalMs);
    c.set("threshold.temperature", 30);
  });

  // the fleet
  const ids = Array.from({ length: nodeCount }, (_, i) => `n${i + 1}`);
  const nodes: SimNode[] = [];
  let kind = "";
  const startXs: StartSimulatedNode | undefined = simMode === "node" ? undefined : startSimulatedNode;
  if (startXs !== undefined) {
    try {
      const flashDir = dirname(dbPath);
      for (const id of ids) {
        nodes.push(
          await startXs({
            id,
            brokerUrl: gw.brokerUrl,
            fleet: FLEET,
            gateways: [GATEWAY_ID],
            intervalMs,
            flashFile: join(flashDir, `${id}.flash`),
            log: (...a: unknown[]) => {
              if (verbose) say(`${id}: ${a.map((x) => (typeof x === "string" ? x : JSON.stringify(x))).join(" ")}`);
            },
          }),
        );
      }
      kind = "the ESP32 firmware inside XS (sim/esp32/sim-node.ts)";
    } catch (e) {
      if (simMode === "xs") throw e;
      plain(`note: the firmware simulator failed (${errorMessage(e)}): the nodes run in Node instead`);
      await Promise.all(nodes.splice(0).map((n) => n.stop().catch(() => {})));
    }
  }
  if (nodes.length === 0) {
    for (const id of ids) {
      nodes.push(
        await startAppNode({
          id,
          brokerUrl: gw.brokerUrl,
          fleet: FLEET,
          gateways: [GATEWAY_ID],
          intervalMs,
          config: { heartbeat: 2000, antiEntropy: 5000, reconnect: 500 },
          log: (line) => {
            if (verbose) say(`${id}: ${line}`);
          },
        }),
      );
    }
    kind = "the firmware's node app in Node (sim/esp32/app-node.ts)";
  }
  say(`${nodes.length} nodes started: ${ids.join(", ")}, running ${kind}, a sample every ${intervalMs} ms`);

  // convergence: every node online, its readings at the gateway, and nothing pending towards it
  let convergedAt: number | undefined;
  const converged = (): boolean => {
    const view = gw.monitor.nodes();
    return ids.every((id) => {
      const n = view.find((x) => x.id === id);
      return n !== undefined && n.online && n.inSync === true && gw.engine.get(`readings/${id}`) !== undefined;
    });
  };
  const summary = (): string => {
    const view = gw.monitor.nodes().filter((n) => n.role === "node");
    const online = view.filter((n) => n.online).length;
    const pending = view.filter((n) => n.online && n.inSync === false).map((n) => n.id);
    const samples = gw.monitor.samples().slice(-5);
    const rate = samples.length === 0 ? 0 : samples.reduce((s, x) => s + x.ingest, 0) / samples.length;
    const maxLag = Math.max(0, ...view.filter((n) => n.online && n.lagMs !== null).map((n) => n.lagMs!));
    return `summary: ${online}/${view.length} nodes online · ${gw.engine.documents().length} documents · ${rate.toFixed(1)} deltas/s · lag ≤ ${(maxLag / 1000).toFixed(1)} s · ${pending.length === 0 ? "all in sync" : `pending: ${pending.join(", ")}`} · ${gw.monitor.totals.applied} deltas stored`;
  };

  // --duration counts from the moment every node is online (or STARTUP_WAIT_MS after start)
  let durationTimer: NodeJS.Timeout | undefined;
  const startDuration = (): void => {
    if (duration === undefined || durationTimer !== undefined) return;
    durationTimer = setTimeout(() => stopRequested(`${duration} s elapsed`), duration * 1000);
  };
  const startupTimer = setTimeout(startDuration, Math.max(0, STARTUP_WAIT_MS - (Date.now() - t0)));
  const checker = setInterval(() => {
    if (durationTimer === undefined && ids.every((id) => gw.monitor.nodes().some((n) => n.id === id && n.online))) {
      say(`all ${ids.length} nodes online`);
      startDuration();
    }
    if (convergedAt === undefined && converged()) {
      convergedAt = Date.now();
      say(`converged: all ${ids.length} nodes in sync with the gateway, ${((convergedAt - t0) / 1000).toFixed(1)} s after start (${gw.engine.documents().length} documents)`);
    }
  }, 100);
  const summaries = setInterval(() => say(summary()), 5000);

  // a power cut on the last node, then its return, when there is time to watch it
  const timers: NodeJS.Timeout[] = [];
  if (duration === undefined || duration >= 40) {
    const victim = nodes[nodes.length - 1]!;
    timers.push(
      setTimeout(() => {
        say(`${victim.id}: simulated power cut (it comes back in 10 s; watch its lag grow on the dashboard)`);
        victim.powerCut().catch((e) => say(`${victim.id}: power cut failed: ${errorMessage(e)}`));
        timers.push(
          setTimeout(() => {
            say(`${victim.id}: power back: it boots from its flash and catches up`);
            victim.restart().catch((e) => say(`${victim.id}: restart failed: ${errorMessage(e)}`));
          }, 10_000),
        );
      }, 20_000),
    );
  }
  // keep the process alive (the engine's timers are unref'd)
  const keepAlive = setInterval(() => {}, 60_000);

  const why = await stopped;
  plain("");
  say(`stopping (${why})…`);
  clearInterval(checker);
  clearInterval(summaries);
  clearTimeout(startupTimer);
  clearTimeout(durationTimer);
  for (const t of timers) clearTimeout(t);
  say(summary());
  await Promise.all(nodes.map((n) => n.stop().catch((e) => say(`${n.id}: stop failed: ${errorMessage(e)}`))));
  await gw.stop(why);
  clearInterval(keepAlive);
  say(`stopped.${args.values.db === undefined ? "" : ` The database is kept: npx lichen status ${gw.db.path}`}`);
  if (convergedAt === undefined) {
    say("the nodes did not converge with the gateway");
    return 1;
  }
  return 0;
}

main().then(
  (code) => {
    process.exitCode = code;
    // anything left open must not keep the demo alive
    setTimeout(() => process.exit(code), 3000).unref();
  },
  (e: unknown) => {
    process.stderr.write(`start: ${errorMessage(e)}\n`);
    if (process.env.LICHEN_DEBUG === "1" && e instanceof Error) process.stderr.write(`${e.stack}\n`);
    process.exit(1);
  },
);
