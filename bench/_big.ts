import { bigMapRun, ingestRun } from "./gateway-ingest.js";
const which = process.argv[2];
for (let i = 0; i < 3; i++) {
  if (which !== "ingest") { const r = bigMapRun(10000, 30); console.log("big", r.medianMs.toFixed(2), JSON.stringify(r.written), r.converged); }
  if (which !== "big") { const r = ingestRun("x", 1000, 10); console.log("ingest", Math.round(r.deltas / r.seconds), Math.round(r.deltas / r.cpuSeconds), r.converged); }
}
