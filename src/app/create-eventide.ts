/**
 * `createEventide()`: the runtime with its read models, for programs that embed eventide (`npm start`
 * uses it too). A composition root: the runtime knows no projection and the projections know nothing of
 * who starts them, so this is the one place that puts them together: the projection engine as the
 * runtime's first worker plugin, then the main-thread `Views` on the open runtime.
 *
 * `createRuntime` alone stays the way to run the runtime without read models (tools, tests of the
 * runtime, programs that only need commands and the time machine).
 *
 * Gotchas:
 * - Close through `close()` (or the views before the runtime): a rebuild still running would otherwise
 *   write after the runtime closed its log (see `Views.close`).
 */
import { Views, projectionEngine } from '../projections/index.js';
import { createRuntime, type DomainModule, type Runtime, type RuntimeOptions } from '../runtime/index.js';

export interface EventideOptions extends RuntimeOptions {
  /**
   * Projection modules (read models) the projection engine runs: absolute paths or file URLs of modules
   * whose default export is a projection. Default: the built-in `balances` and `videos` views.
   */
  views?: DomainModule[];
}

export interface Eventide {
  readonly runtime: Runtime;
  /** The read models: get, list, lag, read-your-writes waits, rebuild, reconcile. */
  readonly views: Views;
  /** Closes the views (waiting for running rebuilds), then the runtime. Idempotent. */
  close(): Promise<void>;
}

export async function createEventide(options: EventideOptions): Promise<Eventide> {
  const { views: viewModules, workerPlugins = [], ...runtimeOptions } = options ?? ({} as EventideOptions);
  // The engine first: plugins see each batch in order, and its live path joins the batch of the events.
  const runtime = await createRuntime({ ...runtimeOptions, workerPlugins: [projectionEngine(viewModules), ...workerPlugins] });
  let views: Views;
  try {
    views = await Views.open(runtime);
  } catch (err) {
    await runtime.close();
    throw err;
  }
  let closing: Promise<void> | undefined;
  const close = async (): Promise<void> => {
    await views.close();
    await runtime.close();
  };
  return { runtime, views, close: () => (closing ??= close()) };
}
