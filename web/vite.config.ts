/// <reference types="vitest/config" />
import { defineConfig } from 'vite';
import preact from '@preact/preset-vite';

// The server sends a strict Content-Security-Policy (script-src 'self';
// style-src 'self'; ...), so the build must emit only external .js and .css
// files: no inline <script>, no inline <style>, no style="" attributes.
export default defineConfig({
  plugins: [preact()],
  build: {
    target: 'es2020',
    outDir: 'dist',
    emptyOutDir: true,
    // The module-preload polyfill is injected as an inline script: keep it out.
    modulePreload: { polyfill: false },
    // Never inline assets as data: URIs into JS/CSS (keeps CSP reasoning simple).
    assetsInlineLimit: 0,
    sourcemap: false,
  },
  test: {
    environment: 'node',
    include: ['src/**/*.test.ts'],
  },
});
