// A receive-only AF_PACKET socket on one network interface for the dhcp-snoop source, read on
// Node's main loop through uv_poll.
//
// Why a packet socket and not a UDP socket on port 67: it is bound to one interface's ifindex, so
// loopback and other interfaces never reach it; the kernel marks what this host sent
// (PACKET_OUTGOING) and never delivers its own looped-back broadcasts (PACKET_LOOPBACK) to it; and
// it holds no UDP port, so it never conflicts with the DHCP server on port 67.
//
// The socket is opened with protocol 0 (it receives nothing), gets its BPF filter, and only then is
// bound to ETH_P_IP on the interface, so no unfiltered packet is ever queued. SOCK_DGRAM strips the
// link-layer header: each packet handed to JavaScript starts at its IPv4 header. The filter passes
// whole IPv4/UDP packets (no fragments) to the configured destination port that this host did not
// send; JavaScript checks every header field again (watchers/dhcp/ip-udp.ts).
#define _GNU_SOURCE
#define NAPI_VERSION 8
#include <arpa/inet.h>
#include <errno.h>
#include <linux/filter.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <node_api.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

enum { MAX_PACKET = 4096, PER_WAKEUP = 64, RCVBUF = 1 << 20 };

typedef struct {
  uv_poll_t poll;
  napi_env env;
  napi_ref callback;
  napi_async_context async;
  int fd;
  int ifindex;
  int closed;
  // freed when both libuv has closed the handle and JavaScript has dropped the object
  int uv_done, js_done;
  unsigned char buf[MAX_PACKET];
} snoop;

// Throws an Error like Node's system errors: code "ENODEV", errno, syscall, and a message naming what.
static void throw_errno(napi_env env, int err, const char *syscall, const char *what) {
  char msg[256];
  const char *name = strerrorname_np(err);
  snprintf(msg, sizeof msg, "%s %s: %s", syscall, what, strerror(err));
  napi_value code, text, error, num, sys;
  napi_create_string_utf8(env, name ? name : "EUNKNOWN", NAPI_AUTO_LENGTH, &code);
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &text);
  napi_create_error(env, code, text, &error);
  napi_create_int32(env, err, &num);
  napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &sys);
  napi_set_named_property(env, error, "errno", num);
  napi_set_named_property(env, error, "syscall", sys);
  napi_throw(env, error);
}

// The interface name argument: NULL (TypeError thrown) unless a string of 1 to IFNAMSIZ-1 bytes.
static int get_ifname(napi_env env, napi_value v, char out[IFNAMSIZ]) {
  size_t len = 0;
  if (napi_get_value_string_utf8(env, v, NULL, 0, &len) != napi_ok || len == 0 || len >= IFNAMSIZ) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_VALUE", "interface: expected a name of 1 to 15 bytes");
    return 0;
  }
  size_t got = 0;
  napi_get_value_string_utf8(env, v, out, IFNAMSIZ, &got);
  if (got != len || strlen(out) != len) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_VALUE", "interface: expected no NUL byte");
    return 0;
  }
  return 1;
}

// Calls the JavaScript callback as cb(err, packet, pkttype, ifindex); an exception it throws becomes
// an uncaught exception of the process, as from any event callback.
static void call_js(snoop *s, napi_value err, napi_value packet, int pkttype, int ifindex) {
  napi_env env = s->env;
  napi_value cb, recv, argv[4], result;
  napi_get_reference_value(env, s->callback, &cb);
  napi_get_global(env, &recv); // napi_make_callback needs an object receiver
  argv[0] = err;
  argv[1] = packet;
  napi_create_int32(env, pkttype, &argv[2]);
  napi_create_int32(env, ifindex, &argv[3]);
  if (napi_make_callback(env, s->async, recv, cb, 4, argv, &result) == napi_pending_exception) {
    napi_value e;
    napi_get_and_clear_last_exception(env, &e);
    napi_fatal_exception(env, e);
  }
}

static void on_closed(uv_handle_t *h) {
  snoop *s = h->data;
  close(s->fd);
  s->uv_done = 1;
  if (s->js_done) free(s);
}

// Stops reading and frees everything once libuv has let go of the handle. Idempotent.
static void shut(snoop *s) {
  if (s->closed) return;
  s->closed = 1;
  uv_poll_stop(&s->poll);
  napi_delete_reference(s->env, s->callback);
  napi_async_destroy(s->env, s->async);
  uv_close((uv_handle_t *)&s->poll, on_closed);
}

// The JavaScript object is gone: stop reading if nobody did, free once libuv is done too.
static void on_finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  snoop *s = data;
  s->js_done = 1;
  shut(s);
  if (s->uv_done) free(s);
}

