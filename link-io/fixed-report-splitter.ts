// Cuts a byte stream into fixed-size reports. The HID "virtual cable" (a unix stream socket)
// carries exactly the 64-byte reports the USB bus would, back to back with no extra framing, so
// report boundaries are every 64 bytes; a stream read may hold part of a report or several.

export class FixedReportSplitter {
  private buf: Uint8Array;
  private len = 0;

  constructor(readonly size: number) {
    this.buf = new Uint8Array(size);
  }

  /** Complete reports in this chunk (copies); a partial tail is kept for the next call. */
  push(chunk: Uint8Array): Uint8Array[] {
    const out: Uint8Array[] = [];
    let off = 0;
    while (off < chunk.length) {
      const take = Math.min(this.size - this.len, chunk.length - off);
      this.buf.set(chunk.subarray(off, off + take), this.len);
      this.len += take;
      off += take;
      if (this.len === this.size) {
        out.push(this.buf.slice());
        this.len = 0;
      }
    }
    return out;
  }

  /** Bytes of an incomplete report held. */
  pending(): number {
    return this.len;
  }
}
