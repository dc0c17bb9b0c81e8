// One uPlot time-series chart per topic: a line of raw readings, or for bucketed ranges the
// average with a min-max band. Data are columns: x in epoch seconds, then one array per line.
import uPlot from "uplot";

const COLORS = ["#2563eb", "#15803d", "#c2410c", "#be185d", "#7c3aed", "#0e7490"];

function size(element) {
  const width = Math.max(220, Math.floor(element.getBoundingClientRect().width));
  return { width, height: width < 520 ? 180 : 230 };
}

function hexToRgba(hex, alpha) {
  const n = Number.parseInt(hex.slice(1), 16);
  return `rgba(${(n >> 16) & 255}, ${(n >> 8) & 255}, ${n & 255}, ${alpha})`;
}

function format(value, unit) {
  if (value == null) return "–";
  const shown = Number(value).toLocaleString(undefined, { maximumFractionDigits: 3 });
  return unit ? `${shown} ${unit}` : shown;
}

/**
 * ``xRange()`` answers the visible [start, end] in epoch seconds: the chosen range, not the
 * data's. ``unit`` (the series' unit, or null) labels the value axis and the legend's values.
 */
export function createChart({ element, label, unit, bucketed, index, xRange }) {
  const color = COLORS[index % COLORS.length];
  const series = [{ label: "Time" }];
  if (bucketed) {
    series.push(
      { label: "avg", stroke: color, width: 2, value: (u, v) => format(v, unit) },
      { label: "min", stroke: hexToRgba(color, 0.45), width: 1, value: (u, v) => format(v, unit) },
      { label: "max", stroke: hexToRgba(color, 0.45), width: 1, value: (u, v) => format(v, unit) },
    );
  } else {
    series.push({ label, stroke: color, width: 2, value: (u, v) => format(v, unit) });
  }
  const options = {
    ...size(element),
    series,
    scales: { x: { time: true, range: () => xRange() } },
    axes: [{ stroke: "#475569" }, valueAxis(unit)],
    cursor: { drag: { x: false, y: false } },
  };
  if (bucketed) options.bands = [{ series: [3, 2], fill: hexToRgba(color, 0.12) }];
  const empty = series.map(() => []);
  return new uPlot(options, empty, element);
}

function valueAxis(unit) {
  const axis = { stroke: "#475569", size: 56 };
  if (unit) Object.assign(axis, { label: unit, labelSize: 20, labelFont: "600 12px system-ui, sans-serif" });
  return axis;
}

/**
 * Break the lines where readings stop for a while (a device offline, a server restart):
 * a null point after every gap over five typical intervals, so uPlot does not draw a
 * straight line through time nobody measured.
 */
export function withGaps(columns) {
  const x = columns[0];
  if (x.length < 3) return columns;
  const steps = [];
  for (let i = 1; i < x.length; i += 1) steps.push(x[i] - x[i - 1]);
  steps.sort((a, b) => a - b);
  const typical = steps[Math.floor(steps.length / 2)];
  const limit = Math.max(5 * typical, 5);
  const out = columns.map(() => []);
  for (let i = 0; i < x.length; i += 1) {
    if (i > 0 && x[i] - x[i - 1] > limit) {
      out[0].push(x[i - 1] + typical);
      for (let c = 1; c < columns.length; c += 1) out[c].push(null);
    }
    for (let c = 0; c < columns.length; c += 1) out[c].push(columns[c][i]);
  }
  return out;
}

export function resizeChart(chart, element) {
  chart.setSize(size(element));
}
