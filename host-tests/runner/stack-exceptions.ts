// Device tests whose code under test needs more stack than the ESP32's (the manifest's 512 slots),
// measured in the device xsnap-worker with LICHEN_DEVICE_STACK=<slots> npm test -- --xs-only <file>
// (the stack granted above the harness; a test that overflows ends its file). Each is granted the
// slots it was measured to run with, and the runner prints it on every run: these are things the
// device cannot do today, not tests that pass on the device.

export interface StackException {
  /** Slots granted above the harness (measured: runs with these, overflows with the next lower step). */
  slots: number;
  why: string;
}

/** file → full test name ("suite › test", as reported), or "*" for every other test of the file → exception. */
export const STACK_EXCEPTIONS: Readonly<Record<string, Readonly<Record<string, StackException>>>> = {
  // none: every device test runs within the device's stack
};

/** The slots each excepted test of `file` gets, by full test name. */
export function stackExceptionsOf(file: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [name, e] of Object.entries(STACK_EXCEPTIONS[file] ?? {})) out[name] = e.slots;
  return out;
}
