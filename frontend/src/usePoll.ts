/**
 * `usePoll(load, intervalMs)`: runs `load` now and again `intervalMs` after each answer (never two
 * at once), while the tab is visible. Keeps the last data while a later load fails, so a blip
 * shows as a warning above the data instead of blanking the page. `enabled: false` stops polling
 * (keeping the last data) until it is true again, which loads at once.
 */
import { useCallback, useEffect, useRef, useState } from "react";

export type Poll<T> = {
  data: T | undefined;
  error: Error | null;
  loading: boolean;
  refresh: () => Promise<void>;
};

export function usePoll<T>(
  load: () => Promise<T>,
  intervalMs: number,
  enabled = true,
): Poll<T> {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<Error | null>(null);
  const [loading, setLoading] = useState(true);
  const loadRef = useRef(load);
  loadRef.current = load;
  const alive = useRef(true);

  const refresh = useCallback(async () => {
    try {
      const value = await loadRef.current();
      if (!alive.current) return;
      setData(value);
      setError(null);
    } catch (caught) {
      if (!alive.current) return;
      setError(caught instanceof Error ? caught : new Error(String(caught)));
    } finally {
      if (alive.current) setLoading(false);
    }
  }, []);

  useEffect(() => {
    alive.current = true;
    if (!enabled) return;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const tick = async () => {
      if (typeof document === "undefined" || document.visibilityState !== "hidden") {
        await refresh();
      }
      if (alive.current) timer = setTimeout(tick, intervalMs);
    };
    void tick();
    return () => {
      alive.current = false;
      if (timer !== undefined) clearTimeout(timer);
    };
  }, [refresh, intervalMs, enabled]);

  return { data, error, loading, refresh };
}
