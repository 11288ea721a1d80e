// The gateway's memory under hostile floods, on loopback: a real `lichen gateway` (embedded broker)
// in its own process, its resident memory read from /proc before, during and after each attack:
//
//   1. 200 client ids sending valid frames, all at once, in waves: 50,000 frames in all, then
//      100,000, then 200,000 (1,000 per id), the RSS read after each wave has been digested;
//   2. one PUBLISH announcing 200 MB, its body streamed until the gateway closes the connection;
//   3. four of those at once;
//   4. 10 ids sending empty PART frames (each a new partial frame), 5,000 each.
//
//   npx tsx scripts/flood-rss.ts              the gateway as configured by default
//   npx tsx scripts/flood-rss.ts --unbounded  the same with --max-packet-bytes 268435455 (MQTT's
//                                             maximum) and no publish rate: what the limits prevent
//   --ids N (default 200) --waves A,B,C (frames in all after each wave; default 50000,100000,200000)
//   --skip-flood: attacks 2 to 4 only
//   --db-dir DIR: where the gateway's database goes (default the system's temporary directory;
//   /dev/shm takes the disk out of the measure on a machine whose disk is busy: RSS is the same,
//   a file in tmpfs is not the process's memory)
//
// A wave is digested when the kernel holds no byte of it on either side of the connections (ss)
// and the gateway answers a new client. The peak of each attack is its own: the kernel's record
// of the peak (VmHWM) is reset before each (/proc/PID/clear_refs). The last lines say how far
// apart the peaks are: memory is flat when the largest is at most 15% above the smallest,
// whatever the number of frames. Linux only (/proc, ss). Everything stays on 127.0.0.1; every
// attack is bounded in bytes and time.
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { LWWMap } from "../src/index.js";
import { encodeFrame } from "../src/transport/frames.js";
import { connectPacket, mqttString, packet } from "./mqtt-packets.js";

const { values } = parseArgs({
  options: {
    unbounded: { type: "boolean", default: false },
    ids: { type: "string", default: "200" },
    waves: { type: "string", default: "50000,100000,200000" },
    "skip-flood": { type: "boolean", default: false },
    "db-dir": { type: "string" },
  },
});
const CLI = fileURLToPath(new URL("../targets/rpi/cli.ts", import.meta.url));
const FLEET = "rss";
const IDS = Number(values.ids);
const WAVES = values.waves.split(",").map(Number);
if (!WAVES.every((w, i) => Number.isSafeInteger(w) && w > (WAVES[i - 1] ?? 0) && w % IDS === 0)) throw new Error(`--waves: increasing totals, each a multiple of --ids (${IDS})`);
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

/** The band within which memory counts as flat: the largest peak at most this much above the smallest. */
const FLAT = 0.15;

/** Resets the kernel's record of a process's peak RSS (VmHWM) to its RSS now; false where that is not allowed. */
function resetPeak(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, "5");
    return true;
  } catch {
    return false;
  }
}

/** VmRSS and VmHWM (the peak since start, or since resetPeak) of a process, in MB. */
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

/** Bytes queued in the kernel on the broker's connections, both ways (ss: Recv-Q + Send-Q). */
function queuedBytes(port: number): number {
  const r = spawnSync("ss", ["-tnH", "state", "established", `( sport = :${port} or dport = :${port} )`], { encoding: "utf8" });
  let n = 0;
  for (const line of r.stdout.split("\n")) {
    const f = line.trim().split(/\s+/);
    if (f.length >= 2) n += Number(f[0]) + Number(f[1]);
  }
  return n;
}

