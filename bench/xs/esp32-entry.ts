// The code the ESP32 section runs inside xsnap-worker (bundled by bench/esp32.ts with bundleForXs):
// `globalThis.esp32Bench`, one function per step, each run as its own crank so that the host can
// meter it (measureXs). The scenario (the node app on its stand-ins) is the one the firmware's
// memory test runs: sim/esp32/memory-scenario.ts. The flash is on the host.
import { createScenario, remoteFlash, type Scenario, type ScenarioNetwork } from "../../sim/esp32/memory-scenario.js";
import { hostSend } from "../../sim/xs/host-channel.js";

interface Esp32Bench {
  scenario: Scenario | undefined;
  create(network: ScenarioNetwork): void;
  boot(): void;
  samples(n: number): void;
  /** The node's status, as JSON in an ArrayBuffer (the crank's reply). */
  status(): ArrayBuffer;
}

const bench: Esp32Bench = {
  scenario: undefined,
  create(network) {
    this.scenario = createScenario(
      remoteFlash((m) => hostSend(m)),
      network,
    );
  },
  boot() {
    this.scenario!.boot();
  },
  samples(n) {
    this.scenario!.samples(n);
  },
  status() {
    const s = { ...this.scenario!.app.status(), stats: this.scenario!.stats };
    const bytes = new TextEncoder().encode(JSON.stringify(s));
    return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  },
};

(globalThis as { esp32Bench?: Esp32Bench }).esp32Bench = bench;
