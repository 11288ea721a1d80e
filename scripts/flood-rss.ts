// The gateway's memory under hostile floods, on loopback: a real `lichen gateway` (embedded broker)
// in its own process, its resident memory read from /proc before, during and after each attack:
//
//   1. 200 client ids × 1,000 valid frames each, all at once;
//   2. one PUBLISH announcing 200 MB, its body streamed until the gateway closes the connection;
//   3. four of those at once.
//
//   npx tsx scripts/flood-rss.ts              the gateway as configured by default
//   npx tsx scripts/flood-rss.ts --unbounded  the same with --max-packet-bytes 268435455 (MQTT's
//                                             maximum): what the packet size limit prevents
//   --ids N --frames N (default 200, 1000): the flood's size; --skip-flood: the big publishes only
//
// Linux only (/proc). Everything stays on 127.0.0.1; every attack is bounded in bytes and time.
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { LWWMap } from "../src/index.js";
import { encodeFrame, FrameKind } from "../src/transport/frames.js";
import { connectPacket, mqttString, packet } from "./mqtt-packets.js";

const { values } = parseArgs({
  options: {
    unbounded: { type: "boolean", default: false },
    ids: { type: "string", default: "200" },
    frames: { type: "string", default: "1000" },
    "skip-flood": { type: "boolean", default: false },
  },
});
const BIN = fileURLToPath(new URL("../targets/rpi/bin.js", import.meta.url));
const FLEET = "rss";
const IDS = Number(values.ids);
const FRAMES = Number(values.frames);
const BIG = 200 * 1024 * 1024;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const progress = (line: string): void => {
  process.stderr.write(`${line}\n`);
};

/** `p`, or an error after `ms`: nothing here waits for ever. */
function within<T>(what: string, ms: number, p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([p, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms)))]).finally(() => clearTimeout(timer));
}

/** VmRSS and VmHWM (the peak since start) of a process, in MB. */
function memory(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = (key: string): number => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? NaN);
  return { rss: Math.round(kb("VmRSS") / 1024), peak: Math.round(kb("VmHWM") / 1024) };
}


/** Opens a raw MQTT connection as `id`; resolves after CONNACK. */
function rawClient(port: number, id: string): Promise<Socket> {
  return within(`${id} connecting`, 600_000, new Promise((resolve, reject) => {
    const s = connect(port, "127.0.0.1");
    s.on("error", () => {});
    s.once("close", () => reject(new Error(`${id}: closed before CONNACK`)));
    // the answers (ACKs) are read and dropped: a client that stops reading is the broker's drain timeout's to drop
    s.once("data", () => {
      s.on("data", () => {});
      resolve(s);
    });
    s.write(connectPacket(id));
  }));
}

