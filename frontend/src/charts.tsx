/**
 * Hand-written SVG line charts (no charting library): a time x-axis, one or two y-axes with units,
 * a legend with each series' latest value, lines broken where a value is missing (null), and an
 * empty state that says why there is nothing to draw.
 */
import type { ReactNode } from "react";

export type Series = {
  label: string;
  values: readonly (number | null)[];
  color: string;
  /** Which y-axis the series is scaled on; the right one needs `rightUnit` on the chart. */
  axis?: "left" | "right";
  dashed?: boolean;
};

const WIDTH = 640;
const HEIGHT = 200;
const PAD = { top: 12, right: 56, bottom: 26, left: 56 };
const PLOT_W = WIDTH - PAD.left - PAD.right;
const PLOT_H = HEIGHT - PAD.top - PAD.bottom;

/** Chart colours that stay apart for colour-blind readers (Okabe-Ito). */
export const COLORS = {
  blue: "#0072B2",
  orange: "#E69F00",
  green: "#009E73",
  red: "#D55E00",
  purple: "#CC79A7",
  sky: "#56B4E9",
  grey: "#6b7280",
} as const;

/** "Nice" tick values from 0 (or the minimum when negative) to at least `max`. */
export function niceTicks(max: number, count = 4): number[] {
  if (!(max > 0)) return [0, 1];
  const raw = max / count;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * magnitude).find((s) => s >= raw) ?? raw;
  const ticks: number[] = [];
  for (let v = 0; v <= max + step * 1e-9; v += step) ticks.push(Number(v.toPrecision(12)));
  if (ticks[ticks.length - 1]! < max) ticks.push(Number((ticks.length * step).toPrecision(12)));
  return ticks;
}

export function formatNumber(value: number): string {
  const abs = Math.abs(value);
  if (abs === 0) return "0";
  if (abs >= 1e9) return `${(value / 1e9).toFixed(abs >= 1e10 ? 0 : 1)}G`;
  if (abs >= 1e6) return `${(value / 1e6).toFixed(abs >= 1e7 ? 0 : 1)}M`;
  if (abs >= 1e4) return `${(value / 1e3).toFixed(0)}k`;
  if (abs >= 100) return value.toFixed(0);
  if (abs >= 10) return value.toFixed(1).replace(/\.0$/, "");
  if (abs >= 1) return value.toFixed(2).replace(/\.?0+$/, "");
  return value.toPrecision(2).replace(/\.?0+$/, "");
}

function formatTick(ms: number, spanMs: number): string {
  const d = new Date(ms);
  const hh = String(d.getHours()).padStart(2, "0");
  const mm = String(d.getMinutes()).padStart(2, "0");
  if (spanMs <= 20 * 60_000) return `${hh}:${mm}:${String(d.getSeconds()).padStart(2, "0")}`;
  return `${hh}:${mm}`;
}

const present = (v: number | null | undefined): v is number =>
  v !== null && v !== undefined && Number.isFinite(v);

/** Indices of values with no present neighbour: a path cannot show them, so they get a dot. */
export function isolated(values: readonly (number | null)[]): number[] {
  return values.flatMap((v, i) =>
    present(v) && !present(values[i - 1]) && !present(values[i + 1]) ? [i] : [],
  );
}

/** SVG path of one series: "M" starts a run after a gap, "L" continues it. */
export function linePath(
  times: readonly number[],
  values: readonly (number | null)[],
  x: (t: number) => number,
  y: (v: number) => number,
): string {
  let d = "";
  let open = false;
  values.forEach((v, i) => {
    const t = times[i];
    if (v === null || v === undefined || !Number.isFinite(v) || t === undefined) {
      open = false;
      return;
    }
    d += `${open ? "L" : "M"}${x(t).toFixed(1)},${y(v).toFixed(1)}`;
    open = true;
  });
  return d;
}

