/**
 * The run's progress bar (cli-progress) on a terminal; plain "[bench] ..." lines otherwise (CI, the
 * quick-mode test), so logs stay readable.
 */
import cliProgress from 'cli-progress';

export class Progress {
  readonly #tty = process.stderr.isTTY === true;
  readonly #multi: cliProgress.MultiBar | null;
  readonly #bar: cliProgress.SingleBar | null;
  #value = 0;
  readonly #total: number;

  constructor(total: number) {
    this.#total = total;
    if (this.#tty) {
      this.#multi = new cliProgress.MultiBar(
        { format: ' {bar} {percentage}% | {value}/{total} | {duration_formatted} | {label}', hideCursor: true, clearOnComplete: false, stopOnComplete: false },
        cliProgress.Presets.shades_classic,
      );
      this.#bar = this.#multi.create(total, 0, { label: 'starting' });
    } else {
      this.#multi = null;
      this.#bar = null;
    }
  }

  step(label: string): void {
    this.#value = Math.min(this.#total, this.#value + 1);
    if (this.#bar) this.#bar.update(this.#value, { label });
    else process.stderr.write(`[bench] ${this.#value}/${this.#total} ${label}\n`);
  }

  info(message: string): void {
    if (this.#multi) this.#multi.log(`${message}\n`);
    else process.stderr.write(`[bench] ${message}\n`);
  }

  stop(): void {
    if (this.#bar) this.#bar.update(this.#total, { label: 'done' });
    this.#multi?.stop();
  }
}
