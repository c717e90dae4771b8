#define _GNU_SOURCE
#include "collectives_verbs.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>

#if defined(__has_include)
#if __has_include(<infiniband/verbs.h>)
#define COLLECTIVES_HAVE_VERBS 1
#endif
#endif

static void say(char *error, size_t length, const char *text) {
    if (error && length) snprintf(error, length, "%s", text);
}

#ifndef COLLECTIVES_HAVE_VERBS

int collectives_verbs_built(void) { return 0; }
static const char *not_built = "built without RDMA verbs support (install libibverbs-dev and rebuild)";
int collectives_verbs_load(const char *path, char *error, size_t n) { (void)path; say(error, n, not_built); return -1; }
int collectives_verbs_device_count(char *error, size_t n) { say(error, n, not_built); return -1; }
int collectives_verbs_device_name(int index, char *name, size_t n) { (void)index; (void)name; (void)n; return -1; }
int collectives_verbs_query_port(int i, int p, collectives_verbs_port *o, char *error, size_t n) { (void)i; (void)p; (void)o; say(error, n, not_built); return -1; }
collectives_verbs_endpoint *collectives_verbs_endpoint_create(int i, int p, int d, char *error, size_t n) { (void)i; (void)p; (void)d; say(error, n, not_built); return NULL; }
uint32_t collectives_verbs_endpoint_qpn(const collectives_verbs_endpoint *e) { (void)e; return 0; }
int collectives_verbs_endpoint_connect(collectives_verbs_endpoint *e, uint32_t q, uint16_t l, const uint8_t g[16], uint32_t rp, uint32_t lp, int m, int u, char *error, size_t n) {
    (void)e; (void)q; (void)l; (void)g; (void)rp; (void)lp; (void)m; (void)u; say(error, n, not_built); return -1;
}
void *collectives_verbs_register(collectives_verbs_endpoint *e, void *a, size_t l, uint32_t *lk, uint32_t *rk) { (void)e; (void)a; (void)l; (void)lk; (void)rk; return NULL; }
void collectives_verbs_deregister(void *r) { (void)r; }
int collectives_verbs_post_write_immediate(collectives_verbs_endpoint *e, uint64_t w, const void *l, size_t n, uint32_t lk, uint64_t r, uint32_t rk, uint32_t i) {
    (void)e; (void)w; (void)l; (void)n; (void)lk; (void)r; (void)rk; (void)i; return -1;
}
int collectives_verbs_post_receive(collectives_verbs_endpoint *e, uint64_t w) { (void)e; (void)w; return -1; }
int collectives_verbs_poll(collectives_verbs_endpoint *e, int m, uint64_t *w, uint32_t *i, int *s, int *r) { (void)e; (void)m; (void)w; (void)i; (void)s; (void)r; return -1; }
void collectives_verbs_endpoint_destroy(collectives_verbs_endpoint *e) { (void)e; }
void collectives_verbs_endpoint_destroy_qp(collectives_verbs_endpoint *e) { (void)e; }

#else
#include <infiniband/verbs.h>

// The exported functions used, resolved with dlsym. The inline ones (post, poll) go through the
// function table in struct ibv_context and need no symbol.
static struct {
    void *handle;
    struct ibv_device **(*get_device_list)(int *);
    void (*free_device_list)(struct ibv_device **);
    const char *(*get_device_name)(struct ibv_device *);
    struct ibv_context *(*open_device)(struct ibv_device *);
    int (*close_device)(struct ibv_context *);
    int (*query_port)(struct ibv_context *, uint8_t, struct ibv_port_attr *);
    int (*query_gid)(struct ibv_context *, uint8_t, int, union ibv_gid *);
    struct ibv_pd *(*alloc_pd)(struct ibv_context *);
    int (*dealloc_pd)(struct ibv_pd *);
    struct ibv_cq *(*create_cq)(struct ibv_context *, int, void *, struct ibv_comp_channel *, int);
    int (*destroy_cq)(struct ibv_cq *);
    struct ibv_qp *(*create_qp)(struct ibv_pd *, struct ibv_qp_init_attr *);
    int (*destroy_qp)(struct ibv_qp *);
    int (*modify_qp)(struct ibv_qp *, struct ibv_qp_attr *, int);
    struct ibv_mr *(*reg_mr)(struct ibv_pd *, void *, size_t, int);
    int (*dereg_mr)(struct ibv_mr *);
} lib;

