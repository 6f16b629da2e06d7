// _exit(2) for pxebootd's stop deadline: leave at once, without exit handlers.
//
// Why: process.exit() runs the C library's exit handlers, and one of them (libuv's library
// shutdown) joins every thread-pool worker. A worker blocked in a read that never returns (a FIFO
// opened by some plug-in, a hung NFS file) makes that join, and so the exit, wait forever; a
// stopped daemon must not. The caller flushes its logs (they are written synchronously) first.
#define NAPI_VERSION 8
#include <node_api.h>
#include <unistd.h>

// exitNow(code): never returns.
static napi_value js_exit_now(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int32_t code = 1;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) == napi_ok && argc >= 1) napi_get_value_int32(env, argv[0], &code);
  _exit(code & 0xff);
  return NULL;
}

NAPI_MODULE_INIT() {
  napi_value f;
  napi_create_function(env, "exitNow", NAPI_AUTO_LENGTH, js_exit_now, NULL, &f);
  napi_set_named_property(env, exports, "exitNow", f);
  return exports;
}
