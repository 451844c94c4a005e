/**
 * A small seeded pseudo-random number generator (sfc32, seeded through splitmix32) for the
 * fuzzer and the soak: the same seed gives the same frames and sessions on every run.
 *
 * @module
 */

/** A seeded pseudo-random number generator. */
export class Rng {
  /** The seed it was created with. */
  readonly seed: number;
  #a: number;
  #b: number;
  #c: number;
  #d: number;

  /**
   * Creates a generator.
   *
   * @param seed Any 32-bit integer.
   */
  constructor(seed: number) {
    this.seed = seed >>> 0;
    let s = this.seed;
    const split = () => {
      s = (s + 0x9e3779b9) >>> 0;
      let z = s;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.#a = split();
    this.#b = split();
    this.#c = split();
    this.#d = split();
  }

  /**
   * A generator for one part of a run, independent of how much the others draw.
   *
   * @param label The part's name.
   * @returns A new generator derived from this seed and the label.
   */
  fork(label: string): Rng {
    let h = this.seed ^ 0x811c9dc5;
    for (let i = 0; i < label.length; i++) h = Math.imul(h ^ label.charCodeAt(i), 0x01000193);
    return new Rng(h >>> 0);
  }

  /** @returns A 32-bit unsigned integer. */
  u32(): number {
    const t = (((this.#a + this.#b) >>> 0) + this.#d) >>> 0;
    this.#d = (this.#d + 1) >>> 0;
    this.#a = this.#b ^ (this.#b >>> 9);
    this.#b = (this.#c + (this.#c << 3)) >>> 0;
    this.#c = ((this.#c << 21) | (this.#c >>> 11)) >>> 0;
    this.#c = (this.#c + t) >>> 0;
    return t;
  }

  /** @returns A number in [0, 1). */
  next(): number {
    return this.u32() / 4294967296;
  }

  /**
   * @param n The bound.
   * @returns An integer in [0, n).
   */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /**
   * @param min The lowest value.
   * @param max The highest value.
   * @returns An integer in [min, max].
   */
  range(min: number, max: number): number {
    return min + this.int(max - min + 1);
  }

  /**
   * @param p The probability.
   * @returns `true` with probability `p`.
   */
  chance(p: number): boolean {
    return this.next() < p;
  }

  /**
   * @param items The choices.
   * @returns One of them.
   */
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)];
  }

  /**
   * @param n How many bytes.
   * @returns Random bytes.
   */
  bytes(n: number): Uint8Array<ArrayBuffer> {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i += 4) {
      const x = this.u32();
      out[i] = x;
      if (i + 1 < n) out[i + 1] = x >>> 8;
      if (i + 2 < n) out[i + 2] = x >>> 16;
      if (i + 3 < n) out[i + 3] = x >>> 24;
    }
    return out;
  }

  /**
   * Random text: ASCII, accented letters, CJK, emoji, controls, and (with `loneSurrogates`)
   * unpaired UTF-16 surrogates.
   *
   * @param n How many code points.
   * @param loneSurrogates Whether to include unpaired surrogates.
   * @returns The text.
   */
  text(n: number, loneSurrogates = false): string {
    let out = "";
    for (let i = 0; i < n; i++) {
      const r = this.int(100);
      if (r < 70) out += String.fromCharCode(this.range(0x20, 0x7e));
      else if (r < 78) out += String.fromCharCode(this.pick([9, 10, 13, 0, 0x1b, 0x7f]));
      else if (r < 86) out += String.fromCharCode(this.range(0xa0, 0x24f));
      else if (r < 92) out += String.fromCharCode(this.range(0x4e00, 0x9fff));
      else if (r < 97) out += String.fromCodePoint(this.range(0x1f300, 0x1faff));
      else if (loneSurrogates) out += String.fromCharCode(this.range(0xd800, 0xdfff));
      else out += "\u2028";
    }
    return out;
  }
}
