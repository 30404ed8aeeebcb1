// Pieces of generated TypeScript: each unit is a function, class or type a real codebase has, some
// of them with the mistakes type-aware rules exist to catch (floating promises, unsafe `any`,
// conditions the types make unnecessary, promises where a void callback is expected).
import type { EntityPlan } from './plan.js';
import type { Random } from './random.js';

/** An entity a unit may use from elsewhere, and how to name one of its exports there. */
export interface Borrowed {
  entity: EntityPlan;
  /** Records the import of `symbol` (`type X` for a type) and returns the name to write. */
  use(symbol: string): string;
}

export interface UnitContext {
  entity: EntityPlan;
  random: Random;
  /** Entities of dependency packages and of sibling modules, empty when there are none. */
  borrowed: readonly Borrowed[];
  /** A name not used yet in this module, from `base`. */
  fresh(base: string): string;
}

export type Unit = (c: UnitContext) => string[];

const numberField = (e: EntityPlan): string =>
  e.extras.find((f) => f.type === 'number' && !f.optional)?.name ?? 'createdAt';

const otherStatus = (e: EntityPlan): string => e.statuses[e.statuses.length - 1]!;

/** The declarations every module starts with: the entity, its store and its basic functions. */
export function entityHeader(e: EntityPlan): string[] {
  const n = e.name;
  const extras = e.extras.map((f) => `  ${f.name}${f.optional ? '?' : ''}: ${f.type};`);
  const defaults = e.extras.filter((f) => f.initial !== undefined).map((f) => `    ${f.name}: ${f.initial},`);
  return [
    `export type ${n}Status = ${e.statuses.map((s) => `'${s}'`).join(' | ')};`,
    '',
    `/** A ${n} as the rest of the system sees it. */`,
    `export interface ${n} {`,
    '  id: string;',
    '  name: string;',
    `  status: ${n}Status;`,
    '  createdAt: number;',
    '  tags: string[];',
    ...extras,
    '}',
    '',
    `export interface ${n}Summary {`,
    '  count: number;',
    `  newest: ${n} | undefined;`,
    `  byStatus: Record<${n}Status, number>;`,
    '}',
    '',
    `/** Keeps ${n}s by id; asynchronous like the database it stands in for. */`,
    `export class ${n}Store {`,
    `  readonly #items = new Map<string, ${n}>();`,
    '',
    '  get size(): number {',
    '    return this.#items.size;',
    '  }',
    '',
    `  async load(id: string): Promise<${n} | undefined> {`,
    '    await Promise.resolve();',
    '    return this.#items.get(id);',
    '  }',
    '',
    `  async save(item: ${n}): Promise<void> {`,
    '    await Promise.resolve();',
    '    this.#items.set(item.id, item);',
    '  }',
    '',
    `  list(filter?: (item: ${n}) => boolean): ${n}[] {`,
    '    const all = [...this.#items.values()];',
    '    return filter ? all.filter(filter) : all;',
    '  }',
    '}',
    '',
    `export function create${n}(fields: Partial<${n}> & Pick<${n}, 'id'>): ${n} {`,
    '  return {',
    "    name: '',",
    "    status: 'draft',",
    '    createdAt: 0,',
    '    tags: [],',
    ...defaults,
    '    ...fields,',
    '  };',
    '}',
    '',
    `export async function fetch${n}(id: string): Promise<${n}> {`,
    '  await Promise.resolve();',
    `  return create${n}({ id, name: \`${n.toLowerCase()} \${id}\` });`,
    '}',
    '',
    `export function is${n}(value: unknown): value is ${n} {`,
    "  return typeof value === 'object' && value !== null && 'id' in value && typeof value.id === 'string';",
    '}',
    '',
    `export function summarize${n}s(items: readonly ${n}[]): ${n}Summary {`,
    `  const byStatus: Record<${n}Status, number> = { ${e.statuses.map((s) => `${s}: 0`).join(', ')} };`,
    `  let newest: ${n} | undefined;`,
    '  for (const item of items) {',
    '    byStatus[item.status] += 1;',
    '    if (!newest || item.createdAt > newest.createdAt) newest = item;',
    '  }',
    '  return { count: items.length, newest, byStatus };',
    '}',
  ];
}