export function LineChart({
  title,
  times,
  from,
  to,
  series,
  unit,
  rightUnit,
  format = formatNumber,
  formatRight = formatNumber,
  empty,
}: {
  title: string;
  /** Milliseconds since the epoch of each point (the series' values share them). */
  times: readonly number[];
  from: number;
  to: number;
  series: readonly Series[];
  unit: string;
  rightUnit?: string;
  format?: (v: number) => string;
  formatRight?: (v: number) => string;
  /** Shown instead of the chart when no series has a value: say why. */
  empty: ReactNode;
}) {
  const hasData = series.some((s) => s.values.some((v) => v !== null && Number.isFinite(v)));
  const maxOf = (axis: "left" | "right") =>
    Math.max(
      0,
      ...series
        .filter((s) => (s.axis ?? "left") === axis)
        .flatMap((s) => s.values.filter((v): v is number => v !== null && Number.isFinite(v))),
    );
  const leftTicks = niceTicks(maxOf("left"));
  const rightTicks = niceTicks(maxOf("right"));
  const leftMax = leftTicks[leftTicks.length - 1]!;
  const rightMax = rightTicks[rightTicks.length - 1]!;
  const span = Math.max(to - from, 1);
  const x = (t: number) => PAD.left + ((t - from) / span) * PLOT_W;
  const yLeft = (v: number) => PAD.top + PLOT_H - (v / leftMax) * PLOT_H;
  const yRight = (v: number) => PAD.top + PLOT_H - (v / rightMax) * PLOT_H;
  const xTicks = Array.from({ length: 5 }, (_, i) => from + (span * i) / 4);
  const hasRight = rightUnit !== undefined && series.some((s) => s.axis === "right");

  return (
    <figure className="chart" aria-label={title}>
      <figcaption className="chart-title">
        {title}
        <span className="muted">
          {" "}
          ({unit}
          {hasRight ? ` · right axis: ${rightUnit}` : ""})
        </span>
      </figcaption>
      {!hasData ? (
        <div className="chart-empty" role="note">
          {empty}
        </div>
      ) : (
        <svg
          viewBox={`0 0 ${WIDTH} ${HEIGHT}`}
          role="img"
          aria-label={`${title}: ${series.map((s) => s.label).join(", ")}`}
          className="chart-svg"
        >
          {leftTicks.map((tick) => (
            <g key={`l${tick}`}>
              <line
                x1={PAD.left}
                x2={WIDTH - PAD.right}
                y1={yLeft(tick)}
                y2={yLeft(tick)}
                className="chart-grid"
              />
              <text x={PAD.left - 6} y={yLeft(tick) + 4} textAnchor="end" className="chart-tick">
                {format(tick)}
              </text>
            </g>
          ))}
          {hasRight &&
            rightTicks.map((tick) => (
              <text
                key={`r${tick}`}
                x={WIDTH - PAD.right + 6}
                y={yRight(tick) + 4}
                textAnchor="start"
                className="chart-tick"
              >
                {formatRight(tick)}
              </text>
            ))}
          <text
            x={12}
            y={PAD.top + PLOT_H / 2}
            transform={`rotate(-90 12 ${PAD.top + PLOT_H / 2})`}
            textAnchor="middle"
            className="chart-unit"
          >
            {unit}
          </text>
          {hasRight && (
            <text
              x={WIDTH - 10}
              y={PAD.top + PLOT_H / 2}
              transform={`rotate(90 ${WIDTH - 10} ${PAD.top + PLOT_H / 2})`}
              textAnchor="middle"
              className="chart-unit"
            >
              {rightUnit}
            </text>
          )}
          {xTicks.map((t) => (
            <text
              key={t}
              x={x(t)}
              y={HEIGHT - 6}
              textAnchor={t === from ? "start" : t === to ? "end" : "middle"}
              className="chart-tick"
            >
              {formatTick(t, span)}
            </text>
          ))}
          <line
            x1={PAD.left}
            x2={WIDTH - PAD.right}
            y1={PAD.top + PLOT_H}
            y2={PAD.top + PLOT_H}
            className="chart-axis"
          />
          {series.flatMap((s) =>
            isolated(s.values).map((i) => (
              <circle
                key={`${s.label}-${i}`}
                cx={x(times[i]!)}
                cy={(s.axis === "right" ? yRight : yLeft)(s.values[i]!)}
                r={2.5}
                fill={s.color}
                data-series-dot={s.label}
              />
            )),
          )}
          {series.map((s) => (
            <path
              key={s.label}
              d={linePath(times, s.values, x, s.axis === "right" ? yRight : yLeft)}
              data-series={s.label}
              data-points={s.values.filter((v) => v !== null && Number.isFinite(v)).length}
              fill="none"
              stroke={s.color}
              strokeWidth={1.8}
              strokeDasharray={s.dashed ? "5 4" : undefined}
              strokeLinejoin="round"
            />
          ))}
        </svg>
      )}
      <ul className="chart-legend" aria-label={`${title} legend`}>
        {series.map((s) => {
          const last = [...s.values].reverse().find((v) => v !== null && Number.isFinite(v));
          const fmt = s.axis === "right" ? formatRight : format;
          const u = s.axis === "right" && rightUnit !== undefined ? rightUnit : unit;
          return (
            <li key={s.label}>
              <span
                className={`swatch${s.dashed ? " swatch-dashed" : ""}`}
                style={{ borderColor: s.color }}
                aria-hidden="true"
              />
              {s.label}
              <span className="muted">
                {" "}
                {last === undefined || last === null ? "—" : `${fmt(last)} ${u}`}
              </span>
            </li>
          );
        })}
      </ul>
    </figure>
  );
}
