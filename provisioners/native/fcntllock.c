// Whole-file fcntl record locks, open-file-description flavour (F_OFD_SETLK / F_OFD_GETLK).
//
// Why: exportfs serialises its writers with fcntl/lockf locks on /var/lib/nfs/export-lock and
// .etab.lock, and mountd reads etab under .etab.lock. To edit etab for one node the way exportfs
// does, pxebootd must take the same locks; Node has no fcntl. OFD locks conflict with the classic
// per-process POSIX locks that exportfs and mountd take, belong to the fd (not to the whole
// process), and never block: the caller polls, so the event loop never waits inside the kernel.
#define _GNU_SOURCE
#define NAPI_VERSION 8
#include <errno.h>
#include <fcntl.h>
#include <node_api.h>
#include <stdio.h>
#include <string.h>

static int get_fd(napi_env env, napi_callback_info info, size_t want, napi_value *argv, const char *fn) {
  size_t argc = want;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return -1;
  int32_t fd = -1;
  if (argc < want || napi_get_value_int32(env, argv[0], &fd) != napi_ok || fd < 0) {
    char why[120];
    snprintf(why, sizeof why, "%s: expected a file descriptor (a non-negative integer)", fn);
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", why);
    return -1;
  }
  return fd;
}

static void throw_errno(napi_env env, int err, const char *what, int fd) {
  char why[160];
  snprintf(why, sizeof why, "%s(fd %d): %s", what, fd, strerror(err));
  napi_throw_error(env, err == EBADF ? "EBADF" : err == EINVAL ? "EINVAL" : err == ENOLCK ? "ENOLCK" : "EFCNTL", why);
}

// tryLock(fd, exclusive) -> true when the whole-file lock is held now, false when another holder
// has a conflicting lock (EAGAIN/EACCES); throws on anything else.
static napi_value js_try_lock(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  int fd = get_fd(env, info, 2, argv, "tryLock");
  if (fd < 0) return NULL;
  bool exclusive = false;
  if (napi_get_value_bool(env, argv[1], &exclusive) != napi_ok) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "tryLock: expected a boolean (exclusive)");
    return NULL;
  }
  struct flock fl;
  memset(&fl, 0, sizeof fl);
  fl.l_type = exclusive ? F_WRLCK : F_RDLCK;
  fl.l_whence = SEEK_SET;
  napi_value out;
  if (fcntl(fd, F_OFD_SETLK, &fl) == 0) {
    napi_get_boolean(env, true, &out);
    return out;
  }
  int err = errno;
  if (err == EAGAIN || err == EACCES) {
    napi_get_boolean(env, false, &out);
    return out;
  }
  throw_errno(env, err, "fcntl F_OFD_SETLK", fd);
  return NULL;
}

// unlock(fd): drop this fd's whole-file lock (closing the fd does it too).
static napi_value js_unlock(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  int fd = get_fd(env, info, 1, argv, "unlock");
  if (fd < 0) return NULL;
  struct flock fl;
  memset(&fl, 0, sizeof fl);
  fl.l_type = F_UNLCK;
  fl.l_whence = SEEK_SET;
  if (fcntl(fd, F_OFD_SETLK, &fl) != 0) {
    throw_errno(env, errno, "fcntl F_OFD_SETLK F_UNLCK", fd);
    return NULL;
  }
  return NULL;
}

// holder(fd) -> 0 when nobody holds a lock that conflicts with a write lock, the holder's PID for
// a classic POSIX lock, or -1 for an OFD lock (whose owner the kernel does not name).
static napi_value js_holder(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  int fd = get_fd(env, info, 1, argv, "holder");
  if (fd < 0) return NULL;
  struct flock fl;
  memset(&fl, 0, sizeof fl);
  fl.l_type = F_WRLCK;
  fl.l_whence = SEEK_SET;
  if (fcntl(fd, F_OFD_GETLK, &fl) != 0) {
    throw_errno(env, errno, "fcntl F_OFD_GETLK", fd);
    return NULL;
  }
  napi_value out;
  napi_create_int32(env, fl.l_type == F_UNLCK ? 0 : (int32_t)fl.l_pid, &out);
  return out;
}

NAPI_MODULE_INIT() {
  napi_value f;
  napi_create_function(env, "tryLock", NAPI_AUTO_LENGTH, js_try_lock, NULL, &f);
  napi_set_named_property(env, exports, "tryLock", f);
  napi_create_function(env, "unlock", NAPI_AUTO_LENGTH, js_unlock, NULL, &f);
  napi_set_named_property(env, exports, "unlock", f);
  napi_create_function(env, "holder", NAPI_AUTO_LENGTH, js_holder, NULL, &f);
  napi_set_named_property(env, exports, "holder", f);
  return exports;
}
