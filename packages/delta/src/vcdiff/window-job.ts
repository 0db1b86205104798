/**
 * One target window from bytes to its encoded VCDIFF window: the matcher, its instruction list
 * and the window encoder, reused window after window. Runs in the encoder's thread or in an
 * encode worker (encode-worker.ts); both give the same bytes for independent windows.
 */
import { InstructionList } from './instructions.js';
import { Matcher } from './matcher.js';
import type { MatcherSettings } from './matcher-settings.js';
import type { DecoderSourceCache } from './source-cache.js';
import type { SourceIndex } from './source-index.js';
import { ByteWriter } from './varint.js';
import { WindowEncoder } from './window-encoder.js';

export class WindowJob {
  private readonly matcher: Matcher;
  private readonly list = new InstructionList();
  private readonly winEncoder = new WindowEncoder();
  private readonly out = new ByteWriter(1 << 20);

  constructor(index: SourceIndex, settings: MatcherSettings, reach?: DecoderSourceCache) {
    this.matcher = new Matcher(index, settings, reach);
  }

  /**
   * Encode window `t[0, n)`; `independent`: forget what earlier windows taught the matcher first.
   * Returns the window's bytes in a buffer of its own.
   */
  encode(t: Buffer, n: number, independent: boolean): Buffer {
    if (independent) this.matcher.forgetPrediction();
    this.list.reset();
    this.matcher.match(t, n, this.list);
    this.out.reset();
    this.winEncoder.encode(t, n, this.list, this.out);
    const bytes = Buffer.allocUnsafeSlow(this.out.length);
    bytes.set(this.out.view());
    return bytes;
  }
}
