// Builds DHCP packets for tests: a fixed header plus the option bytes given, nothing clever.
export function buildPacket(o: { op?: number; htype?: number; hlen?: number; mac?: number[]; ciaddr?: number[]; options: number[]; sname?: number[]; file?: number[] }): Buffer {
  const b = Buffer.alloc(240);
  b[0] = o.op ?? 1;
  b[1] = o.htype ?? 1;
  b[2] = o.hlen ?? 6;
  b.writeUInt32BE(0x12345678, 4);
  if (o.ciaddr) b.set(o.ciaddr, 12);
  b.set(o.mac ?? [0x52, 0x54, 0x00, 0x12, 0x34, 0x56], 28);
  if (o.sname) b.set(o.sname, 44);
  if (o.file) b.set(o.file, 108);
  b.set([99, 130, 83, 99], 236);
  return Buffer.concat([b, Buffer.from(o.options)]);
}