// Reads up to PER_WAKEUP packets (the poll is level-triggered: the rest comes on the next loop turn,
// after other I/O had its share).
static void on_readable(uv_poll_t *h, int status, int events) {
  (void)events;
  snoop *s = h->data;
  if (s->closed) return;
  napi_handle_scope scope;
  napi_open_handle_scope(s->env, &scope);
  napi_value undef, null;
  napi_get_undefined(s->env, &undef);
  napi_get_null(s->env, &null);
  for (int i = 0; i < PER_WAKEUP && !s->closed; i++) {
    struct sockaddr_ll from;
    socklen_t fromlen = sizeof from;
    memset(&from, 0, sizeof from);
    ssize_t n = status < 0 ? -1 : recvfrom(s->fd, s->buf, sizeof s->buf, MSG_DONTWAIT | MSG_TRUNC, (struct sockaddr *)&from, &fromlen);
    if (n < 0) {
      int err = errno;
      if (status < 0) {
        // libuv reports POLLERR as UV_EBADF and stops the handle: the socket's own error says why
        int so = 0;
        socklen_t len = sizeof so;
        err = getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &so, &len) == 0 && so ? so : -status;
      } else if (err == EAGAIN || err == EWOULDBLOCK || err == EINTR) {
        break;
      }
      // ENETDOWN: the interface went down or away. JavaScript closes this socket and opens another.
      napi_value code, text, error;
      char msg[160];
      snprintf(msg, sizeof msg, "recvfrom on ifindex %d: %s", s->ifindex, strerror(err));
      const char *name = strerrorname_np(err);
      napi_create_string_utf8(s->env, name ? name : "EUNKNOWN", NAPI_AUTO_LENGTH, &code);
      napi_create_string_utf8(s->env, msg, NAPI_AUTO_LENGTH, &text);
      napi_create_error(s->env, code, text, &error);
      call_js(s, error, undef, -1, -1);
      break;
    }
    napi_handle_scope inner;
    napi_open_handle_scope(s->env, &inner);
    // a packet longer than the buffer is reported by its true length, with only what fitted
    size_t have = (size_t)n < sizeof s->buf ? (size_t)n : sizeof s->buf;
    napi_value packet, total;
    void *data;
    napi_create_buffer_copy(s->env, have, s->buf, &data, &packet);
    napi_create_double(s->env, (double)n, &total);
    napi_set_named_property(s->env, packet, "wireLength", total);
    call_js(s, null, packet, from.sll_pkttype, from.sll_ifindex);
    napi_close_handle_scope(s->env, inner);
  }
  napi_close_handle_scope(s->env, scope);
}

static napi_value js_close(napi_env env, napi_callback_info info) {
  snoop *s;
  napi_get_cb_info(env, info, NULL, NULL, NULL, (void **)&s);
  shut(s);
  napi_value undef;
  napi_get_undefined(env, &undef);
  return undef;
}

// {packets, drops} since the last call (PACKET_STATISTICS resets on read): drops are packets the
// filter passed that did not fit in the receive buffer.
static napi_value js_stats(napi_env env, napi_callback_info info) {
  snoop *s;
  napi_get_cb_info(env, info, NULL, NULL, NULL, (void **)&s);
  struct tpacket_stats st = {0, 0};
  socklen_t len = sizeof st;
  if (!s->closed) getsockopt(s->fd, SOL_PACKET, PACKET_STATISTICS, &st, &len);
  napi_value out, p, d;
  napi_create_object(env, &out);
  napi_create_uint32(env, st.tp_packets, &p);
  napi_create_uint32(env, st.tp_drops, &d);
  napi_set_named_property(env, out, "packets", p);
  napi_set_named_property(env, out, "drops", d);
  return out;
}

