// A node's head start on its first task module (endpoint/door-preload.ts): the door it loads while
// it waits for its host is the very module a task module's `import '@troupe/core'` reaches, so
// the task's import finds it loaded rather than loading a second copy.
import { describe, expect, it } from 'vitest';
import { preloadDoor } from '../dist/endpoint/door-preload.js';

const taskModule = new URL('./fixtures/door-task.mjs', import.meta.url).href;

describe('preloadDoor', () => {
  it("loads the door a task module's import of @troupe/core reaches", async () => {
    const preloaded = (await preloadDoor()) as { defineTask?: unknown; createRuntime?: unknown } | undefined;
    expect(typeof preloaded?.defineTask).toBe('function');
    const task = (await import(/* @vite-ignore */ taskModule)) as {
      core: { defineTask: unknown; createRuntime: unknown };
    };
    // The same functions, not equal copies: one module, loaded once.
    expect(preloaded?.defineTask).toBe(task.core.defineTask);
    expect(preloaded?.createRuntime).toBe(task.core.createRuntime);
  });
});
