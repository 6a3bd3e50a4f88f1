import { flushSync } from 'svelte';
import { describe, expect, it } from 'vitest';
import { Query } from './query.svelte';

describe('Query', () => {
  it('fetches once, not again when its own state changes', async () => {
    let calls = 0;
    let q!: Query<number>;
    const cleanup = $effect.root(() => {
      q = new Query(async () => ++calls);
    });
    flushSync();
    await new Promise((r) => setTimeout(r, 20));
    flushSync();
    await new Promise((r) => setTimeout(r, 20));
    expect(q.data).toBe(1);
    expect(calls).toBe(1);
    expect(q.loading).toBe(false);
    cleanup();
  });

  it('keeps the error message', async () => {
    let q!: Query<number>;
    const cleanup = $effect.root(() => {
      q = new Query(async () => {
        throw new Error('boom');
      });
    });
    flushSync();
    await new Promise((r) => setTimeout(r, 10));
    expect(q.error).toBe('boom');
    cleanup();
  });
});
