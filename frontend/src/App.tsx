/** The console shell: sign-in gate, top bar, and the page for the current hash route. */
import { useAuth } from "./auth";
import { EmptyState } from "./components";
import { ApiKeys } from "./pages/ApiKeys";
import { Deploy } from "./pages/Deploy";
import { ModelPage } from "./pages/ModelPage";
import { ModelsList } from "./pages/ModelsList";
import { SignIn } from "./pages/SignIn";
import { Link, useRoute, type Route } from "./router";

function Page({ route }: { route: Route }) {
  switch (route.page) {
    case "models":
      return <ModelsList />;
    case "deploy":
      return <Deploy />;
    case "keys":
      return <ApiKeys />;
    case "model":
      return <ModelPage key={route.name} name={route.name} tab={route.tab} />;
    case "not-found":
      return (
        <EmptyState title="Nothing here">
          <p>
            No page at <code>{route.path}</code>. <Link to={{ page: "models" }}>Go to models</Link>.
          </p>
        </EmptyState>
      );
  }
}

export function App() {
  const { apiKey, signOut } = useAuth();
  const route = useRoute();
  if (apiKey === null) return <SignIn />;
  return (
    <div className="shell">
      <header className="topbar">
        <Link to={{ page: "models" }} className="brand">
          <span className="logo" aria-hidden /> Plinth
        </Link>
        <nav aria-label="Main">
          <Link to={{ page: "models" }} className={route.page === "models" || route.page === "model" ? "nav-active" : ""}>
            Models
          </Link>
          <Link to={{ page: "deploy" }} className={route.page === "deploy" ? "nav-active" : ""}>
            Deploy
          </Link>
          <Link to={{ page: "keys" }} className={route.page === "keys" ? "nav-active" : ""}>
            API keys
          </Link>
        </nav>
        <div className="topbar-end">
          <span className="muted">{apiKey ? `key ${apiKey.slice(0, 11)}…` : "auth disabled"}</span>
          <button type="button" className="button-small" onClick={() => signOut()}>
            Sign out
          </button>
        </div>
      </header>
      <main className="content">
        <Page route={route} />
      </main>
    </div>
  );
}