const groupBy: Unit = ({ entity: { name: n }, fresh }) => [
  `export function ${fresh(`group${n}sBy`)}<K extends keyof ${n}>(items: readonly ${n}[], key: K): Map<${n}[K], ${n}[]> {`,
  `  const groups = new Map<${n}[K], ${n}[]>();`,
  '  for (const item of items) {',
  '    const bucket = groups.get(item[key]);',
  '    if (bucket) bucket.push(item);',
  '    else groups.set(item[key], [item]);',
  '  }',
  '  return groups;',
  '}',
];

const describeStatus: Unit = ({ entity: e, fresh }) => [
  `export function ${fresh(`describe${e.name}Status`)}(status: ${e.name}Status): string {`,
  '  switch (status) {',
  ...e.statuses.flatMap((s) => [`    case '${s}':`, `      return '${e.name.toLowerCase()} is ${s}';`]),
  '  }',
  '}',
];

const loadBatch: Unit = ({ entity: { name: n }, fresh, random }) => [
  `export async function ${fresh(`load${n}Batch`)}(`,
  `  store: ${n}Store,`,
  '  ids: readonly string[],',
  `  size = ${random.int(2, 16)},`,
  `): Promise<${n}[]> {`,
  `  const found: ${n}[] = [];`,
  '  for (let start = 0; start < ids.length; start += size) {',
  '    const chunk = ids.slice(start, start + size);',
  '    const loaded = await Promise.all(chunk.map((id) => store.load(id)));',
  '    for (const item of loaded) if (item !== undefined) found.push(item);',
  '  }',
  '  return found;',
  '}',
];

const total: Unit = ({ entity: e, fresh }) => {
  const field = numberField(e);
  return [
    `export function ${fresh(`total${e.name}${field.charAt(0).toUpperCase()}${field.slice(1)}`)}(items: readonly ${e.name}[]): number {`,
    `  return items.reduce((sum, item) => sum + item.${field}, 0);`,
    '}',
  ];
};

const cache: Unit = ({ entity: { name: n }, fresh, random }) => [
  `/** Remembers computed values about ${n}s for a while. */`,
  `export class ${fresh(`${n}Cache`)}<V> {`,
  '  readonly #entries = new Map<string, { value: V; expires: number }>();',
  '',
  `  constructor(private readonly ttl = ${random.int(1, 60) * 1000}) {}`,
  '',
  '  get(key: string, now: number): V | undefined {',
  '    const entry = this.#entries.get(key);',
  '    if (!entry) return undefined;',
  '    if (entry.expires <= now) {',
  '      this.#entries.delete(key);',
  '      return undefined;',
  '    }',
  '    return entry.value;',
  '  }',
  '',
  '  set(key: string, value: V, now: number): void {',
  '    this.#entries.set(key, { value, expires: now + this.ttl });',
  '  }',
  '',
  '  prune(now: number): number {',
  '    let removed = 0;',
  '    for (const [key, entry] of this.#entries) {',
  '      if (entry.expires > now) continue;',
  '      this.#entries.delete(key);',
  '      removed++;',
  '    }',
  '    return removed;',
  '  }',
  '}',
];

const rank: Unit = ({ entity: { name: n }, fresh }) => [
  `export function ${fresh(`rank${n}s`)}(items: readonly ${n}[], tag: string): ${n}[] {`,
  '  return items',
  '    .filter((item) => item.tags.includes(tag))',
  '    .sort((a, b) => b.createdAt - a.createdAt || a.name.localeCompare(b.name));',
  '}',
];

const retry: Unit = ({ entity: { name: n }, fresh, random }) => [
  `export async function ${fresh(`with${n}Retry`)}<T>(attempt: () => Promise<T>, tries = ${random.int(2, 5)}): Promise<T> {`,
  '  let last: unknown;',
  '  for (let i = 0; i < tries; i++) {',
  '    try {',
  '      return await attempt();',
  '    } catch (error) {',
  '      last = error;',
  '    }',
  '  }',
  '  throw last instanceof Error ? last : new Error(String(last));',
  '}',
];

const archive: Unit = ({ entity: e, fresh }) => [
  `export async function ${fresh(`archive${e.name}s`)}(store: ${e.name}Store, before: number): Promise<number> {`,
  '  let changed = 0;',
  '  for (const item of store.list((candidate) => candidate.createdAt < before)) {',
  `    await store.save({ ...item, status: '${otherStatus(e)}' });`,
  '    changed++;',
  '  }',
  '  return changed;',
  '}',
];

