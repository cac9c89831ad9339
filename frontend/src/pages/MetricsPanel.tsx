/**
 * The model page's Metrics tab: load against replicas, responses by status, latency percentiles,
 * queue, and replica CPU/memory over a chosen window (15 min, 1 h, 6 h, 24 h), refreshed every
 * 10 s (the platform records one point per 10 s); then the cold-start history with each start's
 * phases. Each chart says why it is empty when it is.
 */
import { useEffect, useRef, useState } from "react";
import { ColdStartsDocument, MetricsDocument, type MetricsQuery } from "../api/generated";
import { useAuth } from "../auth";
import { COLORS, LineChart, formatNumber } from "../charts";
import { Banner, Spinner, formatTime } from "../components";
import { usePoll } from "../usePoll";

export const WINDOWS = [
  { key: "15m", label: "15 min", seconds: 15 * 60, step: 10 },
  { key: "1h", label: "1 h", seconds: 3600, step: 10 },
  { key: "6h", label: "6 h", seconds: 6 * 3600, step: 60 },
  { key: "24h", label: "24 h", seconds: 24 * 3600, step: 240 },
] as const;
export type WindowKey = (typeof WINDOWS)[number]["key"];

export const REFRESH_MS = 10_000;

type Series = MetricsQuery["metrics"];
type Point = Series["points"][number];

const ms = (seconds: number | null) => (seconds === null ? null : seconds * 1000);
const MIB = 1024 * 1024;

export function MetricsPanel({ model }: { model: string }) {
  const { client } = useAuth();
  const [windowKey, setWindowKey] = useState<WindowKey>("1h");
  const win = WINDOWS.find((w) => w.key === windowKey) ?? WINDOWS[1];
  const poll = usePoll(() => {
    const to = new Date();
    const from = new Date(to.getTime() - win.seconds * 1000);
    return client.request(MetricsDocument, {
      model,
      from: from.toISOString(),
      to: to.toISOString(),
      step: win.step,
    });
  }, REFRESH_MS);
  const { refresh } = poll;
  const mounted = useRef(false);
  useEffect(() => {
    if (mounted.current) void refresh(); // a new window loads at once, not at the next tick
    mounted.current = true;
  }, [windowKey, refresh]);

  const series = poll.data?.metrics;
  // Points of the previous window stay until the new one answers; do not draw them as this one.
  const span = series ? Date.parse(series.to) - Date.parse(series.from) : 0;
  const current = series && Math.abs(span - win.seconds * 1000) < 60_000 ? series : undefined;

  return (
    <div className="stack">
      <section className="card" aria-label="Metrics">
        <header className="card-header">
          <h2>Metrics</h2>
          <div className="segmented" role="group" aria-label="Time window">
            {WINDOWS.map((w) => (
              <button
                key={w.key}
                type="button"
                aria-pressed={w.key === windowKey}
                className={w.key === windowKey ? "segment segment-active" : "segment"}
                onClick={() => setWindowKey(w.key)}
              >
                {w.label}
              </button>
            ))}
          </div>
        </header>
        {poll.error && (
          <Banner tone={series ? "warning" : "error"}>
            {series ? "Showing the last loaded points. " : "Could not load the metrics. "}
            {poll.error.message}
          </Banner>
        )}
        {!current ? (
          poll.error ? null : (
            <p className="muted">
              <Spinner /> Loading the last {win.label}…
            </p>
          )
        ) : (
          <Charts series={current} windowLabel={win.label} />
        )}
      </section>
      <ColdStartHistory model={model} />
    </div>
  );
}

