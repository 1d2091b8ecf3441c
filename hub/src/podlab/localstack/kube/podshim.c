/*
 * podshim.so: the pod runner's LD_PRELOAD helper (see runner.py).
 *
 * The pod runner runs a pod's containers as local processes on loopback. Two things a real
 * container gets for free need help there, and both come from this small library:
 *
 * 1. Its own IP. Every pod server listens on the wildcard address (0.0.0.0:8888 for Jupyter):
 *    two such pods on one machine would collide. With PODLAB_POD_IP set, bind() to the IPv4 or
 *    IPv6 wildcard binds to the pod's loopback IP instead (::ffff:IP for a dual-stack socket).
 *    An IPv6-only wildcard socket (tornado opens one next to its IPv4 one) cannot take an
 *    IPv4 address and the pods have no IPv6 one: it gets [::1] and a port of its own, which
 *    keeps the server starting and collides with nothing.
 *    A pod's loopback is its own: 127.0.0.1 (bind and connect) and a connect to 0.0.0.0 or
 *    [::1] mean the pod's IP, as they reach the pod's own processes in a real pod (a kernel
 *    asking its Jupyter server at localhost:8888, ZMQ ports on 127.0.0.1).
 *
 * 2. `kubectl exec`. kwok runs an exec'd command as a plain child of its own, outside the pod's
 *    mount namespace (where its volumes are mounted at their paths). With PODLAB_POD_MNTNS
 *    naming /proc/<pid>/ns/mnt of the pod's process, a constructor enters that namespace
 *    (and the UTS namespace beside it, for the pod's host name)
 *    before main(), changes to PODLAB_POD_WORKDIR, and drops to PODLAB_POD_GID (with
 *    PODLAB_POD_GROUPS) and PODLAB_POD_UID, as the container's own processes run.
 *    Statically linked programs ignore LD_PRELOAD; everything in the pod's images is dynamic.
 *
 * Nothing happens without those variables, so the library is harmless anywhere else.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

static void fail(const char *what) {
    fprintf(stderr, "podshim: %s: %s\n", what, strerror(errno));
    _exit(126);
}

static int same_namespace(const char *target) {
    struct stat mine, theirs;
    if (stat("/proc/self/ns/mnt", &mine) != 0 || stat(target, &theirs) != 0) return 0;
    return mine.st_ino == theirs.st_ino && mine.st_dev == theirs.st_dev;
}

__attribute__((constructor)) static void podshim_enter_pod(void) {
    const char *ns = getenv("PODLAB_POD_MNTNS");
    if (ns == NULL || *ns == '\0' || same_namespace(ns)) return;
    int fd = open(ns, O_RDONLY | O_CLOEXEC);
    if (fd < 0) fail("the pod's process is gone (its mount namespace cannot be opened)");
    if (setns(fd, CLONE_NEWNS) != 0) fail("entering the pod's mount namespace");
    close(fd);
    /* Its host name too (the pod's name): /proc/<pid>/ns/uts next to the mount namespace. */
    char uts[256];
    size_t length = strlen(ns);
    if (length > 3 && length < sizeof uts && strcmp(ns + length - 3, "mnt") == 0) {
        memcpy(uts, ns, length - 3);
        memcpy(uts + length - 3, "uts", 4);
        int uts_fd = open(uts, O_RDONLY | O_CLOEXEC);
        if (uts_fd >= 0) {
            if (setns(uts_fd, CLONE_NEWUTS) != 0) fail("entering the pod's UTS namespace");
            close(uts_fd);
        }
    }
    const char *dir = getenv("PODLAB_POD_WORKDIR");
    if (chdir(dir && *dir ? dir : "/") != 0 && chdir("/") != 0) fail("chdir");
    const char *gid = getenv("PODLAB_POD_GID"), *uid = getenv("PODLAB_POD_UID");
    if (gid && *gid) {
        /* The primary group, then PODLAB_POD_GROUPS (fsGroup, supplementalGroups), comma-separated. */
        gid_t groups[32];
        size_t n = 0;
        groups[n++] = (gid_t)strtoul(gid, NULL, 10);
        const char *more = getenv("PODLAB_POD_GROUPS");
        while (more && *more && n < sizeof groups / sizeof groups[0]) {
            char *end;
            groups[n++] = (gid_t)strtoul(more, &end, 10);
            more = *end == ',' ? end + 1 : NULL;
        }
        if (setgroups(n, groups) != 0 || setgid(groups[0]) != 0) fail("setgid");
    }
    if (uid && *uid && setuid((uid_t)strtoul(uid, NULL, 10)) != 0) fail("setuid");
    /* Children are in the pod already (and may not read /proc/<pid>/ns once unprivileged). */
    unsetenv("PODLAB_POD_MNTNS");
    unsetenv("PODLAB_POD_WORKDIR");
    unsetenv("PODLAB_POD_UID");
    unsetenv("PODLAB_POD_GID");
    unsetenv("PODLAB_POD_GROUPS");
}

