/**
 * How a runtime runs the projection engine: as a worker plugin (worker-projector.ts) that a composition
 * root passes to `createRuntime({ workerPlugins: [projectionEngine(views)] })`; `createEventide` (src/app/)
 * and `npm start` do. The runtime never imports this folder (DESIGN: runtime <- projections): it loads the
 * plugin by module URL, like a decider, and lists it in `runtime.workerPlugins`, where `Views.open` finds
 * which views the workers run.
 *
 * Gotchas:
 * - The engine must come first in `workerPlugins` when another plugin writes views too: plugins see each
 *   batch in that order, and the live path joins the batch that commits the events.
 * - One engine per runtime: a second spec would project every view twice into the same rows.
 */
import { ErrorCodes, RuntimeError } from '../kernel/index.js';
import { toModuleUrl, type DomainModule, type Runtime, type WorkerPluginSpec } from '../runtime/index.js';

const ext = import.meta.url.endsWith('.ts') ? '.ts' : '.js';

/** The projection engine's worker side, named by URL: workers import it, the runtime does not. */
export const PROJECTION_ENGINE_MODULE = new URL(`./worker-projector${ext}`, import.meta.url).href;

/** The built-in read models: account balances and video statuses. */
export const builtinViews: DomainModule[] = [new URL(`./views/balances${ext}`, import.meta.url), new URL(`./views/videos${ext}`, import.meta.url)];

/** The worker plugin that runs `views` (projection modules: absolute paths or file URLs; default: the built-in ones). */
export function projectionEngine(views: readonly DomainModule[] = builtinViews): WorkerPluginSpec {
  return { module: PROJECTION_ENGINE_MODULE, options: { views: views.map(toModuleUrl) } };
}

/** The view modules the runtime's workers project; `InvalidOptions` when it runs no projection engine. */
export function viewModulesOf(runtime: Pick<Runtime, 'workerPlugins'>): string[] {
  const engines = runtime.workerPlugins.filter((p) => p.module === PROJECTION_ENGINE_MODULE);
  if (engines.length !== 1) {
    throw new RuntimeError(
      ErrorCodes.InvalidOptions,
      engines.length === 0
        ? 'this runtime runs no projection engine: open it with createEventide(...), or pass workerPlugins: [projectionEngine(views)] to createRuntime'
        : `this runtime runs ${engines.length} projection engines; pass projectionEngine(views) once`,
    );
  }
  return (engines[0]!.options as { views: string[] }).views;
}
