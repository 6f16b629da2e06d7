// What is mounted at one path: statx(2) for the mount's unique id, then statmount(2) (Linux 6.8+;
// options since 6.11) for its mount point, type, source and superblock options.
//
// Why: the alternative is reading /proc/self/mountinfo, which the kernel renders whole for every
// read: at 10,000 overlays that is ~4 MB and about 150 ms of kernel time per node checked. This
// asks about one mount and costs the same at any mount count. provisioners/mount-table.ts falls
// back to mountinfo when probe() says this kernel (or a seccomp filter) does not allow it.
//
// mountAt(path) -> undefined when no mount has its root exactly at `path` (the path's own mount is
// another one, or the path does not exist), else { mountPoint, fstype, source, options, readOnly (the superblock), mountReadOnly }.
// The final component is not followed (AT_SYMLINK_NOFOLLOW): a symlink there is not a mount point,
// as in mountinfo. `options` is escaped as in mountinfo's super options (\ooo); mountPoint is not.
#define _GNU_SOURCE
#define NAPI_VERSION 8
#include <errno.h>
#include <fcntl.h>
#include <linux/types.h>
#include <node_api.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SYS_statmount
#define SYS_statmount 457
#endif
#ifndef STATX_MNT_ID_UNIQUE
#define STATX_MNT_ID_UNIQUE 0x00004000U
#endif

enum {
  SM_SB_BASIC = 0x1,
  SM_MNT_BASIC = 0x2,
  SM_MNT_POINT = 0x10,
  SM_FS_TYPE = 0x20,
  SM_MNT_OPTS = 0x80,
  SM_SB_SOURCE = 0x200,
  SB_RDONLY_FLAG = 0x1,
  MOUNT_ATTR_RDONLY_FLAG = 0x1,
  MAX_PATH_ARG = 4096,
};

// The uapi layout (include/uapi/linux/mount.h), up to the last field read here; 512 bytes of
// fixed part, strings after it. Declared here because distribution headers lag the kernel.
struct sm_req {
  __u32 size;
  __u32 spare;
  __u64 mnt_id;
  __u64 param;
};
struct sm_fixed {
  __u32 size, mnt_opts;
  __u64 mask;
  __u32 sb_dev_major, sb_dev_minor;
  __u64 sb_magic;
  __u32 sb_flags, fs_type;
  __u64 mnt_id, mnt_parent_id;
  __u32 mnt_id_old, mnt_parent_id_old;
  __u64 mnt_attr, mnt_propagation, mnt_peer_group, mnt_master, propagate_from;
  __u32 mnt_root, mnt_point;
  __u64 mnt_ns_id;
  __u32 fs_subtype, sb_source;
  __u64 spare2[48];
};
_Static_assert(sizeof(struct sm_fixed) == 512, "struct statmount's fixed part is 512 bytes");

// statmount of mount `id` into a malloc'd buffer that grows on EOVERFLOW; NULL with errno set.
static struct sm_fixed *stat_mount(__u64 id, __u64 mask) {
  struct sm_req req = {.size = 24, .mnt_id = id, .param = mask};
  size_t cap = 4096;
  for (int tries = 0; tries < 6; tries++, cap *= 4) {
    struct sm_fixed *sm = calloc(1, cap);
    if (sm == NULL) return NULL;
    if (syscall(SYS_statmount, &req, sm, cap, 0) == 0) return sm;
    int e = errno;
    free(sm);
    errno = e;
    if (e != EOVERFLOW) return NULL;
  }
  errno = EOVERFLOW;
  return NULL;
}

static const char *str_at(const struct sm_fixed *sm, __u32 off) {
  const char *base = (const char *)(sm + 1);
  if ((size_t)off + sizeof *sm >= sm->size) return "";
  return base + off;
}

static void throw_errno(napi_env env, int err, const char *what, const char *path) {
  char why[300];
  snprintf(why, sizeof why, "%s(%.200s): %s", what, path, strerror(err));
  napi_throw_error(env, err == ENOSYS ? "ENOSYS" : err == EPERM ? "EPERM" : err == EINVAL ? "EINVAL" : "ESTATMOUNT", why);
}

static void set_string(napi_env env, napi_value obj, const char *key, const char *s) {
  napi_value v;
  napi_create_string_utf8(env, s, NAPI_AUTO_LENGTH, &v);
  napi_set_named_property(env, obj, key, v);
}