// open(interface, udpPort, callback) -> { ifindex, close(), stats() }
static napi_value js_open(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  char ifname[IFNAMSIZ] = {0};
  napi_valuetype t;
  if (argc != 3) {
    napi_throw_type_error(env, "ERR_MISSING_ARGS", "usage: open(interface, port, callback)");
    return NULL;
  }
  if (!get_ifname(env, argv[0], ifname)) return NULL;
  uint32_t port;
  double d;
  if (napi_get_value_double(env, argv[1], &d) != napi_ok || d < 1 || d > 65535 || d != (double)(uint32_t)d) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_VALUE", "port: expected an integer 1-65535");
    return NULL;
  }
  port = (uint32_t)d;
  if (napi_typeof(env, argv[2], &t) != napi_ok || t != napi_function) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "callback: expected a function");
    return NULL;
  }

  int fd = socket(AF_PACKET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return throw_errno(env, errno, "socket", "AF_PACKET"), NULL;
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  memcpy(ifr.ifr_name, ifname, strlen(ifname));
  if (ioctl(fd, SIOCGIFINDEX, &ifr) != 0) {
    int e = errno;
    close(fd);
    return throw_errno(env, e, "SIOCGIFINDEX", ifname), NULL;
  }
  int ifindex = ifr.ifr_ifindex;
  if (ioctl(fd, SIOCGIFFLAGS, &ifr) != 0) {
    int e = errno;
    close(fd);
    return throw_errno(env, e, "SIOCGIFFLAGS", ifname), NULL;
  }
  if (ifr.ifr_flags & IFF_LOOPBACK) {
    close(fd);
    return throw_errno(env, EINVAL, "open", "(a loopback interface carries no DHCP client)"), NULL;
  }

  // IPv4 header at 0 (SOCK_DGRAM). Drop: sent by this host, not UDP, any fragment, wrong dst port.
  struct sock_filter code[] = {
      BPF_STMT(BPF_LD | BPF_B | BPF_ABS, (uint32_t)(SKF_AD_OFF + SKF_AD_PKTTYPE)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, PACKET_OUTGOING, 8, 0),
      BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 9),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 17, 0, 6),
      BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 6),
      BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, 0x3fff, 4, 0),
      BPF_STMT(BPF_LDX | BPF_B | BPF_MSH, 0),
      BPF_STMT(BPF_LD | BPF_H | BPF_IND, 2),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, port, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, 0x40000),
      BPF_STMT(BPF_RET | BPF_K, 0),
  };
  struct sock_fprog prog = {.len = sizeof code / sizeof code[0], .filter = code};
  if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof prog) != 0) {
    int e = errno;
    close(fd);
    return throw_errno(env, e, "SO_ATTACH_FILTER", ifname), NULL;
  }
  int one = 1, rcv = RCVBUF;
  // best effort: older kernels lack it (the filter drops outgoing packets anyway)
  setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof one);
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcv, sizeof rcv) != 0) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof rcv);
  struct sockaddr_ll sll;
  memset(&sll, 0, sizeof sll);
  sll.sll_family = AF_PACKET;
  sll.sll_protocol = htons(ETH_P_IP);
  sll.sll_ifindex = ifindex;
  if (bind(fd, (struct sockaddr *)&sll, sizeof sll) != 0) {
    int e = errno;
    close(fd);
    return throw_errno(env, e, "bind", ifname), NULL;
  }

  snoop *s = calloc(1, sizeof *s);
  if (s == NULL) {
    close(fd);
    napi_throw_error(env, "ENOMEM", "out of memory");
    return NULL;
  }
  s->env = env;
  s->fd = fd;
  s->ifindex = ifindex;
  uv_loop_t *loop;
  napi_value name;
  napi_get_uv_event_loop(env, &loop);
  napi_create_string_utf8(env, "pxebootd:packetsock", NAPI_AUTO_LENGTH, &name);
  napi_create_reference(env, argv[2], 1, &s->callback);
  napi_async_init(env, NULL, name, &s->async);
  int rc = uv_poll_init_socket(loop, &s->poll, fd);
  if (rc == 0) {
    s->poll.data = s;
    rc = uv_poll_start(&s->poll, UV_READABLE, on_readable);
    if (rc != 0) {
      s->closed = 1;
      s->js_done = 1;
      napi_delete_reference(env, s->callback);
      napi_async_destroy(env, s->async);
      uv_close((uv_handle_t *)&s->poll, on_closed);
    }
  } else {
    napi_delete_reference(env, s->callback);
    napi_async_destroy(env, s->async);
    close(fd);
    free(s);
  }
  if (rc != 0) return throw_errno(env, -rc, "uv_poll", ifname), NULL;

  napi_value out, fn_close, fn_stats, idx;
  napi_create_object(env, &out);
  napi_create_function(env, "close", NAPI_AUTO_LENGTH, js_close, s, &fn_close);
  napi_create_function(env, "stats", NAPI_AUTO_LENGTH, js_stats, s, &fn_stats);
  napi_create_int32(env, ifindex, &idx);
  napi_set_named_property(env, out, "close", fn_close);
  napi_set_named_property(env, out, "stats", fn_stats);
  napi_set_named_property(env, out, "ifindex", idx);
  napi_add_finalizer(env, out, s, on_finalize, NULL, NULL);
  return out;
}

// ifindex(interface) -> its index, or 0 when there is no such interface (to notice it was recreated)
static napi_value js_ifindex(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], out;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  char ifname[IFNAMSIZ] = {0};
  if (argc != 1 || !get_ifname(env, argv[0], ifname)) return NULL;
  napi_create_uint32(env, if_nametoindex(ifname), &out);
  return out;
}

NAPI_MODULE_INIT() {
  napi_value fn;
  napi_create_function(env, "open", NAPI_AUTO_LENGTH, js_open, NULL, &fn);
  napi_set_named_property(env, exports, "open", fn);
  napi_create_function(env, "ifindex", NAPI_AUTO_LENGTH, js_ifindex, NULL, &fn);
  napi_set_named_property(env, exports, "ifindex", fn);
  return exports;
}