typedef int (*bind_fn)(int, const struct sockaddr *, socklen_t);

int bind(int fd, const struct sockaddr *addr, socklen_t len) {
    static bind_fn real_bind;
    if (real_bind == NULL) real_bind = (bind_fn)dlsym(RTLD_NEXT, "bind");
    const char *ip = getenv("PODLAB_POD_IP");
    struct in_addr pod;
    if (ip == NULL || addr == NULL || inet_pton(AF_INET, ip, &pod) != 1)
        return real_bind(fd, addr, len);
    if (addr->sa_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in)) {
        struct sockaddr_in v4;
        memcpy(&v4, addr, sizeof v4);
        if (v4.sin_addr.s_addr == htonl(INADDR_ANY) || v4.sin_addr.s_addr == htonl(INADDR_LOOPBACK)) {
            v4.sin_addr = pod;
            return real_bind(fd, (const struct sockaddr *)&v4, sizeof v4);
        }
    } else if (addr->sa_family == AF_INET6 && len >= (socklen_t)sizeof(struct sockaddr_in6)) {
        struct sockaddr_in6 v6;
        memcpy(&v6, addr, sizeof v6);
        if (IN6_IS_ADDR_UNSPECIFIED(&v6.sin6_addr)) {
            int v6only = 0;
            socklen_t size = sizeof v6only;
            if (getsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, &size) == 0 && v6only) {
                v6.sin6_addr = in6addr_loopback;
                v6.sin6_port = 0;
                return real_bind(fd, (const struct sockaddr *)&v6, sizeof v6);
            }
            static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
            memcpy(v6.sin6_addr.s6_addr, mapped, sizeof mapped);
            memcpy(v6.sin6_addr.s6_addr + 12, &pod, 4);
            return real_bind(fd, (const struct sockaddr *)&v6, sizeof v6);
        }
    }
    return real_bind(fd, addr, len);
}

typedef int (*connect_fn)(int, const struct sockaddr *, socklen_t);

int connect(int fd, const struct sockaddr *addr, socklen_t len) {
    static connect_fn real_connect;
    if (real_connect == NULL) real_connect = (connect_fn)dlsym(RTLD_NEXT, "connect");
    const char *ip = getenv("PODLAB_POD_IP");
    struct in_addr pod;
    if (ip == NULL || addr == NULL || inet_pton(AF_INET, ip, &pod) != 1)
        return real_connect(fd, addr, len);
    if (addr->sa_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in)) {
        struct sockaddr_in v4;
        memcpy(&v4, addr, sizeof v4);
        if (v4.sin_addr.s_addr == htonl(INADDR_LOOPBACK) || v4.sin_addr.s_addr == htonl(INADDR_ANY)) {
            v4.sin_addr = pod;
            return real_connect(fd, (const struct sockaddr *)&v4, sizeof v4);
        }
    } else if (addr->sa_family == AF_INET6 && len >= (socklen_t)sizeof(struct sockaddr_in6)) {
        struct sockaddr_in6 v6;
        memcpy(&v6, addr, sizeof v6);
        int v6only = 0;
        socklen_t size = sizeof v6only;
        int mapped_ok = getsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, &size) == 0 && !v6only;
        int loopback = IN6_IS_ADDR_LOOPBACK(&v6.sin6_addr) || IN6_IS_ADDR_UNSPECIFIED(&v6.sin6_addr);
        int mapped_loopback = IN6_IS_ADDR_V4MAPPED(&v6.sin6_addr) &&
                              v6.sin6_addr.s6_addr[12] == 127 && v6.sin6_addr.s6_addr[13] == 0 &&
                              v6.sin6_addr.s6_addr[14] == 0 && v6.sin6_addr.s6_addr[15] == 1;
        if (mapped_ok && (loopback || mapped_loopback)) {
            static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
            memcpy(v6.sin6_addr.s6_addr, mapped, sizeof mapped);
            memcpy(v6.sin6_addr.s6_addr + 12, &pod, 4);
            return real_connect(fd, (const struct sockaddr *)&v6, sizeof v6);
        }
    }
    return real_connect(fd, addr, len);
}