// The entry for the mount whose id statx gave for `path`, or undefined when its root is elsewhere.
static napi_value describe(napi_env env, const char *path, int nofollow) {
  napi_value undef;
  napi_get_undefined(env, &undef);
  struct statx stx;
  if (statx(AT_FDCWD, path, (nofollow ? AT_SYMLINK_NOFOLLOW : 0) | AT_NO_AUTOMOUNT, STATX_MNT_ID_UNIQUE, &stx) != 0) {
    if (errno == ENOENT || errno == ENOTDIR) return undef;
    throw_errno(env, errno, "statx", path);
    return NULL;
  }
  if (!(stx.stx_mask & STATX_MNT_ID_UNIQUE)) {
    throw_errno(env, ENOSYS, "statx STATX_MNT_ID_UNIQUE", path);
    return NULL;
  }
  // not the root of any mount: nothing is mounted here (kernels before 5.8 do not say; statmount then does)
  if ((stx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) && !(stx.stx_attributes & STATX_ATTR_MOUNT_ROOT)) return undef;
  struct sm_fixed *sm = stat_mount(stx.stx_mnt_id, SM_SB_BASIC | SM_MNT_BASIC | SM_MNT_POINT | SM_FS_TYPE | SM_MNT_OPTS | SM_SB_SOURCE);
  if (sm == NULL) {
    throw_errno(env, errno, "statmount", path);
    return NULL;
  }
  // a kernel clears the bits it does not know, and also leaves out options a filesystem does not
  // have; an overlay always has some (lowerdir), so one without them means a kernel before 6.11
  if ((sm->mask & (SM_MNT_POINT | SM_FS_TYPE)) != (SM_MNT_POINT | SM_FS_TYPE) ||
      (!(sm->mask & SM_MNT_OPTS) && strcmp(str_at(sm, sm->fs_type), "overlay") == 0)) {
    free(sm);
    throw_errno(env, ENOSYS, "statmount (no mount point, type or options from this kernel)", path);
    return NULL;
  }
  napi_value out;
  napi_create_object(env, &out);
  set_string(env, out, "mountPoint", str_at(sm, sm->mnt_point));
  set_string(env, out, "fstype", str_at(sm, sm->fs_type));
  set_string(env, out, "source", (sm->mask & SM_SB_SOURCE) ? str_at(sm, sm->sb_source) : "none");
  // options: empty when the filesystem has none (the field is then unset)
  set_string(env, out, "options", (sm->mask & SM_MNT_OPTS) ? str_at(sm, sm->mnt_opts) : "");
  napi_value ro;
  napi_get_boolean(env, (sm->mask & SM_SB_BASIC) && (sm->sb_flags & SB_RDONLY_FLAG), &ro);
  napi_set_named_property(env, out, "readOnly", ro);
  napi_get_boolean(env, (sm->mask & SM_MNT_BASIC) && (sm->mnt_attr & MOUNT_ATTR_RDONLY_FLAG), &ro);
  napi_set_named_property(env, out, "mountReadOnly", ro);
  free(sm);
  return out;
}

static char *path_arg(napi_env env, napi_callback_info info, const char *fn) {
  size_t argc = 1;
  napi_value argv[1];
  char why[128];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL;
  size_t len = 0;
  if (argc < 1 || napi_get_value_string_utf8(env, argv[0], NULL, 0, &len) != napi_ok) {
    snprintf(why, sizeof why, "%s: expected a path (a string)", fn);
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", why);
    return NULL;
  }
  if (len == 0 || len >= MAX_PATH_ARG) {
    snprintf(why, sizeof why, "%s: expected a path of 1 to %d bytes, found %zu", fn, MAX_PATH_ARG - 1, len);
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", why);
    return NULL;
  }
  char *s = malloc(len + 1);
  if (s == NULL) {
    napi_throw_error(env, "ENOMEM", "out of memory");
    return NULL;
  }
  size_t got = 0;
  napi_get_value_string_utf8(env, argv[0], s, len + 1, &got);
  if (strlen(s) != len) {
    snprintf(why, sizeof why, "%s: expected no NUL byte in the path", fn);
    free(s);
    napi_throw_type_error(env, "ERR_INVALID_ARG_VALUE", why);
    return NULL;
  }
  return s;
}

// mountAt(path): see the top comment.
static napi_value js_mount_at(napi_env env, napi_callback_info info) {
  char *path = path_arg(env, info, "mountAt");
  if (path == NULL) return NULL;
  napi_value out = describe(env, path, 1);
  free(path);
  return out;
}

// probe(path) -> true, or throws when this kernel cannot say what is mounted where (ENOSYS: no
// statmount or no unique mount ids, before Linux 6.8; EPERM: a seccomp filter).
static napi_value js_probe(napi_env env, napi_callback_info info) {
  char *path = path_arg(env, info, "probe");
  if (path == NULL) return NULL;
  struct statx stx;
  napi_value out = NULL;
  if (statx(AT_FDCWD, path, AT_NO_AUTOMOUNT, STATX_MNT_ID_UNIQUE, &stx) != 0) {
    throw_errno(env, errno, "statx", path);
  } else if (!(stx.stx_mask & STATX_MNT_ID_UNIQUE)) {
    throw_errno(env, ENOSYS, "statx STATX_MNT_ID_UNIQUE", path);
  } else {
    struct sm_fixed *sm = stat_mount(stx.stx_mnt_id, SM_MNT_POINT | SM_FS_TYPE);
    if (sm == NULL) throw_errno(env, errno, "statmount", path);
    else if ((sm->mask & (SM_MNT_POINT | SM_FS_TYPE)) != (SM_MNT_POINT | SM_FS_TYPE)) throw_errno(env, ENOSYS, "statmount (no mount point or type)", path);
    else napi_get_boolean(env, true, &out);
    free(sm);
  }
  free(path);
  return out;
}

NAPI_MODULE_INIT() {
  napi_value f;
  napi_create_function(env, "mountAt", NAPI_AUTO_LENGTH, js_mount_at, NULL, &f);
  napi_set_named_property(env, exports, "mountAt", f);
  napi_create_function(env, "probe", NAPI_AUTO_LENGTH, js_probe, NULL, &f);
  napi_set_named_property(env, exports, "probe", f);
  return exports;
}
