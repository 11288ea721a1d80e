// The stack the simulated firmware needs above its stand-ins' command loop (sim/esp32/sim-node.ts in
// the device xsnap-worker; SimulatedNodeOptions.stackSlots grants it to each call into the app, as
// Moddable's run loop would give the device's stack): a node boots against an MqttSync gateway and
// an embedded broker, samples, gets the gateway's fleet/config and syncs. A try fails only if XS
// aborts (stack overflow); the fewest slots that run are found by bisection between 16 and 512.
// The path depends on the network's timing, so the figure is what one run needed, not a bound.
// Not a section of `npm run bench` (a broker and a worker per try, minutes): run it alone,
//   npx tsx bench/esp32-sim-stack.ts
import { LWWMap, MemoryKv } from "../src/index.js";
import { startEmbeddedBroker } from "../src/transport/broker-node.js";
import { MqttSync } from "../src/transport/mqtt-node.js";
import { startSimulatedNode, type SimulatedNode } from "../sim/esp32/sim-node.js";
import { isMain } from "../targets/rpi/is-main.js";

const TUNING = { heartbeat: 300, antiEntropy: 1000, resend: 200, reconnect: 100, thresholds: "temperature:30" };
const pause = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** One try: whether the node ran without XS aborting, and whether it synced in the window. */
export async function simulatedNodeRuns(slots: number): Promise<{ ran: boolean; synced: boolean }> {
  const broker = await startEmbeddedBroker({ port: 0, fleet: "m" });
  const gw = new MqttSync({ url: broker.url, fleet: "m", replica: "gw", role: "gateway", kv: new MemoryKv(), gateways: ["gw"], heartbeatMs: 300, antiEntropyMs: 1000, resendMs: 200, reconnectMs: 100 });
  await gw.ready();
  let node: SimulatedNode | undefined;
  let synced = false;
  try {
    node = await startSimulatedNode({ id: "n1", brokerUrl: broker.url, fleet: "m", gateways: ["gw"], intervalMs: 100, stackSlots: slots, config: TUNING });
    const cfg = gw.engine.open("fleet", "config", LWWMap);
    cfg.set("threshold.temperature", 18);
    gw.engine.changed("fleet", "config");
    for (const until = Date.now() + 15_000; Date.now() < until && node.running && !synced; ) {
      await pause(200);
      const s = await node.status();
      if (s === undefined || s.counted < 10 || s.fleetConfig["threshold.temperature"] !== 18) continue;
      await node.flush();
      for (let i = 0; i < 50 && node.running && !synced; i++) {
        await pause(200);
        const t = await node.status();
        synced = t !== undefined && t.gateways.some((g) => g.inSync) && ((gw.engine.get("events/n1")?.value() as number | undefined) ?? 0) >= 10;
      }
      break;
    }
  } catch {
    // the boot aborted: node stays undefined
  }
  const ran = node?.running === true;
  await node?.stop().catch(() => {});
  await gw.close();
  await broker.close();
  return { ran, synced };
}

async function main(): Promise<void> {
  let lo = 16;
  let hi = 512;
  const top = await simulatedNodeRuns(hi);
  console.log(`${hi}: ${top.ran ? `runs (synced: ${top.synced})` : "aborts"}`);
  if (!top.ran) process.exit(1);
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    const r = await simulatedNodeRuns(mid);
    console.log(`${mid}: ${r.ran ? `runs (synced: ${r.synced})` : "aborts"}`);
    if (r.ran) hi = mid;
    else lo = mid;
  }
  console.log(`fewest stack slots above the command loop: ${hi}`);
}

if (isMain(import.meta.url)) main().then(() => process.exit(0), (e: unknown) => (console.error(e), process.exit(1)));
