export { projectionEngine, builtinViews, viewModulesOf, PROJECTION_ENGINE_MODULE } from './projection-engine.js';
export { Views, type Position, type ViewsOptions, type ViewRow, type PartitionLag, type RebuildStatus } from './views.js';
export { foldPartitions, reconcilePartitions, type DamagedPartition, type Mismatch, type ReconcileReport } from './fold.js';
export { loadProjections, type Projection, type AnyProjection } from './types.js';
export { balancesView, type BalanceRow } from './views/balances.js';
export { videosView, statusMovesForward, type VideoRow } from './views/videos.js';
export { rebuildOffline, reconcileOffline } from './offline.js';
