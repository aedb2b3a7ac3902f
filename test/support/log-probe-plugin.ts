/**
 * A worker plugin that tells what log its actor host reads through (`runtime.plugin('log-probe')`): whether
 * it is versioned (runtime/versioned-log.ts) and whether what `storedReads` peels off is the adapter
 * itself (a log wrapped twice would leave a versioned log there, and pages would be written decoded).
 */
import { isVersioned, storedReads, type WorkerPluginFactory } from '../../src/runtime/index.js';

export interface LogProbe {
  versioned: boolean;
  storedIsVersioned: boolean;
}

const logProbe: WorkerPluginFactory = (ctx) => ({
  name: 'log-probe',
  onRequest: (): LogProbe => ({ versioned: isVersioned(ctx.log), storedIsVersioned: isVersioned(storedReads(ctx.log)) }),
});

export const logProbePlugin = new URL('./log-probe-plugin.ts', import.meta.url);

export default logProbe;
