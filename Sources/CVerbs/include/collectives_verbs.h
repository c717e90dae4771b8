// A narrow C interface to RDMA verbs for swift-collectives.
//
// libibverbs.so.1 is opened with dlopen at run time, never linked, so the package builds and
// runs where rdma-core is absent. Several verbs (ibv_post_send, ibv_post_recv, ibv_poll_cq) are
// static inline functions in <infiniband/verbs.h> that Swift cannot call; they are wrapped here
// under plain names. When the header is not installed at build time (Debian's libibverbs-dev),
// every function reports that verbs support was not built.
#ifndef COLLECTIVES_VERBS_H
#define COLLECTIVES_VERBS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// 1 if this build has verbs support (the header was present), 0 otherwise.
int collectives_verbs_built(void);

/// Opens the library at `path` (for example "libibverbs.so.1") and resolves the functions used.
/// Returns 0, or -1 with a reason in `error`. Loading twice is harmless.
int collectives_verbs_load(const char *path, char *error, size_t error_length);

/// Devices visible to the loaded library, or -1 with a reason.
int collectives_verbs_device_count(char *error, size_t error_length);

/// The name of device `index` into `name`; 0 or -1.
int collectives_verbs_device_name(int index, char *name, size_t length);

typedef struct {
    int state;        // IBV_PORT_ACTIVE is 4
    int active_mtu;   // enum ibv_mtu: 1 = 256 … 5 = 4096
    uint16_t lid;
    uint8_t link_layer; // 1 InfiniBand, 2 Ethernet (RoCE)
    uint8_t gid[16];  // GID index 0
} collectives_verbs_port;

/// Port `port` (from 1) of device `index`; 0 or -1 with a reason.
int collectives_verbs_query_port(int index, int port, collectives_verbs_port *out, char *error, size_t error_length);

/// One reliable-connected queue pair with its protection domain and completion queue.
typedef struct collectives_verbs_endpoint collectives_verbs_endpoint;

/// Opens device `index`, allocates a protection domain, a completion queue of `depth` entries
/// and an RC queue pair in state INIT on `port`. NULL with a reason on failure.
collectives_verbs_endpoint *collectives_verbs_endpoint_create(int index, int port, int depth, char *error, size_t error_length);

uint32_t collectives_verbs_endpoint_qpn(const collectives_verbs_endpoint *endpoint);

/// Moves the queue pair INIT → RTR → RTS towards the remote one. 0 or -1 with a reason.
int collectives_verbs_endpoint_connect(collectives_verbs_endpoint *endpoint, uint32_t remote_qpn, uint16_t remote_lid,
                                       const uint8_t remote_gid[16], uint32_t remote_psn, uint32_t local_psn,
                                       int mtu, int use_gid, char *error, size_t error_length);

/// Registers memory for local and remote writes; returns an opaque handle and the keys.
void *collectives_verbs_register(collectives_verbs_endpoint *endpoint, void *address, size_t length,
                                 uint32_t *lkey, uint32_t *rkey);
void collectives_verbs_deregister(void *region);

/// RDMA write with immediate of `length` bytes to the remote address; signalled.
int collectives_verbs_post_write_immediate(collectives_verbs_endpoint *endpoint, uint64_t wr_id, const void *local,
                                           size_t length, uint32_t lkey, uint64_t remote, uint32_t rkey,
                                           uint32_t immediate);

/// A zero-length receive that consumes one incoming immediate.
int collectives_verbs_post_receive(collectives_verbs_endpoint *endpoint, uint64_t wr_id);

/// Up to `max` completions: work request ids, immediates (for receives), 0 or an error status.
int collectives_verbs_poll(collectives_verbs_endpoint *endpoint, int max, uint64_t *wr_ids, uint32_t *immediates,
                           int *statuses, int *is_receive);

void collectives_verbs_endpoint_destroy(collectives_verbs_endpoint *endpoint);

/// Destroys the endpoint's queue pair only (no more transfers into or out of its memory), so
/// that its memory can be deregistered before the protection domain and context go.
void collectives_verbs_endpoint_destroy_qp(collectives_verbs_endpoint *endpoint);

#ifdef __cplusplus
}
#endif

#endif