int collectives_verbs_built(void) { return 1; }

int collectives_verbs_load(const char *path, char *error, size_t n) {
    // dlopen counts references: opening the loaded library again gives the same handle.
    void *handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!handle) {
        const char *why = dlerror();
        say(error, n, why ? why : "dlopen failed");
        return -1;
    }
    if (lib.handle) {
        int same = handle == lib.handle;
        dlclose(handle);
        if (!same) { say(error, n, "another verbs library is already loaded"); return -1; }
        return 0;
    }
#define RESOLVE(field, symbol) \
    do { \
        *(void **)(&lib.field) = dlsym(handle, symbol); \
        if (!lib.field) { say(error, n, "libibverbs lacks " symbol); dlclose(handle); memset(&lib, 0, sizeof lib); return -1; } \
    } while (0)
    RESOLVE(get_device_list, "ibv_get_device_list");
    RESOLVE(free_device_list, "ibv_free_device_list");
    RESOLVE(get_device_name, "ibv_get_device_name");
    RESOLVE(open_device, "ibv_open_device");
    RESOLVE(close_device, "ibv_close_device");
    RESOLVE(query_port, "ibv_query_port");
    RESOLVE(query_gid, "ibv_query_gid");
    RESOLVE(alloc_pd, "ibv_alloc_pd");
    RESOLVE(dealloc_pd, "ibv_dealloc_pd");
    RESOLVE(create_cq, "ibv_create_cq");
    RESOLVE(destroy_cq, "ibv_destroy_cq");
    RESOLVE(create_qp, "ibv_create_qp");
    RESOLVE(destroy_qp, "ibv_destroy_qp");
    RESOLVE(modify_qp, "ibv_modify_qp");
    RESOLVE(reg_mr, "ibv_reg_mr");
    RESOLVE(dereg_mr, "ibv_dereg_mr");
#undef RESOLVE
    lib.handle = handle;
    return 0;
}

static struct ibv_device *device_at(int index, char *error, size_t n) {
    if (!lib.handle) { say(error, n, "libibverbs is not loaded"); return NULL; }
    int count = 0;
    struct ibv_device **list = lib.get_device_list(&count);
    if (!list) { say(error, n, strerror(errno)); return NULL; }
    struct ibv_device *device = index >= 0 && index < count ? list[index] : NULL;
    // Device structs outlive the list only while a context is open; callers open at once.
    lib.free_device_list(list);
    if (!device) say(error, n, "no such RDMA device");
    return device;
}

int collectives_verbs_device_count(char *error, size_t n) {
    if (!lib.handle) { say(error, n, "libibverbs is not loaded"); return -1; }
    int count = 0;
    struct ibv_device **list = lib.get_device_list(&count);
    if (!list) { say(error, n, strerror(errno)); return -1; }
    lib.free_device_list(list);
    return count;
}

int collectives_verbs_device_name(int index, char *name, size_t length) {
    if (!lib.handle) return -1;
    int count = 0;
    struct ibv_device **list = lib.get_device_list(&count);
    if (!list) return -1;
    int rc = -1;
    if (index >= 0 && index < count) { snprintf(name, length, "%s", lib.get_device_name(list[index])); rc = 0; }
    lib.free_device_list(list);
    return rc;
}

