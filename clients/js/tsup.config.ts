import { defineConfig } from "tsup";

// The npm package: ESM and CommonJS (React Native's Metro and older bundlers), with types.
// graphql-ws and React stay imports; the browser bundle for Django's static files is
// scripts/bundle.mjs.
export default defineConfig({
  entry: { index: "src/index.ts", react: "src/react.ts" },
  format: ["esm", "cjs"],
  dts: true,
  clean: true,
  target: "es2020",
  platform: "neutral",
  external: ["graphql-ws", "react"],
  sourcemap: true,
  splitting: true,
  treeshake: true,
});