/** Uses an entity from a dependency or a sibling module, as a real package uses its imports. */
const join: Unit = ({ entity: { name: n }, fresh, random, borrowed }) => {
  const other = random.pick(borrowed);
  const d = other.entity.name;
  return [
    `export async function ${fresh(`join${n}With${d}`)}(`,
    `  item: ${n},`,
    `  store: ${other.use(`${d}Store`)},`,
    `): Promise<[${n}, ${other.use(`type ${d}`)} | undefined]> {`,
    '  const found = await store.load(item.id);',
    '  return [item, found];',
    '}',
  ];
};

const convert: Unit = ({ entity: { name: n }, fresh, random, borrowed }) => {
  const other = random.pick(borrowed);
  const d = other.entity.name;
  return [
    `export async function ${fresh(`${n.charAt(0).toLowerCase()}${n.slice(1)}From${d}`)}(id: string): Promise<${n}> {`,
    `  const source = await ${other.use(`fetch${d}`)}(id);`,
    `  const summary = ${other.use(`summarize${d}s`)}([source]);`,
    `  return create${n}({ id: source.id, name: source.name, tags: [...source.tags], createdAt: summary.count });`,
    '}',
  ];
};

/** Flagged: a promise from another package left floating (no-floating-promises needs its type). */
const floating: Unit = ({ entity: { name: n }, fresh, random, borrowed }) => {
  const other = borrowed.length > 0 ? random.pick(borrowed) : undefined;
  const call = other ? `${other.use(`fetch${other.entity.name}`)}(item.id)` : 'store.save(item)';
  return [
    `export async function ${fresh(`refresh${n}`)}(store: ${n}Store, item: ${n}): Promise<void> {`,
    `  ${call};`,
    '  await store.save({ ...item, createdAt: item.createdAt + 1 });',
    '}',
  ];
};

/** Flagged: an async callback where forEach expects a void one (no-misused-promises). */
const misused: Unit = ({ entity: { name: n }, fresh }) => [
  `export function ${fresh(`save${n}s`)}(store: ${n}Store, items: readonly ${n}[]): void {`,
  '  items.forEach(async (item) => {',
  '    await store.save(item);',
  '  });',
  '}',
];

/** Flagged: JSON.parse's `any` spread through (no-unsafe-assignment, no-unsafe-member-access). */
const unsafe: Unit = ({ entity: { name: n }, fresh }) => [
  `export function ${fresh(`parse${n}`)}(text: string): ${n} {`,
  '  const raw = JSON.parse(text);',
  `  return create${n}({ id: raw.id, name: String(raw.name) });`,
  '}',
];

/** Flagged: a check the types say is always false (no-unnecessary-condition). */
const unnecessary: Unit = ({ entity: { name: n }, fresh }) => [
  `export function ${fresh(`tagsOf${n}`)}(item: ${n}): string[] {`,
  '  if (item.tags === undefined) return [];',
  '  return item.tags.map((tag) => tag.trim());',
  '}',
];

/** Flagged (warnings): an async function with nothing to await, and a variable never read. */
const lazy: Unit = ({ entity: { name: n }, fresh }) => [
  `export async function ${fresh(`nameOf${n}`)}(item: ${n}): Promise<string> {`,
  '  const length = item.name.length;',
  '  return item.name;',
  '}',
];

/** Flagged: an object in a template literal (restrict-template-expressions), `==` (eqeqeq). */
const label: Unit = ({ entity: { name: n }, fresh }) => [
  `export function ${fresh(`label${n}`)}(item: ${n}, parent: ${n}): string {`,
  '  if (item.createdAt == 0) return item.name;',
  `  return \`\${item.name} (in \${parent})\`;`,
  '}',
];

/** Flagged: an explicit `any` (no-explicit-any) merged into a typed value. */
const merge: Unit = ({ entity: { name: n }, fresh }) => [
  `export function ${fresh(`merge${n}`)}(item: ${n}, patch: any): ${n} {`,
  '  return { ...item, ...patch };',
  '}',
];

export const CLEAN_UNITS: readonly Unit[] = [
  groupBy,
  describeStatus,
  loadBatch,
  total,
  cache,
  rank,
  retry,
  archive,
];
export const BORROWING_UNITS: readonly Unit[] = [join, convert];
export const FLAGGED_UNITS: readonly Unit[] = [floating, misused, unsafe, unnecessary, lazy, label, merge];
