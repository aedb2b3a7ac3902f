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

export interface BenchContext {
  readonly quick: boolean;
  readonly cores: number;
  figure(f: Figure): void;
  curve(c: Curve): void;
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
  /** Progress steps it will announce (for the bar's total). */
  steps(quick: boolean): number;
  run(ctx: BenchContext): Promise<void>;
}