function Charts({ series, windowLabel }: { series: Series; windowLabel: string }) {
  const from = Date.parse(series.from);
  const to = Date.parse(series.to);
  const points = series.points;
  const times = points.map((p) => Date.parse(p.time));
  const pick = (f: (p: Point) => number | null) => points.map((p) => (p.samples > 0 ? f(p) : null));
  const sampled = points.some((p) => p.samples > 0);
  const requests = points.reduce((n, p) => n + p.requests, 0);
  const errors = points.reduce((n, p) => n + p.requests5xx, 0);
  const throttled = points.reduce((n, p) => n + p.requests429, 0);
  const coldStarts = points.reduce((n, p) => n + p.coldStarts, 0);

  const why = series.deploymentId
    ? sampled
      ? null
      : `No samples in the last ${windowLabel}: the platform records a point every 10 seconds while the deployment runs, so the first appears within 10 s (history survives restarts for 24 h).`
    : "No ACTIVE deployment: charts follow the serving version once a deploy becomes ACTIVE.";
  const noRequests = why ?? `No requests in the last ${windowLabel}; send one from the Playground tab.`;
  const noUsage =
    why ?? "No replica was running to measure: CPU and memory appear while replicas run.";

  return (
    <>
      <p className="muted" aria-label="Window summary">
        {formatNumber(requests)} requests · {formatNumber(errors)} server errors (5xx) ·{" "}
        {formatNumber(throttled)} throttled (429) · {coldStarts} cold start
        {coldStarts === 1 ? "" : "s"} in the last {windowLabel}
      </p>
      <div className="chart-grid-layout">
        <LineChart
          title="Load and replicas"
          times={times}
          from={from}
          to={to}
          unit="req/s"
          rightUnit="replicas"
          empty={why}
          series={[
            { label: "Requests/s", values: pick((p) => p.requestsPerSecond), color: COLORS.blue },
            {
              label: "Ready replicas",
              values: pick((p) => p.replicasReady),
              color: COLORS.green,
              axis: "right",
            },
            {
              label: "Starting replicas",
              values: pick((p) => p.replicasStarting),
              color: COLORS.orange,
              axis: "right",
              dashed: true,
            },
          ]}
        />
        <LineChart
          title="Latency percentiles"
          times={times}
          from={from}
          to={to}
          unit="ms"
          empty={noRequests}
          series={[
            { label: "p50", values: pick((p) => ms(p.latencyP50)), color: COLORS.green },
            { label: "p90", values: pick((p) => ms(p.latencyP90)), color: COLORS.blue },
            { label: "p95", values: pick((p) => ms(p.latencyP95)), color: COLORS.orange },
            { label: "p99", values: pick((p) => ms(p.latencyP99)), color: COLORS.red },
          ]}
        />
        <LineChart
          title="Queue"
          times={times}
          from={from}
          to={to}
          unit="requests"
          rightUnit="ms"
          empty={why}
          series={[
            { label: "Queued", values: pick((p) => p.queued), color: COLORS.orange },
            { label: "In flight", values: pick((p) => p.inFlight), color: COLORS.blue },
            {
              label: "Mean time in queue",
              values: pick((p) => ms(p.queueTimeMean)),
              color: COLORS.purple,
              axis: "right",
              dashed: true,
            },
          ]}
        />
        <LineChart
          title="Responses by status"
          times={times}
          from={from}
          to={to}
          unit="req/s"
          empty={why}
          series={[
            { label: "2xx", values: pick((p) => p.requests2xx / (p.samples * 10)), color: COLORS.green },
            {
              label: "4xx (not 429)",
              values: pick((p) => (p.requests4xx - p.requests429) / (p.samples * 10)),
              color: COLORS.orange,
            },
            { label: "429", values: pick((p) => p.requests429 / (p.samples * 10)), color: COLORS.purple },
            { label: "5xx", values: pick((p) => p.requests5xx / (p.samples * 10)), color: COLORS.red },
          ]}
        />
        <LineChart
          title="Replica resources"
          times={times}
          from={from}
          to={to}
          unit="% of a core"
          rightUnit="MiB"
          empty={noUsage}
          series={[
            { label: "CPU (all replicas)", values: pick((p) => p.cpuPercent), color: COLORS.blue },
            {
              label: "Memory (all replicas)",
              values: pick((p) => (p.memoryBytes === null ? null : p.memoryBytes / MIB)),
              color: COLORS.green,
              axis: "right",
            },
          ]}
        />
      </div>
    </>
  );
}

const PHASE_COLORS = [COLORS.blue, COLORS.orange, COLORS.green, COLORS.purple, COLORS.sky, COLORS.red];

export function ColdStartHistory({ model }: { model: string }) {
  const { client } = useAuth();
  const poll = usePoll(() => client.request(ColdStartsDocument, { model, limit: 20 }), REFRESH_MS);
  const starts = poll.data?.coldStarts;
  const phaseNames = [...new Set((starts ?? []).flatMap((s) => s.phases.map((p) => p.name)))];
  const color = (name: string) => PHASE_COLORS[phaseNames.indexOf(name) % PHASE_COLORS.length];
  const longest = Math.max(0.001, ...(starts ?? []).map((s) => s.seconds));

  return (
    <section className="card" aria-label="Cold starts">
      <header className="card-header">
        <h2>Cold starts</h2>
        <span className="muted">each replica start, newest first</span>
      </header>
      {poll.error && <Banner tone="warning">{poll.error.message}</Banner>}
      {starts === undefined ? (
        poll.error ? null : (
          <p className="muted">
            <Spinner /> Loading…
          </p>
        )
      ) : starts.length === 0 ? (
        <p className="muted" role="note">
          No replica started in the last 24 hours. A start is recorded when a replica becomes
          ready: on deploy, when load adds one, or when a request wakes a model scaled to zero.
        </p>
      ) : (
        <>
          <ul className="chart-legend" aria-label="Phases">
            {phaseNames.map((name) => (
              <li key={name}>
                <span className="swatch swatch-block" style={{ background: color(name) }} aria-hidden="true" />
                {name}
              </li>
            ))}
          </ul>
          <table className="table" aria-label="Cold-start history">
            <thead>
              <tr>
                <th>Ready at</th>
                <th>Replica</th>
                <th className="num">Total</th>
                <th>Phases</th>
              </tr>
            </thead>
            <tbody>
              {starts.map((s) => (
                <tr key={`${s.replicaId}-${s.readyAt}`}>
                  <td>{formatTime(s.readyAt)}</td>
                  <td className="mono">{s.replicaId.slice(0, 14)}</td>
                  <td className="num">{formatSeconds(s.seconds)}</td>
                  <td>
                    <div
                      className="phase-bar"
                      style={{ width: `${Math.max(4, (s.seconds / longest) * 100)}%` }}
                      title={s.phases.map((p) => `${p.name} ${formatSeconds(p.seconds)}`).join(", ")}
                    >
                      {s.phases.map((p) => (
                        <span
                          key={p.name}
                          className="phase"
                          style={{
                            width: `${(p.seconds / Math.max(s.seconds, 0.001)) * 100}%`,
                            background: color(p.name),
                          }}
                        />
                      ))}
                    </div>
                    <span className="muted small">
                      {s.phases.length === 0
                        ? "no phases reported"
                        : s.phases.map((p) => `${p.name} ${formatSeconds(p.seconds)}`).join(" · ")}
                    </span>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
    </section>
  );
}

export function formatSeconds(seconds: number): string {
  return seconds < 1 ? `${Math.round(seconds * 1000)} ms` : `${seconds.toFixed(2)} s`;
}

export function formatBytes(bytes: number | null): string {
  if (bytes === null) return "—";
  if (bytes >= 1024 * MIB) return `${(bytes / (1024 * MIB)).toFixed(2)} GiB`;
  return `${(bytes / MIB).toFixed(0)} MiB`;
}
