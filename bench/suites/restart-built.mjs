// Restart from the built package (what `npm start` runs): the runtime and the server from dist/, then
// /health polled until 200. Plain JS on purpose: no tsx in the measured start-up. One JSON line out.
import { performance } from 'node:perf_hooks';

const [dist, dataDir] = process.argv.slice(2);
const { createRuntime } = await import(`${dist}/src/runtime/index.js`);
const { projectionEngine } = await import(`${dist}/src/projections/index.js`);
const t0 = performance.now();
// With the projection engine, as npm start runs it (buildServer opens the views on it).
const rt = await createRuntime({ dataDir, workerPlugins: [projectionEngine()] });
const createMs = performance.now() - t0;
const { buildServer } = await import(`${dist}/src/server/app.js`);
const app = await buildServer({ runtime: rt, logger: false });
const url = await app.listen({ port: 0, host: '127.0.0.1' });
for (;;) {
  const res = await fetch(`${url}/health`).catch(() => null);
  if (res?.status === 200) break;
  await new Promise((r) => setTimeout(r, 5));
}
console.log(JSON.stringify({ ready: performance.now(), createMs, viaHealth: true }));
await app.close();
await rt.close();
