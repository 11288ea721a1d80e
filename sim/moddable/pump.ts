// The Moddable stand-ins (mqtt.ts, timer.ts) driven by a test instead of a device's event loop, for
// tests of device code that imports them (host-tests/device/mqtt-moddable.test.ts): the clients'
// ops go to the test file's host service (../xs/service-bridge.ts; the service runs an
// mqtt-bridge-node.ts for them and answers `mqtt-poll`), and `pump(ms)` delivers the host's events
// (CONNACK, messages, closes) and runs the due timers, on Date.now() (both engines).
import { serviceRequest, serviceSend } from "../xs/service-bridge.js";
import { deliverMqttEvents, setMqttLink, type MqttEvent } from "./mqtt.js";
import { nextDue, runDueTimers, Timer, useClock } from "./timer.js";

export { Timer };

/** Routes the stand-ins through the test's host service; call before the device code connects. */
export function usePumpedStandIns(): void {
  setMqttLink(serviceSend);
  useClock(() => Date.now());
}

/** Runs the device side for `ms`: the host's events are delivered, due timers run. */
export async function pump(ms: number): Promise<void> {
  const end = Date.now() + ms;
  for (;;) {
    runDueTimers();
    const now = Date.now();
    if (now >= end) return;
    const waitMs = Math.max(0, Math.min(end, nextDue() ?? Infinity) - now, 0);
    const r = (await serviceRequest({ op: "mqtt-poll", waitMs: Math.min(waitMs, 100) })) as { events: MqttEvent[] };
    deliverMqttEvents(r.events);
  }
}

/** Pumps until `cond` holds; throws after `timeoutMs`. */
export async function pumpUntil(what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await pump(20);
  }
}
