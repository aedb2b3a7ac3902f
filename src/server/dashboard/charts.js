// Time-series line charts, drawn by uPlot (its browser build is served by this server from the installed
// package, /dashboard/vendor/uPlot.iife.min.js, and defines the global `uPlot`).

const COLORS = ['#3b5bdb', '#2f9e44', '#e8590c', '#ae3ec9', '#1098ad', '#f08c00', '#c2255c'];
const HEIGHT = 200;

const axis = { stroke: '#6b7385', grid: { stroke: '#eef0f3', width: 1 }, ticks: { stroke: '#e4e7ec', width: 1 } };

function formatValue(v) {
  if (v === null || v === undefined) return '–';
  return Number.isInteger(v) ? v.toLocaleString() : v.toFixed(1);
}

export class LineChart {
  /** `container` gets the chart; `data-points` and `data-max` on it say how many points it shows and their largest value. */
  constructor(container, title) {
    this.container = container;
    this.title = title;
    this.plot = null;
    this.labels = '';
  }

  /** `xs`: epoch seconds; `series`: [{ label, values }], one value per x (null for none). */
  set(xs, series) {
    if (typeof window.uPlot !== 'function') {
      this.container.textContent = 'charts unavailable: uPlot did not load';
      return;
    }
    const labels = series.map((s) => s.label).join('\n');
    if (!this.plot || labels !== this.labels) {
      this.plot?.destroy();
      this.labels = labels;
      this.plot = new window.uPlot(this.options(series), [xs, ...series.map((s) => s.values)], this.container);
    } else {
      this.plot.setData([xs, ...series.map((s) => s.values)]);
    }
    // The legend shows the newest values unless the pointer is over the chart.
    if (xs.length && !(this.plot.cursor.left >= 0)) this.plot.setLegend({ idx: xs.length - 1 });
    this.container.dataset.points = String(xs.length);
    this.container.dataset.max = String(Math.max(0, ...series.flatMap((s) => s.values.filter((v) => typeof v === 'number'))));
  }

  resize() {
    this.plot?.setSize({ width: this.width(), height: HEIGHT });
  }

  width() {
    return Math.max(240, this.container.clientWidth);
  }

  options(series) {
    return {
      title: this.title,
      width: this.width(),
      height: HEIGHT,
      scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, Math.max(1, max ?? 1) * 1.1] } },
      axes: [{ ...axis }, { ...axis, size: 56 }],
      cursor: { drag: { x: false, y: false } },
      series: [
        {},
        ...series.map((s, i) => ({ label: s.label, stroke: COLORS[i % COLORS.length], width: 2, points: { show: false }, value: (_u, v) => formatValue(v) })),
      ],
    };
  }
}
