// The text of one generated module: its imports (only what its units used), the entity header,
// then units until the module has its share of the package's lines.
import type { PackagePlan, RepoPlan } from './plan.js';
import { Random } from './random.js';
import {
  BORROWING_UNITS,
  type Borrowed,
  CLEAN_UNITS,
  entityHeader,
  FLAGGED_UNITS,
  type UnitContext,
} from './units.js';

/** How often a unit is one of the flagged kinds: roughly one finding per 40 lines. */
const FLAGGED_RATE = 0.3;
/** How often a unit uses another package's or module's entity, where there is one. */
const BORROWING_RATE = 0.3;

/** Source of `pkg`'s module number `index`, deterministic in the plan's seed. */
export function moduleSource(plan: RepoPlan, pkg: PackagePlan, index: number): string {
  const module = pkg.modules[index]!;
  const random = new Random(plan.options.seed * 7919 + pkg.index * 131 + index);
  const imports = new Map<string, Set<string>>();
  const borrow = (from: string, entity: Borrowed['entity']): Borrowed => ({
    entity,
    use(symbol) {
      const names = imports.get(from) ?? new Set<string>();
      names.add(symbol);
      imports.set(from, names);
      return symbol.replace(/^type /, '');
    },
  });
  const borrowed: Borrowed[] = pkg.deps.map((dep) => {
    const other = plan.packages[dep]!;
    return borrow(other.name, random.pick(other.modules).entity);
  });
  if (index > 0 && random.chance(0.5)) {
    const sibling = pkg.modules[random.int(0, index - 1)]!;
    borrowed.push(borrow(`./${sibling.file.replace(/\.ts$/, '.js')}`, sibling.entity));
  }
  const used = new Set<string>();
  const context: UnitContext = {
    entity: module.entity,
    random,
    borrowed,
    fresh(base) {
      let name = base;
      for (let n = 2; used.has(name); n++) name = `${base}${n}`;
      used.add(name);
      return name;
    },
  };
  const body = entityHeader(module.entity);
  const target = Math.max(60, Math.round(plan.options.lines / pkg.modules.length));
  // Imports and the header comment come on top of the body: count them in.
  while (body.length + 4 + imports.size < target) {
    const roll = random.next();
    const unit =
      roll < FLAGGED_RATE
        ? random.pick(FLAGGED_UNITS)
        : borrowed.length > 0 && roll < FLAGGED_RATE + BORROWING_RATE
          ? random.pick(BORROWING_UNITS)
          : random.pick(CLEAN_UNITS);
    body.push('', ...unit(context));
  }
  const importLines = [...imports.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([from, names]) => `import { ${[...names].sort().join(', ')} } from '${from}';`);
  return [
    `// ${module.entity.name}: generated for ${pkg.name} by @troupe/example-lint-monorepo (seed ${plan.options.seed}).`,
    ...importLines,
    ...(importLines.length > 0 ? [''] : []),
    ...body,
    '',
  ].join('\n');
}

/** The package's door: every module's exports. */
export function indexSource(pkg: PackagePlan): string {
  return [
    `// ${pkg.name}: every module's exports.`,
    ...pkg.modules.map((module) => `export * from './${module.file.replace(/\.ts$/, '.js')}';`),
    '',
  ].join('\n');
}
