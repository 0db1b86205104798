/**
 * The image build spec: a YAML file (parsed with `yaml`, validated with zod) listing images to
 * build. Unknown keys and bad values are ERR_INPUT errors that name the file, line and column.
 *
 * ```yaml
 * images:
 *   - os: linux
 *     architecture: arm64
 *     layers: [rootfs]
 *     tags: [base:1]
 *   - parent: 0            # an earlier image of this spec, or oci:DIR[:NAME], docker://REF ...
 *     os: linux
 *     architecture: arm64
 *     layers: [app]
 *     config: { Entrypoint: [/app/run], Env: [MODE=prod] }
 * ```
 *
 * The keys of BuildStream's OCI element are accepted too: top-level `mode: oci|docker`,
 * `gzip: false` (uncompressed layers) and `annotations` (on the index); per image `layer:`
 * (directories merged into one layer), `parent: {image: N}`, and the Docker config keys
 * `Memory`, `MemorySwap`, `CpuShares`. Images that share a tag form one multi-platform index.
 */
import type { Node } from 'yaml';
import { z } from 'zod';
import { OciDeltaError } from '../errors.js';
import { MAX_METADATA_FILE_SIZE, readFileLimited } from '../limits.js';
import { parseYaml, yamlModule } from '../yaml-document.js';

const DURATION_RE = /^(\d+)(ns|us|ms|s|m|h)$/;
const UNIT_NS: Record<string, number> = { ns: 1, us: 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };

/** A Go duration in nanoseconds: a number, or `30s` / `500ms` / `2m`. */
const Duration = z.union([
  z.number().int().nonnegative(),
  z
    .string()
    .regex(DURATION_RE, 'expected a duration such as 30s, 500ms or 2m')
    .transform((s) => {
      const m = DURATION_RE.exec(s) as RegExpExecArray;
      return Number(m[1]) * (UNIT_NS[m[2] as string] as number);
    }),
]);

/** A set written as a list (`[80/tcp]`) or a map (`{80/tcp: {}}`), stored as Docker does. */
const StringSet = z
  .union([z.array(z.string()), z.record(z.string(), z.object({}).strict())])
  .transform((v) => Object.fromEntries((Array.isArray(v) ? v : Object.keys(v)).map((k) => [k, {}])));

const strings = z.array(z.string());

export const BuildContainerConfigSchema = z
  .object({
    User: z.string(),
    ExposedPorts: StringSet,
    Env: strings,
    Entrypoint: strings,
    Cmd: strings,
    Volumes: StringSet,
    WorkingDir: z.string(),
    Labels: z.record(z.string(), z.string()),
    StopSignal: z.string(),
    ArgsEscaped: z.boolean(),
    OnBuild: strings,
    Shell: strings,
    /** Docker's resource keys of the legacy container config (bytes, bytes, relative weight). */
    Memory: z.number().int().nonnegative(),
    MemorySwap: z.number().int().min(-1),
    CpuShares: z.number().int().nonnegative(),
    Healthcheck: z
      .object({
        Test: strings,
        Interval: Duration,
        Timeout: Duration,
        StartPeriod: Duration,
        StartInterval: Duration,
        Retries: z.number().int().nonnegative(),
      })
      .partial()
      .strict(),
  })
  .partial()
  .strict();
export type BuildContainerConfig = z.infer<typeof BuildContainerConfigSchema>;

/** One layer: a directory, or several merged into one tree (later ones over earlier ones). */
const LayerDirs = z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]);
export type LayerDirs = z.infer<typeof LayerDirs>;

/** An earlier image of this spec (its position), or a reference to an image elsewhere. */
const ParentRef = z.union([z.number().int().nonnegative(), z.string().min(1)]);

