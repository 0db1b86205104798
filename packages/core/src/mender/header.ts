/**
 * The JSON documents of a Mender artifact v3 header (`version`, `header-info`,
 * `headers/0000/type-info`, `headers/0000/meta-data`): pure builders that write them byte for
 * byte as `mender-artifact write module-image` 3.9 does (field order, omitted empty fields,
 * sorted map keys, the default software version provide and clears), and strict zod schemas to
 * read them back (the Go reader rejects unknown keys, so do we).
 */
import { z } from 'zod';
import { OciDeltaError } from '../errors.js';
import { validate } from '../validate.js';
import { GoStruct, goMarshal } from './gojson.js';
import type { WriteArtifactOptions } from './options.js';

/** The exact `version` member. */
export const VERSION_JSON = '{"format":"mender","version":3}';

/** header-info of a v3 artifact. */
export const HeaderInfoSchema = z.strictObject({
  payloads: z.array(z.strictObject({ type: z.string().nullable() })),
  artifact_provides: z.strictObject({
    artifact_name: z.string().min(1),
    artifact_group: z.string().optional(),
  }),
  artifact_depends: z.strictObject({
    artifact_name: z.array(z.string()).optional(),
    device_type: z.array(z.string()).min(1),
    artifact_group: z.array(z.string()).optional(),
  }),
});
export type HeaderInfo = z.infer<typeof HeaderInfoSchema>;

/** headers/NNNN/type-info of a v3 artifact. */
export const TypeInfoSchema = z.strictObject({
  type: z.string().nullable(),
  artifact_depends: z.record(z.string(), z.union([z.string(), z.array(z.string())])).optional(),
  artifact_provides: z.record(z.string(), z.string()).optional(),
  clears_artifact_provides: z.array(z.string()).optional(),
});
export type TypeInfo = z.infer<typeof TypeInfoSchema>;

export const VersionSchema = z.strictObject({ format: z.string(), version: z.number().int() });
export type ArtifactVersion = z.infer<typeof VersionSchema>;

type HeaderInputs = Pick<
  WriteArtifactOptions,
  | 'type'
  | 'artifactName'
  | 'deviceTypes'
  | 'artifactGroup'
  | 'dependsArtifactName'
  | 'dependsGroups'
  | 'provides'
  | 'depends'
  | 'softwareName'
  | 'softwareVersion'
  | 'softwareFilesystem'
  | 'noDefaultSoftwareVersion'
  | 'noDefaultClearsProvides'
  | 'softwareVersionOverridesProvides'
  | 'clearsProvides'
  | 'metaData'
>;

const nonEmpty = <T>(list: T[] | undefined): T[] | undefined => (list && list.length > 0 ? list : undefined);

/** The header-info JSON: payload type, artifact name (and group) provided, device types (...) depended on. */
export function buildHeaderInfo(o: HeaderInputs): string {
  const provides: Array<[string, unknown]> = [['artifact_name', o.artifactName]];
  if (o.artifactGroup) provides.push(['artifact_group', o.artifactGroup]);
  const depends: Array<[string, unknown]> = [];
  const names = nonEmpty(o.dependsArtifactName);
  if (names) depends.push(['artifact_name', names]);
  depends.push(['device_type', o.deviceTypes]);
  const groups = nonEmpty(o.dependsGroups);
  if (groups) depends.push(['artifact_group', groups]);
  return goMarshal(
    new GoStruct([
      ['payloads', [new GoStruct([['type', o.type]])]],
      ['artifact_provides', new GoStruct(provides)],
      ['artifact_depends', new GoStruct(depends)],
    ]),
    'header-info',
  );
}

/**
 * The software version provide mender-artifact adds: `<fs>.<name>.version = <version>` where
 * `fs` defaults to `rootfs-image`, `name` to the payload type and `version` to the artifact name
 * (the defaults are skipped with `noDefaultSoftwareVersion`).
 */
export function softwareVersionProvide(o: HeaderInputs): Record<string, string> {
  let name = o.softwareName ?? '';
  let version = o.softwareVersion ?? '';
  if (!o.noDefaultSoftwareVersion) {
    if (!name) name = o.type;
    if (!version) version = o.artifactName;
  }
  let key = o.softwareFilesystem || 'rootfs-image';
  if (name) key += `.${name}`;
  return version ? { [`${key}.version`]: version } : {};
}

/**
 * Type-info provides: the given provides plus the software version provide. As in
 * mender-artifact, an explicit `provides` entry for the same key wins over the default; when
 * any of softwareName/softwareVersion/softwareFilesystem is given explicitly, the software
 * version wins (mender-artifact decides by flag order; we treat the software flags as last
 * unless `softwareVersionOverridesProvides` says otherwise).
 */
export function typeInfoProvides(o: HeaderInputs): Record<string, string> {
  const result: Record<string, string> = { ...(o.provides ?? {}) };
  const explicit =
    o.softwareVersionOverridesProvides ??
    (o.softwareName !== undefined || o.softwareVersion !== undefined || o.softwareFilesystem !== undefined);
  for (const [key, value] of Object.entries(softwareVersionProvide(o))) {
    if (!result[key] || explicit) result[key] = value;
  }
  return result;
}

/** clears_artifact_provides: the given ones plus `<fs>.<name>.*` unless the defaults are off. */
export function clearsArtifactProvides(o: HeaderInputs): string[] {
  const list = [...(o.clearsProvides ?? [])];
  if (o.noDefaultClearsProvides || o.noDefaultSoftwareVersion) return list;
  const fs = o.softwareFilesystem !== undefined ? o.softwareFilesystem : 'rootfs-image';
  const cap = `${fs}.${o.softwareName || o.type}.*`;
  if (!list.includes(cap)) list.push(cap);
  return list;
}

/** The type-info JSON of payload 0000. */
export function buildTypeInfo(o: HeaderInputs): string {
  const fields: Array<[string, unknown]> = [['type', o.type]];
  if (o.depends && Object.keys(o.depends).length > 0) fields.push(['artifact_depends', o.depends]);
  const provides = typeInfoProvides(o);
  if (Object.keys(provides).length > 0) fields.push(['artifact_provides', provides]);
  const clears = clearsArtifactProvides(o);
  if (clears.length > 0) fields.push(['clears_artifact_provides', clears]);
  return goMarshal(new GoStruct(fields), 'type-info');
}

/** The meta-data JSON (keys sorted, minified), or undefined when there is none: no member then. */
export function buildMetaData(metaData: Record<string, unknown> | undefined): string | undefined {
  if (!metaData || Object.keys(metaData).length === 0) return undefined;
  return goMarshal(metaData, 'metaData');
}

/** Parse one header JSON document with its schema; ERR_INVALID_ARTIFACT naming the member. */
export function parseHeaderJson<T>(schema: z.ZodType<T>, text: string, member: string, path: string): T {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new OciDeltaError(
      'ERR_INVALID_ARTIFACT',
      `${path}: ${member} is not valid JSON: ${(err as Error).message}`,
      { path, member },
      { cause: err },
    );
  }
  return validate(schema, json, {
    code: 'ERR_INVALID_ARTIFACT',
    what: `${path}: invalid ${member}`,
    details: { path, member },
  });
}
