// Host side of esp32-memory.test.ts (runner/host-service.ts): the node's flash, a FlashSim kept
// here so that its bytes are not counted among the live slots of the XS worker (on the device
// they are in NVS, not in RAM). Ops: flash-reset, flash-get, flash-set, flash-delete, flash-keys,
// flash-stats (those of remoteFlash in esp32-memory-scenario.ts).
import { FlashSim } from "../../src/store/flash-sim.js";
import type { HostService, ServiceMessage } from "../runner/host-service.js";
import { handleFlashOp } from "../../sim/esp32/flash-host.js";

export async function start(): Promise<HostService> {
  let flash = new FlashSim({ capacityBytes: 16_384 });
  return {
    handle(msg: ServiceMessage): unknown {
      if (msg.op === "flash-reset") {
        flash = new FlashSim({ capacityBytes: 16_384 });
        return {};
      }
      return handleFlashOp(flash, msg);
    },
    close: async () => {},
  };
}
