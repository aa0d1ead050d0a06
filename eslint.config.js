// ESLint for our own JavaScript: the room page's ES modules (browser) and their unit tests
// (node's test runner). `make lint` runs it with ruff.
import js from "@eslint/js";
import globals from "globals";

export default [
  {
    ignores: ["node_modules/", "staticfiles/", ".venv/", "test-results/"],
  },
  js.configs.recommended,
  {
    files: ["static/js/**/*.js"],
    languageOptions: {
      ecmaVersion: 2024,
      sourceType: "module",
      globals: globals.browser,
    },
  },
  {
    files: ["tests/js/**/*.mjs", "eslint.config.js"],
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
