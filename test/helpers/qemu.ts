// A real PXE client: QEMU (TCG; KVM here is kvm_pvm and hangs iPXE) with the iPXE ROM on a tap
// device bridged into the server namespace. The serial console (including SeaBIOS/iPXE/pxelinux
// text, mirrored by sercon) goes to a file that we tail, stamping each line with the wall-clock time
// we first saw it, so a test can build a timeline. Killed only by its own PID.
import { spawn } from 'node:child_process';
import { createConnection } from 'node:net';
import { copyFileSync, existsSync, openSync, closeSync, readFileSync, readSync, writeFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { onCleanup, requireTool, sh } from './lab.ts';

export interface VmOptions {
  /** short name, used in file names and the tap name (tap "pxf-<name>", <= 15 chars) */
  name: string;
  /** namespace that holds the bridge; QEMU runs in it */
  netns: string;
  bridge: string;
  mac: string;
  /** directory for the serial log and QEMU's own output */
  workDir: string;
  /** hard limit: QEMU is SIGKILLed after this */
  timeoutMs: number;
  memoryMb?: number;
  /** UEFI (OVMF) instead of SeaBIOS + the iPXE ROM: the NIC then uses OVMF's own virtio driver */
  uefi?: { code: string; vars: string; secureBoot: boolean; httpBootOnly?: boolean };
  /** let a guest reboot (and a QMP system_reset reset) instead of QEMU exiting (-no-reboot) */
  allowReboot?: boolean;
}

export interface SerialLine {
  /** ms since the epoch when the line was first seen in the serial file (±50 ms) */
  time: number;
  text: string;
}

export interface VmResult {
  name: string;
  startedAt: number;
  endedAt: number;
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  serialPath: string;
  lines: SerialLine[];
}

export interface Vm {
  name: string;
  pid: number;
  startedAt: number;
  serialPath: string;
  /** every complete serial line so far, timestamped */
  lines: SerialLine[];
  /** resolves when QEMU exits (the guest powers off with -no-reboot) or is killed */
  done: Promise<VmResult>;
  /** first line matching `re` (waits for it; rejects if the VM ends first or after timeoutMs) */
  waitForLine(re: RegExp, timeoutMs: number): Promise<SerialLine>;
  /** the raw serial text so far (memtest86+ draws a screen: its words need not end a line) */
  serialText(): string;
  /** run one QMP command (e.g. "system_reset", "send-key") on the VM's monitor socket; resolves with its "return" */
  qmp(command: string, args?: Record<string, unknown>): Promise<unknown>;
  kill(): void;
}

/** One QMP command over a fresh connection: greeting, qmp_capabilities, the command, its answer. */
export function qmpCommand(socketPath: string, command: string, args?: Record<string, unknown>, timeoutMs = 10_000): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const sock = createConnection(socketPath);
    let buf = '';
    let step = 0;
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`qmp ${command}: no answer within ${timeoutMs} ms on ${socketPath}`));
    }, timeoutMs);
    const fail = (e: Error) => {
      clearTimeout(timer);
      sock.destroy();
      reject(e);
    };
    sock.on('error', (e) => fail(new Error(`qmp ${command} on ${socketPath}: ${e.message}`)));
    sock.on('data', (d) => {
      buf += d.toString('utf8');
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl).trim();
        buf = buf.slice(nl + 1);
        if (!line) continue;
        const msg = JSON.parse(line) as { QMP?: unknown; return?: unknown; error?: { desc?: string }; event?: string };
        if (msg.event) continue; // asynchronous events (RESET, SHUTDOWN) are not answers
        if (msg.error) return fail(new Error(`qmp ${step === 1 ? 'qmp_capabilities' : command}: ${msg.error.desc ?? JSON.stringify(msg.error)}`));
        if (step === 0 && msg.QMP) {
          step = 1;
          sock.write(JSON.stringify({ execute: 'qmp_capabilities' }) + '\n');
        } else if (step === 1 && 'return' in msg) {
          step = 2;
          sock.write(JSON.stringify(args ? { execute: command, arguments: args } : { execute: command }) + '\n');
        } else if (step === 2 && 'return' in msg) {
          clearTimeout(timer);
          sock.end();
          resolve(msg.return);
        }
      }
    });
  });
}

const POLL_MS = 50;

// Strip terminal escapes and CRs that SeaBIOS/iPXE/the kernel put on the console.
function cleanLine(s: string): string {
  return s.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '').replace(/\x1b./g, '').replace(/[\r\0]/g, '').trimEnd();
}

