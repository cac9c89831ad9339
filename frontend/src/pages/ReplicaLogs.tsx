/**
 * The model page's "Logs" tab: the last TAIL lines its replicas wrote, refreshed every 2 s.
 *
 * Contract: shows `replicaLogs(model, tail)` in order (oldest first), each line with its replica
 * id, in a scrolling monospace panel (role "log", named "Replica logs"). The panel follows new
 * lines while it is scrolled to the bottom and stays put once the user scrolls up ("Jump to
 * latest" returns). "Pause" stops polling and freezes the lines; "Resume" loads at once.
 *
 * Polling the tail (rather than the `replicaLogs` subscription) is deliberate: each answer is the
 * server's whole current tail, so a missed poll, a reconnect or a restarted replica never leaves
 * gaps or duplicates to reconcile, and it works behind proxies without WebSockets.
 */
import { useLayoutEffect, useRef, useState } from "react";
import { ReplicaLogsDocument } from "../api/generated";
import { useAuth } from "../auth";
import { Banner, EmptyState, Spinner } from "../components";
import { usePoll } from "../usePoll";

export const TAIL = 200;
const POLL_MS = 2000;
// Within this many pixels of the bottom counts as "at the bottom" (sub-pixel rounding, zoom).
const STICK_PX = 8;

export function ReplicaLogs({ model }: { model: string }) {
  const { client } = useAuth();
  const [paused, setPaused] = useState(false);
  const poll = usePoll(
    () => client.request(ReplicaLogsDocument, { model, tail: TAIL }),
    POLL_MS,
    !paused,
  );
  const lines = poll.data?.replicaLogs;
  const panel = useRef<HTMLDivElement>(null);
  const [following, setFollowing] = useState(true);

  // After each render with new lines, keep the newest in view unless the user scrolled up.
  useLayoutEffect(() => {
    const el = panel.current;
    if (el && following) el.scrollTop = el.scrollHeight;
  }, [lines, following]);

  const onScroll = () => {
    const el = panel.current;
    if (!el) return;
    setFollowing(el.scrollHeight - el.scrollTop - el.clientHeight <= STICK_PX);
  };

  return (
    <section className="card logs" aria-label="Replica logs">
      <header className="card-header">
        <h2>Replica logs</h2>
        <div className="actions">
          <span className="muted" aria-live="polite">
            {paused ? "Paused" : `Live · last ${TAIL} lines, every ${POLL_MS / 1000} s`}
          </span>
          <button type="button" aria-pressed={paused} onClick={() => setPaused((p) => !p)}>
            {paused ? "Resume" : "Pause"}
          </button>
        </div>
      </header>
      {poll.error && (
        <Banner tone={lines === undefined ? "error" : "warning"}>
          {lines === undefined ? "Could not load the logs. " : "Showing the last lines loaded. "}
          {poll.error.message}
        </Banner>
      )}
      {lines === undefined ? (
        poll.loading && (
          <p className="muted">
            <Spinner /> Loading logs…
          </p>
        )
      ) : lines.length === 0 ? (
        <EmptyState title="No log lines yet">
          <p>Replicas write here when they start.</p>
        </EmptyState>
      ) : (
        <>
          <div
            ref={panel}
            className="log-panel mono"
            role="log"
            aria-label="Log lines"
            // Announcing every line would drown a screen reader; the panel is read on demand.
            aria-live="off"
            tabIndex={0}
            onScroll={onScroll}
          >
            <ol>
              {lines.map((l, i) => (
                // The tail is replaced whole on each poll and lines carry no id, so the position
                // is the identity.
                <li key={i}>
                  <span className="log-replica" title={l.replicaId}>
                    {l.replicaId.slice(0, 12)}
                  </span>
                  <span className="log-text">{l.line}</span>
                </li>
              ))}
            </ol>
          </div>
          {!following && (
            <button type="button" className="log-jump" onClick={() => setFollowing(true)}>
              Jump to latest
            </button>
          )}
        </>
      )}
    </section>
  );
}
