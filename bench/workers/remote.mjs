// The remote suite's tasks: `busy` keeps its node busy for `ms` (a project of a build) and
// answers a value made from its dependencies' outputs; `hold` waits `ms` with its node free to
// answer pings (work a lost node held).
import { defineTask } from '@troupe/core';

export const busy = defineTask({
  name: 'busy',
  run(input, ctx) {
    const end = performance.now() + input.ms;
    while (performance.now() < end) {
      // Busy on purpose: this is what a compiler does to a node.
    }
    return `${input.id}(${(ctx.deps ?? []).length})`;
  },
});

export const hold = defineTask({
  name: 'hold',
  async run(input) {
    await new Promise((resolve) => setTimeout(resolve, input.ms));
    return input.value;
  },
});
