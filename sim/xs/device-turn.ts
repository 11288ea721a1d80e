// A turn of a simulated event loop, as the device runs one. On the ESP32 every timer callback and
// every MQTT message starts from the event loop, with the app's stack (the manifest's 512 slots)
// its own. A test that drives a fleet's virtual-time loop (sim/network/simulator.ts) runs that loop
// inside its test body; in the device xsnap-worker, each turn is granted the test's stack above the
// loop, as the test body was above the harness, and the test's own limit is put back after it.
// Under Node, and outside a device test, a turn is a plain call.

/** The device xsnap-worker's globals (sim/xs/device-worker.ts). */
declare const lichenDeviceStackHere: ((slots?: number) => number) | undefined;
declare const lichenDeviceStackLimit: (() => number) | undefined;
declare const lichenDeviceStack: ((slots?: number) => number) | undefined;

/** The stack each turn is granted: the test's (the test harness sets it), 0 for none. */
let turnSlots = 0;

/** Sets the stack a turn is granted (the test harness: the running test's, host-tests/runner/uvu-shim.ts). */
export function setDeviceTurnSlots(slots: number): void {
  turnSlots = slots;
}

/** Runs `fn` as the device runs a callback from its event loop: with the test's stack above the caller. */
export function deviceTurn(fn: () => void): void {
  if (turnSlots === 0 || typeof lichenDeviceStackLimit !== "function" || typeof lichenDeviceStackHere !== "function" || typeof lichenDeviceStack !== "function") {
    fn();
    return;
  }
  const limit = lichenDeviceStackLimit();
  try {
    lichenDeviceStackHere(turnSlots); // from this frame, laid out as fn's
    fn();
  } finally {
    lichenDeviceStack(limit);
  }
}
