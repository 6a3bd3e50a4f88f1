import { defineConfig } from 'vitest/config';
import { svelte } from '@sveltejs/vite-plugin-svelte';

// The query API serves dist/ at `/`; `npm run dev` proxies API calls to a running `make run`.
const api = process.env.SCROBBLER_API ?? 'http://127.0.0.1:8080';

export default defineConfig({
  plugins: [svelte()],
  build: {
    target: 'es2022',
    chunkSizeWarningLimit: 700,
  },
  server: {
    proxy: Object.fromEntries(['/api', '/1', '/rest', '/schema', '/healthz'].map((p) => [p, api])),
  },
  resolve: process.env.VITEST ? { conditions: ['browser'] } : undefined,
  test: {
    environment: 'jsdom',
    include: ['src/**/*.test.ts', 'src/**/*.svelte.test.ts'],
  },
});
