// The I/O edge of tarball import: recognise the compression by its magic bytes, stream the
// decompressed bytes through TarScanner and TarPolicy, and say which `tar` flag extracts it.
// Nothing is written anywhere: a bad member fails the whole import before extraction starts.
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { createGunzip, createZstdDecompress } from 'node:zlib';
import type { Readable } from 'node:stream';
import type { Runner } from '../runner.ts';
import { TarPolicy, TarProblem, TarScanner } from './tar-scan.ts';

export type Compression = 'none' | 'gzip' | 'xz' | 'zstd';

/** The flag GNU tar needs to read each compression. */
export const TAR_FLAG: Record<Compression, string | undefined> = { none: undefined, gzip: '--gzip', xz: '--xz', zstd: '--zstd' };

/** Which compression these first bytes start (undefined: not one we read, which may still be a plain tar). Pure. */
export function sniffCompression(head: Buffer): Compression | undefined {
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (head.length >= 6 && head.subarray(0, 6).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))) return 'xz';
  if (head.length >= 4 && head.readUInt32LE(0) === 0xfd2fb528) return 'zstd';
  if (head.length >= 263 && head.subarray(257, 262).toString('latin1') === 'ustar') return 'none';
  return undefined;
}

/** The first bytes of a file, for sniffing. */
export async function readHead(file: string, n = 512): Promise<Buffer> {
  const fh = await open(file, 'r');
  try {
    const b = Buffer.alloc(n);
    const { bytesRead } = await fh.read(b, 0, n, 0);
    return b.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

/** Read the whole archive and apply the safety rules; resolves to the member count, rejects with TarProblem. */
export async function checkTarball(runner: Runner, file: string, compression: Compression): Promise<number> {
  let stream: Readable;
  let child: ReturnType<Runner['spawn']> | undefined;
  if (compression === 'xz') {
    child = runner.spawn(['xz', '--decompress', '--stdout', '--', file]);
    stream = child.stdout!;
  } else {
    const raw = createReadStream(file);
    stream = compression === 'gzip' ? raw.pipe(createGunzip()) : compression === 'zstd' ? raw.pipe(createZstdDecompress()) : raw;
    raw.on('error', (e) => stream.destroy(e));
  }
  const scanner = new TarScanner();
  const policy = new TarPolicy();
  try {
    for await (const chunk of stream) {
      for (const e of scanner.push(chunk as Buffer)) policy.check(e);
      if (scanner.ended) break;
    }
    scanner.end();
  } catch (e) {
    if (e instanceof TarProblem) throw e;
    throw new TarProblem(`cannot read ${file} as a ${compression === 'none' ? '' : compression + ' '}tarball: ${(e as Error).message}`);
  } finally {
    stream.destroy();
    if (child) {
      child.kill();
      const r = await child;
      if (!scanner.ended && r.exitCode !== 0 && !r.isTerminated) throw new TarProblem(`cannot decompress ${file}: xz exited ${r.exitCode}`);
    }
  }
  return policy.count;
}
