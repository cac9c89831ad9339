/**
 * A hash router: "#/models", "#/models/NAME" (+ "/versions", "/metrics", "/playground", "/logs"), "#/deploy", "#/keys".
 * Hash URLs need no server-side fallback, so the backend serves index.html at "/" and nothing
 * else changes for /graphql, /v1.
 */
import { useEffect, useState, type MouseEvent, type ReactNode } from "react";

export type ModelTab = "overview" | "versions" | "metrics" | "playground" | "logs";

export type Route =
  | { page: "models" }
  | { page: "deploy" }
  | { page: "keys" }
  | { page: "model"; name: string; tab: ModelTab }
  | { page: "not-found"; path: string };

export function parseRoute(hash: string): Route {
  const path = hash.replace(/^#/, "") || "/";
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  if (parts.length === 0 || (parts.length === 1 && parts[0] === "models")) return { page: "models" };
  if (parts.length === 1 && parts[0] === "deploy") return { page: "deploy" };
  if (parts.length === 1 && parts[0] === "keys") return { page: "keys" };
  if (parts[0] === "models" && parts[1] && parts.length <= 3) {
    if (parts.length === 2) return { page: "model", name: parts[1], tab: "overview" };
    if (parts[2] === "playground") return { page: "model", name: parts[1], tab: "playground" };
    if (parts[2] === "versions") return { page: "model", name: parts[1], tab: "versions" };
    if (parts[2] === "logs") return { page: "model", name: parts[1], tab: "logs" };
    if (parts[2] === "metrics") return { page: "model", name: parts[1], tab: "metrics" };
  }
  return { page: "not-found", path };
}

export function href(route: Route): string {
  switch (route.page) {
    case "models":
      return "#/models";
    case "deploy":
      return "#/deploy";
    case "keys":
      return "#/keys";
    case "model": {
      const base = `#/models/${encodeURIComponent(route.name)}`;
      return route.tab === "overview" ? base : `${base}/${route.tab}`;
    }
    case "not-found":
      return `#${route.path}`;
  }
}

export function navigate(route: Route): void {
  window.location.hash = href(route);
}

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(window.location.hash));
  useEffect(() => {
    const update = () => setRoute(parseRoute(window.location.hash));
    window.addEventListener("hashchange", update);
    return () => window.removeEventListener("hashchange", update);
  }, []);
  return route;
}

export function Link({
  to,
  children,
  className,
}: {
  to: Route;
  children: ReactNode;
  className?: string;
}) {
  // A real href keeps middle-click and "copy link" working.
  const onClick = (event: MouseEvent<HTMLAnchorElement>) => {
    if (event.metaKey || event.ctrlKey || event.shiftKey || event.button !== 0) return;
    event.preventDefault();
    navigate(to);
  };
  return (
    <a href={href(to)} onClick={onClick} className={className}>
      {children}
    </a>
  );
}
