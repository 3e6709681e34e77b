import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.{ts,tsx}"],
    environment: "node",
    testTimeout: 10000,
    restoreMocks: true,
    unstubGlobals: true,
  },
});