/** Waits until the kernel holds nothing more of the flood and the gateway answers a new client; returns the seconds it took. */
async function digested(port: number, since: number, limitMs = 600_000): Promise<number> {
  const deadline = Date.now() + limitMs;
  while (queuedBytes(port) > 0 && Date.now() < deadline) await sleep(500);
  // a new client is answered once the broker's event loop is free again
  for (let attempt = 1; ; attempt++) {
    try {
      const probe = await within("probe", 60_000, rawClient(port, `probe${attempt}`));
      probe.destroy();
      break;
    } catch (e) {
      if (Date.now() > deadline) throw e;
    }
  }
  return Math.round((Date.now() - since) / 1000);
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
  const dir = mkdtempSync(join(values["db-dir"] ?? tmpdir(), "lichen-rss-"));
  const args = ["--import", "tsx", CLI, "gateway", "--id", "gw", "--fleet", FLEET, "--db", join(dir, "gw.db"), "--port", "0", "--http-port", "0", "--log-level", "info"];
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
    const peaks: Array<{ what: string; peak: number }> = [];
    let ownPeaks = true;
    /** Before an attack: its RSS before, and the peak record reset so that the attack's peak is its own. */
    const start = (): { rss: number; peak: number } => {
      ownPeaks = resetPeak(gw.pid!) && ownPeaks;
      return memory(gw.pid!);
    };
    const row = (what: string, before: { rss: number; peak: number }, extra = ""): void => {
      const after = memory(gw.pid!);
      peaks.push({ what, peak: after.peak });
      rows.push([what, `${before.rss}`, `${after.peak}`, `${after.rss}`, gw.exitCode === null ? "up" : `exited ${gw.exitCode}`, extra]);
    };

    progress(`gateway up (pid ${gw.pid}, broker port ${port}); ${IDS} ids, waves of ${WAVES.join(", ")} frames in all`);
    let before = start();
    if (!values["skip-flood"]) {
      // 1. the flood of valid frames, in waves; each wave on new connections of the same ids (an
      // idle client is dropped by its keepalive between waves)
      const publishes = Array.from({ length: IDS }, (_, i) => {
        const m = new LWWMap<number>(`n${i}`);
        m.set("t", i);
        const frame = Buffer.from(encodeFrame({ kind: 3, doc: `readings/n${i}`, type: m.typeTag, delta: m.delta() }));
        return packet(0x30, Buffer.concat([mqttString(`lichen/${FLEET}/gw/in/n${i}`), frame]));
      });
      let sent = 0;
      for (const total of WAVES) {
        const perId = (total - sent) / IDS;
        const sockets: Socket[] = [];
        for (let i = 0; i < IDS; i += 20) sockets.push(...(await Promise.all(Array.from({ length: Math.min(20, IDS - i) }, (_, k) => rawClient(port, `n${i + k}`)))));
        const began = Date.now();
        for (const [i, s] of sockets.entries()) s.write(Buffer.concat(Array.from({ length: perId }, () => publishes[i]!)));
        const seconds = await digested(port, began);
        const dropped = sockets.filter((s) => s.destroyed || s.closed).length;
        row(`${total.toLocaleString("en-US")} frames in all (${IDS} ids × ${total / IDS})`, before, `wave of ${(total - sent).toLocaleString("en-US")} digested in ${seconds} s${dropped > 0 ? `; ${dropped} senders closed by the broker` : ""}`);
        for (const s of sockets) s.destroy();
        await sleep(2000);
        before = start();
        sent = total;
      }
    }

    progress("one 200 MB publish");
    // 2. one 200 MB publish
    before = start();
    const sent = await bigPublish(port, "big1");
    await sleep(1000);
    row("one 200 MB publish", before, `${Math.round(sent / 1024)} KiB of its body sent (all of it, or until the gateway closed the connection)`);

    progress("four at once");
    // 3. four at once
    before = start();
    const sents = await Promise.all([2, 3, 4, 5].map((k) => bigPublish(port, `big${k}`)));
    await sleep(1000);
    row("four 200 MB publishes at once", before, `${sents.map((x) => Math.round(x / 1024)).join(", ")} KiB sent`);

    progress("10 ids × 5,000 empty PART frames");
    // 4. empty PART frames, each opening a new partial frame
    before = start();
    const parters = await Promise.all(Array.from({ length: 10 }, (_, k) => rawClient(port, `p${k}`)));
    const began = Date.now();
    for (const [k, s] of parters.entries()) {
      const parts = Array.from({ length: 5000 }, (_, id) => packet(0x30, Buffer.concat([mqttString(`lichen/${FLEET}/gw/in/p${k}`), Buffer.from(encodeFrame({ kind: 5, id: id + 1, index: 0, count: 2, bytes: new Uint8Array(0) }))])));
      s.write(Buffer.concat(parts));
    }
    const partSeconds = await digested(port, began);
    row("10 ids × 5,000 empty PART frames", before, `digested in ${partSeconds} s`);
    for (const s of parters) s.destroy();

    console.log(`lichen gateway${values.unbounded ? " --max-packet-bytes 268435455 --publish-rate 0" : " (defaults: --max-packet-bytes 65536, --publish-rate 100)"}, RSS in MB (VmRSS; peak: VmHWM ${ownPeaks ? "during the attack" : "since start: the peak record could not be reset"})`);
    const head = ["attack", "RSS before", ownPeaks ? "peak" : "peak so far", "RSS after", "gateway", "note"];
    const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
    for (const r of [head, ...rows]) console.log(r.map((c, i) => c.padEnd(widths[i]!)).join("  "));
    if (ownPeaks && peaks.length > 1) {
      const spread = (ps: Array<{ peak: number }>): number => Math.max(...ps.map((p) => p.peak)) / Math.min(...ps.map((p) => p.peak)) - 1;
      const pct = (x: number): string => `${Math.round(x * 100)}%`;
      const all = spread(peaks);
      console.log(`peaks ${peaks.map((p) => p.peak).join(", ")} MB: the largest ${pct(all)} above the smallest; flat (within ${pct(FLAT)}): ${all <= FLAT ? "met" : "not met"}`);
      if (!values["skip-flood"] && peaks.length > 2) {
        const warm = spread(peaks.slice(1));
        console.log(`after the first wave (the process warming up): the largest ${pct(warm)} above the smallest; flat: ${warm <= FLAT ? "met" : "not met"}`);
      }
    }
  } finally {
    gw.kill("SIGTERM");
    await Promise.race([exited, sleep(5000)]);
    if (gw.exitCode === null) gw.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
