/**
 * How long a test waits for something that must happen (a process to start, a connection, a
 * convergence, an exit) before it fails. A guard against hangs, never a measure of speed: every
 * wait ends as soon as its condition holds, so a generous limit costs nothing when things work,
 * and a busy 2-core machine (CI beside other work) may run many times slower than an idle one.
 * A test asserts what happened, not how fast; where time matters it uses simulated time.
 */
export const PATIENCE_MS = 120_000;
