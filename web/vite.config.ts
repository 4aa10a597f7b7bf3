/// <reference types="vitest/config" />
import { defineConfig, type Plugin } from 'vite';
import preact from '@preact/preset-vite';

// The server sends a strict Content-Security-Policy (script-src 'self';
// style-src 'self'; ...), so the build must emit only external .js and .css
// files: no inline <script>, no inline <style>, no style="" attributes.
function cspGuard(): Plugin {
  const rules: [RegExp, string][] = [
    [/<script\b(?![^>]*\bsrc=)[^>]*>/i, 'an inline <script>'],
    [/<style\b/i, 'a <style> element'],
    [/\sstyle\s*=/i, 'a style="" attribute'],
    [/\son[a-z]+\s*=/i, 'an inline event handler attribute'],
  ];
  return {
    name: 'parley-csp-guard',
    apply: 'build',
    enforce: 'post',
    generateBundle(_options, bundle) {
      for (const file of Object.values(bundle)) {
        if (file.type !== 'asset' || !file.fileName.endsWith('.html')) continue;
        const html = String(file.source);
        for (const [re, what] of rules) {
          if (re.test(html)) this.error(`${file.fileName} contains ${what}, which the portal's CSP blocks`);
        }
      }
    },
  };
}

export default defineConfig({
  plugins: [preact(), cspGuard()],
  build: {
    target: 'es2020',
    outDir: 'dist',
    emptyOutDir: true,
    // The module-preload polyfill is injected as an inline script: keep it out.
    modulePreload: { polyfill: false },
    // Never inline assets as data: URIs into JS/CSS (keeps CSP reasoning simple).
    assetsInlineLimit: 0,
    sourcemap: false,
    // The dashboards' chunk carries Apache ECharts (core, bar, line, grid,
    // legend, tooltip, canvas: ~560 kB, ~190 kB gzipped), loaded only when
    // Utilization or Quality is opened.
    chunkSizeWarningLimit: 650,
  },
  test: {
    environment: 'node',
    include: ['src/**/*.test.ts'],
  },
});
