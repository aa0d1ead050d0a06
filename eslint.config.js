// ESLint for our own JavaScript: the room page's ES modules (browser) and their unit tests
// (node's test runner), and frontend/ (sources esbuild bundles for the page, and the build
// script). `make lint` runs it with ruff.
import js from "@eslint/js";
import globals from "globals";

export default [
  {
    // The MLS bundle is generated from frontend/e2ee by `npm run build`.
    ignores: [
      "node_modules/",
      "staticfiles/",
      ".venv/",
      "test-results/",
      "static/js/room/e2ee/mls.bundle.js",
    ],
  },
  js.configs.recommended,
  {
    files: ["static/js/**/*.js", "frontend/**/*.js"],
    languageOptions: {
      ecmaVersion: 2024,
      sourceType: "module",
      globals: globals.browser,
    },
  },
  {
    files: ["tests/js/**/*.mjs", "eslint.config.js", "frontend/**/*.mjs"],
    languageOptions: {
      ecmaVersion: 2024,
      sourceType: "module",
      globals: globals.node,
    },
  },
  {
    rules: {
      "no-unused-vars": ["error", { caughtErrors: "none" }],
      eqeqeq: ["error", "always"],
      "prefer-const": "error",
      "no-var": "error",
    },
  },
];
