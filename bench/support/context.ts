/** What every suite gets from `run.ts`: the mode, a place for figures and curves, and the progress bar. */
import type { Figure, FigureId } from '../figures.js';

export interface Series {
  name: string;
  points: Array<[x: number, y: number]>;
}

export interface Curve {
  id: string;
  title: string;
  xLabel: string;
  yLabel: string;
  xLog?: boolean;
  yLog?: boolean;
  series: Series[];
}

/**
 * One row of the peers table (suites/peers.ts): the same workload on eventide and on what a user would
 * pick instead. Null figures: the peer did not run (`available` false, `note` says why).
 */
export interface PeerRow {
  peer: string;
  /** What an acknowledgement means for this peer ("yes: ..." / "no: ..."). */
  durable: string;
  available: boolean;
  commandsPerSec: number | null;
  /** Closed loop at capacity: send to answer. */
  p50Ms: number | null;
  p99Ms: number | null;
  /** Open loop at the table's `openRate`: due time to answer. */
  openP50Ms: number | null;
  openP99Ms: number | null;
  /** CPU of every process the peer uses (the client's threads, the database server's processes). */
  cpuUsPerCommand: number | null;
  note: string;
}

export interface PeerTable {
  /** The workload and method in one sentence (printed above the table). */
  workload: string;
  openRate: number;
  /** os.loadavg() when the suite started and ended: the box is shared, so say how busy it was. */
  loadavg: { before: number[]; after: number[] };
  rows: PeerRow[];
}

export interface BenchContext {
  readonly quick: boolean;
  readonly cores: number;
  figure(f: Figure): void;
  curve(c: Curve): void;
  /** The peers table (one per run; printed and written first). */
  peers(table: PeerTable): void;
  /** Advances the progress bar by one step and names what runs next. */
  step(label: string): void;
  /** A line of output that does not break the progress bar. */
  info(message: string): void;
  /** Figures one suite hands to a later one (the latency suite loads at half the measured throughput). */
  readonly shared: { throughput?: number };
}

export interface Suite {
  name: string;
  /** The figures this suite reports; if it throws, they are reported as not available with the error. */
  figures: FigureId[];
  /**
   * Why a plain `--quick` run leaves it out (it would add more than the quick run can afford); it still
   * runs when `--only` names it. Its figures are then reported as not available with this reason.
   */
  notInQuick?: string;
  /** Its time limit in full mode when it needs more than the default (bench/run.ts, `suiteTimeoutMs`). */
  fullTimeoutMs?: number;
  /** Progress steps it will announce (for the bar's total). */
  steps(quick: boolean): number;
  run(ctx: BenchContext): Promise<void>;
}