export const BuildImageSpecSchema = z
  .object({
    /** `N`, `REF`, or BuildStream's `{image: N}`. */
    parent: z
      .union([
        ParentRef,
        z
          .object({ image: ParentRef })
          .strict()
          .transform((p) => p.image),
      ])
      .optional(),
    /** Layers, in order: each a full tree (one directory or several merged); a layer holds its difference from what is below. */
    layers: z.array(LayerDirs).default([]),
    /** BuildStream's form: one layer (a directory or several merged); not together with `layers`. */
    layer: LayerDirs.optional(),
    os: z.string().min(1),
    architecture: z.string().min(1).optional(),
    variant: z.string().min(1).optional(),
    'os.version': z.string().min(1).optional(),
    'os.features': strings.optional(),
    author: z.string().optional(),
    comment: z.string().optional(),
    annotations: z.record(z.string(), z.string()).optional(),
    tags: z.array(z.string().min(1)).default([]),
    config: BuildContainerConfigSchema.optional(),
  })
  .strict()
  .superRefine((spec, ctx) => {
    if (spec.layer !== undefined && spec.layers.length > 0) {
      ctx.addIssue({ code: 'custom', path: ['layer'], message: 'give either layer or layers, not both' });
    }
  });
export type BuildImageSpec = z.infer<typeof BuildImageSpecSchema>;

export const BuildSpecSchema = z
  .object({
    /** Media types of the result: oci (default) or docker; the CLI's --format wins. */
    mode: z.enum(['oci', 'docker']).optional(),
    /** false: layers are stored as plain tar. */
    gzip: z.boolean().optional(),
    /** Annotations of the index: index.json, and every multi-platform index of a shared tag. */
    annotations: z.record(z.string(), z.string()).optional(),
    images: z.array(BuildImageSpecSchema).min(1),
  })
  .strict();
export type BuildSpec = z.infer<typeof BuildSpecSchema>;

/** The layers of an image spec, each as the list of directories merged into it. */
export function specLayers(spec: Pick<BuildImageSpec, 'layer' | 'layers'>): string[][] {
  const all = spec.layer !== undefined ? [spec.layer] : spec.layers;
  return all.map((l) => (typeof l === 'string' ? [l] : [...l]));
}

type PathSeg = string | number;

/** The YAML node at `path` (the key node of `key` inside it when given). */
function nodeAt(root: unknown, path: readonly PathSeg[], key?: string): Node | undefined {
  const { isMap, isScalar, isSeq } = yamlModule();
  let node: unknown = root;
  const segs = key === undefined ? path : [...path, key];
  for (const [i, seg] of segs.entries()) {
    const last = i === segs.length - 1;
    if (isMap(node)) {
      const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === String(seg));
      if (!pair) return node as Node;
      node = last && key !== undefined ? pair.key : pair.value;
    } else if (isSeq(node) && typeof seg === 'number') {
      node = node.items[seg] ?? node;
    } else {
      break;
    }
  }
  return node as Node | undefined;
}

function issueText(issue: z.core.$ZodIssue): string {
  if (issue.code === 'unrecognized_keys') {
    return `unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')}`;
  }
  return issue.message;
}

/** Parse spec text; `file` names it in errors (`file:line:col: field: problem`). */
export function parseBuildSpec(text: string, file = 'build spec'): BuildSpec {
  const { doc, lineCounter, value } = parseYaml(text, file, 'build spec');
  const r = BuildSpecSchema.safeParse(value);
  if (r.success) return r.data;
  const messages = r.error.issues.map((issue) => {
    const path = issue.path.filter((p): p is PathSeg => typeof p !== 'symbol');
    const key = issue.code === 'unrecognized_keys' ? issue.keys[0] : undefined;
    const node = nodeAt(doc.contents, path, key);
    const where = node?.range ? lineCounter.linePos(node.range[0]) : undefined;
    const field = [...path, ...(key !== undefined ? [key] : [])].join('.') || '(root)';
    return {
      text: `${file}${where ? `:${where.line}:${where.col}` : ''}: ${field}: ${issueText(issue)}`,
      line: where?.line,
    };
  });
  throw new OciDeltaError('ERR_INPUT', messages.map((m) => m.text).join('\n'), {
    path: file,
    ...(messages[0]?.line !== undefined ? { line: messages[0].line } : {}),
  });
}

/** Read and parse a spec file. */
export async function readBuildSpec(file: string): Promise<BuildSpec> {
  let text: string;
  try {
    text = (await readFileLimited(file, MAX_METADATA_FILE_SIZE, 'build spec')).toString('utf8');
  } catch (err) {
    if (err instanceof OciDeltaError) throw err;
    throw new OciDeltaError('ERR_INPUT', `cannot read build spec ${file}`, { path: file }, { cause: err });
  }
  return parseBuildSpec(text, file);
}
