// The firmware's entry module ("main" in targets/esp32/manifest.json): wires the Moddable SDK's
// modules into the node app (node-app.ts). Moddable runs its setup modules first (with the
// manifest's "$(MODDABLE)/modules/io/manifest.json", setup/network joins the Wi-Fi given by
// ssid=/password= and sets the clock by SNTP), then calls this default export.
//
// Everything happens inside main(): device modules are preloaded, so nothing may touch the flash,
// the network or the timers at module scope (docs/design.md, "The device rules"). The host simulation
// (sim-node.ts) bundles this same module with stand-ins for "mc/config", "net", "timer", "time",
// "mqtt", "embedded:storage/key-value" and "embedded:io/i2c".

// @ts-ignore: Moddable modules (mcconfig makes "mc/config" from the manifest's "config")
import config from "mc/config";
// @ts-ignore
import Net from "net";
// @ts-ignore
import Timer from "timer";
// @ts-ignore
import Time from "time";
// @ts-ignore
import Client from "mqtt";
import { openModdableFlash } from "../../src/store/flash-moddable.js";
import type { ModdableClientConstructor, ModdableTimer } from "../../src/transport/mqtt-moddable.js";
import { parseNodeConfig } from "./config.js";
import { createNodeApp, type NodeApp } from "./node-app.js";
import { createI2cSensor } from "./sensor-i2c.js";
import { SimulatedSensor, type Sensor } from "./sensor.js";

/** Moddable's global debug output: the serial console, or xsbug. */
declare const trace: (text: string) => void;

function log(line: string): void {
  trace(`${line}\n`);
}

export default function main(): NodeApp | undefined {
  let app: NodeApp;
  try {
    const cfg = parseNodeConfig(config as Record<string, unknown>, (Net as unknown as { get(what: string): string | undefined }).get("MAC"));
    const sensor: Sensor = cfg.sensor === "sim" ? new SimulatedSensor(cfg.seed) : createI2cSensor(cfg.sensor);
    app = createNodeApp({
      config: cfg,
      flash: openModdableFlash("lichen"),
      Client: Client as unknown as ModdableClientConstructor,
      timer: Timer as unknown as ModdableTimer,
      sensor,
      now: () => (Time as unknown as { ticks: number }).ticks,
      wallClock: () => Date.now(),
      log,
    });
    app.start();
  } catch (e) {
    log(`lichen: cannot start: ${e instanceof Error ? e.message : String(e)}`);
    return undefined;
  }
  return app;
}
