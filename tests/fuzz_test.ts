/**
 * A short fuzz run (`tools/fuzz.ts`) in CI: every front end of a real server subprocess gets
 * random and mutated frames with a fixed seed; each must get its defined answer while the
 * server stays up and the control sessions echo their input byte for byte.
 */
import assert from "node:assert/strict";
import { fuzz } from "../tools/fuzz.ts";

Deno.test("6,000 fuzz frames across every front end get their defined answers", async () => {
  const report = await fuzz({ frames: 6000, seed: 20260521, batch: 1000 });
  assert.equal(report.frames, 6000);
  assert.ok(report.probes >= 6, `only ${report.probes} health probes passed`);
  assert.ok(report.controlBytes > 0, "no control output was verified");
  for (const lane of ["pow.v2", "pow-1", "rest", "further-link", "raw", "wubsub"]) {
    assert.ok(
      Object.keys(report.classes).some((key) => key.startsWith(`${lane}/`)),
      `lane ${lane} sent nothing`,
    );
  }
  assert.deepEqual(report.violations, []);
});
