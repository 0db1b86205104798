/** Whether a path exists: the one probe, so "missing" is decided the same way everywhere. */
import { access } from 'node:fs/promises';

/** True when `path` exists (any type); false only when it does not (ENOENT, ENOTDIR). */
export async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return false;
    throw err;
  }
}