int collectives_verbs_query_port(int index, int port, collectives_verbs_port *out, char *error, size_t n) {
    struct ibv_device *device = device_at(index, error, n);
    if (!device) return -1;
    struct ibv_context *context = lib.open_device(device);
    if (!context) { say(error, n, "cannot open the RDMA device"); return -1; }
    struct ibv_port_attr attributes;
    memset(&attributes, 0, sizeof attributes);
    int rc = lib.query_port(context, (uint8_t)port, &attributes);
    if (rc == 0) {
        out->state = attributes.state;
        out->active_mtu = attributes.active_mtu;
        out->lid = attributes.lid;
        out->link_layer = attributes.link_layer;
        union ibv_gid gid;
        memset(&gid, 0, sizeof gid);
        lib.query_gid(context, (uint8_t)port, 0, &gid);
        memcpy(out->gid, gid.raw, 16);
    } else {
        say(error, n, "ibv_query_port failed");
    }
    lib.close_device(context);
    return rc == 0 ? 0 : -1;
}

struct collectives_verbs_endpoint {
    struct ibv_context *context;
    struct ibv_pd *pd;
    struct ibv_cq *cq;
    struct ibv_qp *qp;
    int port;
};

collectives_verbs_endpoint *collectives_verbs_endpoint_create(int index, int port, int depth, char *error, size_t n) {
    struct ibv_device *device = device_at(index, error, n);
    if (!device) return NULL;
    collectives_verbs_endpoint *e = calloc(1, sizeof *e);
    if (!e) { say(error, n, "out of memory"); return NULL; }
    e->port = port;
    if (!(e->context = lib.open_device(device))) { say(error, n, "cannot open the RDMA device"); goto fail; }
    if (!(e->pd = lib.alloc_pd(e->context))) { say(error, n, "ibv_alloc_pd failed"); goto fail; }
    if (!(e->cq = lib.create_cq(e->context, depth * 2, NULL, NULL, 0))) { say(error, n, "ibv_create_cq failed"); goto fail; }
    struct ibv_qp_init_attr init;
    memset(&init, 0, sizeof init);
    init.send_cq = e->cq;
    init.recv_cq = e->cq;
    init.qp_type = IBV_QPT_RC;
    init.cap.max_send_wr = (uint32_t)depth;
    init.cap.max_recv_wr = (uint32_t)depth;
    init.cap.max_send_sge = 1;
    init.cap.max_recv_sge = 1;
    if (!(e->qp = lib.create_qp(e->pd, &init))) { say(error, n, "ibv_create_qp failed"); goto fail; }
    struct ibv_qp_attr attributes;
    memset(&attributes, 0, sizeof attributes);
    attributes.qp_state = IBV_QPS_INIT;
    attributes.pkey_index = 0;
    attributes.port_num = (uint8_t)port;
    attributes.qp_access_flags = IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE;
    if (lib.modify_qp(e->qp, &attributes, IBV_QP_STATE | IBV_QP_PKEY_INDEX | IBV_QP_PORT | IBV_QP_ACCESS_FLAGS)) {
        say(error, n, "moving the queue pair to INIT failed");
        goto fail;
    }
    return e;
fail:
    collectives_verbs_endpoint_destroy(e);
    return NULL;
}

uint32_t collectives_verbs_endpoint_qpn(const collectives_verbs_endpoint *e) { return e && e->qp ? e->qp->qp_num : 0; }

