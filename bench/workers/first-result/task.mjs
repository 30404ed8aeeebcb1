// A user's task module, as the issue describes it: it imports @troupe/core for defineTask.
import { defineTask } from '@troupe/core';

export const hello = defineTask({ name: 'hello', run: (input) => `hello ${input}` });
