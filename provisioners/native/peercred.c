// getsockopt(SO_PEERCRED) on a connected Unix socket: the pid, uid and gid of the process at the
// other end, as the kernel recorded them at connect()/listen() time.
//
// Why: Node has no API for a Unix socket peer's credentials. The CLI uses it to check that the
// control socket it connected to is served by the daemon's uid (root) before it sends a request,
// and the daemon uses it to refuse mutating requests from other users.
#define _GNU_SOURCE
#define NAPI_VERSION 8
#include <errno.h>
#include <node_api.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

// peercred(fd) -> { pid, uid, gid }; throws an Error with the errno name as its code.
static napi_value js_peercred(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL;
  int32_t fd = -1;
  if (argc < 1 || napi_get_value_int32(env, argv[0], &fd) != napi_ok || fd < 0) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "peercred: expected a file descriptor (a non-negative integer)");
    return NULL;
  }
  struct ucred cred;
  socklen_t len = sizeof cred;
  memset(&cred, 0, sizeof cred);
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 || len != sizeof cred) {
    int err = errno;
    char why[160];
    snprintf(why, sizeof why, "getsockopt(%d, SO_PEERCRED): %s", (int)fd, strerror(err));
    napi_throw_error(env, err == EBADF ? "EBADF" : err == ENOTSOCK ? "ENOTSOCK" : err == ENOTCONN ? "ENOTCONN" : "EPEERCRED", why);
    return NULL;
  }
  napi_value out, v;
  napi_create_object(env, &out);
  napi_create_int32(env, (int32_t)cred.pid, &v);
  napi_set_named_property(env, out, "pid", v);
  napi_create_uint32(env, (uint32_t)cred.uid, &v);
  napi_set_named_property(env, out, "uid", v);
  napi_create_uint32(env, (uint32_t)cred.gid, &v);
  napi_set_named_property(env, out, "gid", v);
  return out;
}

NAPI_MODULE_INIT() {
  napi_value f;
  napi_create_function(env, "peercred", NAPI_AUTO_LENGTH, js_peercred, NULL, &f);
  napi_set_named_property(env, exports, "peercred", f);
  return exports;
}
