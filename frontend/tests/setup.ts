// Unmount what each test rendered (Testing Library's auto-cleanup needs vitest globals).
import { cleanup } from "@testing-library/react";
import { afterEach } from "vitest";

afterEach(() => cleanup());