/** Start a PXE-booting VM. The tap is created in `netns`, enslaved to `bridge`, and removed at cleanup. */
export function startVm(opts: VmOptions): Vm {
  requireTool('qemu-system-x86_64');
  const tap = `pxf-${opts.name}`.slice(0, 15);
  sh('ip', ['-n', opts.netns, 'tuntap', 'add', 'dev', tap, 'mode', 'tap']);
  onCleanup(`tap ${tap}`, () => sh('ip', ['-n', opts.netns, 'link', 'del', tap], { allowFail: true }));
  sh('ip', ['-n', opts.netns, 'link', 'set', tap, 'master', opts.bridge, 'up']);

  const serialPath = path.join(opts.workDir, `${opts.name}.serial`);
  const qemuOut = path.join(opts.workDir, `${opts.name}.qemu.out`);
  const sercon = path.join(opts.workDir, 'sercon-port.bin');
  const qmpPath = path.join(opts.workDir, `${opts.name}.qmp`);
  rmSync(qmpPath, { force: true });
  rmSync(serialPath, { force: true });
  writeFileSync(serialPath, '');
  // SeaBIOS: mirror the BIOS text console (iPXE, pxelinux) to COM1 at 0x3f8
  writeFileSync(sercon, Buffer.from([0xf8, 0x03]));
  let firmware: string[];
  let nic = `virtio-net-pci,netdev=n0,mac=${opts.mac}`;
  if (opts.uefi) {
    // a fresh copy of the variable store per VM (OVMF writes boot entries into it)
    const vars = path.join(opts.workDir, `${opts.name}.OVMF_VARS.fd`);
    copyFileSync(opts.uefi.vars, vars);
    firmware = [
      // the Secure Boot build needs SMM and a secure pflash, else it prints nothing and hangs (e2e-lab.md §7)
      '-machine', opts.uefi.secureBoot ? 'q35,smm=on' : 'q35',
      ...(opts.uefi.secureBoot ? ['-global', 'driver=cfi.pflash01,property=secure,value=on'] : []),
      '-drive', `if=pflash,format=raw,unit=0,readonly=on,file=${opts.uefi.code}`,
      '-drive', `if=pflash,format=raw,unit=1,file=${vars}`,
      // UEFI HTTP Boot only: OVMF (2022.11 honours these) drops its PXEv4/PXEv6 boot entries
      ...(opts.uefi.httpBootOnly
        ? ['-fw_cfg', 'name=opt/org.tianocore/IPv4PXESupport,string=n', '-fw_cfg', 'name=opt/org.tianocore/IPv6PXESupport,string=n']
        : []),
    ];
    nic += ',romfile=';
  } else {
    firmware = ['-fw_cfg', `name=etc/sercon-port,file=${sercon}`, '-boot', 'n'];
  }
  const args = [
    'netns', 'exec', opts.netns, 'qemu-system-x86_64',
    '-accel', 'tcg', '-m', String(opts.memoryMb ?? 512), '-smp', '1',
    '-nodefaults', '-display', 'none', ...(opts.allowReboot ? [] : ['-no-reboot']),
    '-qmp', `unix:${qmpPath},server=on,wait=off`,
    '-serial', `file:${serialPath}`,
    ...firmware,
    '-netdev', `tap,id=n0,ifname=${tap},script=no,downscript=no`,
    '-device', nic,
  ];
  const outFd = openSync(qemuOut, 'w');
  const startedAt = Date.now();
  // `ip netns exec` execs QEMU in place, so this PID is QEMU's
  const child = spawn('ip', args, { detached: true, stdio: ['ignore', outFd, outFd] });
  closeSync(outFd);
  const pid = child.pid;
  if (pid === undefined) throw new Error(`vm ${opts.name}: could not start qemu (see ${qemuOut})`);
  let exited = false;
  let timedOut = false;
  const killIt = () => {
    if (exited) return;
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  };
  onCleanup(`qemu ${opts.name} pid ${pid}`, killIt);

  const lines: SerialLine[] = [];
  let offset = 0;
  let partial = '';
  const readSerial = () => {
    if (!existsSync(serialPath)) return;
    const fd = openSync(serialPath, 'r');
    try {
      const buf = Buffer.alloc(1 << 16);
      for (;;) {
        const n = readSync(fd, buf, 0, buf.length, offset);
        if (n <= 0) break;
        offset += n;
        partial += buf.subarray(0, n).toString('latin1');
      }
    } finally {
      closeSync(fd);
    }
    const now = Date.now();
    const parts = partial.split('\n');
    partial = parts.pop() ?? '';
    for (const p of parts) lines.push({ time: now, text: cleanLine(p) });
  };
  const poller = setInterval(readSerial, POLL_MS);
  const timer = setTimeout(() => {
    timedOut = true;
    killIt();
  }, opts.timeoutMs);

  const done = new Promise<VmResult>((resolve) => {
    child.on('exit', (code, signal) => {
      exited = true;
      clearInterval(poller);
      clearTimeout(timer);
      readSerial();
      if (partial) lines.push({ time: Date.now(), text: cleanLine(partial) });
      partial = '';
      sh('ip', ['-n', opts.netns, 'link', 'del', tap], { allowFail: true });
      rmSync(qmpPath, { force: true });
      resolve({ name: opts.name, startedAt, endedAt: Date.now(), exitCode: code, signal, timedOut, serialPath, lines });
    });
  });

  const waitForLine = async (re: RegExp, timeoutMs: number): Promise<SerialLine> => {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const hit = lines.find((l) => re.test(l.text));
      if (hit) return hit;
      if (exited) throw new Error(`vm ${opts.name}: exited before printing ${re} (serial: ${serialPath})`);
      if (Date.now() > until) throw new Error(`vm ${opts.name}: no ${re} on the serial console within ${timeoutMs} ms (serial: ${serialPath})`);
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
  };

  const serialText = () => (existsSync(serialPath) ? readFileSync(serialPath, 'latin1') : '');
  const qmp = async (command: string, args?: Record<string, unknown>) => {
    if (exited) throw new Error(`vm ${opts.name}: qmp ${command}: QEMU has exited`);
    return qmpCommand(qmpPath, command, args);
  };
  return { name: opts.name, pid, startedAt, serialPath, lines, done, waitForLine, serialText, qmp, kill: killIt };
}