int collectives_verbs_endpoint_connect(collectives_verbs_endpoint *e, uint32_t remote_qpn, uint16_t remote_lid,
                                       const uint8_t remote_gid[16], uint32_t remote_psn, uint32_t local_psn,
                                       int mtu, int use_gid, char *error, size_t n) {
    struct ibv_qp_attr a;
    memset(&a, 0, sizeof a);
    a.qp_state = IBV_QPS_RTR;
    a.path_mtu = (enum ibv_mtu)mtu;
    a.dest_qp_num = remote_qpn;
    a.rq_psn = remote_psn;
    a.max_dest_rd_atomic = 1;
    a.min_rnr_timer = 12;
    a.ah_attr.dlid = remote_lid;
    a.ah_attr.port_num = (uint8_t)e->port;
    if (use_gid) {
        a.ah_attr.is_global = 1;
        memcpy(a.ah_attr.grh.dgid.raw, remote_gid, 16);
        a.ah_attr.grh.hop_limit = 64;
        a.ah_attr.grh.sgid_index = 0;
    }
    if (lib.modify_qp(e->qp, &a, IBV_QP_STATE | IBV_QP_AV | IBV_QP_PATH_MTU | IBV_QP_DEST_QPN | IBV_QP_RQ_PSN |
                                     IBV_QP_MAX_DEST_RD_ATOMIC | IBV_QP_MIN_RNR_TIMER)) {
        say(error, n, "moving the queue pair to RTR failed");
        return -1;
    }
    memset(&a, 0, sizeof a);
    a.qp_state = IBV_QPS_RTS;
    a.timeout = 14;
    a.retry_cnt = 7;
    a.rnr_retry = 7;
    a.sq_psn = local_psn;
    a.max_rd_atomic = 1;
    if (lib.modify_qp(e->qp, &a, IBV_QP_STATE | IBV_QP_TIMEOUT | IBV_QP_RETRY_CNT | IBV_QP_RNR_RETRY | IBV_QP_SQ_PSN |
                                     IBV_QP_MAX_QP_RD_ATOMIC)) {
        say(error, n, "moving the queue pair to RTS failed");
        return -1;
    }
    return 0;
}

void *collectives_verbs_register(collectives_verbs_endpoint *e, void *address, size_t length, uint32_t *lkey, uint32_t *rkey) {
    struct ibv_mr *region = lib.reg_mr(e->pd, address, length, IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE);
    if (!region) return NULL;
    *lkey = region->lkey;
    *rkey = region->rkey;
    return region;
}

void collectives_verbs_deregister(void *region) { if (region) lib.dereg_mr((struct ibv_mr *)region); }

int collectives_verbs_post_write_immediate(collectives_verbs_endpoint *e, uint64_t wr_id, const void *local, size_t length,
                                           uint32_t lkey, uint64_t remote, uint32_t rkey, uint32_t immediate) {
    struct ibv_sge sge = { (uint64_t)(uintptr_t)local, (uint32_t)length, lkey };
    struct ibv_send_wr wr, *bad = NULL;
    memset(&wr, 0, sizeof wr);
    wr.wr_id = wr_id;
    wr.sg_list = length ? &sge : NULL;
    wr.num_sge = length ? 1 : 0;
    wr.opcode = IBV_WR_RDMA_WRITE_WITH_IMM;
    wr.send_flags = IBV_SEND_SIGNALED;
    wr.imm_data = immediate;
    wr.wr.rdma.remote_addr = remote;
    wr.wr.rdma.rkey = rkey;
    return ibv_post_send(e->qp, &wr, &bad);
}

int collectives_verbs_post_receive(collectives_verbs_endpoint *e, uint64_t wr_id) {
    struct ibv_recv_wr wr, *bad = NULL;
    memset(&wr, 0, sizeof wr);
    wr.wr_id = wr_id;
    return ibv_post_recv(e->qp, &wr, &bad);
}

int collectives_verbs_poll(collectives_verbs_endpoint *e, int max, uint64_t *wr_ids, uint32_t *immediates, int *statuses, int *is_receive) {
    struct ibv_wc completions[16];
    if (max > 16) max = 16;
    int count = ibv_poll_cq(e->cq, max, completions);
    for (int i = 0; i < count; i++) {
        wr_ids[i] = completions[i].wr_id;
        immediates[i] = completions[i].imm_data;
        statuses[i] = completions[i].status;
        is_receive[i] = (completions[i].opcode & IBV_WC_RECV) != 0;
    }
    return count;
}

void collectives_verbs_endpoint_destroy_qp(collectives_verbs_endpoint *e) {
    if (e && e->qp) {
        lib.destroy_qp(e->qp);
        e->qp = NULL;
    }
}

void collectives_verbs_endpoint_destroy(collectives_verbs_endpoint *e) {
    if (!e) return;
    collectives_verbs_endpoint_destroy_qp(e);
    if (e->cq) lib.destroy_cq(e->cq);
    if (e->pd) lib.dealloc_pd(e->pd);
    if (e->context) lib.close_device(e->context);
    free(e);
}
#endif
