import { render, screen } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import { LineChart, linePath, niceTicks } from "../src/charts";

const T0 = Date.parse("2026-11-30T00:00:00Z");
const times = [0, 1, 2, 3, 4].map((i) => T0 + i * 10_000);

function chart(values: (number | null)[], empty = "nothing measured yet") {
  return render(
    <LineChart
      title="Load"
      times={times}
      from={T0}
      to={T0 + 40_000}
      unit="req/s"
      rightUnit="replicas"
      empty={empty}
      series={[
        { label: "Requests/s", values, color: "#000" },
        { label: "Ready replicas", values: [1, 1, 2, 2, 2], color: "#0a0", axis: "right" },
      ]}
    />,
  );
}

describe("LineChart", () => {
  it("draws each series' points with axes, units and a legend", () => {
    const { container } = chart([0.5, 1, 2, 1.5, 3]);
    const line = container.querySelector('path[data-series="Requests/s"]');
    expect(line?.getAttribute("data-points")).toBe("5");
    expect(line?.getAttribute("d")?.match(/[ML]/g)).toHaveLength(5);
    expect(container.querySelector('path[data-series="Ready replicas"]')).not.toBeNull();
    expect(screen.getByText("req/s", { selector: "text" })).toBeTruthy(); // left axis unit
    expect(screen.getByText("replicas", { selector: "text" })).toBeTruthy(); // right axis unit
    const legend = screen.getByRole("list", { name: "Load legend" });
    expect(legend.textContent).toContain("Requests/s 3 req/s"); // the latest value
    expect(legend.textContent).toContain("Ready replicas 2 replicas");
  });

  it("breaks the line where values are missing", () => {
    const { container } = chart([1, null, null, 2, 3]);
    const d = container.querySelector('path[data-series="Requests/s"]')?.getAttribute("d") ?? "";
    expect(d.match(/M/g)).toHaveLength(2);
    expect(d.match(/L/g)).toHaveLength(1);
    expect(container.querySelectorAll('circle[data-series-dot="Requests/s"]')).toHaveLength(1); // the lone 1
  });

  it("marks a point with no neighbour, which a line cannot show", () => {
    const { container } = chart([null, 2, null, null, null]);
    expect(container.querySelectorAll('circle[data-series-dot="Requests/s"]')).toHaveLength(1);
  });

  it("says why it is empty instead of drawing an empty frame", () => {
    const { container } = render(
      <LineChart
        title="Latency"
        times={times}
        from={T0}
        to={T0 + 40_000}
        unit="ms"
        empty="No requests in the last 1 h"
        series={[{ label: "p50", values: [null, null, null, null, null], color: "#000" }]}
      />,
    );
    expect(container.querySelector("svg")).toBeNull();
    expect(screen.getByRole("note").textContent).toBe("No requests in the last 1 h");
  });

  it("picks round ticks that cover the maximum", () => {
    expect(niceTicks(7)).toEqual([0, 2, 4, 6, 8]);
    expect(niceTicks(0)).toEqual([0, 1]);
    expect(niceTicks(0.3).at(-1)).toBeGreaterThanOrEqual(0.3);
    expect(linePath([0, 1], [null, null], (t) => t, (v) => v)).toBe("");
  });
});
