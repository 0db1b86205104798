/**
 * The app update module's deep-delta steps on a device (docker-compose sub-module), as a shell
 * script run with the real `tar` and the real stock `xdelta3 -d -s` (no -D, default -B): unpack
 * image.img and the device's `docker save` of the current image (current.tar) in `dir`, rebuild
 * every layer from its .vcdiff and .source, re-tar into rebuilt.tar. Unlike the module, the script
 * stops at the first failing xdelta3 (the module ignores its exit status).
 */
import { spawnSync } from 'node:child_process';

const DEVICE_STEPS = `
set -e
new_image_dir="$PWD/new"
current_image_dir="$PWD/current"
mkdir -p "$new_image_dir" "$current_image_dir"
tar xvf image.img -C "$new_image_dir"
tar xvf current.tar -C "$current_image_dir"
test -f "$new_image_dir"/oci-layout
for vcdiff in "$new_image_dir"/*/*/*.vcdiff; do
  if test ! -f "$vcdiff"; then
    break
  fi
  src=$(echo "$vcdiff" | sed -e 's/\\.vcdiff$//')
  src=$(cat "$src".source)
  src="$current_image_dir/$src"
  out=$(echo "$vcdiff" | sed -e 's/\\.vcdiff$//')
  xdelta3 $XDELTA_ARGS -d -s "$src" "$vcdiff" "$out"
done
tar cf rebuilt.tar -C "$new_image_dir" .
`;

/** Run the device steps in `dir`; `xdeltaArgs` are extra xdelta3 flags (the module's XDELTA_ARGS). */
export function runDevice(dir: string, xdeltaArgs = ''): { status: number | null; output: string } {
  const r = spawnSync('sh', ['-c', DEVICE_STEPS], {
    cwd: dir,
    encoding: 'utf8',
    env: { ...process.env, XDELTA_ARGS: xdeltaArgs },
  });
  return { status: r.status, output: `${r.stdout}\n${r.stderr}` };
}