/** Sends a PUBLISH announcing BIG bytes, then its body in 64 KiB writes until the connection closes or BIG bytes are sent. */
async function bigPublish(port: number, id: string): Promise<number> {
  const s = await rawClient(port, id);
  const topic = mqttString(`lichen/${FLEET}/gw/in/${id}`);
  s.write(packet(0x30, topic, BIG));
  const chunk = Buffer.alloc(65_536, 0xab);
  let sent = topic.length;
  let closed = false;
  s.once("close", () => (closed = true));
  const deadline = Date.now() + 60_000;
  while (!closed && sent < BIG && Date.now() < deadline) {
    if (!s.write(chunk)) await Promise.race([new Promise<void>((r) => s.once("drain", () => r()).once("close", () => r())), sleep(5000)]);
    sent += chunk.length;
  }
  s.destroy();
  return sent;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "lichen-rss-"));
  const args = [BIN, "gateway", "--id", "gw", "--fleet", FLEET, "--db", join(dir, "gw.db"), "--port", "0", "--http-port", "0", "--log-level", "info"];
  if (values.unbounded) args.push("--max-packet-bytes", "268435455", "--publish-rate", "0");
  const gw = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  gw.stdout!.setEncoding("utf8").on("data", (s: string) => (out += s));
  gw.stderr!.setEncoding("utf8").on("data", (s: string) => (out += s));
  const exited = new Promise<number | null>((r) => gw.once("exit", (code) => r(code)));
  try {
    const deadline = Date.now() + 30_000;
    let port = 0;
    while (port === 0) {
      const m = /"event":"broker-listening".*?"url":"mqtts?:\/\/127\.0\.0\.1:(\d+)"/.exec(out);
      if (m) port = Number(m[1]);
      else if (gw.exitCode !== null || Date.now() > deadline) throw new Error(`the gateway did not start: ${out}`);
      else await sleep(50);
    }
    await sleep(1000);
    const rows: string[][] = [];
    const row = (what: string, before: { rss: number; peak: number }, extra = ""): void => {
      const after = memory(gw.pid!);
      rows.push([what, `${before.rss}`, `${after.peak}`, `${after.rss}`, gw.exitCode === null ? "up" : `exited ${gw.exitCode}`, extra]);
    };

    progress(`gateway up (pid ${gw.pid}, broker port ${port}); flood of ${IDS} × ${FRAMES} frames`);
    // 1. the flood of valid frames
    let before = memory(gw.pid!);
    if (!values["skip-flood"]) {
    const sockets: Socket[] = [];
    for (let i = 0; i < IDS; i += 20) sockets.push(...(await Promise.all(Array.from({ length: 20 }, (_, k) => rawClient(port, `n${i + k}`)))));
    for (const [i, s] of sockets.entries()) {
      const m = new LWWMap<number>(`n${i}`);
      m.set("t", i);
      const frame = Buffer.from(encodeFrame({ kind: FrameKind.Delta, doc: `readings/n${i}`, type: m.typeTag, delta: m.delta() }));
      const publish = packet(0x30, Buffer.concat([mqttString(`lichen/${FLEET}/gw/in/n${i}`), frame]));
      s.write(Buffer.concat(Array.from({ length: FRAMES }, () => publish)));
    }
    // until every socket's bytes are taken (the broker reads a client at its publish rate), at most 120 s
    const floodEnd = Date.now() + 120_000;
    while (sockets.some((s) => s.writableLength > 0 && !s.destroyed) && Date.now() < floodEnd) await sleep(200);
    const pending = sockets.filter((s) => s.writableLength > 0 && !s.destroyed).length;
    await sleep(2000);
    // the gateway has digested the flood when it answers a new client
    const probe = await rawClient(port, "probe");
    probe.destroy();
    row(`${IDS} ids × ${FRAMES} frames`, before, pending > 0 ? `${pending} senders still throttled after 120 s` : `all frames taken; the gateway answered a new client ${Math.round((Date.now() - floodEnd + 120_000) / 1000)} s after the flood began`);
    for (const s of sockets) s.destroy();
    await sleep(2000);
    }

    progress("one 200 MB publish");
    // 2. one 200 MB publish
    before = memory(gw.pid!);
    const sent = await bigPublish(port, "big1");
    await sleep(1000);
    row("one 200 MB publish", before, `${Math.round(sent / 1024)} KiB of its body sent (all of it, or until the gateway closed the connection)`);

    progress("four at once");
    // 3. four at once
    before = memory(gw.pid!);
    const sents = await Promise.all([2, 3, 4, 5].map((k) => bigPublish(port, `big${k}`)));
    await sleep(1000);
    row("four 200 MB publishes at once", before, `${sents.map((x) => Math.round(x / 1024)).join(", ")} KiB sent`);

    console.log(`lichen gateway${values.unbounded ? " --max-packet-bytes 268435455 --publish-rate 0" : " (defaults: --max-packet-bytes 65536, --publish-rate 100)"}, RSS in MB (VmRSS; peak: VmHWM since start)`);
    const head = ["attack", "RSS before", "peak so far", "RSS after", "gateway", "note"];
    const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
    for (const r of [head, ...rows]) console.log(r.map((c, i) => c.padEnd(widths[i]!)).join("  "));
  } finally {
    gw.kill("SIGTERM");
    await Promise.race([exited, sleep(5000)]);
    if (gw.exitCode === null) gw.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
