// The requests suite's tasks: `dependent` asks for a request that has already finished
// (`ctx.build`: BuildBlocked, then BuildUnblocked at once), `plain` asks for nothing. Both are
// async, so the only difference between them is the block and the resume.
import { defineTask } from '@troupe/core';

export const leaf = defineTask({ name: 'leaf', run: async (input) => input });

export const plain = defineTask({ name: 'plain', run: async (input) => input });

export const dependent = defineTask({
  name: 'dependent',
  async run(input, ctx) {
    const [value] = await ctx.build([{ task: leaf, input: input.leaf }]);
    return value;
  },
});
