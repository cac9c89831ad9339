/// <reference types="vitest/config" />
// Dev server proxies the API to a local `plinth up` (PLINTH_URL, default 127.0.0.1:8000), so the
// console talks to same-origin /graphql and /v1 exactly as it does when the backend serves dist/.
import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

const backend = process.env.PLINTH_URL ?? "http://127.0.0.1:8000";

export default defineConfig({
  plugins: [react()],
  base: "/",
  build: { outDir: "dist", emptyOutDir: true, sourcemap: true },
  server: {
    host: "127.0.0.1",
    proxy: {
      "/graphql": { target: backend, ws: true, changeOrigin: true },
      "/v1": { target: backend, changeOrigin: true },
      "/healthz": { target: backend, changeOrigin: true },
    },
  },
  test: {
    environment: "jsdom",
    include: ["tests/**/*.test.{ts,tsx}"],
    setupFiles: ["tests/setup.ts"],
    restoreMocks: true,
    unstubGlobals: true,
  },
});
