/**
 * Child process of the restart suite: opens the runtime on an existing data dir and prints one JSON
 * line when it is ready (and, once the HTTP server exists, when `/health` answers 200). With `--empty`
 * it prints at once: the floor of starting node + tsx.
 */
import { performance } from 'node:perf_hooks';

const [dir, mode] = process.argv.slice(2);
if (mode === '--empty') {
  console.log(JSON.stringify({ ready: performance.now() }));
} else {
  const { startRuntime } = await import('../support/runtime.js');
  const { findServer } = await import('../support/server.js');
  const t0 = performance.now();
  const rt = await startRuntime(dir!);
  const createMs = performance.now() - t0;
  const factory = await findServer();
  let health: number | null = null;
  let srv = null;
  if (factory) {
    srv = await factory(rt);
    for (;;) {
      const res = await fetch(`${srv.url}/health`).catch(() => null);
      if (res?.status === 200) break;
      await new Promise((r) => setTimeout(r, 5));
    }
    health = performance.now();
  }
  console.log(JSON.stringify({ ready: health ?? performance.now(), createMs, viaHealth: health !== null }));
  await srv?.close();
  await rt.close();
}
